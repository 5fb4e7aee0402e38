"""Run directories: resume after kill -9, refusal to overwrite, one-line errors."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ase.io import read, write

from hydropimd.md.run import MDRun
from tests.conftest import assert_one_line_error, run_cli
from tests.md.conftest import read_table


def md_args(published, structure, out, *extra):
    return ["md", "run", "--structure", structure, "--model", published / "models/subtracted/graph.pb",
            "--pair", published / "tables/full.table", "--temperature", "300", "--pressure-gpa", "150",
            "--out", out, "--quiet", *extra]


def test_resume_after_kill_gives_the_same_rows(tmp_path, published, lah10_44):
    structure = tmp_path / "start.extxyz"
    write(structure, lah10_44)
    common = ["--beads", "2", "--steps", "300", "--stride", "10", "--checkpoint-stride", "50", "--seed", "7"]
    reference = run_cli(*md_args(published, structure, tmp_path / "ref", *common))
    assert reference.returncode == 0, reference.stderr

    killed = tmp_path / "killed"
    args = [sys.executable, "-m", "hydropimd", *map(str, md_args(published, structure, killed, *common))]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    table = killed / "table.csv"
    # kill between checkpoints: after the second checkpoint, with rows beyond it already written
    while process.poll() is None and not (table.exists() and len(table.read_text().splitlines()) >= 1 + 13):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGSTOP)  # paused at the observed state, then killed there
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    state = json.loads((killed / "state.json").read_text())
    assert 0 < state["step"] < 300
    assert len(table.read_text().splitlines()) - 1 >= state["step"] // 10  # rows past the checkpoint existed

    resumed = run_cli("md", "run", "--resume", "--out", killed, "--quiet", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["steps_done"] == 300
    a, b = read_table(tmp_path / "ref"), read_table(killed)
    assert list(b["step"]) == list(range(10, 301, 10))  # no row lost, none duplicated
    for key in ("a", "alpha", "pressure_gpa", "temperature_k", "potential_ev", "conserved_ev", "kinetic_cv_ev"):
        # checkpoints store 17 significant digits: measured 1.5e-12 K, 1.8e-12 eV, 1.4e-13 GPa apart after 300
        # steps (i-PI's default 9 digits: 1e-5 K after 400 steps)
        assert np.allclose(a[key], b[key], rtol=1e-10, atol=1e-10), key
    assert len(read(killed / "centroid.extxyz", ":")) == 30


def test_refuses_to_overwrite_a_run(tmp_path, published, lah10_44):
    structure = tmp_path / "start.extxyz"
    write(structure, lah10_44)
    first = run_cli(*md_args(published, structure, "run", "--steps", "10"), cwd=tmp_path)  # a relative --out
    assert first.returncode == 0, first.stderr
    again = run_cli(*md_args(published, structure, tmp_path / "run", "--steps", "10"))
    assert again.returncode == 2 and "already holds a run" in again.stderr
    forced = run_cli(*md_args(published, structure, tmp_path / "run", "--steps", "20", "--force", "--json"))
    assert forced.returncode == 0 and json.loads(forced.stdout)["steps_done"] == 20
    rows = (tmp_path / "run" / "table.csv").read_text()
    # resuming a finished run does nothing and says where it stands
    done = run_cli("md", "run", "--resume", "--out", tmp_path / "run", "--json", "--quiet")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["steps_done"] == summary["steps"] == 20 and summary["seconds_per_step"] > 0
    assert (tmp_path / "run" / "table.csv").read_text() == rows
    # a resumed run keeps its settings: a changed one is refused with the stored value, an equal one is fine,
    # more steps extend it
    changed = run_cli("md", "run", "--resume", "--out", tmp_path / "run", "--temperature", "100", "--seed", "3",
                      "--pressure-gpa", "150", "--quiet")
    assert changed.returncode == 2 and "Traceback" not in changed.stderr
    assert "--temperature-k 100.0 (the run has 300.0)" in changed.stderr and "--seed 3" in changed.stderr
    assert "--pressure-gpa" not in changed.stderr
    fewer = run_cli("md", "run", "--resume", "--out", tmp_path / "run", "--steps", "10", "--quiet")
    assert fewer.returncode == 2 and "fewer than the 20 steps" in fewer.stderr
    longer = run_cli("md", "run", "--resume", "--out", tmp_path / "run", "--steps", "30", "--temperature", "300",
                     "--json")
    assert longer.returncode == 0, longer.stderr
    assert "extending the run to 30 steps" in longer.stderr and json.loads(longer.stdout)["steps_done"] == 30
    assert (tmp_path / "run" / "table.csv").read_text().startswith(rows)
    meta = MDRun(tmp_path / "run").meta
    assert meta["natoms"] == 44 and meta["isotope"] == "H" and meta["cell_kind"] == "conventional"
    assert meta["timings"]["steps_done"] == 30 and meta["timings"]["wall_seconds"] > 0
    assert (tmp_path / "run" / "input.xml").read_text().count("mode='flexible'") == 1


@pytest.mark.parametrize("extra, words", [
    (["--temperature", "0", "--steps", "10"], "temperature"),
    (["--dt-fs", "-0.5", "--steps", "10"], "timestep"),
    (["--steps", "0"], "steps"),
    (["--beads", "0", "--steps", "10"], "beads"),
    (["--pressure-gpa", "1e9", "--steps", "10"], "--pressure-gpa: Input should be less than or equal to 10000"),
    (["--dt-fs", "100", "--steps", "10"], "--timestep-fs: Input should be less than or equal to 10"),
])
def test_bad_numbers(tmp_path, published, lah10_44, extra, words):
    structure = tmp_path / "start.extxyz"
    write(structure, lah10_44)
    result = run_cli(*md_args(published, structure, tmp_path / "run", *extra))
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_bad_structures_stop_with_the_step(tmp_path, published, lah10_44):
    close = lah10_44.copy()
    close.positions[4] = close.positions[0] + [0.3, 0, 0]  # an H 0.3 A from a La
    write(tmp_path / "close.extxyz", close)
    result = run_cli(*md_args(published, tmp_path / "close.extxyz", tmp_path / "close", "--steps", "10"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "atoms 0 (La) and 4 (H) are 0.300 A apart" in result.stderr and not (tmp_path / "close").exists()
    # a start structure that is fine but a timestep that throws H onto La: the dynamics are blamed, not the input
    write(tmp_path / "good.extxyz", lah10_44)
    result = run_cli(*md_args(published, tmp_path / "good.extxyz", tmp_path / "close", "--steps", "40", "--dt-fs", "8"))
    assert result.returncode == 3 and "Traceback" not in result.stderr and "La_H table starts" in result.stderr
    assert "the dynamics blew up (is the 8 fs timestep too long?" in result.stderr
    assert not (tmp_path / "close").exists()  # a run that failed before its first checkpoint left nothing behind
    fixed = run_cli(*md_args(published, tmp_path / "good.extxyz", tmp_path / "close", "--steps", "10"))
    assert fixed.returncode == 0, fixed.stderr

    iron = lah10_44.copy()
    iron.symbols[0] = "Fe"
    write(tmp_path / "fe.extxyz", iron)
    result = run_cli(*md_args(published, tmp_path / "fe.extxyz", tmp_path / "fe", "--steps", "10"))
    assert result.returncode == 2 and "no terms for Fe" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "fe").exists()  # the pair table is checked before the run directory is made
    no_pair = md_args(published, tmp_path / "fe.extxyz", tmp_path / "fe", "--steps", "10")
    no_pair = no_pair[:no_pair.index("--pair")] + no_pair[no_pair.index("--pair") + 2:]
    result = run_cli(*no_pair)
    assert result.returncode == 2 and "Fe" in result.stderr and "type map" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "fe" / "run.json").exists()


def test_committee_deviation_is_monitored(tmp_path, published, lah10_44):
    structure = tmp_path / "start.extxyz"
    write(structure, lah10_44)
    result = run_cli(*md_args(published, structure, tmp_path / "run", "--steps", "60", "--stride", "10",
                              "--committee", published / "models/full/graph.pb", "--monitor-stride", "20",
                              "--dev-warn", "0.01", "--json"))
    assert result.returncode == 0, result.stderr
    table = read_table(tmp_path / "run")
    monitored = ~np.isnan(table["max_force_dev"])
    assert list(table["step"][monitored]) == [20, 40, 60]
    assert np.all(table["max_force_dev"][monitored] > 0.01)
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "step 20" in warnings[0]  # warned once, with the step
    assert json.loads(result.stdout)["max_force_dev_warning_step"] == 20


def test_an_exploding_cell_stops_with_the_step_and_keeps_what_was_done(tmp_path, lah10_settings, lah10_44):
    """-100 GPa on a cell at 150 GPa: the volume doubles within ~10 fs. The run stops before the model sees an
    absurd cell (DeePMD-kit's kernels crash the process on one), names the step, and keeps its last checkpoint."""
    from hydropimd.errors import RunFailed
    from hydropimd.md.api import run_md

    settings = dict(pressure_gpa=-100.0, barostat_tau_fs=200.0, steps=300, stride=5)
    with pytest.raises(RunFailed, match=r"stopped near step \d+: the cell exploded .*checkpoint \(step \d+\) is kept") as err:
        run_md(lah10_44, lah10_settings(checkpoint_stride=10, **settings), tmp_path / "kept")
    kept = int(str(err.value).split("checkpoint (step ")[1].split(")")[0])
    assert kept >= 10 and json.loads((tmp_path / "kept" / "state.json").read_text())["step"] == kept
    assert len(read_table(tmp_path / "kept")["step"]) >= kept // 5
    # without a checkpoint yet, the rows written so far stay for inspection
    with pytest.raises(RunFailed, match=r"exploded .*rerun with --force \(the \d+ rows written so far stay"):
        run_md(lah10_44, lah10_settings(checkpoint_stride=300, **settings), tmp_path / "rows")
    assert len(read_table(tmp_path / "rows")["step"]) >= 1


def test_one_process_advances_a_run_at_a_time(tmp_path):
    """A second ``md run --resume`` (or ``md advance``, or ``--force``) of a run being advanced is refused in one
    line and writes nothing: before the lock, both ran and table.csv got every row twice, out of order."""
    from hydropimd.md.settings import MDSettings
    from hydropimd.structures import build_lah10

    settings = MDSettings(model="", einstein_frequency_thz=20.0, temperature_k=300, ensemble="nvt", steps=200000,
                          stride=10, checkpoint_stride=1000)
    run = tmp_path / "run"
    MDRun(run).create(build_lah10(cell="primitive"), settings)
    first = subprocess.Popen([sys.executable, "-m", "hydropimd", "md", "run", "--resume", "--out", str(run), "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len((run / "table.csv").read_text().splitlines()) < 5:
        time.sleep(0.05)
    try:
        assert first.poll() is None, first.stderr.read()
        second = run_cli("md", "run", "--resume", "--out", run, "--quiet")
        assert second.returncode == 2 and "being advanced by another process" in second.stderr, second.stderr
        by_hand = run_cli("md", "advance", run, "--quiet")
        assert by_hand.returncode == 2 and "being advanced by another process" in by_hand.stderr, by_hand.stderr
        with pytest.raises(Exception, match="being advanced by another process"):
            MDRun(run).create(build_lah10(cell="primitive"), settings, force=True)
        assert first.poll() is None  # the first run was not disturbed
    finally:
        os.killpg(first.pid, signal.SIGINT)
        try:
            first.wait(120)
        except subprocess.TimeoutExpired:  # seen once on a loaded CI machine; this test is about the lock, not Ctrl-C
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(60)
    # a run stopped by SIGKILL may leave its last row half-written (its next resume cuts the table back to the
    # checkpoint): only complete rows count
    rows = (run / "table.csv").read_text().split("\n")[1:-1]
    steps = [int(float(row.split(",")[0])) for row in rows]
    assert len(steps) >= 4 and steps == list(range(10, 10 * len(steps) + 1, 10))  # each row once, in order


def _einstein_settings(**extra):
    from hydropimd.md.settings import MDSettings

    return MDSettings(model="", einstein_frequency_thz=20.0, temperature_k=300, ensemble="nvt", steps=20, stride=10,
                      **extra)


def test_a_refused_resume_leaves_a_starting_run_alone(tmp_path):
    """A run being started by another process (its lock held, no checkpoint or row yet) is refused to a second
    ``md run --resume``, which must not remove it (it did: the refusal looked like a failed start)."""
    from hydropimd.files import lock_directory
    from hydropimd.structures import build_lah10

    run = tmp_path / "run"
    MDRun(run).create(build_lah10(cell="primitive"), _einstein_settings())
    lock = lock_directory(run, "busy")
    before = sorted(p.name for p in run.iterdir())  # the other process, starting up
    try:
        second = run_cli("md", "run", "--resume", "--out", run, "--quiet")
    finally:
        lock.close()
    assert second.returncode == 2 and "being advanced by another process" in second.stderr, second.stderr
    assert sorted(p.name for p in run.iterdir()) == before and MDRun(run).state()["step"] == 0


def test_a_folder_of_the_users_is_not_overwritten(tmp_path):
    from hydropimd.errors import InputError
    from hydropimd.structures import build_lah10

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "table.csv").write_text("my,data\n1,2\n")
    with pytest.raises(InputError, match="not a hydropimd run \\(table.csv\\)"):
        MDRun(folder).create(build_lah10(cell="primitive"), _einstein_settings(), force=True)
    assert sorted(p.name for p in folder.iterdir()) == ["table.csv"]
    assert (folder / "table.csv").read_text() == "my,data\n1,2\n"


def test_a_refused_piglet_run_leaves_nothing_behind(tmp_path):
    """PIGLET options refused by the input writer leave no stub (init.extxyz, checkpoints/) blocking the fixed
    command; with --force an existing run is not removed by a refused replacement either."""
    from hydropimd.errors import InputError
    from hydropimd.structures import build_lah10

    atoms = build_lah10(cell="primitive")
    with pytest.raises(InputError):
        MDRun(tmp_path / "new").create(atoms, _einstein_settings(beads=7, sampling="piglet"))
    assert not (tmp_path / "new").exists()
    MDRun(tmp_path / "old").create(atoms, _einstein_settings())
    with pytest.raises(InputError):
        MDRun(tmp_path / "old").create(atoms, _einstein_settings(beads=7, sampling="piglet"), force=True)
    assert MDRun(tmp_path / "old").meta["settings"]["beads"] == 1


def test_a_full_disk_is_a_run_failure_naming_the_file(tmp_path):
    """A run whose files stop fitting (a full disk; here the file-size limit, which fails the same way, inherited
    by the worker): exit 3, one line naming the file and the free space, failed.json saying so, retryable;
    before, exit 2 'cannot access: No space left on device' with the cause only in worker.log."""
    import resource

    from hydropimd.md.settings import MDSettings
    from hydropimd.structures import build_lah10

    settings = MDSettings(model="", einstein_frequency_thz=20.0, temperature_k=300, ensemble="nvt", steps=20000,
                          stride=1, checkpoint_stride=20000)
    run = tmp_path / "run"
    MDRun(run).create(build_lah10(cell="primitive"), settings)

    def small_files():  # 64 kB: the run's table and trajectory outgrow it within a few hundred steps
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))

    result = subprocess.run([sys.executable, "-m", "hydropimd", "md", "run", "--resume", "--out", str(run), "--quiet"],
                            capture_output=True, text=True, preexec_fn=small_files)
    assert_one_line_error(result, "cannot write", str(run), "MiB free", status=3)
    failure = json.loads((run / "failed.json").read_text())
    assert failure["retryable"] and "MiB free" in failure["message"]


