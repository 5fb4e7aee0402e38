"""Running a study's grid: which runs are done, executing the rest locally or on a cluster.

Study directory::

    study.toml        the configuration as last given (status and report use it when given none)
    study.json        the digest of what defines the MD runs, and the folder the configuration's
                      relative paths refer to (a directory made by another config is refused unless --force)
    structures/       the starting structure of each isotope
    runs/<name>/      one MD run directory per grid point (hydropimd.md.rundir; failed.json on failure)
    report/           written by :mod:`hydropimd.study.report`

The study creates each run directory itself, with the settings of its grid point
(:meth:`Study.run_settings`: the ``[md]`` options at the point), and a worker
process advances it (:mod:`hydropimd.md.worker`; i-PI and TensorFlow keep
process-wide state, so runs never share a process); the worker's own files say
how it ended.  A finished run is never
repeated; a run with a checkpoint resumes from it whatever stopped it (Ctrl-C, a
crash, a cluster job's walltime), so runs longer than a walltime finish over
several ``study run`` calls; a run that failed before its first checkpoint starts again.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from ase.io import write

from hydropimd.errors import InputError
from hydropimd.files import LOCK_FILE, lock_held, write_json_atomic, write_text_atomic
from hydropimd.md import rundir
from hydropimd.md.rundir import FAILED, STUDY_MARKER as MARKER, resumable
from hydropimd.study.config import RunSpec, StudyConfig, data_root, resolve_path

RUNNING = "running.json"
#: what a study's set-up writes before its study.json: a folder holding only these is a study whose set-up stopped
SETUP_ENTRIES = (LOCK_FILE, "study.toml", "structures", "runs")


def foreign_directory(directory: str | os.PathLike) -> str | None:
    """Why ``directory`` is not a study's to write into or replace, as an error line; None when it does not exist,
    is empty, holds a study (a study.json with its digest) or only what a study's set-up writes before that.

    An MD run (run.json) or any other folder of the user's is refused with or without ``--force``, which replaces
    studies only: following its advice must never delete someone's data.
    """
    directory = Path(directory)
    fix = "give the study another --dir (a new or empty folder, or a study's)"
    if not directory.exists():
        return None
    if not directory.is_dir():
        return f"--dir {directory} is a file, not a folder; {fix}"
    if rundir.is_run_directory(directory):
        return f"{directory} holds an MD run (run.json), not a study; {fix}"
    marker = directory / MARKER
    if marker.exists():
        try:
            payload = json.loads(marker.read_text())
        except (OSError, ValueError):
            payload = None
        return None if isinstance(payload, dict) and "digest" in payload else f"{marker} is not a study's; {fix}"
    others = sorted(p.name for p in directory.iterdir() if p.name not in SETUP_ENTRIES)
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        return f"{directory} holds files ({shown}) but no study ({MARKER}); {fix}"
    return None


class Study:
    """A study directory bound to its configuration."""

    def __init__(self, directory: str | os.PathLike, config: StudyConfig, config_dir: Path):
        self.dir = Path(directory)
        self.config = config
        self.config_dir = config_dir
        self.runs_dir = self.dir / "runs"
        self._lock = threading.Lock()
        self._model: Path | None = None

    # ------------------------------------------------------------ set-up
    def stored(self) -> dict | None:
        """The directory's study.json (``digest``, ``config_dir``), None when it holds no study."""
        marker = self.dir / MARKER
        return json.loads(marker.read_text()) if marker.exists() else None

    def made_by_this_config(self, stored: dict) -> bool:
        """Whether a study.json belongs to this configuration (or to one differing only in analysis or execution)."""
        return stored["digest"] in (self.config.digest(), *self.config.earlier_digests())

    def prepare(self, config_text: str, force: bool = False) -> None:
        """Create the directory, or check that it belongs to this configuration.

        Every check comes first (the configuration itself was checked by load_config; here the
        directory, then the model's compression): a refused or broken configuration leaves the
        directory as it was, so the corrected one is not taken for "another configuration".
        """
        refusal = foreign_directory(self.dir)  # what is not a study is never written into, nor replaced (--force)
        if refusal:
            raise InputError(refusal)
        stored = self.stored()
        replace = stored is not None and not self.made_by_this_config(stored)
        if replace and not force:
            raise InputError(f"{self.dir} holds a study made by another configuration; "
                             "use a new directory or --force to replace it")
        self.model_file()  # dp compress (cached) fails here, before anything is written
        if replace:
            shutil.rmtree(self.dir)
        write_text_atomic(self.dir / "study.toml", config_text)
        for isotope in self.config.grid.all_isotopes():  # once, before any worker reads them
            self._write_structure(isotope)
        self.runs_dir.mkdir(exist_ok=True)
        write_json_atomic(self.dir / MARKER, {"digest": self.config.digest(), "config_dir": str(self.config_dir)}, indent=2)

    def _structure_path(self, isotope: str) -> Path:
        return self.dir / "structures" / f"start-{isotope}.extxyz"

    def _write_structure(self, isotope: str) -> Path:
        text = io.StringIO()
        write(text, self.config.structure.build(isotope), format="extxyz")
        return write_text_atomic(self._structure_path(isotope), text.getvalue())

    def structure_file(self, isotope: str) -> Path:
        """The starting structure of ``isotope`` (written by :meth:`prepare`; here too, under a lock, if missing)."""
        path = self._structure_path(isotope)
        with self._lock:  # workers run in threads: one writes, the others wait for the whole file
            if not path.exists():
                self._write_structure(isotope)
        return path

    def model_file(self) -> Path:
        """The model the runs use: the configured one, or its cached ``dp compress`` version."""
        if self._model is None:
            p = self.config.potential
            model = resolve_path(p.model, self.config_dir)
            if p.compress:
                from hydropimd.potential.models import cached_compressed_model

                model = cached_compressed_model(model, resolve_path(p.compress, self.config_dir), data_root())
            self._model = model
        return self._model

    # ------------------------------------------------------------ state
    def run_dir(self, spec: RunSpec) -> Path:
        return self.runs_dir / spec.name

    def status(self) -> list[dict]:
        """One row per grid point: done, running, partial (it has a checkpoint: the next run resumes it),
        failed (before its first checkpoint: the next run starts it again) or pending.

        A partial run that stopped on an error (Ctrl-C, a walltime, a crash) keeps the reason of failed.json.
        """
        rows = []
        steps = self.config.md.steps
        for spec in self.config.runs():
            d = self.run_dir(spec)
            row = {"name": spec.name, **spec.model_dump(), "steps": steps, "steps_done": 0, "status": "pending"}
            state = rundir.read_state(d) or {}
            row["steps_done"] = state.get("step", 0)
            if row["steps_done"] >= steps:
                row["status"] = "done"
            else:
                failure = rundir.read_failure(d)
                if failure is not None:
                    # failed.json of the worker ("message"), or of versions before it ("reason")
                    row.update(status="failed", reason=failure.get("message", failure.get("reason")))
                if resumable(state):
                    row["status"] = "partial"
                if self._running(d):
                    row["status"] = "running"
            rows.append(row)
        return rows

    @staticmethod
    def _marker(run_dir: Path) -> Path:
        """Where a cluster submission notes the local process that waits for a run's job: beside the run folder,
        not in it (a fresh run replaces its folder)."""
        return run_dir.parent / f".{run_dir.name}.{RUNNING}"

    def _running(self, run_dir: Path) -> bool:
        """Whether a run is being advanced now: a worker holds its lock (released by the kernel when the worker
        dies, however it dies), or a live process waits for its cluster job.  A worker's pid is no evidence: a
        worker killed with its study stays a zombie, alive to ``kill(pid, 0)``, where nobody reaps it."""
        if lock_held(run_dir):
            return True
        marker = self._marker(run_dir)
        try:
            return _alive(json.loads(marker.read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return False

    # ------------------------------------------------------------ execution
    def run_settings(self, spec: RunSpec, model: Path, bead_groups: int):
        """The MD settings of one grid point: the study's [md] options at the point, with its potential; at most one
        bead group per bead (``bead_groups`` cores were given to the run)."""
        from hydropimd.md.settings import MDSettings

        p = self.config.potential
        return MDSettings.at_point(
            self.config.md, model=str(model), pair=str(resolve_path(p.pair, self.config_dir)) if p.pair else None,
            committee=[str(resolve_path(c, self.config_dir)) for c in p.committee],
            temperature_k=spec.temperature_k, pressure_gpa=spec.pressure_gpa, beads=spec.beads,
            bead_groups=self.config.md.bead_groups or min(bead_groups, spec.beads))

    def create_run(self, spec: RunSpec, model: Path, bead_groups: int) -> Path:
        """Create (or replace) the run directory of a grid point, its settings stored in its run.json."""
        from ase.io import read

        from hydropimd.md.run import MDRun

        d = self.run_dir(spec)
        MDRun(d).create(read(self.structure_file(spec.isotope)), self.run_settings(spec, model, bead_groups), force=True)
        return d

    def todo(self, only: list[str] | None = None) -> list[dict]:
        """The status rows of the grid points to run now: unfinished and not running, and among ``only`` (run names,
        as ``study status`` lists them) when given; InputError for a name that is no point of the grid."""
        rows = self.status()
        if only:
            names = [row["name"] for row in rows]
            unknown = [name for name in only if name not in names]
            if unknown:
                raise InputError(f"--only {', '.join(unknown)}: no such run in this study's grid (its runs: "
                                 f"{', '.join(names)})")
            rows = [row for row in rows if row["name"] in only]
        return [row for row in rows if row["status"] not in ("done", "running")]

    def run_local(self, progress: Callable[[dict], None] | None = None, only: list[str] | None = None) -> list[dict]:
        """Run every unfinished grid point (of ``only``, when given: :meth:`todo`) on a pool of ``workers`` worker
        processes.

        Partial runs resume from their checkpoints; others are created (again) from scratch.  On Ctrl-C
        the runs still queued are dropped (the running ones stop with the signal and resume next time).
        """
        model = self.model_file()
        todo = self.todo(only)
        specs = {s.name: s for s in self.config.runs()}
        # the cores are shared among the runs that go at once: a single run (``--only``, or the only one left) gets
        # them all (measured: a 4-bead N = 352 PIGLET step took 0.43 s on one of two cores)
        concurrent = max(1, min(self.config.execution.workers, len(todo)))
        groups = max(1, len(os.sched_getaffinity(0)) // concurrent)

        def one(row: dict) -> dict:
            from hydropimd.md.worker import start_worker, wait_for_worker

            spec = specs[row["name"]]
            d = self.run_dir(spec) if row["status"] == "partial" else self.create_run(spec, model, groups)
            (d / FAILED).unlink(missing_ok=True)
            result = run_result(spec.name, d, wait_for_worker(start_worker(d), d))
            if progress:
                progress(result)
            return result

        pool = ThreadPoolExecutor(max_workers=self.config.execution.workers)
        try:
            futures = [pool.submit(one, row) for row in todo]
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # after Ctrl-C: no queued run starts


def run_result(name: str, run_dir: Path, outcome: dict) -> dict:
    """A study's record of one run from its worker's outcome (:func:`hydropimd.md.worker.outcome`):
    ``{"name", "status": "done", ...the run's summary}`` or ``{"name", "status": "failed", "reason", "kind",
    "retryable"}``; a failure the worker could not record itself (it was killed) is written to failed.json here."""
    from hydropimd.md.run import MDRun

    if outcome["status"] == "done":
        return {"name": name, "status": "done", **MDRun(run_dir).summary()}
    failure = outcome["failure"] or {"kind": "run", "message": "the run stopped before its last step",
                                     "retryable": True, "step": outcome["steps_done"]}
    if not (run_dir / FAILED).exists():
        write_json_atomic(run_dir / FAILED, failure)
    return {"name": name, "status": "failed", "reason": failure["message"], "kind": failure["kind"],
            "retryable": failure.get("retryable", False)}


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs: it exists and is not a zombie (a dead process its parent has not reaped)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # field 3 of /proc/PID/stat, after the parenthesised command name
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
