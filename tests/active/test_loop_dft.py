"""One generation of the active-learning loop labelled by real pw.x, run as a user runs it
(``hydropimd active run`` with ``labeller.kind = "dft"``).

11-atom primitive LaH10 cells throughout: initial data from the published model, a
committee of two tiny networks, 10 classical MD steps of exploration, two frames
selected and labelled by pw.x (PBE, the study's cutoffs, k-point spacing 0.75 1/A,
two MPI ranks).  The labels are checked against physics and against the published
model, which was trained on DFT at these settings.
"""

import json

import numpy as np
import pytest

from hydropimd.active.loop import stage_state
from hydropimd.active.select import read_candidates
from hydropimd.data.systems import find_systems
from hydropimd.pair.baseline import PairBaseline
from hydropimd.potential import HydridePotential
from hydropimd.structures import build_lah10
from tests.active.loop_setup import TINY_NETWORK, toml_text
from tests.conftest import run_cli
from tests.dft.conftest import pseudo_dir, pwx  # noqa: F401  (fixtures)

KSPACING = 0.75  # 1/A: shifted 3x3x3 on this cell (14 k-points), the grid of tests/dft's rattled 11-atom reference


def initial_data(folder, model, table):
    """Four rattled 11-atom cells in two sets, labelled by the published model plus the pair table."""
    from hydropimd.active.labeller import ReferenceLabeller

    rng = np.random.default_rng(3)
    base = build_lah10(a=5.1, cell="primitive")
    labeller = ReferenceLabeller(model, pair=table)
    for k in range(2):
        frames = []
        for _ in range(2):
            atoms = base.copy()
            atoms.positions += rng.normal(scale=0.04, size=atoms.positions.shape)
            frames.append(atoms)
        labeller.label(frames, folder)
    return folder


@pytest.fixture(scope="module")
def dft_loop(pwx, pseudo_dir, subtracted_graph, full_table, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("active-dft")
    settings = root / "dft.toml"
    settings.write_text(f"kspacing_per_angstrom = {KSPACING}\n")
    config = {
        "work_dir": str(root / "work"),
        "data": {"initial": [str(initial_data(root / "initial", subtracted_graph, full_table))], "pair": str(full_table)},
        "training": {"committee": 2, "steps": 10, "overrides": TINY_NETWORK},
        "explore": {"structure": {"prototype": "lah10", "cell": "primitive", "supercell": 1},
                    "grid": {"temperatures_k": [300], "pressures_gpa": [150], "steps": 10, "stride": 5}},
        "select": {"lo": 1e-4, "hi": 1e3, "n": 2, "mode": "deviation"},
        "labeller": {"kind": "dft", "settings": str(settings), "pseudo_dir": str(pseudo_dir), "mpi": 2,
                     "sets_per_generation": 2},
        "stop": {"max_generations": 1},
    }
    path = root / "active.toml"
    path.write_text(toml_text(config))
    result = run_cli("active", "run", path, "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    return {"summary": json.loads(result.stdout), "work": root / "work", "table": full_table,
            "model": subtracted_graph}


def test_pw_x_labels_the_selected_frames(dft_loop):
    summary, work = dft_loop["summary"], dft_loop["work"]
    assert summary["labelled_frames"] == 2 and summary["stopped"].startswith("generation cap")
    selected = read_candidates(stage_state(work, 0, "select")["selected_file"])
    full, = find_systems(work / "data" / "gen-000" / "full")
    frames = full.load()
    assert frames.coords.shape == (2, 11, 3)
    # the labels belong to the selected frames (sets interleave the selection: set k holds frames k, k + 2, ...)
    for labelled, chosen in zip(frames.coords, selected):
        assert np.abs(labelled - chosen.positions).max() < 1e-6
    records = json.loads((work / "data" / "gen-000" / "labels.json").read_text())
    assert [r["status"] for r in records] == ["done", "done"]
    assert all(r["pw_processes"] == 2 for r in records)  # the configured MPI ranks reached pw.x
    for forces, virial in zip(frames.forces, frames.virial):
        assert np.abs(forces.sum(axis=0)).max() < 1e-3  # pw.x removes the net force: the cell does not drift
        assert np.allclose(virial, virial.T, atol=1e-6 * np.abs(virial).max())


def test_subtracted_twin_is_dft_minus_the_pair_table(dft_loop):
    work = dft_loop["work"]
    full, = find_systems(work / "data" / "gen-000" / "full")
    subtracted, = find_systems(work / "data" / "gen-000" / "subtracted")
    f, s = full.load(), subtracted.load()
    pair = PairBaseline.from_file(dft_loop["table"]).compute_batch(f.coords, f.cells, full.symbols)
    assert np.allclose(f.energy - s.energy, pair.energy, atol=1e-8)
    assert np.allclose(f.forces - s.forces, pair.forces, atol=1e-8)
    assert np.allclose(f.virial - s.virial, pair.virial, atol=1e-8)


def test_dft_labels_agree_with_the_published_model(dft_loop):
    """The published model (+ table) was fitted to PBE at these cutoffs: on near-equilibrium
    frames it reproduces pw.x to its published accuracy, which a wrong unit, sign, cell
    convention or k-point grid would break by far more."""
    work = dft_loop["work"]
    full, = find_systems(work / "data" / "gen-000" / "full")
    frames = full.load()
    model = HydridePotential(dft_loop["model"], pair=dft_loop["table"])
    predicted = model.evaluate(frames.coords, frames.cells, full.symbols)
    per_atom = (frames.energy - predicted.energy) / 11
    # measured: 2-4 meV/atom, force RMSE 0.19 eV/A on forces of RMS 0.52 eV/A, pressures within 1.5 GPa
    assert np.abs(per_atom).max() < 0.015  # eV/atom
    rmse = np.sqrt(np.mean((frames.forces - predicted.forces) ** 2))
    assert rmse < 0.5 * np.sqrt(np.mean(frames.forces ** 2))  # a sign or unit error gives twice the RMS or more
    volume = np.abs(np.linalg.det(frames.cells))
    pressure = np.trace(frames.virial, axis1=1, axis2=2) / 3 / volume * 160.21766208
    pressure_model = np.trace(predicted.virial, axis1=1, axis2=2) / 3 / volume * 160.21766208
    assert np.abs(pressure - pressure_model).max() < 4.0  # GPa, at 150-210 GPa