def test_steps_must_be_whole_strides(tmp_path):
    """--steps 20 --stride 50 ran 50 steps, recorded no checkpoint at its end ('steps done 0 / 20') and every resume
    recomputed them: a total that is not a whole number of strides is refused by the settings, wherever they come from
    (md run, a study's [md] table, an extension on resume), before anything is written."""
    from pydantic import ValidationError

    from hydropimd.errors import InputError
    from hydropimd.md.settings import MDOptions
    from hydropimd.structures import build_lah10

    for length in (dict(steps=25), dict(time_ps=0.0125)):  # 25 steps of 0.5 fs
        with pytest.raises(ValidationError, match="25 steps|steps 25"):
            MDOptions(stride=10, **length)
    assert MDOptions(steps=20, stride=10, checkpoint_stride=1000).checkpoint_stride == 1000  # a checkpoint ends a run
    structure = tmp_path / "start.extxyz"
    write(structure, build_lah10(cell="primitive"))
    result = run_cli("md", "run", "--structure", structure, "--einstein-frequency-thz", "20", "--ensemble", "nvt",
                     "--temperature", "300", "--steps", "20", "--stride", "50", "--out", tmp_path / "run", "--quiet")
    assert_one_line_error(result, "steps 20", "stride 50", "give steps 50")
    assert not (tmp_path / "run").exists()
    run = MDRun(tmp_path / "made")
    run.create(build_lah10(cell="primitive"), _einstein_settings(time_ps=0.01))  # 20 steps
    stored = (run.dir / "run.json").read_text()
    with pytest.raises(InputError, match="--steps 25 does not fit this run: steps 25 must be a multiple of stride 10"):
        run.extend(25)
    assert (run.dir / "run.json").read_text() == stored
    assert run.extend(30) == 20 and run.settings.steps == 30  # time_ps no longer contradicts the new total
    meta = json.loads((run.dir / "run.json").read_text())  # a run an earlier version made with a partial stride
    (run.dir / "run.json").write_text(json.dumps({**meta, "settings": {**meta["settings"], "steps": 25}}))
    with pytest.raises(InputError, match="run.json: steps 25 must be a multiple of stride 10.*again with --force"):
        run.settings


