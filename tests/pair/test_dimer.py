"""The pair baseline from isolated dimers (PySCF CCSD): curves, tables, the published comparison, the CLI.

Fast tests use small basis sets; the full-quality energies (CCSD/cc-pV5Z for H-H, CCSD/def2-QZVPPD + ECP for
La-H and La-La, computed once with ``hydropimd pair dimer``, an hour on 2 cores) are stored in
tests/dft/data/dimer_ccsd.json and turned into tables here; a slow test recomputes one of them.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from hydropimd.errors import InputError
from hydropimd.pair.baseline import PairBaseline
from hydropimd.pair.dimer import (DIMERS, HARTREE_EV, build_dimer_table, compare_sections, dimer_energies, dimer_spec,
                                  table_from_points)
from hydropimd.pair.table import LinearTable, read_table
from tests.conftest import assert_one_line_error
from tests.dft.conftest import dft_cli

STORED = Path(__file__).resolve().parents[1] / "dft" / "data" / "dimer_ccsd.json"


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """PySCF on one OpenMP thread: these molecules are tiny, and on a busy machine spinning threads cost 10x."""
    from pyscf import lib

    before = lib.num_threads()
    lib.num_threads(1)
    yield
    lib.num_threads(before)


@pytest.fixture(scope="module")
def stored():
    return json.loads(STORED.read_text())


def test_pair_names():
    assert dimer_spec("La-H") is dimer_spec("H-La") is dimer_spec("La_H") is dimer_spec("LaH") is DIMERS["La-H"]
    assert dimer_spec("H-H").basis == "cc-pV5Z" and dimer_spec("La-La").ecp == "def2-QZVPPD"
    with pytest.raises(InputError, match="unknown pair"):
        dimer_spec("Xq-H")
    # any other pair follows the documented rule: def2-QZVPPD, with its ECP past Kr; cc-pV5Z for H-H only
    sh, yh = dimer_spec("H-S", cutoff_angstrom=1.2), dimer_spec("Y-H", cutoff_angstrom=1.8)
    assert (sh.elements, sh.keyword, sh.basis, sh.ecp, sh.r_max) == (("S", "H"), "S_H", "def2-QZVPPD", None, 1.2)
    assert (yh.keyword, yh.ecp) == ("Y_H", "def2-QZVPPD") and yh.r_min == pytest.approx(0.4 * 1.8)


def test_new_pair_cutoff_is_the_dimer_bond_length(tmp_path):
    """The default cutoff of a new pair is where its dimer curve has its minimum.  H2 is two electrons, where CCSD
    is exact (full CI): its cc-pVTZ bond length is 0.7428 A (the study's H-H cutoff is 0.74 A); HeH is unbound."""
    from hydropimd.errors import RunFailed
    from hydropimd.pair.dimer import equilibrium_distance

    assert equilibrium_distance("H-H", basis="cc-pVTZ", cache=False) == pytest.approx(0.7428, abs=5e-4)
    with pytest.raises(RunFailed, match="no minimum of the dimer curve"):
        equilibrium_distance("He-H", basis="def2-SVP", cache=False)


def test_s_h_and_s_s_dimer_points():
    """H3S's pairs by configuration only: one CCSD point each (def2-SVP here to stay fast), bound near S-H's
    bond length (1.34 A) and repulsive at short range."""
    sh = dimer_energies("S-H", [0.9, 1.34, 3.0], basis="def2-SVP")
    assert sh[0] > sh[1] and sh[2] > sh[1]  # a well near the S-H bond
    ss = dimer_energies("S-S", [1.5, 2.0], basis="def2-SVP")
    assert ss[0] > ss[1]  # repulsive wall inside the S2 bond (1.89 A)


def test_small_basis_curve_is_a_repulsive_wall(tmp_path):
    out = tmp_path / "hh.table"
    summary = build_dimer_table("H-H", out, r_min=0.3, points=6, rows=60, basis="cc-pVDZ")
    section = read_table(out)["H_H"]
    assert len(section.r) == 60 and section.r[-1] == pytest.approx(DIMERS["H-H"].r_max)
    assert section.energy[-1] == 0.0  # shifted to zero at the cutoff
    assert np.all(np.diff(section.energy) < 0) and np.all(section.force > 0)  # monotonic, repulsive
    assert 5 < section.energy[0] < 20  # H2 at 0.3 A: ~10 eV above the minimum
    # the section works as the foundation's LAMMPS emulation reads it
    table = LinearTable(section, 1194, DIMERS["H-H"].r_max)
    r = np.array([0.35, 0.5, 0.7])
    e, f_over_r = table.evaluate(r**2)
    assert np.allclose(e, CubicSpline(section.r, section.energy)(r), rtol=1e-3, atol=1e-4)
    assert np.all(f_over_r > 0)
    baseline = PairBaseline.from_file(out, pairs={("H", "H"): ("H_H", 0.74)})
    assert baseline.tables[("H", "H")].cutoff == 0.74
    assert summary["reference"] == "RHF" and summary["spin_2s"] == 0


def test_h2_bond_length_and_dissociation_energy():
    """CCSD is exact for two electrons: with cc-pVTZ, H2's minimum and well depth come out near experiment
    (r_e = 0.7414 A, D_e = 4.748 eV; Huber and Herzberg 1979), which checks units, geometry and energies."""
    from pyscf import gto, scf

    r = np.array([0.70, 0.72, 0.74, 0.76, 0.78])
    energies = dimer_energies("H-H", r, basis="cc-pVTZ")
    c = np.polyfit(r, energies, 4)
    fine = np.linspace(0.70, 0.78, 801)
    e_fit = np.polyval(c, fine)
    r_e, e_min = fine[np.argmin(e_fit)], e_fit.min()
    atom = scf.UHF(gto.M(atom="H 0 0 0", basis="cc-pVTZ", spin=1, verbose=0)).run().e_tot * HARTREE_EV
    assert r_e == pytest.approx(0.7414, abs=0.005)
    assert 2 * atom - e_min == pytest.approx(4.748, abs=0.08)  # cc-pVTZ misses ~0.05 eV of the exact well


def test_points_are_cached(tmp_path, monkeypatch):
    r = np.linspace(0.4, 0.74, 4)
    first = dimer_energies("H-H", r, basis="cc-pVDZ")

    def refuse(*args, **kwargs):
        raise AssertionError("a cached point was recomputed")

    monkeypatch.setattr("hydropimd.pair.dimer.ccsd_energy", refuse)
    assert np.array_equal(dimer_energies("H-H", r[::-1], basis="cc-pVDZ"), first[::-1])


def test_la_h_with_the_def2_ecp(tmp_path):
    # def2-SVP keeps the test fast; the La ECP comes with any def2 basis: 11 + 1 electrons, a closed-shell singlet
    e = dimer_energies("La-H", [1.2, 2.02], basis="def2-SVP")
    assert 5 < e[0] - e[1] < 20


def test_tables_from_the_stored_full_quality_points(stored, full_table, tmp_path):
    published = read_table(full_table)
    wall = {}
    for pair, data in stored["pairs"].items():
        spec = dimer_spec(pair)
        r = np.array(data["r_angstrom"])
        energies = np.array(data["energy_hartree"]) * HARTREE_EV
        section = table_from_points(spec.keyword, r, energies, spec.rows)
        assert section.energy[-1] == 0 and np.all(np.diff(section.energy) < 0), pair  # a repulsive wall
        report = compare_sections(section, published[spec.keyword])
        # the walls agree where MD can go (published energy below 10 eV); the largest deviations are
        # recorded in the report and docs/validation/dimer.md
        assert report["accessible"]["max_abs_deviation_ev"] < data["accessible_tolerance_ev"], (pair, report)
        wall[pair] = section.r[np.argmax(section.energy < 2.0)]  # where the wall reaches 2 eV
    # bigger cores, wider walls: H-H (0.50 A in the published table) < La-H (1.51 A) < La-La (2.31 A)
    assert wall["H-H"] < 0.6 < 1.4 < wall["La-H"] < 1.6 < 2.2 < wall["La-La"] < 2.4, wall


def test_dimer_cli(tmp_path, full_table):
    out, figure = tmp_path / "mine.table", tmp_path / "hh.png"
    result = dft_cli("pair", "dimer", "--pair", "H-H", "--basis", "cc-pVDZ", "--r-min", "0.3", "--points", "5",
                     "--rows", "40", "-o", out, "--compare", full_table, "--figure", figure, "--json", "--quiet",
                     env={"XDG_CACHE_HOME": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["keyword"] == "H_H" and report["comparison"]["max_abs_deviation_ev"] > 0
    assert figure.stat().st_size > 1000 and "H_H" in read_table(out)
    assert_one_line_error(dft_cli("pair", "dimer", "--pair", "La-Xq", "-o", out), "unknown pair 'La-Xq'")
    # a new pair without --r-max: its dimer's bond length; HeH has none (run-time failure, exit 3)
    assert_one_line_error(dft_cli("pair", "dimer", "--pair", "He-H", "--basis", "def2-SVP", "-o", out,
                                  env={"XDG_CACHE_HOME": str(tmp_path / "cache")}), "no minimum", "--r-max", status=3)
    assert_one_line_error(dft_cli("pair", "dimer", "--pair", "La-H", "--spin", "1", "-o", out), "--spin 1", "impossible")
    assert_one_line_error(dft_cli("pair", "dimer", "--pair", "H-H", "--r-min", "0.9", "-o", out), "--r-min < --r-max")
    assert_one_line_error(dft_cli("pair", "dimer", "--pair", "H-H", "--r-max", "1.0", "-o", out), "0.74 A cutoff")
    assert_one_line_error(dft_cli("pair", "dimer", "--pair", "H-H", "--basis", "nonsense", "--points", "4", "-o", out),
                          "PySCF cannot build", "nonsense")


def test_unconverged_scf_is_a_run_failure(tmp_path, monkeypatch, capsys):
    """An SCF that does not converge fails the run (exit 3, one line naming the pair and distance); it is not bad input."""
    from pyscf.scf import hf

    from hydropimd.cli.main import main
    from hydropimd.errors import EXIT_RUN_FAILED, RunFailed

    class OneCycle(hf.RHF):  # Hartree-Fock allowed a single iteration: it cannot reach conv_tol 1e-10
        max_cycle = property(lambda self: 1, lambda self, value: None)

    monkeypatch.setattr("pyscf.scf.RHF", OneCycle)
    with pytest.raises(RunFailed, match="Hartree-Fock did not converge for H-H at 0.7000 A") as err:
        dimer_energies("H-H", [0.7], basis="cc-pVDZ", cache=False)
    assert not err.value.retryable
    out = tmp_path / "hh.table"
    status = main(["pair", "dimer", "--pair", "H-H", "--basis", "cc-pVDZ", "--r-min", "0.5", "--points", "4", "-o", str(out),
                   "--quiet", "--no-cache"])
    line = capsys.readouterr().err.strip()
    assert status == EXIT_RUN_FAILED and "\n" not in line and "did not converge for H-H" in line
    assert not out.exists()


def test_other_sections_are_kept(tmp_path, stored, monkeypatch):
    from hydropimd.pair import dimer

    out = tmp_path / "three.table"
    monkeypatch.setattr("hydropimd.pair.dimer.ccsd_energy", lambda *a, **k: pytest.fail("a cached point was recomputed"))
    for pair, data in stored["pairs"].items():  # from the cache: no CCSD runs
        spec = dimer_spec(pair)
        path = dimer._cache_file(spec, spec.basis, 0)
        dimer._save_cache(path, {dimer._distance_key(r): e for r, e in zip(data["r_angstrom"], data["energy_hartree"])}, {})
        r_min = data["r_angstrom"][0]
        build_dimer_table(pair, out, r_min=None if abs(r_min - spec.r_min) < 1e-5 else r_min, points=len(data["r_angstrom"]))
    assert set(read_table(out)) == {"H_H", "La_H", "La_La"}
    PairBaseline.from_file(out)  # usable exactly like the published full.table


@pytest.mark.slow
def test_one_full_quality_point_reproduces_the_stored_curve(stored):
    data = stored["pairs"]["H-H"]
    r = data["r_angstrom"][-5]
    energy = dimer_energies("H-H", [r])[0] / HARTREE_EV
    assert energy == pytest.approx(data["energy_hartree"][-5], abs=1e-7)
