"""Committee training through DeePMD-kit: split, seeds, subtracted targets, resume after kill, no retraining."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from hydropimd.training.config import training_script
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def small_full_data(published, tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    shutil.copytree(published / "data" / "full" / "ensemble5", root / "ensemble5")
    return root


def lcurve_steps(member_dir):
    lines = (member_dir / "lcurve.out").read_text().splitlines()
    return [int(float(ln.split()[0])) for ln in lines if ln.strip() and not ln.startswith("#")]


def test_study_defaults_and_short_schedules(tmp_path):
    script = training_script([str(tmp_path)], seed=7)
    d = script["model"]["descriptor"]
    assert (d["type"], d["rcut"], d["rcut_smth"], d["sel"], d["neuron"]) == ("se_e2_a", 4.0, 2.0, [15, 150], [25, 50, 100])
    assert script["model"]["fitting_net"]["neuron"] == [240, 240, 240]
    assert (script["loss"]["start_pref_f"], script["loss"]["limit_pref_v"]) == (1000.0, 0.1)
    assert script["training"]["numb_steps"] == 1_000_000 and script["learning_rate"]["decay_steps"] == 5000
    short = training_script([str(tmp_path)], seed=7, steps=10_000)
    assert short["learning_rate"]["decay_steps"] == 50  # the rate still decays to stop_lr


def test_committee_on_subtracted_targets_resumes_after_kill(tmp_path, small_full_data, full_table):
    out = tmp_path / "committee"
    args = ["train", "--data", small_full_data, "--out", out, "--committee", "2", "--steps", "20",
            "--pair", full_table, "--quiet", "--json"]
    process = subprocess.Popen([sys.executable, "-m", "hydropimd", *map(str, args)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.time() + 600
    member = out / "member-0"
    while time.time() < deadline and not (member / "checkpoint").exists():
        time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    subprocess.run(["pkill", "-9", "-f", str(member)], check=False)  # the dp child, if still running
    assert (member / "checkpoint").exists() and not (member / "graph.pb").exists()

    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [m["steps"] for m in summary["members"]] == [20, 20]
    assert lcurve_steps(member).count(0) == 1  # resumed from the checkpoint, not restarted from scratch
    # members differ only in their seeds
    seeds = [json.loads((out / f"member-{k}" / "input.json").read_text())["model"]["descriptor"]["seed"] for k in (0, 1)]
    assert seeds[0] != seeds[1]
    energies = [m["energy_rmse_per_atom_ev"] for m in summary["members"]]
    assert energies[0] != energies[1] and all(m["n_frames"] == 11 for m in summary["members"])
    # trained on full - pair (the subtracted twin), tested with the table added back on the held-out last set
    assert (out / "data" / "subtracted-0" / "ensemble5").is_dir()
    assert len(list((out / "data" / "train" / "0" / "ensemble5").glob("set.*"))) == 8  # 9 sets, the last held out

    stamp = (member / "graph.pb").stat().st_mtime_ns
    again = run_cli(*args)
    assert again.returncode == 0 and (member / "graph.pb").stat().st_mtime_ns == stamp  # nothing retrained


def test_bad_training_input(tmp_path, small_full_data):
    result = run_cli("train", "--data", tmp_path / "nowhere", "--out", tmp_path / "o", "--quiet")
    assert result.returncode == 2 and "does not exist" in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": {"descriptor": {"bogus_key": 1}}}))
    result = run_cli("train", "--data", small_full_data, "--out", tmp_path / "o2", "--config", bad, "--quiet")
    assert result.returncode == 2 and "not valid for DeePMD-kit" in result.stderr and "Traceback" not in result.stderr
