"""A small study end to end: grid, local pool, resume/no-repeat, report; config validation."""

import json

import pytest

from hydropimd.errors import InputError
from hydropimd.study.config import load_config
from tests.conftest import run_cli

CONFIG = """
[potential]
model = "published:models/subtracted/graph.pb"
pair = "published:tables/full.table"

[structure]
a = 5.05
supercell = 1
start_angles_deg = [90.5, 90.5, 90.5]

[grid]
temperatures_k = [300]
pressures_gpa = [{p1}, 200]
isotopes = ["H"]
beads = [1]

[md]
time_ps = 0.25
stride = 5

[analysis]
discard_ps = 0.05
wavelengths_angstrom = [0.3344]

[execution]
workers = 2
"""


def test_small_study_end_to_end(tmp_path, published):
    config = tmp_path / "study.toml"
    config.write_text(CONFIG.format(p1=120))
    result = run_cli("study", "run", config, "--dir", tmp_path / "s", "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [r["status"] for r in summary["status"]] == ["done", "done"]
    report = tmp_path / "s" / "report"
    assert (report / "report.md").exists() and (report / "report.html").exists()
    text = (report / "report.md").read_text()
    assert "| 300 | 120 | H | 1 |" in text and "phase.png" in text and "xrd-0.3344A.png" in text
    assert (report / "phase.png").stat().st_size > 0

    # a finished run is never repeated
    table = tmp_path / "s" / "runs" / "T300K-P120GPa-H-1beads" / "table.csv"
    stamp = table.stat().st_mtime_ns
    again = run_cli("study", "run", config, "--dir", tmp_path / "s", "--json", "--quiet")
    assert again.returncode == 0 and json.loads(again.stdout)["ran"] == []
    assert table.stat().st_mtime_ns == stamp
    status = run_cli("study", "status", config, "--dir", tmp_path / "s", "--json")
    assert [r["status"] for r in json.loads(status.stdout)["runs"]] == ["done", "done"]

    # a directory made by another configuration is refused unless --force
    other = tmp_path / "other.toml"
    other.write_text(CONFIG.format(p1=130))
    refused = run_cli("study", "run", other, "--dir", tmp_path / "s", "--quiet")
    assert refused.returncode == 2 and "another configuration" in refused.stderr


@pytest.mark.parametrize("edit, words", [
    (lambda c: c.replace("[execution]", "[execution]\nbogus = 1"), "bogus"),
    (lambda c: c.replace("temperatures_k = [300]", "temperatures_k = [-5]"), "temperatures must be positive"),
    (lambda c: c.replace("published:tables/full.table", "nowhere.table"), "does not exist"),
    (lambda c: c.replace("time_ps = 0.25", "time_ps = 0.001"), "shorter than one output stride"),
    (lambda c: c.replace("[grid]", "[grid"), "not valid TOML"),
])
def test_bad_configs_fail_before_running(tmp_path, published, edit, words):
    config = tmp_path / "study.toml"
    config.write_text(edit(CONFIG.format(p1=120)))
    with pytest.raises(InputError, match=words):
        load_config(config)
    result = run_cli("study", "run", config, "--dir", tmp_path / "s")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "s").exists()
