"""How many beads (hydropimd.md.beads): the harmonic centroid-virial kinetic energy under PILE, eco and PIGLET,
and the bead count advised for a temperature and highest frequency."""

import json

import numpy as np
import pytest

from hydropimd.errors import InputError
from hydropimd.md.beads import bead_advice, gle_position_variance, kinetic_energy_ratio, least_beads, recommend_beads
from tests.conftest import assert_one_line_error, run_cli


def test_a_white_noise_gle_samples_the_classical_distribution():
    """The Lyapunov solution with a 1 x 1 GLE (plain Langevin, any friction) is equipartition: <q^2> = T / omega^2;
    a GLE of two momenta with C = T I too (any drift)."""
    for gamma in (0.1, 3.0, 200.0):
        assert gle_position_variance(50.0, np.array([[gamma]]), np.array([[300.0]])) == pytest.approx(300.0 / 2500)
    a = np.array([[2.0, 1.5], [-1.5, 0.7]])
    assert gle_position_variance(20.0, a, 77.0 * np.eye(2)) == pytest.approx(77.0 / 400)


def test_trotter_convergence_matches_its_closed_form():
    """PILE with P beads: K_P / K = [1 + sum_k omega^2 / (omega^2 + omega_k^2)] kT / 2 / K; the issue's harmonic
    estimates for H modes at 2500 cm^-1: 0.94 at P = 16 (300 K) and 0.87 at P = 32 (100 K); P -> infinity is exact."""
    assert kinetic_energy_ratio("pile", 16, 300.0, 2500.0, 2500.0)[0] == pytest.approx(0.94, abs=0.005)
    assert kinetic_energy_ratio("pile", 32, 100.0, 2500.0, 2500.0)[0] == pytest.approx(0.87, abs=0.005)
    assert kinetic_energy_ratio("pile", 4096, 100.0, 2500.0, 2500.0)[0] == pytest.approx(1.0, abs=1e-4)
    # a classical mode (hbar omega << kT) is exact with any P
    assert kinetic_energy_ratio("pile", 2, 3000.0, 10.0, 10.0)[0] == pytest.approx(1.0, abs=1e-6)


def test_piglet_and_eco_converge_harmonic_modes_with_few_beads(gle_library):
    """PIGLET's fits make a harmonic mode's kinetic energy exact at any P (to their fit error, < 0.5 % here); eco
    with 8 beads is exact within 1 % only below its fitted range's reach (300 K), PILE is 7 % low."""
    for temperature in (300.0, 100.0):
        ratios = kinetic_energy_ratio("piglet", 8, temperature, [300.0, 1000.0, 1334.0], 1340.0, gle_library)
        assert np.all(np.abs(ratios - 1) < 0.005), ratios
    assert abs(kinetic_energy_ratio("eco", 8, 300.0, 1334.0, 1340.0)[0] - 1) < 0.011
    assert kinetic_energy_ratio("pile", 8, 300.0, 1334.0, 1340.0)[0] < 0.93


def test_the_advice_is_the_smallest_bead_count_within_tolerance(gle_library):
    """LaH10-like: highest frequency 2200 cm^-1 at 300 K: PILE needs 40 beads for 1 %, eco 14, PIGLET 4 (its rule
    hbar omega / (P kT) <= 3); the count before each fails the tolerance."""
    advice = {s: recommend_beads(300.0, 2200.0, s, 0.01, gle_library) for s in ("pile", "eco", "piglet")}
    assert [advice[s]["beads"] for s in ("pile", "eco", "piglet")] == [40, 14, 4]
    for scheme in ("pile", "eco"):
        tried = advice[scheme]["tried"]
        assert tried[-1]["worst_error"] <= 0.01 < tried[-2]["worst_error"]
        # the worst mode of Trotter springs is the highest
        assert scheme != "pile" or tried[-1]["at_frequency_cm1"] == pytest.approx(2200.0)
    assert recommend_beads(100.0, 2200.0, "piglet", 0.01, gle_library)["beads"] == 12  # 31.7 / 3 -> 12 in the library
    with pytest.raises(InputError, match="tolerance between 0 and 1"):
        recommend_beads(300.0, 2200.0, "pile", 1.5)


def test_md_beads_reads_the_highest_frequency_of_a_phonon_result(tmp_path, gle_library):
    phonons = tmp_path / "phonons.json"
    phonons.write_text(json.dumps({"max_frequency_cm1": 2200.0, "imaginary_modes": []}))
    result = run_cli("md", "beads", "--temperature-k", "300", "--phonons", phonons, "--json")
    assert result.returncode == 0, result.stderr
    advice = json.loads(result.stdout)
    assert advice["max_frequency_cm1"] == 2200.0 and advice["source"] == str(phonons)
    assert {a["scheme"]: a["beads"] for a in advice["schemes"]} == {"pile": 40, "eco": 14, "piglet": 4}
    assert_one_line_error(run_cli("md", "beads", "--temperature-k", "300"), "--max-frequency-cm1", "--phonons")
    phonons.write_text("{}")
    assert_one_line_error(run_cli("md", "beads", "--temperature-k", "300", "--phonons", phonons), "analyze phonons")
    # both sources of the frequency: refused as a pair, not as "give one of them"
    both = run_cli("md", "beads", "--temperature-k", "300", "--max-frequency-cm1", "2200", "--phonons", phonons)
    assert_one_line_error(both, "--max-frequency-cm1", "--phonons", "only one")


def test_conditions_beyond_the_advised_beads_are_refused_at_once(gle_library):
    """At 1 K (or 1e6 cm^-1) the search ran for minutes (eco's fit at every count up to 256): the ring polymer's bound
    P > (x/2) coth(x/2) (x = hbar omega / kT, here 6330) refuses it at once, naming the beads each scheme needs."""
    import time

    with pytest.raises(InputError, match="pile at least 2374 beads"):
        bead_advice(300.0, 1e6, schemes=("pile",))
    start = time.perf_counter()
    result = run_cli("md", "beads", "--temperature-k", "1", "--max-frequency-cm1", "4400")
    assert_one_line_error(result, "pile at least 3134", "eco at least 3134", "piglet at least 2111", "256",
                          "--temperature-k")
    assert time.perf_counter() - start < 30  # the command's start-up; the refusal itself takes milliseconds
    # the bound is a bound: below what each scheme is advised where it converges (test above: 40, 14, 4)
    assert [least_beads(s, 300.0, 2200.0, 0.01) for s in ("pile", "eco", "piglet")] == [6, 6, 4]
