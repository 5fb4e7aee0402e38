"""The same fixed-seed runs give the same rows as before the MD stage was reorganised (tests/md/data/README.md)."""

import json
from pathlib import Path

import numpy as np
from ase.io import write

from hydropimd.structures import build_lah10
from tests.conftest import run_cli
from tests.md.conftest import read_table

DATA = Path(__file__).with_name("data")
STUDY = """
[potential]
model = "published:models/subtracted/graph.pb"
pair = "published:tables/full.table"
committee = ["published:models/subtracted/graph.pb"]

[structure]
prototype = "lah10"
a = 5.05
supercell = 1
start_angles_deg = [90.5, 90.5, 90.5]

[grid]
temperatures_k = [300]
pressures_gpa = [150]
isotopes = ["H"]
beads = [2]

[md]
time_ps = 0.02
stride = 5

[analysis]
report = false

[execution]
workers = 1
"""


def assert_same_rows(reference: Path, run_dir: Path) -> None:
    old, new = read_table(reference.parent, reference.name), read_table(run_dir)
    assert list(old) == list(new) and list(old["step"]) == list(new["step"])
    for key in old:
        assert np.allclose(old[key], new[key], rtol=1e-6, atol=1e-6, equal_nan=True), key


def test_md_run_gives_the_reference_rows(tmp_path, published):
    write(tmp_path / "start.extxyz", build_lah10(a=5.05, angles=(90.6, 90.6, 90.6)))
    result = run_cli("md", "run", "--structure", tmp_path / "start.extxyz",
                     "--model", published / "models/subtracted/graph.pb", "--pair", published / "tables/full.table",
                     "--temperature", "300", "--pressure-gpa", "150", "--beads", "2", "--steps", "40",
                     "--stride", "10", "--checkpoint-stride", "20", "--out", tmp_path / "run", "--quiet")
    assert result.returncode == 0, result.stderr
    assert_same_rows(DATA / "rows-md-run.csv", tmp_path / "run")


def test_study_run_gives_the_reference_rows(tmp_path, published):
    (tmp_path / "study.toml").write_text(STUDY)
    result = run_cli("study", "run", tmp_path / "study.toml", "--dir", tmp_path / "s", "--quiet", "--json")
    # runs too short for a report (no report asked: the MD is what is compared)
    run = tmp_path / "s" / "runs" / "T300K-P150GPa-H-2beads"
    assert result.returncode == 0 and "report" not in json.loads(result.stdout), result.stderr
    assert json.loads((run / "state.json").read_text())["step"] == 40, result.stderr
    assert_same_rows(DATA / "rows-study-run.csv", run)
