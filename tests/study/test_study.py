"""A small study end to end: grid, local pool, resume/no-repeat, report; config validation."""

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hydropimd.errors import InputError
from hydropimd.md import worker
from hydropimd.study import run_study
from hydropimd.study.config import RunSpec, load_config
from hydropimd.study.runner import Study
from tests.conftest import assert_one_line_error, interruptible, run_cli

CONFIG = """
[potential]
model = "published:models/subtracted/graph.pb"
pair = "published:tables/full.table"

[structure]
prototype = "lah10"
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
    # --only: the named point now, the other left pending; a name outside the grid is refused before anything
    assert_one_line_error(run_cli("study", "run", config, "--dir", tmp_path / "s", "--only", "T300K-P150GPa-H-1beads"),
                          "--only T300K-P150GPa-H-1beads", "T300K-P120GPa-H-1beads")
    assert not (tmp_path / "s").exists()
    first = run_cli("study", "run", config, "--dir", tmp_path / "s", "--json", "--quiet", "--only", "T300K-P200GPa-H-1beads")
    assert first.returncode == 0, first.stderr
    first = json.loads(first.stdout)
    assert [r["name"] for r in first["ran"]] == ["T300K-P200GPa-H-1beads"]
    assert [r["status"] for r in first["status"]] == ["pending", "done"]
    result = run_cli("study", "run", config, "--dir", tmp_path / "s", "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [r["name"] for r in summary["ran"]] == ["T300K-P120GPa-H-1beads"]
    assert [r["status"] for r in summary["status"]] == ["done", "done"]
    report = tmp_path / "s" / "report"
    assert (report / "report.md").exists() and (report / "report.html").exists()
    text = (report / "report.md").read_text()
    assert "| 300 | 120 | H | 1 |" in text and "phase.png" in text and "xrd-0.3344A.png" in text
    assert (report / "phase.png").stat().st_size > 0
    # each run's thermostat and barostat are checked against their targets (a short run: within its error)
    checks = summary["report"]["ensembles"]
    assert len(checks) == 2 and all(c["temperature_k_target"] == 300 and c["temperature_ok"] is not None for c in checks)
    assert "measured T (K), P (GPa)" in text and ("No run missed" in text or "Off their ensemble" in text)

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
    # ... and so is its status: another config is not read as this study's
    assert_one_line_error(run_cli("study", "status", other, "--dir", tmp_path / "s"), "is not the configuration of")

    # analysis settings may change between calls: no run is repeated, the report follows them
    later = tmp_path / "later.toml"
    later.write_text(CONFIG.format(p1=120).replace("discard_ps = 0.05", "discard_ps = 0.1") + EXPECTATION)
    again = run_cli("study", "run", later, "--dir", tmp_path / "s", "--json", "--quiet")
    assert again.returncode == 0 and json.loads(again.stdout)["ran"] == [], again.stderr
    assert table.stat().st_mtime_ns == stamp and "first 0.1 ps discarded" in (report / "report.md").read_text()
    # ... a published statement among them: the report puts the runs' classes beside it
    check = json.loads(again.stdout)["report"]["expectations"][0]
    assert check["n_runs"] == 2 and check["verdict"] in ("agrees", "disagrees", "undetermined")
    assert f"| cubic at 300 K | Fig. 0 | {check['found']} | {check['verdict']} |" in (report / "report.md").read_text()

    # without a config, status and report use the one kept in the study directory (the last one given)
    (report / "report.md").unlink()
    status = run_cli("study", "status", "--dir", tmp_path / "s", "--json")
    assert [r["status"] for r in json.loads(status.stdout)["runs"]] == ["done", "done"], status.stderr
    made = run_cli("study", "report", "--dir", tmp_path / "s", "--json", "--quiet")
    assert made.returncode == 0, made.stderr
    assert "first 0.1 ps discarded" in (report / "report.md").read_text()

    # each run's own transient, found from its data: the report says how much of each run it dropped
    auto = tmp_path / "auto.toml"
    auto.write_text(CONFIG.format(p1=120).replace("discard_ps = 0.05", 'discard_ps = "auto"'))
    made = run_cli("study", "run", auto, "--dir", tmp_path / "s", "--json", "--quiet")
    assert made.returncode == 0 and json.loads(made.stdout)["ran"] == [], made.stderr
    text = (report / "report.md").read_text()
    dropped = [float(line.split("|")[9]) for line in text.splitlines() if line.startswith("| 300 |")]
    assert "each run's transient discarded" in text and len(dropped) == 2 and all(0 <= d < 0.25 for d in dropped)


EXPECTATION = """
[[analysis.expectations]]
statement = "cubic at 300 K"
source = "Fig. 0"
temperature_k = 300
pressures_gpa = [100, 200]
expected = "cubic"
"""


@pytest.mark.parametrize("edit, words", [
    (lambda c: c.replace("[execution]", "[execution]\nbogus = 1"), "bogus"),
    (lambda c: c.replace("temperatures_k = [300]", "temperatures_k = [-5]"), "temperatures must be positive"),
    (lambda c: c.replace("published:tables/full.table", "nowhere.table"), "does not exist"),
    (lambda c: c.replace("time_ps = 0.25", "time_ps = 0.001"),
     r"md: time_ps 0.001 \(2 steps\) must be a multiple of stride 5"),
    (lambda c: c.replace("time_ps = 0.25", "time_ps = 0.08"), "32 rows, 11 after analysis.discard_ps 0.05; the cell "
                                                              "analysis needs at least 32: set md.time_ps to at least 0.133"),
    (lambda c: c.replace("[grid]", "[grid"), "not valid TOML"),
    (lambda c: c.replace("supercell = 1", "supercell = 1\nx = 0.1"), "structure: Wyckoff parameter x = 0.1"),
    # no crystal is a default: LaH10's would silently stand in for another hydride's
    (lambda c: c.replace('prototype = "lah10"\n', ""), "no structure: give a prototype"),
    (lambda c: c.split("[structure]")[0] + "[grid]" + c.split("[grid]")[1], "no start structure"),
    (lambda c: c.replace("stride = 5", "stride = 5\ncheckpoint_stride = 0"), "checkpoint_stride"),
    (lambda c: c.replace("stride = 5", "stride = 5\ncheckpoint_stride = 12"), "multiple of stride 5"),
    (lambda c: c.replace("discard_ps = 0.05", "discard_ps = 0.25"), "set a smaller analysis.discard_ps"),
    (lambda c: c.replace("[120, 200]", "[150, 150]"), "pressures 150 listed more than once"),
    (lambda c: c.replace("temperatures_k = [300]", "temperatures_k = [300, 300.0]"), "temperatures 300 listed"),
    (lambda c: c.replace('isotopes = ["H"]', 'isotopes = ["H", "D", "H"]'), "isotopes H listed more than once"),
    (lambda c: c.replace("beads = [1]", "beads = [1, 1]"), "bead counts 1 listed more than once"),
    (lambda c: c.replace("published:tables/full.table", "published:tables/LL.table"), "potential.pair: .* no terms for H"),
    (lambda c: c.replace("published:models/subtracted/graph.pb", "published:tables/LL.table"),
     "potential.model: .* is not a DeePMD-kit frozen model"),
    (lambda c: c.replace("[structure]", 'compress = "published:tables/LL.table"\n\n[structure]'),
     "potential.compress: cannot read training script"),
])
def test_bad_configs_fail_before_running(tmp_path, published, edit, words):
    config = tmp_path / "study.toml"
    config.write_text(edit(CONFIG.format(p1=120)))
    with pytest.raises(InputError, match=words):
        load_config(config)
    result = run_cli("study", "run", config, "--dir", tmp_path / "s")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "s").exists()


def test_system_table_is_the_same_study(tmp_path, published):
    """[system] holding the structure and the pair table defines the very runs of [structure] + potential.pair."""
    plain = tmp_path / "plain.toml"
    plain.write_text(CONFIG.format(p1=120))
    as_system = CONFIG.format(p1=120).replace('pair = "published:tables/full.table"\n', "").replace(
        "[structure]", '[system]\nname = "LaH10"\npair = "published:tables/full.table"\n[system.structure]')
    system = tmp_path / "system.toml"
    system.write_text(as_system)
    (a, _), (b, _) = load_config(plain), load_config(system)
    assert a.digest() == b.digest() and b.potential.pair == a.potential.pair and b.structure == a.structure
    both = tmp_path / "both.toml"
    both.write_text(as_system + '\n[structure]\nprototype = "lah10"\na = 5.0\n')
    with pytest.raises(InputError, match=r"\[structure\] and \[system.structure\] both given"):
        load_config(both)
    twice = tmp_path / "twice.toml"
    twice.write_text(as_system.replace("[potential]\n", '[potential]\npair = "published:tables/LL.table"\n'))
    with pytest.raises(InputError, match="potential.pair and system.pair both given"):
        load_config(twice)


AS_SYSTEM = CONFIG.format(p1=120).replace('pair = "published:tables/full.table"\n', "").replace(
    "[structure]", '[system]\nname = "LaH10"\npair = "published:tables/full.table"\n[system.structure]')


@pytest.mark.parametrize("edit, words", [
    # the type map: chemical elements, every one of the structure, the model's own in the model's order
    (lambda c: c.replace("[system.structure]", 'type_map = ["La", "Xx"]\n[system.structure]'),
     r"system.type_map: Xx: not a chemical element"),
    (lambda c: c.replace("[system.structure]", 'type_map = ["S", "H"]\n[system.structure]'),
     r"system.type_map \['S', 'H'\] lacks La of the start structure"),
    (lambda c: c.replace("[system.structure]", 'type_map = ["La"]\n[system.structure]'),
     r"system.type_map \['La'\] lacks H of the start structure"),
    (lambda c: c.replace("[system.structure]", 'type_map = ["H", "La"]\n[system.structure]'),
     r"system.type_map \['H', 'La'\] is not in the order of the model's type map \['La', 'H'\]"),
    (lambda c: c.replace("[system.structure]", 'type_map = ["La", "Y", "H"]\n[system.structure]'),
     r"system.type_map \['La', 'Y', 'H'\] lists Y, not in the model's type map \['La', 'H'\]"),
    # the pair table in one place, even when both places agree
    (lambda c: c.replace("[potential]\n", '[potential]\npair = "published:tables/full.table"\n'),
     "potential.pair and system.pair both given; keep one"),
    # DFT settings: DFTSettings fields of the right type
    (lambda c: c.replace("[system.structure]", 'dft = {ecutwfc = "fifty", nonsense = 3}\n[system.structure]'),
     r"system.dft: unknown DFT setting\(s\) ecutwfc, nonsense; known: .*ecutwfc_ry"),
    (lambda c: c.replace("[system.structure]", 'dft = {ecutwfc_ry = "fifty"}\n[system.structure]'),
     "system.dft: DFT setting ecutwfc_ry = 'fifty' must be a positive number"),
    # hydrogen's isotope is each grid point's: one in the structure would be ignored (and T is none a run takes)
    (lambda c: c.replace("supercell = 1", 'supercell = 1\nisotopes = {H = "T"}'),
     r"system.structure.isotopes.H: a study's hydrogen isotopes are the grid's \(grid.isotopes, each of H, D\)"),
    (lambda c: c.replace("supercell = 1", 'supercell = 1\nisotopes = {H = "D"}'), "isotopes.H: .* remove it"),
])
def test_system_values_the_study_would_not_use_are_refused(tmp_path, published, edit, words):
    """[system] keys a study never reads, or reads wrongly, are refused when the config is read."""
    config = tmp_path / "study.toml"
    config.write_text(edit(AS_SYSTEM))
    with pytest.raises(InputError, match=words):
        load_config(config)


def test_the_models_type_map_is_the_study_s(tmp_path, published):
    """[system] type_map equal to the model's is accepted; a structure with an element the model lacks is refused
    at set-up (not by its runs, after the study directory was written)."""
    config = tmp_path / "study.toml"
    config.write_text(AS_SYSTEM.replace("[system.structure]", 'type_map = ["La", "H"]\n[system.structure]'))
    assert load_config(config)[0].system.type_map == ["La", "H"]
    config.write_text(CONFIG.format(p1=120).replace('pair = "published:tables/full.table"\n', "").replace(
        'prototype = "lah10"\na = 5.05', 'prototype = "h3s"'))
    assert_one_line_error(run_cli("study", "run", config, "--dir", tmp_path / "s"),
                          "potential.model: the start structure holds S, which the model's type map ['La', 'H'] lacks")
    assert not (tmp_path / "s").exists()


def _study(tmp_path, text: str = CONFIG.format(p1=120)) -> tuple[Study, str]:
    config = tmp_path / "study.toml"
    config.write_text(text)
    cfg, base = load_config(config)
    return Study(tmp_path / "s", cfg, base), text


def _fake_run(study: Study, spec, state: dict, reason: str | None = None) -> None:
    d = study.run_dir(spec)
    d.mkdir(parents=True)
    (d / "state.json").write_text(json.dumps(state))
    if reason:
        (d / "failed.json").write_text(json.dumps({"reason": reason, "returncode": 130}))


def test_runs_with_a_checkpoint_resume_whatever_stopped_them(tmp_path, published, monkeypatch):
    """Ctrl-C or a walltime leave failed.json beside a checkpoint: the run resumes; without a checkpoint it restarts."""
    study, text = _study(tmp_path, CONFIG.format(p1=120).replace("[120, 200]", "[120, 140, 160]"))
    study.prepare(text)
    interrupted, crashed, fresh = study.config.runs()
    _fake_run(study, interrupted, {"step": 100, "checkpoint": "checkpoint-100"}, reason="interrupted")
    _fake_run(study, crashed, {"step": 0, "checkpoint": None}, reason="energies became NaN")
    _fake_run(study, fresh, {"step": 0, "checkpoint": None})  # created, killed before its first checkpoint
    rows = study.status()
    assert [r["status"] for r in rows] == ["partial", "failed", "pending"]
    assert rows[0]["reason"] == "interrupted" and rows[0]["steps_done"] == 100

    created, advanced = [], []
    monkeypatch.setattr(Study, "create_run", lambda self, spec, model, groups: created.append(spec.name) or self.run_dir(spec))

    def start_worker(run_dir):  # records which directory a worker would advance, and advances nothing
        advanced.append(Path(run_dir).name)
        return subprocess.Popen([sys.executable, "-c", "pass"])

    monkeypatch.setattr(worker, "start_worker", start_worker)
    monkeypatch.setattr(worker, "wait_for_worker", lambda process, run_dir, progress=None: process.wait() and {} or
                        {"status": "failed", "steps_done": 0, "steps": 500, "failure": None})
    study.run_local()
    assert sorted(created) == sorted([crashed.name, fresh.name])  # made again from scratch
    assert sorted(advanced) == sorted([interrupted.name, crashed.name, fresh.name])  # the partial one resumed


def test_the_cores_are_shared_among_the_runs_that_go_at_once(tmp_path, published, monkeypatch):
    """Two workers on four cores: two bead groups per run; a run alone (``only``) gets all four."""
    study, text = _study(tmp_path)
    study.prepare(text)
    groups = {}

    def create_run(self, spec, model, bead_groups):  # records the bead groups a run would get, runs nothing
        groups[spec.name] = bead_groups
        self.run_dir(spec).mkdir(parents=True, exist_ok=True)
        return self.run_dir(spec)

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(Study, "create_run", create_run)
    monkeypatch.setattr(worker, "start_worker", lambda run_dir: subprocess.Popen([sys.executable, "-c", "pass"]))
    monkeypatch.setattr(worker, "wait_for_worker", lambda process, run_dir, progress=None: process.wait() and {} or
                        {"status": "failed", "steps_done": 0, "steps": 500, "failure": None})
    first, second = (spec.name for spec in study.config.runs())
    study.run_local(only=[first])
    assert groups == {first: 4}
    groups.clear()
    study.run_local()
    assert groups == {first: 2, second: 2}
    classical = study.config.runs()[0]
    assert study.run_settings(classical, study.model_file(), 4).bead_groups == 1  # one bead: no idle second session


def test_interrupted_study_resumes_its_runs(tmp_path, published):
    """Ctrl-C stops the running MD (failed.json: interrupted), starts no queued run; the next call resumes."""
    config = tmp_path / "study.toml"
    config.write_text(CONFIG.format(p1=120).replace("workers = 2", "workers = 1")
                      .replace("stride = 5", "stride = 5\ncheckpoint_stride = 25"))
    command = [sys.executable, "-m", "hydropimd", "study", "run", str(config), "--dir", str(tmp_path / "s"), "--quiet"]
    # its own process group, as a terminal's Ctrl-C reaches the command and its MD processes
    study = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                             preexec_fn=interruptible)
    first, second = (tmp_path / "s" / "runs" / f"T300K-P{p}GPa-H-1beads" for p in (120, 200))
    deadline = time.time() + 180
    while time.time() < deadline and study.poll() is None:
        try:
            if json.loads((first / "state.json").read_text())["step"] > 0:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    os.killpg(study.pid, signal.SIGINT)
    _, err = study.communicate(timeout=120)
    assert study.returncode == 130 and "interrupted" in err, err
    assert json.loads((first / "failed.json").read_text())["message"].startswith("interrupted")
    assert not second.exists()  # queued behind the interrupted run: not started after Ctrl-C
    steps = json.loads((first / "state.json").read_text())["step"]
    assert 0 < steps < 500
    started = (first / "init.extxyz").stat().st_mtime_ns

    status = run_cli("study", "status", "--dir", tmp_path / "s", "--json")
    rows = json.loads(status.stdout)["runs"]
    assert [r["status"] for r in rows] == ["partial", "pending"] and rows[0]["reason"].startswith("interrupted")
    again = run_cli("study", "run", config, "--dir", tmp_path / "s", "--json", "--quiet")
    assert again.returncode == 0, again.stderr
    assert [r["status"] for r in json.loads(again.stdout)["status"]] == ["done", "done"]
    assert (first / "init.extxyz").stat().st_mtime_ns == started  # resumed, not started again
    assert len((first / "table.csv").read_text().splitlines()) == 1 + 500 // 5  # no row lost or doubled
    assert not (first / "failed.json").exists()


def test_a_study_killed_with_sigkill_resumes_and_refuses_a_second_caller(tmp_path, published):
    """kill -9 of 'study run' and its MD worker loses and duplicates no row; while it runs, 'study status' says so
    and a second 'study run' of the same directory is refused in one line.  The study is paused (SIGSTOP) while
    probed, so nothing races the second caller's start-up; after the kill the worker may linger as an unreaped
    zombie (a container's init reaps nobody), which must not pass for a running worker."""
    config = tmp_path / "study.toml"
    config.write_text(CONFIG.format(p1=120).replace("[120, 200]", "[120]").replace("workers = 2", "workers = 1")
                      .replace("stride = 5", "stride = 5\ncheckpoint_stride = 25").replace("time_ps = 0.25", "time_ps = 0.1")
                      .replace("discard_ps = 0.05", "discard_ps = 0.01"))
    command = [sys.executable, "-m", "hydropimd", "study", "run", str(config), "--dir", str(tmp_path / "s"), "--quiet"]
    with orphans_kept_as_zombies():
        study = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _kill_study_mid_run(study, config, tmp_path / "s")
    run = tmp_path / "s" / "runs" / "T300K-P120GPa-H-1beads"
    again = run_cli("study", "run", config, "--dir", tmp_path / "s", "--json", "--quiet")
    assert again.returncode == 0, again.stderr
    assert [r["status"] for r in json.loads(again.stdout)["status"]] == ["done"]
    steps = [int(line.split(",")[0]) for line in (run / "table.csv").read_text().splitlines()[1:]]
    assert steps == list(range(5, 201, 5))  # no row lost, none doubled


@contextlib.contextmanager
def orphans_kept_as_zombies():
    """Make this process the reaper of its orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``) and reap none of
    them until the end: a killed study's worker then stays a zombie, as under a container's init that reaps
    nobody."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    try:
        yield
    finally:
        prctl(36, 0)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass


def _kill_study_mid_run(study: subprocess.Popen, config: Path, directory: Path) -> None:
    """Pause a 'study run' past step 50 (past its checkpoint at 50), probe it, then kill -9 its process group."""
    run = directory / "runs" / "T300K-P120GPa-H-1beads"
    while study.poll() is None:  # killed between checkpoints: rows past the last one written
        try:
            if json.loads((run / "state.json").read_text())["step"] >= 50 and \
                    len((run / "table.csv").read_text().splitlines()) > 1 + 50 // 5:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    os.killpg(study.pid, signal.SIGSTOP)

    def statuses():
        status = run_cli("study", "status", "--dir", directory, "--json")
        return [r["status"] for r in json.loads(status.stdout)["runs"]]

    assert statuses() == ["running"]
    assert_one_line_error(run_cli("study", "run", config, "--dir", directory, "--quiet"), "used by another 'study run'")
    os.killpg(study.pid, signal.SIGKILL)
    study.wait()
    assert 0 < json.loads((run / "state.json").read_text())["step"] < 200
    assert statuses() == ["partial"]


def graph_with_only_a_type_map() -> bytes:
    """A TensorFlow GraphDef (protocol buffer) of a type map ["La", "H"] and two empty nodes named like DeePMD-kit's:
    what the study reads at set-up, and nothing DeePMD-kit can run."""
    def field(number: int, payload: bytes) -> bytes:  # length-delimited, shorter than 128 bytes
        return bytes([number << 3 | 2, len(payload)]) + payload

    value = field(1, b"value") + field(2, field(8, field(8, b"La H")))  # attr "value": tensor, string_val
    nodes = [field(1, b"model_attr/tmap") + field(2, b"Const") + field(5, value),
             field(1, b"descrpt_attr/rcut"), field(1, b"model_attr/model_version")]
    return b"".join(field(1, node) for node in nodes)


def test_failed_runs_make_study_run_fail(tmp_path, published):
    """A run that fails at run time: the status table, then a one-line error naming its failed.json, exit 2."""
    (tmp_path / "broken.pb").write_bytes(graph_with_only_a_type_map())  # passes the set-up checks, loads nowhere
    config = tmp_path / "study.toml"
    config.write_text(CONFIG.format(p1=120).replace("[120, 200]", "[120]")
                      .replace("published:models/subtracted/graph.pb", "broken.pb"))
    result = run_cli("study", "run", config, "--dir", tmp_path / "s", "--quiet")
    failed = tmp_path / "s" / "runs" / "T300K-P120GPa-H-1beads" / "failed.json"
    assert_one_line_error(result, f"1 run failed; see {failed}", status=3)
    assert "T300K-P120GPa-H-1beads" in result.stdout and "failed" in result.stdout  # the table came first
    assert "cannot load model" in json.loads(failed.read_text())["message"]


def test_status_needs_a_study_directory(tmp_path):
    assert_one_line_error(run_cli("study", "status", "--dir", tmp_path / "nowhere"), "nowhere does not exist", "--dir")
    assert_one_line_error(run_cli("study", "report", "--dir", tmp_path), "holds no study", "study run")


def test_a_directory_holding_an_md_run_is_not_a_study(tmp_path, published):
    config = tmp_path / "study.toml"
    config.write_text(CONFIG.format(p1=120))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    assert_one_line_error(run_cli("study", "run", config, "--dir", tmp_path / "run"), "holds an MD run", "another --dir")
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.name != ".lock") == ["run.json"]


def test_study_run_never_takes_or_deletes_a_folder_that_is_not_a_study(tmp_path, published, monkeypatch):
    """An MD run (run.json, state.json) or a folder of other files given without a config is refused (no fall-back
    to the demo), with --force or without (which replaces studies only), and left as it was."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    (run / "state.json").write_text("{}")
    for force in ([], ["--force"]):
        line = assert_one_line_error(run_cli("study", "run", "--dir", run, *force), "holds an MD run", "another --dir")
        assert "--force" not in line
    assert sorted(p.name for p in run.iterdir()) == ["run.json", "state.json"]  # not even a lock file

    # a folder of other files: refused before any configuration is read or anything written (the MD never starts)
    monkeypatch.setattr(Study, "run_local", lambda *a, **k: pytest.fail("a run started"))
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "draft.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(InputError, match=r"holds files \(draft.txt\) but no study \(study.json\); give the study "
                                             "another --dir") as refused:
            run_study(None, notes, force=force)
        assert "--force" not in str(refused.value)
    assert [p.name for p in notes.iterdir()] == ["draft.txt"]


