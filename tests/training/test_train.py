"""Committee training through DeePMD-kit: split, seeds, subtracted targets, resume after kill, no retraining."""

import json
import shutil
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hydropimd.training.config import training_script
from tests.conftest import assert_one_line_error, copy_dataset, run_cli


@pytest.fixture(scope="module")
def small_full_data(published, tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    copy_dataset(published / "data" / "full" / "ensemble5", root / "ensemble5")
    return root


def lcurve_steps(member_dir):
    lines = (member_dir / "lcurve.out").read_text().splitlines()
    return [int(float(ln.split()[0])) for ln in lines if ln.strip() and not ln.startswith("#")]


def test_study_defaults_and_short_schedules(tmp_path, published):
    data = str(published / "data" / "full" / "ensemble5")
    script = training_script([data], seed=7)
    assert script["model"]["type_map"] == ["La", "H"]  # from the data set (its models' input.json: no type_map.raw)
    d = script["model"]["descriptor"]
    assert (d["type"], d["rcut"], d["rcut_smth"], d["sel"], d["neuron"]) == ("se_e2_a", 4.0, 2.0, [15, 150], [25, 50, 100])
    assert script["model"]["fitting_net"]["neuron"] == [240, 240, 240]
    assert (script["loss"]["start_pref_f"], script["loss"]["limit_pref_v"]) == (1000.0, 0.1)
    assert script["training"]["numb_steps"] == 1_000_000 and script["learning_rate"]["decay_steps"] == 5000
    short = training_script([data], seed=7, steps=10_000)
    assert short["learning_rate"]["decay_steps"] == 50  # the rate still decays to stop_lr
    # another system: its type map from its type_map.raw, and DeePMD-kit's own neighbour counts
    system = tmp_path / "h3s" / "S2H6"
    (system / "set.000").mkdir(parents=True)
    (system / "type.raw").write_text("0\n0\n" + "1\n" * 6)
    (system / "type_map.raw").write_text("S\nH\n")
    np.save(system / "set.000" / "box.npy", np.eye(3).reshape(1, 9) * 3.09)
    np.save(system / "set.000" / "coord.npy", np.zeros((1, 8 * 3)))
    other = training_script([str(tmp_path / "h3s")], seed=7)
    assert other["model"]["type_map"] == ["S", "H"] and other["model"]["descriptor"]["sel"] == "auto:1.1"


def test_committee_on_subtracted_targets_resumes_after_kill(tmp_path, small_full_data, full_table):
    out = tmp_path / "committee"
    tiny = tmp_path / "tiny.json"  # the published architecture takes minutes here; the bookkeeping is the same
    tiny.write_text(json.dumps(TINY))
    args = ["train", "--data", small_full_data, "--out", out, "--committee", "2", "--steps", "100",
            "--pair", full_table, "--config", tiny, "--quiet", "--json"]
    process = subprocess.Popen([sys.executable, "-m", "hydropimd", *map(str, args)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
                               start_new_session=True)
    deadline = time.time() + 600
    member = out / "member-0"
    while time.time() < deadline and process.poll() is None and not (member / "checkpoint").exists():
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the command and its dp child, as a node failure would
    process.wait()
    assert (member / "checkpoint").exists() and not (member / "graph.pb").exists()

    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [m["steps"] for m in summary["members"]] == [100, 100]
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
    damaged = tmp_path / "damaged"
    shutil.copytree(small_full_data, damaged)
    coord = next(damaged.rglob("coord.npy"))
    coord.chmod(0o644)  # copied from the read-only published files
    coord.write_bytes(coord.read_bytes()[:200])  # a copy cut short
    result = run_cli("train", "--data", damaged, "--out", tmp_path / "o3", "--quiet")
    assert result.returncode == 2 and "coord.npy is not a readable .npy array" in result.stderr
    assert "member 0" not in result.stderr and not (tmp_path / "o3").exists()
    shutil.copytree(small_full_data, tmp_path / "nan")
    energy = next((tmp_path / "nan").rglob("energy.npy"))
    energy.chmod(0o644)
    values = np.load(energy)
    values[0] = np.nan
    np.save(energy, values)
    result = run_cli("train", "--data", tmp_path / "nan", "--out", tmp_path / "o4", "--quiet")
    assert result.returncode == 2 and "energy.npy holds NaN" in result.stderr and not (tmp_path / "o4").exists()
    single = tmp_path / "single" / "ensemble5"  # one set: held out for testing, nothing left to train on
    system = next(small_full_data.rglob("type.raw")).parent
    shutil.copytree(system, single, ignore=lambda folder, names: [n for n in names if n.startswith("set.") and
                                                                  n != "set.000"])
    (tmp_path / "o5").mkdir()
    assert_one_line_error(run_cli("train", "--data", single.parent, "--out", tmp_path / "o5", "--quiet"),
                          "no training frames", "two sets")
    assert list((tmp_path / "o5").iterdir()) == []  # no work.json: the retry with more data is not refused


TINY = {"model": {"descriptor": {"neuron": [4, 8, 16], "axis_neuron": 4}, "fitting_net": {"neuron": [16, 16]}}}


@pytest.fixture(scope="module")
def published_like_root(published, tmp_path_factory):
    """A folder laid out like the published root: ensemble5 with full and with subtracted labels."""
    root = tmp_path_factory.mktemp("root")
    for labels in ("full", "subtracted"):
        copy_dataset(published / "data" / labels / "ensemble5", root / "data" / labels / "ensemble5")
    return root


def test_bad_arguments_write_nothing(tmp_path, small_full_data, full_table):
    out = tmp_path / "tp"
    result = run_cli("train", "--data", small_full_data, "--pair", full_table, "--steps", "-1", "--out", out, "--quiet")
    assert result.returncode == 2 and "--steps -1 must be positive" in result.stderr
    assert not out.exists()  # the subtracted data were converted before --steps was refused
    from hydropimd.errors import InputError
    from hydropimd.training.committee import train_committee

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"training": {"numb_steps": "many"}}))
    with pytest.raises(InputError, match="not valid for DeePMD-kit"):
        train_committee([small_full_data], out, pair=full_table, config=bad)
    assert not out.exists()
    out.mkdir()
    (out / "notes.txt").write_text("someone else's folder")
    with pytest.raises(InputError, match="not empty"):
        train_committee([small_full_data], out, steps=2)


