"""Advancing a run directory in a process of its own (``hydropimd md advance DIR``).

i-PI, TensorFlow and DeePMD-kit keep process-wide state (thread pools sized when
DeePMD-kit is imported, i-PI's soft-exit handler), so every MD run is advanced by
its own process: the parent creates the directory (:meth:`hydropimd.md.run.MDRun.create`),
starts the worker with the thread settings the run needs in the worker's
environment, and learns the outcome from the files the worker writes
(:mod:`hydropimd.md.rundir`): ``state.json`` when it advanced, ``failed.json``
(kind, message, retryable, step) when it failed, ``progress.json`` while it runs.
Nobody reads another process's text output.  The local study pool, exploration,
``hydropimd md run`` and the cluster jobs of a study all advance runs this way.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from hydropimd.errors import HydropimdError, RunFailed, error_from_record, error_record
from hydropimd.files import LOCK_FILE, lock_directory, no_room_error, write_json_atomic
from hydropimd.md import rundir
from hydropimd.md.run import MDRun

#: the parent's pid, given to a worker that must not outlive it (kill -9 of the parent ends the worker too)
PARENT_ENV = "HYDROPIMD_PARENT_PID"
#: the descriptor of the run's lock that a worker inherits from the parent that took it (see :func:`lock_run`)
LOCK_FD_ENV = "HYDROPIMD_RUN_LOCK_FD"
#: how often progress.json is rewritten and polled, s: often enough for a progress bar, rare enough to cost nothing
PROGRESS_INTERVAL_S = 0.5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def thread_settings(run_dir: str | os.PathLike) -> dict:
    """The thread settings of a run's process: one intra-op thread per DeePMD-kit session and as many inter-op
    threads as bead groups (the in-process driver evaluates its bead groups concurrently, one single-threaded
    session each: measured on 2 cores, 55 ms per 352-atom frame with 1 thread, 53 ms with 2)."""
    groups = MDRun(run_dir).settings.bead_groups or len(os.sched_getaffinity(0))
    return {"DP_INTRA_OP_PARALLELISM_THREADS": "1", "DP_INTER_OP_PARALLELISM_THREADS": str(groups),
            "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def worker_command(run_dir: str | os.PathLike, python: str = sys.executable) -> list[str]:
    """The command that advances ``run_dir`` (``python -m hydropimd md advance DIR --quiet``)."""
    return [python, "-m", "hydropimd", "md", "advance", str(run_dir), "--quiet"]


def lock_run(run_dir: str | os.PathLike):
    """The exclusive lock on a run directory (:func:`hydropimd.files.lock_directory`): one process advances a
    run at a time.  Two ``md run --resume`` of one directory at once wrote every row twice before it."""
    return lock_directory(run_dir, f"{run_dir} is being advanced by another process; wait for it to end (or stop "
                                   "it) before running or resuming it again")


def _holds_run_lock(run_dir: str | os.PathLike) -> bool:
    """Whether this process inherited the lock of ``run_dir`` from the parent that started it (:func:`start_worker`)."""
    fd = os.environ.get(LOCK_FD_ENV)
    try:
        same = fd is not None and os.fstat(int(fd)).st_ino == os.stat(Path(run_dir) / LOCK_FILE).st_ino
        if same:
            fcntl.flock(int(fd), fcntl.LOCK_EX | fcntl.LOCK_NB)  # the inherited description holds it: no-op
        return same
    except (OSError, ValueError):
        return False


def start_worker(run_dir: str | os.PathLike) -> subprocess.Popen:
    """Start the process that advances ``run_dir``, its output going to the run's worker.log; it ends when this
    process dies.  The run's lock is taken first (InputError when another process advances it) and handed to
    the worker, which holds it until it ends."""
    lock = lock_run(run_dir)
    try:
        env = {**os.environ, **thread_settings(run_dir), PARENT_ENV: str(os.getpid()), LOCK_FD_ENV: str(lock.fileno())}
        for name in (rundir.FAILED, rundir.PROGRESS):  # the last call's: never taken for this one's
            (Path(run_dir) / name).unlink(missing_ok=True)
        # its text (TensorFlow's start-up notices, a crash's traceback) is kept for people, read by no program
        with open(Path(run_dir) / rundir.WORKER_LOG, "ab") as log:
            return subprocess.Popen(worker_command(run_dir), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    pass_fds=(lock.fileno(),))
    finally:
        lock.close()  # the worker's inherited descriptor keeps the lock until the worker ends


def wait_for_worker(process: subprocess.Popen, run_dir: str | os.PathLike,
                    progress: Callable[[dict], None] | None = None) -> dict:
    """Wait for a worker, passing its progress on; returns :func:`outcome`."""
    seen_step, warned = None, 0
    while process.poll() is None:
        time.sleep(PROGRESS_INTERVAL_S if progress else 0.2)
        if progress is None:
            continue
        report = rundir.read_progress(run_dir) or {}
        for warning in report.get("warnings", [])[warned:]:
            progress({"warning": warning})
            warned += 1
        if report.get("step") is not None and report["step"] != seen_step:
            seen_step = report["step"]
            progress({k: report[k] for k in ("step", "steps", "time_ps", "wall_seconds", "start_step")})
    return outcome(run_dir, process.returncode)


def outcome(run_dir: str | os.PathLike, returncode: int | None = None) -> dict:
    """How a worker's call ended, from the run's own files: ``{"status": "done" | "stopped" | "failed",
    "steps_done", "steps", "failure": failed.json or None}``.  A worker that died without a record
    (kill -9, out of memory) is a retryable failure."""
    run = MDRun(run_dir)
    failure = rundir.read_failure(run_dir)
    done, steps = rundir.steps_done(run_dir), run.settings.steps
    if failure is None and done < steps and returncode not in (0, None):
        failure = {"kind": "run", "message": f"the worker ended with status {returncode} before the run finished",
                   "retryable": True, "exit_status": returncode, "step": done}
    status = "failed" if failure else ("done" if done >= steps else "stopped")
    return {"status": status, "steps_done": done, "steps": steps, "failure": failure}


def advance_in_own_process(run_dir: str | os.PathLike, progress: Callable[[dict], None] | None = None) -> dict:
    """Advance ``run_dir`` to its end in a worker process; its summary, or the worker's error raised here."""
    process = start_worker(run_dir)
    try:
        result = wait_for_worker(process, run_dir, progress)
    except BaseException:  # Ctrl-C: the worker got it too (same process group); do not leave it running
        process.kill()
        process.wait()
        raise
    if result["failure"]:
        raise error_from_record(result["failure"])
    return MDRun(run_dir).summary()


