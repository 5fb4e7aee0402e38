"""Running a study's grid: which runs are done, executing the rest locally or on a cluster.

Study directory::

    study.toml        the configuration as last given (status and report use it when given none)
    study.json        the digest of what defines the MD runs, and the folder the configuration's
                      relative paths refer to (a directory made by another config is refused unless --force)
    structures/       the starting structure of each isotope
    runs/<name>/      one ``hydropimd md run`` directory per grid point (+ failed.json on failure)
    report/           written by :mod:`hydropimd.study.report`

Each run executes as its own ``hydropimd md run`` process (i-PI and TensorFlow keep
process-wide state, so runs never share a process).  A finished run is never
repeated; a run with a checkpoint resumes from it whatever stopped it (Ctrl-C, a
crash, a cluster job's walltime), so runs longer than a walltime finish over
several ``study run`` calls; a run that failed before its first checkpoint starts again.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from ase.io import write

from hydropimd.errors import InputError
from hydropimd.files import write_json_atomic, write_text_atomic
from hydropimd.study.config import RunSpec, StudyConfig, data_root, resolve_path

FAILED = "failed.json"
RUNNING = "running.json"
MARKER = "study.json"


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
        return stored["digest"] in (self.config.digest(), self.config.legacy_digest())

    def prepare(self, config_text: str, force: bool = False) -> None:
        """Create the directory, or check that it belongs to this configuration.

        Every check comes first (the configuration itself was checked by load_config; here the
        directory, then the model's compression): a refused or broken configuration leaves the
        directory as it was, so the corrected one is not taken for "another configuration".
        """
        stored = self.stored()
        replace = stored is not None and not self.made_by_this_config(stored)
        if replace and not force:
            raise InputError(f"{self.dir} holds a study made by another configuration; "
                             "use a new directory or --force to replace it")
        self.model_file()  # dp compress (cached) fails here, before anything is written
        if replace:
            shutil.rmtree(self.dir)
        write_text_atomic(self.dir / "study.toml", config_text)
        for isotope in self.config.grid.isotopes:  # once, before any worker reads them
            self._write_structure(isotope)
        self.runs_dir.mkdir(exist_ok=True)
        write_json_atomic(self.dir / MARKER, {"digest": self.config.digest(), "config_dir": str(self.config_dir)}, indent=2)

    def _structure_path(self, isotope: str) -> Path:
        return self.dir / "structures" / f"lah10-{isotope}.extxyz"

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
            state = json.loads((d / "state.json").read_text()) if (d / "state.json").exists() else {}
            row["steps_done"] = state.get("step", 0)
            if row["steps_done"] >= steps:
                row["status"] = "done"
            else:
                if (d / FAILED).exists():
                    row.update(status="failed", reason=json.loads((d / FAILED).read_text())["reason"])
                if resumable(state):
                    row["status"] = "partial"
                running = self._marker(d)
                if running.exists() and _alive(json.loads(running.read_text())["pid"]):
                    row["status"] = "running"
            rows.append(row)
        return rows

    @staticmethod
    def _marker(run_dir: Path) -> Path:
        # beside the run folder, not in it: a fresh run replaces its folder
        return run_dir.parent / f".{run_dir.name}.{RUNNING}"

    # ------------------------------------------------------------ execution
    def md_command(self, spec: RunSpec, model: Path, resume: bool, python: str = sys.executable,
                   run_dir: str | None = None, structure: str | None = None) -> list[str]:
        """The ``hydropimd md run`` command of one grid point."""
        out = run_dir or str(self.run_dir(spec))
        if resume:
            return [python, "-m", "hydropimd", "md", "run", "--resume", "--out", out, "--quiet", "--json"]
        m, c = self.config.md, self.config.potential
        execution = self.config.execution
        if execution.mode == "local":
            groups = max(1, len(os.sched_getaffinity(0)) // execution.workers)
        else:  # one run per cluster job: the job's cores, not this machine's
            groups = execution.cluster.cpu_per_node
        command = [python, "-m", "hydropimd", "md", "run", "--structure", structure or str(self.structure_file(spec.isotope)),
                   "--model", str(model), "--temperature", f"{spec.temperature_k!r}",
                   "--pressure-gpa", f"{spec.pressure_gpa!r}", "--beads", str(spec.beads), "--steps", str(m.steps),
                   "--dt-fs", f"{m.timestep_fs!r}", "--stride", str(m.stride),
                   "--checkpoint-stride", str(m.checkpoint_steps), "--seed", str(m.seed),
                   "--thermostat-tau-fs", f"{m.thermostat_tau_fs!r}", "--barostat-tau-fs", f"{m.barostat_tau_fs!r}",
                   "--engine", m.engine, "--drivers", str(m.drivers), "--bead-groups", str(groups),
                   "--out", out, "--quiet", "--json", "--force"]
        if c.pair:
            command += ["--pair", str(resolve_path(c.pair, self.config_dir))]
        if c.committee:
            command += ["--committee", *[str(resolve_path(x, self.config_dir)) for x in c.committee],
                        "--monitor-stride", str(m.stride * 10)]
        return command

    def run_local(self, progress: Callable[[dict], None] | None = None) -> list[dict]:
        """Run every unfinished grid point on a pool of ``workers`` processes.

        Partial runs resume from their checkpoints; others start (again) from scratch.  On Ctrl-C
        the runs still queued are dropped (the running ones stop with the signal and resume next time).
        """
        model = self.model_file()
        todo = [row for row in self.status() if row["status"] not in ("done", "running")]
        specs = {s.name: s for s in self.config.runs()}

        def one(row: dict) -> dict:
            spec = specs[row["name"]]
            d = self.run_dir(spec)
            d.mkdir(parents=True, exist_ok=True)
            (d / FAILED).unlink(missing_ok=True)
            resume = row["status"] == "partial"
            env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
            marker = self._marker(d)
            process = subprocess.Popen(self.md_command(spec, model, resume), stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env=env)
            write_json_atomic(marker, {"pid": process.pid, "started": time.time()})
            out, err = process.communicate()
            marker.unlink(missing_ok=True)
            if process.returncode != 0:
                reason = next((ln for ln in reversed(err.splitlines()) if ln.startswith("error:")), None) \
                    or (err.strip().splitlines() or ["exit status %d" % process.returncode])[-1]
                d.mkdir(parents=True, exist_ok=True)
                write_json_atomic(d / FAILED, {"reason": reason.removeprefix("error: "), "returncode": process.returncode})
                result = {"name": spec.name, "status": "failed", "reason": reason}
            else:
                result = {"name": spec.name, "status": "done", **json.loads(out)}
            if progress:
                progress(result)
            return result

        pool = ThreadPoolExecutor(max_workers=self.config.execution.workers)
        try:
            futures = [pool.submit(one, row) for row in todo]
            return [f.result() for f in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # after Ctrl-C: no queued run starts


def resumable(state: dict) -> bool:
    """Whether a run's state.json names a checkpoint to resume from (a run that reached one, whatever stopped it)."""
    return state.get("checkpoint") is not None and state.get("step", 0) > 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
