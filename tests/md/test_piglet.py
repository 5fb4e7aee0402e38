"""PIGLET (Ceriotti and Manolopoulos, PRL 109, 100604 (2012)): the library's matrices scaled as its generator page
does, the quantum kinetic energy of a harmonic crystal converged with 8 beads, and resumable GLE states."""

import numpy as np
import pytest
from pydantic import ValidationError

from hydropimd.errors import InputError
from hydropimd.md.beads import kinetic_energy_ratio
from hydropimd.md.piglet import ATOMIC_FREQUENCY, KB_OVER_HBAR, choose_range, fitted_ranges, piglet_matrices
from hydropimd.md.api import run_md
from hydropimd.md.run import MDRun
from hydropimd.md.settings import MDSettings
from hydropimd.structures import build_lah10
from tests.md.conftest import mean_and_error, read_table

KB_EV = 8.617333262e-5
HBAR_EV_PS = 6.582119569e-4


def test_matrices_follow_the_generator_recipe(gle_library):
    """Bead modes: the library's A x X kT/hbar and C x T; centroid: the optimal-sampling A, C = P T (i-PI's
    nm_gle units: A in atomic units, C in kelvin)."""
    a, c = piglet_matrices(gle_library, 8, 300.0, 20)
    assert a.shape == c.shape == (8, 9, 9)
    library_a = np.loadtxt(gle_library / "piglet" / "pigle-8_20_8_t.a")
    library_c = np.loadtxt(gle_library / "piglet" / "pigle-8_20_8_t.c")
    for k in range(1, 8):
        assert np.allclose(a[k] * ATOMIC_FREQUENCY / (20 * KB_OVER_HBAR * 300.0), library_a, rtol=1e-12, atol=0)
        assert np.allclose(c[k], library_c * 300.0, rtol=1e-12, atol=0)
    assert np.allclose(c[0], np.eye(9) * 8 * 300.0)
    centroid = np.loadtxt(gle_library / "optimal" / "kh_8-4.a")
    # 4000 cm^-1 x 1e-2, as angular frequency in rad/ps: 2 pi c w0 / 100
    assert np.allclose(a[0] * ATOMIC_FREQUENCY, centroid * 2 * np.pi * 0.0299792458 * 40.0, rtol=1e-12)
    # every drift matrix has eigenvalues with positive real parts: the GLE is stable
    assert all(np.linalg.eigvals(m).real.min() > 0 for m in a)


def test_the_fit_must_cover_the_highest_frequency(gle_library):
    assert fitted_ranges(gle_library, 8) == [20, 50, 100]
    assert choose_range(gle_library, 8, 300.0, 2700.0) == 20  # hbar omega / kT = 12.9
    assert choose_range(gle_library, 8, 100.0, 2700.0) == 50  # 38.8
    with pytest.raises(InputError, match="covers 1390 cm\\^-1 at 100 K, below max_frequency_cm1 2700"):
        choose_range(gle_library, 8, 100.0, 2700.0, given=20)
    with pytest.raises(InputError, match="no PIGLET fit for 8 beads reaches 9000 cm\\^-1 at 10 K"):
        choose_range(gle_library, 8, 10.0, 9000.0)
    with pytest.raises(InputError, match="no PIGLET matrices for 5 beads"):
        choose_range(gle_library, 5, 300.0, 2700.0)
    with pytest.raises(ValidationError, match="beads >= 2"):
        MDSettings(model="m.pb", temperature_k=300, pressure_gpa=150, sampling="piglet")


def _einstein(temperature_k, **extra):
    # 40 THz (1334 cm^-1): hbar omega / kT = 6.4 at 300 K and 19.2 at 100 K, both inside the X = 20 fit
    return MDSettings(model="", einstein_frequency_thz=40.0, temperature_k=temperature_k, ensemble="nvt", beads=8,
                      stride=10, thermostat_tau_fs=20, sampling="piglet", max_frequency_cm1=1340.0, **extra)