def test_training_config_shapes(tmp_path):
    from hydropimd.errors import InputError
    from hydropimd.training.config import load_overrides

    cases = {"binary.json": (b"\xff\xfe\x00binary", "cannot read training config"),
             "list.json": (b"[1, 2]", "holds a list"),
             "number.json": (b'{"training": 5}', "'training' must be a table"),
             "nested.toml": (b"[training]\ntraining_data = 3\n", "'training.training_data' must be a table"),
             "folder": (None, "cannot read training config")}
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.mkdir() if content is None else path.write_bytes(content)
        with pytest.raises(InputError, match=message):
            training_script([str(tmp_path)], seed=1, overrides=load_overrides(path))
    with pytest.raises(InputError, match="numb_steps -5 must be positive"):
        training_script([str(tmp_path)], seed=1, steps=10, overrides={"training": {"numb_steps": -5}})
    result = run_cli("train", "--data", tmp_path, "--out", tmp_path / "o", "--config", tmp_path / "binary.json", "--quiet")
    assert_one_line_error(result, "cannot read training config")


def test_published_root_longer_run_and_changed_inputs(tmp_path, published_like_root, full_table, monkeypatch):
    """A published root trains on its full labels only; a larger --steps continues; other inputs are refused."""
    from hydropimd.errors import InputError
    from hydropimd.files import write_json_atomic
    from hydropimd.training import committee as module

    atomic = []
    monkeypatch.setattr(module, "write_json_atomic", lambda path, payload: atomic.append(path.name) or
                        write_json_atomic(path, payload))
    tiny = tmp_path / "tiny.json"
    tiny.write_text(json.dumps(TINY))
    out = tmp_path / "tp"
    member = out / "member-0"
    first = module.train_committee([published_like_root], out, committee=1, steps=2, config=tiny)
    # ensemble5 once: its full labels, not full and subtracted labels side by side
    assert (first["train_systems"], first["test_systems"], first["members"][0]["n_frames"]) == (1, 1, 11)
    assert json.loads((out / "work.json").read_text())["identity"]["data"] == [str(published_like_root / "data" / "full")]
    assert first["members"][0]["steps"] == 2 and {"input.json", "committee.json"} <= set(atomic)
    stamp = (member / "graph.pb").stat().st_mtime_ns

    longer = module.train_committee([published_like_root], out, committee=1, steps=4, config=tiny)
    assert longer["members"][0]["steps"] == 4  # continued from the checkpoint at step 2, not restarted
    assert lcurve_steps(member).count(0) == 1 and max(lcurve_steps(member)) == 4
    assert json.loads((member / "input.json").read_text())["training"]["numb_steps"] == 4
    assert (member / "graph.pb").stat().st_mtime_ns != stamp
    stamp = (member / "graph.pb").stat().st_mtime_ns
    again = module.train_committee([published_like_root], out, committee=1, steps=4, config=tiny)
    assert again["members"] == longer["members"] and (member / "graph.pb").stat().st_mtime_ns == stamp

    other_config = tmp_path / "other.json"
    other_config.write_text(json.dumps({**TINY, "loss": {"start_pref_e": 1.0}}))
    record = (out / "work.json").read_bytes()
    refusals = {"trained for 4 steps": dict(steps=2), "other committee size": dict(committee=2),
                "other training config": dict(config=other_config), "other pair table": dict(pair=full_table),
                "other data": dict(data=[published_like_root / "data" / "subtracted"])}
    for message, change in refusals.items():
        arguments = {"data": [published_like_root], "committee": 1, "steps": 4, "config": tiny, **change}
        with pytest.raises(InputError, match=message):
            module.train_committee(out=out, **arguments)
    assert (out / "work.json").read_bytes() == record and not (out / "data" / "subtracted-0").exists()
    assert json.loads((member / "input.json").read_text())["training"]["numb_steps"] == 4