def test_a_study_folder_is_not_a_run(tmp_path):
    """md run --out STUDY_DIR is refused, with or without --force, even where run files were mixed in by an earlier
    version (--force then replaced them inside the study's folder); the folder is left as it was."""
    from hydropimd.errors import InputError
    from hydropimd.structures import build_lah10

    study = tmp_path / "study"
    (study / "runs").mkdir(parents=True)
    (study / "study.json").write_text('{"digest": "0"}')
    for force in (False, True):
        refused = re.escape(f"{study} holds a hydropimd study (study.json)") + ".*new or empty folder as --out"
        with pytest.raises(InputError, match=refused):
            MDRun(study).create(build_lah10(cell="primitive"), _einstein_settings(), force=force)
    (study / "run.json").write_text("{}")
    (study / "state.json").write_text("{}")
    before = sorted(p.name for p in study.iterdir())
    with pytest.raises(InputError, match="holds a hydropimd study"):
        MDRun(study).create(build_lah10(cell="primitive"), _einstein_settings(), force=True)
    assert sorted(p.name for p in study.iterdir()) == before and (study / "run.json").read_text() == "{}"


def test_fewer_steps_on_resume_are_refused_before_any_notice(tmp_path):
    """--resume --steps 10 on a run that has done 20 printed 'extending the run to 10 steps' and then refused."""
    from hydropimd.md.api import run_md
    from hydropimd.structures import build_lah10

    run = tmp_path / "run"
    assert run_md(build_lah10(cell="primitive"), _einstein_settings(), run)["steps_done"] == 20
    stored = (run / "run.json").read_text()
    fewer = run_cli("md", "run", "--resume", "--out", run, "--steps", "10")  # not --quiet: it silences notices
    assert_one_line_error(fewer, "--steps 10", "fewer than the 20 steps", "give at least 20")
    assert (run / "run.json").read_text() == stored