@pytest.mark.parametrize("temperature_k", [300.0, 100.0])
def test_piglet_converges_the_quantum_kinetic_energy_with_8_beads(tmp_path, gle_library, temperature_k):
    """Centroid-virial kinetic energy of an Einstein crystal against the exact quantum value: PIGLET with 8 beads
    within 1 %, where PILE with 8 beads (whose value is the exact 8-bead one, test_dynamics) misses by more than 3 %."""
    atoms = build_lah10()
    run_md(atoms, _einstein(temperature_k, steps=1500, checkpoint_stride=750), tmp_path / "piglet")
    table = read_table(tmp_path / "piglet")
    mean, error = mean_and_error(table["kinetic_cv_ev"][20:])
    ndof, omega, kt = 3 * len(atoms), 2 * np.pi * 40.0, KB_EV * temperature_k
    quantum = ndof * HBAR_EV_PS * omega / 4 / np.tanh(HBAR_EV_PS * omega / (2 * kt))
    omega_k = 2 * 8 * kt / HBAR_EV_PS * np.sin(np.arange(1, 8) * np.pi / 8)
    pile_8_beads = ndof * kt / 2 * (1 + np.sum(omega**2 / (omega**2 + omega_k**2)))
    assert abs(mean / quantum - 1) < 0.01 and error / quantum < 0.005
    assert pile_8_beads / quantum < 0.97
    # the GLE's stationary harmonic answer (hydropimd.md.beads, as md beads computes it) is what i-PI sampled
    predicted = quantum * kinetic_energy_ratio("piglet", 8, temperature_k, 40.0 * 33.35640952, 1340.0, gle_library)[0]
    assert abs(mean - predicted) < 4 * error + 0.003 * quantum
    # the temperature column is the centroid's (the bead modes are not at T under PIGLET)
    temperature, temperature_error = mean_and_error(table["temperature_k"][20:])
    assert abs(temperature / temperature_k - 1) < 0.04 and temperature_error / temperature_k < 0.02
    assert MDRun(tmp_path / "piglet").meta["temperature_column"] == "centroid"


def test_a_resumed_piglet_run_gives_the_same_rows(tmp_path, gle_library):
    """The GLE's auxiliary momenta are in the checkpoint: stopping and resuming changes nothing."""
    settings = _einstein(300.0, steps=200, checkpoint_stride=50)
    run_md(build_lah10(), settings, tmp_path / "whole")
    pieces = MDRun(tmp_path / "pieces")
    pieces.create(build_lah10(), settings)
    pieces.advance(stop_after_steps=100)
    pieces.advance()
    a, b = read_table(tmp_path / "whole"), read_table(tmp_path / "pieces")
    assert list(a["step"]) == list(b["step"]) == list(range(10, 201, 10))
    for key in ("kinetic_cv_ev", "temperature_k", "potential_ev", "conserved_ev"):
        assert np.allclose(a[key], b[key], rtol=1e-10, atol=1e-10), key


def test_piglet_npt_holds_the_pressure_with_a_free_cell(tmp_path, gle_library, lah10_settings, lah10_44):
    """PIGLET with the flexible barostat (LaH10, published model, 2 beads, 150 GPa): the centroid-virial pressure
    averages the target within its error bar, every cell length and angle fluctuates, and the run's quantum
    kinetic energy per H exceeds the classical 3/2 kT (PIGLET's bead modes are doing their job under NPT)."""
    settings = lah10_settings(steps=800, stride=5, checkpoint_stride=400, barostat_tau_fs=100, beads=2,
                              sampling="piglet", max_frequency_cm1=2500.0)
    run_md(lah10_44, settings, tmp_path / "npt")
    t = read_table(tmp_path / "npt")
    keep = slice(len(t["step"]) // 4, None)
    mean, error = mean_and_error(t["pressure_gpa"][keep])
    assert abs(mean - 150.0) < 3.5 * error + 2.0, (mean, error)
    for k in ("a", "b", "c", "alpha", "beta", "gamma"):
        assert np.std(t[k][keep]) > (1e-3 if k in "abc" else 0.05), k
    kinetic, _ = mean_and_error(t["kinetic_cv_ev"][keep])
    n_h = lah10_44.get_chemical_symbols().count("H")
    n_la = len(lah10_44) - n_h
    classical_h = kinetic - n_la * 1.5 * KB_EV * 300.0  # La is nearly classical: at least its 3/2 kT
    assert classical_h / n_h > 1.5 * 1.5 * KB_EV * 300.0  # > 1.5 x classical per H at 300 K
