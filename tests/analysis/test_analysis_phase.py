"""Phase diagram from a study of synthetic runs whose distortion follows a known transition pressure."""

import numpy as np
import pytest

from hydropimd.analysis import analyze_phase
from hydropimd.analysis.phase import transition_pressure
from hydropimd.errors import InputError
from tests.analysis.synthetic import shape_series, simulation_cells, write_run

PRESSURES = (100, 110, 120, 130, 140, 150, 160, 170)
#: True transition pressures (GPa) by (beads, isotope, temperature): distorted below, eta = 1.0 sqrt(P_c - P) degrees.
TRUTH = {(1, "H", 100): 142.0, (1, "H", 300): 127.0, (32, "D", 100): 152.0}
AMPLITUDE = 1.0
FRAMES = 500


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    rng = np.random.default_rng(7)
    for (beads, isotope, temperature), critical in TRUTH.items():
        for pressure in PRESSURES:
            delta = AMPLITUDE * np.sqrt(max(critical - pressure, 0.0))
            lengths, angles = shape_series(rng, FRAMES, (90 + delta,) * 3, sigma_deg=0.3, phi=0.5)
            metadata = {"temperature_k": temperature, "pressure_gpa": pressure, "beads": beads, "isotope": isotope,
                        "natoms": 4, "timestep_fs": 0.5, "stride": 20}
            write_run(root / f"b{beads}{isotope}" / f"T{temperature}" / f"P{pressure}",
                      simulation_cells(lengths, angles, "conventional", 1), np.arange(FRAMES) * 0.01, metadata, n=1)
    return root


def test_study_table_classifications_and_transition_pressures(study, tmp_path):
    result = analyze_phase(study=study, plot=tmp_path / "phase.pdf")
    assert result["n_runs"] == len(TRUTH) * len(PRESSURES)
    for row in result["runs"]:
        critical = TRUTH[(row["beads"], row["isotope"], row["temperature_k"])]
        assert row["classification"] == ("rhombohedral" if row["pressure_gpa"] < critical else "cubic")
        expected = AMPLITUDE * np.sqrt(max(critical - row["pressure_gpa"], 0.0))
        assert abs(row["distortion_deg"] - expected) < 4 * row["distortion_stderr_deg"] + 0.02
    groups = {g["name"]: g for g in result["groups"]}
    assert set(groups) == {"classical, H", "path-integral, D"}
    for (beads, isotope, temperature), critical in TRUTH.items():
        name = f"{'classical' if beads == 1 else 'path-integral'}, {isotope}"
        estimate = next(t for t in groups[name]["transitions"] if t["temperature_k"] == temperature)
        assert estimate["method"].startswith("Landau fit")
        assert abs(estimate["transition_pressure_gpa"] - critical) < max(3 * estimate["uncertainty_gpa"], 1.0)
        assert estimate["bracket_gpa"][0] < critical < estimate["bracket_gpa"][1]
    assert (tmp_path / "phase.pdf").read_bytes().startswith(b"%PDF")


def test_bracket_without_fit_and_one_sided_data():
    estimate = transition_pressure([100, 150], [2.0, 0.01], [0.1, 0.05], [True, False])
    assert estimate["transition_pressure_gpa"] == 125 and estimate["uncertainty_gpa"] == 25
    assert estimate["method"].startswith("bracket")
    estimate = transition_pressure([100, 150], [0.01, 0.02], [0.05, 0.05], [False, False])
    assert estimate["transition_pressure_gpa"] is None and "every run is cubic" in estimate["method"]


def test_runs_too_short_take_no_side(study, tmp_path):
    """An undetermined run (too few effective samples) is neither cubic nor distorted in the transition estimate."""
    rng = np.random.default_rng(3)
    lengths, angles = shape_series(rng, 40, (90.0,) * 3, sigma_deg=0.3, phi=0.9)
    short = tmp_path / "short"
    write_run(short, simulation_cells(lengths, angles, "conventional", 1), np.arange(40) * 0.01,
              {"temperature_k": 100, "pressure_gpa": 105, "beads": 1, "isotope": "H", "natoms": 4, "timestep_fs": 0.5,
               "stride": 20}, n=1)
    runs = sorted(p for p in study.glob("b1H/T100/P*"))
    result = analyze_phase([*runs, short], plot=tmp_path / "phase.png")
    assert [r["classification"] for r in result["runs"] if r["pressure_gpa"] == 105] == ["undetermined"]
    estimate, = result["groups"][0]["transitions"]
    assert estimate["n_runs"] == len(PRESSURES) and estimate["undetermined_pressures_gpa"] == [105]
    assert abs(estimate["transition_pressure_gpa"] - TRUTH[(1, "H", 100)]) < max(3 * estimate["uncertainty_gpa"], 1.0)


def test_runs_must_be_run_directories(tmp_path):
    with pytest.raises(InputError, match="not a run directory"):
        analyze_phase([tmp_path])
    with pytest.raises(InputError, match="no run directories"):
        analyze_phase(study=tmp_path)