# ---------------------------------------------------------------- the worker's side
def advance_here(run_dir: str | os.PathLike, progress: Callable[[dict], None] | None = None) -> dict:
    """The worker's body: advance ``run_dir`` in this process, writing progress.json as it goes and
    failed.json when it fails (then re-raising).  Returns :meth:`hydropimd.md.run.MDRun.summary`."""
    _die_with_parent()
    signal.signal(signal.SIGTERM, _interrupt)  # a batch system's walltime: record it, like Ctrl-C
    run = MDRun(run_dir)
    run.state()  # not a run directory: InputError before anything is written
    lock = None if _holds_run_lock(run_dir) else lock_run(run_dir)  # busy: InputError, nothing written
    reporter = _ProgressFile(Path(run_dir), progress)
    try:
        return run.advance(progress=reporter)
    except HydropimdError as err:
        _record_failure(run, error_record(err))
        raise
    except KeyboardInterrupt:
        _record_failure(run, error_record(RunFailed("interrupted (Ctrl-C or a batch system's signal)", retryable=True)))
        raise
    except OSError as err:
        full = no_room_error(err, run.dir)
        if full is None:
            _record_crash(run, err)
            raise
        _record_failure(run, error_record(full))  # small: may still fit where a checkpoint did not
        raise full from None
    except Exception as err:  # a bug: recorded for the parent, traceback for the developer
        _record_crash(run, err)
        raise
    finally:
        reporter.flush()
        if lock is not None:
            lock.close()


def _record_crash(run, err: BaseException) -> None:
    _record_failure(run, {"kind": "crash", "message": f"{type(err).__name__}: {err} (traceback in "
                          f"{run.dir / rundir.WORKER_LOG})", "retryable": False, "exit_status": 1})


def _record_failure(run, record: dict) -> None:
    write_json_atomic(run.dir / rundir.FAILED, {**record, "step": rundir.steps_done(run.dir)})


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    """A worker started by :func:`start_worker` dies with its parent (Linux ``PR_SET_PDEATHSIG``)."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(parent):  # the parent died before the request took effect
        os._exit(1)


class _ProgressFile:
    """Writes the worker's progress to progress.json (at most every PROGRESS_INTERVAL_S) and passes it on."""

    def __init__(self, run_dir: Path, progress: Callable[[dict], None] | None):
        self.path, self.progress = run_dir / rundir.PROGRESS, progress
        self.report, self.written = {"warnings": []}, 0.0

    def __call__(self, info: dict) -> None:
        if "warning" in info:
            self.report["warnings"].append(info["warning"])
            self.flush()
        else:
            self.report.update(info)
            if time.monotonic() - self.written >= PROGRESS_INTERVAL_S:
                self.flush()
        if self.progress:
            self.progress(info)

    def flush(self) -> None:
        tmp = self.path.with_name(self.path.name + ".partial")
        tmp.write_text(json.dumps(self.report))  # no fsync: a lost progress report costs nothing
        os.replace(tmp, self.path)
        self.written = time.monotonic()
