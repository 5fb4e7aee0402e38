"""--discard-ps auto: the end of the initial transient found from the data (Chodera 2016, pymbar)."""

import json

import numpy as np

from hydropimd.analysis import analyze_cell
from hydropimd.analysis.equilibration import cell_observables, equilibration_starts
from hydropimd.lattice import metric_from_cellpar
from tests.analysis.synthetic import ar1, shape_series, simulation_cells, write_trajectory
from tests.conftest import run_cli


def test_the_start_is_past_a_transient_and_zero_without_one(rng):
    """AR(1) noise (tau ~ 10 frames) with a linear drift over its first 400 of 3000 frames: the start found lies
    past the drift's end and well before the end; the same noise without drift starts near 0."""
    noise = ar1(rng, 3000, 1.0, 0.9)
    drifted = noise + np.r_[np.linspace(15, 0, 400), np.zeros(2600)]
    starts = equilibration_starts(np.column_stack([drifted, noise, np.full(3000, 90.0)]))
    assert 350 <= starts[0] <= 1200 and starts[1] <= 100 and starts[2] == 0


def test_cell_observables_are_the_volume_and_the_angles():
    lengths, angles = np.array([[5.0, 5.1, 5.2]]), np.array([[89.0, 90.5, 91.0]])
    values, names = cell_observables(metric_from_cellpar(lengths, angles))
    assert names == ["volume", "alpha", "beta", "gamma"] and np.allclose(values[0, 1:], angles[0])
    c = np.cos(np.radians(angles[0]))
    volume = np.prod(lengths) * np.sqrt(1 - (c**2).sum() + 2 * np.prod(c))
    assert np.isclose(values[0, 0], volume)


def test_analyze_cell_discards_the_compression_of_a_run(tmp_path, rng):
    """A cell that starts 3 % too large and shrinks over its first 0.4 ps (of 4 ps): 'auto' drops about that much,
    reports each observable's start, and the mean lattice constant is the equilibrated one."""
    n = 800
    lengths, angles = shape_series(rng, n, a=5.1, phi=0.8)
    lengths = lengths + (0.15 * np.clip(1 - np.arange(n) / 80, 0, None))[:, None]
    time_ps = np.arange(n) * 0.005
    path = write_trajectory(tmp_path / "t.extxyz", simulation_cells(lengths, angles), time_ps=time_ps)
    fixed = analyze_cell(path)
    auto = analyze_cell(path, discard_ps="auto")
    assert 0.35 <= auto["discard_ps"] <= 1.5 and auto["discard_ps"] == max(auto["equilibration"]["starts_ps"].values())
    assert auto["equilibration"]["starts_ps"]["volume"] >= 0.35
    assert abs(np.mean(auto["lengths_angstrom"]) - 5.1) < abs(np.mean(fixed["lengths_angstrom"]) - 5.1)
    result = run_cli("analyze", "cell", path, "--discard-ps", "auto", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["discard_ps"] == auto["discard_ps"]
    assert "'soon' must be a time in ps or 'auto'" in run_cli("analyze", "cell", path, "--discard-ps", "soon").stderr


def test_a_run_that_drifts_throughout_is_flagged_not_equilibrated(tmp_path, rng):
    """A cell still shrinking at its end: the transient fills the run, so its last 32 frames are analysed and the
    report says it has not equilibrated (instead of refusing the run, which stopped a whole study's report)."""
    n = 120
    lengths, angles = shape_series(rng, n, a=5.1)
    lengths = lengths + np.linspace(0.3, 0, n)[:, None]
    path = write_trajectory(tmp_path / "t.extxyz", simulation_cells(lengths, angles), time_ps=np.arange(n) * 0.005)
    report = analyze_cell(path, discard_ps="auto")
    assert not report["equilibration"]["equilibrated"] and report["n_frames"] == 32
    assert any(note.startswith("not equilibrated") for note in report["notes"])
