"""A run's mean temperature and pressure against its targets (hydropimd.analysis.ensemble)."""

import csv
import json

import numpy as np
import pytest

from hydropimd.analysis import ensemble_check
from hydropimd.errors import InputError
from hydropimd.md.rundir import TABLE_COLUMNS
from tests.conftest import assert_one_line_error, run_cli


def _run(path, temperature_k, pressure_gpa, ensemble="npt", n=2000, seed=0, column="ring polymer"):
    """A run directory whose table holds AR(1) series (correlation time ~10 rows) around the given means."""
    path.mkdir()
    (path / "run.json").write_text(json.dumps({"temperature_k": 300.0, "pressure_gpa": 150.0, "ensemble": ensemble,
                                               "temperature_column": column}))
    rng = np.random.default_rng(seed)

    def series(mean, sigma):
        x = np.empty(n)
        x[0] = 0.0
        for k in range(1, n):
            x[k] = 0.9 * x[k - 1] + np.sqrt(1 - 0.81) * rng.normal()
        return mean + sigma * x

    columns = {"step": np.arange(1, n + 1) * 10.0, "time_ps": np.arange(1, n + 1) * 0.005,
               "temperature_k": series(temperature_k, 15.0), "pressure_gpa": series(pressure_gpa, 2.0)}
    with open(path / "table.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(TABLE_COLUMNS)
        for k in range(n):
            writer.writerow([columns[c][k] if c in columns else 1.0 for c in TABLE_COLUMNS])
    return path


def test_a_run_at_its_targets_passes_and_one_off_them_is_flagged(tmp_path):
    held = ensemble_check(_run(tmp_path / "held", 300.0, 150.0), discard_ps=1.0)
    assert held["temperature_ok"] and held["pressure_ok"]
    assert held["temperature_k_mean"] == pytest.approx(300.0, abs=4 * held["temperature_k_stderr"])
    assert 0.5 < held["temperature_k_stderr"] < 3.0  # correlated: ~15 K / sqrt(1600 / 19)
    hot = ensemble_check(_run(tmp_path / "hot", 318.0, 154.0, column="centroid"), discard_ps=1.0)
    assert hot["temperature_ok"] is False and hot["pressure_ok"] is False and hot["temperature_column"] == "centroid"
    # significant but within tolerance (1 % hot, 1 GPa off): not flagged
    near = ensemble_check(_run(tmp_path / "near", 303.0, 151.0, n=20000), discard_ps=1.0)
    assert near["temperature_ok"] and near["pressure_ok"]
    assert abs(near["temperature_k_mean"] - 300) > 4 * near["temperature_k_stderr"]


def test_targets_follow_the_ensemble(tmp_path):
    nvt = ensemble_check(_run(tmp_path / "nvt", 300.0, 40.0, ensemble="nvt"))
    assert nvt["temperature_ok"] and nvt["pressure_ok"] is None and nvt["pressure_gpa_target"] is None
    nve = ensemble_check(_run(tmp_path / "nve", 250.0, 40.0, ensemble="nve"))
    assert nve["temperature_ok"] is None and nve["pressure_ok"] is None


def test_too_short_or_no_run_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="fewer than 2 rows after discarding 50 ps"):
        ensemble_check(_run(tmp_path / "short", 300.0, 150.0, n=100), discard_ps=50.0)
    with pytest.raises(InputError, match="not a run directory"):
        ensemble_check(tmp_path / "nowhere")


def test_cli_prints_the_check_or_one_line_error(tmp_path):
    run = _run(tmp_path / "hot", 318.0, 150.0)
    result = run_cli("analyze", "ensemble", run, "--discard-ps", "1", "--json")
    assert result.returncode == 0, result.stderr
    check = json.loads(result.stdout)
    assert check["temperature_ok"] is False and check["pressure_ok"] is True
    assert "MISSED" in run_cli("analyze", "ensemble", run).stdout
    assert_one_line_error(run_cli("analyze", "ensemble", tmp_path / "nowhere"), "not a run directory")


def test_a_run_of_a_few_rows_gets_no_verdict(tmp_path):
    """3 rows far off the target: the mean and its rough error are shown, but neither 'held' nor 'MISSED' (it
    gave one before)."""
    few = ensemble_check(_run(tmp_path / "few", 400.0, 180.0, n=3))
    assert few["rows"] == 3 and few["temperature_ok"] is None and few["pressure_ok"] is None
    assert "too few for a verdict" in few["note"]
    enough = ensemble_check(_run(tmp_path / "enough", 400.0, 180.0, n=64))
    assert enough["note"] is None and enough["temperature_ok"] is False
