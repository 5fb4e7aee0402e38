"""hydropimd dft converge: the same frames labelled with tighter settings, compared (real pw.x, a 2-atom cell)."""

import json

import numpy as np
import pytest
from ase import Atoms

from hydropimd.dft.convergence import check_convergence, setting_variants
from hydropimd.dft.settings import load_settings
from hydropimd.errors import InputError
from tests.conftest import run_cli

#: a cheap base: 2 H atoms in a 2.2 A cube (metallic hydrogen near 100 GPa), a low cutoff, a coarse grid
BASE = {"ecutwfc_ry": 25.0, "ecutrho_ry": 200.0, "kspacing_per_angstrom": 0.6}


def _frames() -> list[Atoms]:
    rng = np.random.default_rng(3)
    return [Atoms("H2", positions=[(0, 0, 0), (1.1, 1.1, 1.1)] + rng.normal(scale=0.08, size=(2, 3)),
                  cell=np.eye(3) * 2.2, pbc=True) for _ in range(2)]


@pytest.fixture(scope="module")
def report(tmp_path_factory, pseudo_dir, pwx):
    root = tmp_path_factory.mktemp("converge")
    (root / "base.json").write_text(json.dumps(BASE))
    return root, check_convergence(_frames(), root / "out", config=root / "base.json", ecutwfc_ry=[40.0],
                                   kspacing_per_angstrom=[0.35], pseudo_dir=pseudo_dir)


def test_each_setting_is_compared_with_the_tightest_of_its_axis(report):
    _, result = report
    rows = {r["setting"]: r for r in result["comparisons"]}
    assert set(rows) == {"base"} and len(result["comparisons"]) == 2  # base against each axis' reference
    cutoff, kpoints = (next(r for r in result["comparisons"] if r["axis"] == axis) for axis in ("cutoff", "kpoints"))
    assert (cutoff["reference"], kpoints["reference"]) == ("ecutwfc-40", "kspacing-0.35")
    assert result["settings"]["ecutwfc-40"]["ecutrho_ry"] == 320.0  # the base's 8x ratio kept
    # plane waves are variational: the lower cutoff gives the higher total energy, frame by frame
    assert cutoff["energy_shift_ev_per_atom"] > 0 and cutoff["relative_energy_ev_per_atom"] >= 0
    for row in (cutoff, kpoints):
        assert 0 < row["rms_force_ev_per_angstrom"] <= row["max_force_ev_per_angstrom"] and row["max_pressure_gpa"] > 0


def test_a_second_call_runs_no_scf_and_gives_the_same_report(report, pseudo_dir, monkeypatch):
    root, first = report
    monkeypatch.setenv("HYDROPIMD_PW", "false")  # any pw.x call would fail
    again = check_convergence(_frames(), root / "out", config=root / "base.json", ecutwfc_ry=[40.0],
                              kspacing_per_angstrom=[0.35], pseudo_dir=pseudo_dir)
    assert again["comparisons"] == first["comparisons"]
    assert json.loads((root / "out" / "convergence.json").read_text())["comparisons"] == first["comparisons"]


def test_nothing_to_compare_is_refused(tmp_path):
    with pytest.raises(InputError, match="--ecutwfc-ry and/or --kspacing"):
        setting_variants(load_settings())
    with pytest.raises(InputError, match="--kspacing -0.1 must be positive"):
        setting_variants(load_settings(), kspacing_per_angstrom=[-0.1])
    result = run_cli("dft", "converge", "--structures", tmp_path / "none.extxyz", "--out", tmp_path / "o",
                     "--ecutwfc-ry", "70")
    assert result.returncode == 2 and "none.extxyz does not exist" in result.stderr and not (tmp_path / "o").exists()