def test_a_kill_inside_a_checkpoint_save_resumes_from_the_save_before(tmp_path, published_like_root):
    """A kill after TensorFlow listed its newest checkpoint but before it wrote that checkpoint's graph (and before
    DeePMD-kit re-pointed its model.ckpt links): the member restarts from the newest whole checkpoint, not from the
    links (before: 'File does not exist ... model.ckpt.meta' on every later call)."""
    from hydropimd.training.committee import train_committee

    tiny = tmp_path / "tiny.json"
    tiny.write_text(json.dumps(TINY))
    out, member = tmp_path / "c", tmp_path / "c" / "member-0"
    train_committee([published_like_root], out, committee=1, steps=20, config=tiny)  # a save every 2 steps
    assert 'model_checkpoint_path: ' in (member / "checkpoint").read_text()
    for name in ("graph.pb", "model.ckpt-20.meta", *(p.name for p in member.glob("model.ckpt.*"))):
        (member / name).unlink()  # the state a kill leaves there (the graph is frozen after training)

    again = train_committee([published_like_root], out, committee=1, steps=20, config=tiny)
    assert again["members"][0]["steps"] == 20 and (member / "graph.pb").exists()
    restarts = [step for step in lcurve_steps(member) if step == 18]
    assert lcurve_steps(member).count(0) == 1 and len(restarts) == 2  # step 18 written before and after the restart


def test_a_failing_or_killed_dp_is_a_run_failure(tmp_path, small_full_data, monkeypatch):
    """``dp train`` stopping on its own is a run failure that would repeat (not retryable); killed by a signal
    (out of memory, a walltime) it is retryable: the same call continues from the member's checkpoint."""
    from hydropimd.errors import RunFailed
    from hydropimd.training import committee as module

    def fake_dp(code):
        return lambda *args: [sys.executable, "-c", code]

    tiny = tmp_path / "tiny.json"
    tiny.write_text(json.dumps(TINY))
    monkeypatch.setattr(module, "_dp", fake_dp("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    with pytest.raises(RunFailed, match="training member 0 was killed by signal 9") as err:
        module.train_committee([small_full_data], tmp_path / "killed", committee=1, steps=2, config=tiny)
    assert err.value.retryable and err.value.exit_status == 3
    monkeypatch.setattr(module, "_dp", fake_dp("raise SystemExit('DeePMD-kit: bad things')"))
    with pytest.raises(RunFailed, match=r"training member 0 failed: DeePMD-kit: bad things \(exit status 1; read .*train.log\)") as err:
        module.train_committee([small_full_data], tmp_path / "failed", committee=1, steps=2, config=tiny)
    assert not err.value.retryable