def test_study_run_without_a_config_resumes_the_study_in_its_directory(tmp_path, published, monkeypatch):
    """``study run --dir STUDY`` takes the configuration STUDY keeps, as status and report do: the demo's would be
    "another configuration", whose advice (--force) deletes the study."""
    study, text = _study(tmp_path)
    study.prepare(text)
    ran = []
    monkeypatch.setattr(Study, "run_local", lambda self, **k: ran.append(self.config.digest()) or [])
    summary = run_study(None, study.dir)
    assert ran == [study.config.digest()] and summary["study"] == str(study.dir)
    assert (study.dir / "study.toml").read_text() == text


def test_nothing_is_written_until_every_check_passed(tmp_path, published, monkeypatch):
    """A configuration refused late (dp compress failing) leaves no study behind to refuse its correction."""
    config = tmp_path / "study.toml"
    config.write_text(CONFIG.format(p1=120))

    def compress_fails(self):
        raise InputError("compressing graph.pb failed")

    monkeypatch.setattr(Study, "model_file", compress_fails)
    with pytest.raises(InputError, match="compressing"):
        run_study(config, tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_prepare_writes_the_study_and_its_structures(tmp_path, published):
    study, text = _study(tmp_path, CONFIG.format(p1=120).replace('isotopes = ["H"]', 'isotopes = ["H", "D"]'))
    study.prepare(text)
    stored = json.loads((study.dir / "study.json").read_text())
    assert stored == {"digest": study.config.digest(), "config_dir": str(tmp_path)}
    assert (study.dir / "study.toml").read_text() == text
    # the start structures exist before any worker thread asks for them
    for isotope in ("H", "D"):
        assert (study.dir / "structures" / f"start-{isotope}.extxyz").stat().st_size > 0
    assert not list(study.dir.rglob("*.partial"))


def test_digest_covers_only_what_changes_the_md(tmp_path, published):
    base, _ = _study(tmp_path)
    edits = {"analysis": ("discard_ps = 0.05", "discard_ps = 0.1"), "execution": ("workers = 2", "workers = 1"),
             "md": ("stride = 5", "stride = 10"), "grid": ("[120, 200]", "[120, 210]"), "structure": ("a = 5.05", "a = 5.1"),
             "md placement": ("stride = 5", "stride = 5\nbead_groups = 1\nlammps_clients = 4")}
    same = {}
    for key, (old, new) in edits.items():
        study, _ = _study(tmp_path, CONFIG.format(p1=120).replace(old, new))
        same[key] = study.config.digest() == base.config.digest()
    assert same == {"analysis": True, "execution": True, "md": False, "grid": False, "structure": False,
                    "md placement": True}


@pytest.mark.parametrize("digest", [
    "c7b72b7896384edf",  # written by 03324ff for CONFIG (before [md] and [structure] became the stages' settings)
    "fb70f60009835840",  # written before [analysis] left the digest
])
def test_directory_of_an_earlier_version_is_accepted(tmp_path, published, digest):
    """study.json written by earlier versions for the same configuration: it still owns the directory."""
    study, text = _study(tmp_path)
    study.dir.mkdir()
    (study.dir / "study.json").write_text(json.dumps({"digest": digest}))
    study.prepare(text)  # no "another configuration"
    assert json.loads((study.dir / "study.json").read_text())["digest"] == study.config.digest()


def test_distinct_grid_points_get_distinct_run_names():
    assert RunSpec(300, 120, "H", 1).name == "T300K-P120GPa-H-1beads"  # names of existing studies are kept
    assert RunSpec(300, 150.0001, "H", 1).name != RunSpec(300, 150.0002, "H", 1).name
    assert RunSpec(300.5, 150.0001, "D", 8).name == "T300.5K-P150.0001GPa-D-8beads"
