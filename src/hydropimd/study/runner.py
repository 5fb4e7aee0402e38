"""Running a study's grid: which runs are done, executing the rest locally or on a cluster.

Study directory::

    study.toml        the configuration as given
    study.json        its digest (a directory made by another config is refused unless --force)
    structures/       the starting structure of each isotope
    runs/<name>/      one ``hydropimd md run`` directory per grid point (+ failed.json on failure)
    report/           written by :mod:`hydropimd.study.report`

Each run executes as its own ``hydropimd md run`` process (i-PI and TensorFlow keep
process-wide state, so runs never share a process).  A finished run is never
repeated; a started one resumes from its checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from ase.io import write

from hydropimd.errors import InputError
from hydropimd.study.config import RunSpec, StudyConfig, resolve_path
from hydropimd.structures import build_lah10

FAILED = "failed.json"
RUNNING = "running.json"


class Study:
    """A study directory bound to its configuration."""

    def __init__(self, directory: str | os.PathLike, config: StudyConfig, config_dir: Path):
        self.dir = Path(directory)
        self.config = config
        self.config_dir = config_dir
        self.runs_dir = self.dir / "runs"

    # ------------------------------------------------------------ set-up
    def prepare(self, config_text: str, force: bool = False) -> None:
        """Create the directory, or check that it belongs to this configuration."""
        marker = self.dir / "study.json"
        digest = self.config.digest()
        if marker.exists():
            previous = json.loads(marker.read_text())["digest"]
            if previous != digest:
                if not force:
                    raise InputError(f"{self.dir} holds a study made by another configuration; "
                                     "use a new directory or --force to replace it")
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "study.toml").write_text(config_text)
        marker.write_text(json.dumps({"digest": digest}, indent=2))
        self.runs_dir.mkdir(exist_ok=True)

    def structure_file(self, isotope: str) -> Path:
        path = self.dir / "structures" / f"lah10-{isotope}.extxyz"
        if not path.exists():
            s = self.config.structure
            atoms = build_lah10(a=s.a, x=s.x, cell=s.cell, supercell=s.supercell, angles=s.start_angles_deg, isotope=isotope)
            path.parent.mkdir(exist_ok=True)
            write(path, atoms, format="extxyz")
        return path

    def model_file(self) -> Path:
        """The model the runs use: the configured one, or its cached ``dp compress`` version."""
        p = self.config.potential
        model = resolve_path(p.model, self.config_dir)
        if p.compress:
            from hydropimd.data.location import published_root
            from hydropimd.potential.models import cached_compressed_model

            try:
                data_root = published_root()
            except InputError:
                data_root = None
            return cached_compressed_model(model, resolve_path(p.compress, self.config_dir), data_root)
        return model

    # ------------------------------------------------------------ state
    def run_dir(self, spec: RunSpec) -> Path:
        return self.runs_dir / spec.name

    def status(self) -> list[dict]:
        """One row per grid point: done, partial (resumable), running, failed (with the reason) or pending."""
        rows = []
        steps = self.config.md.steps
        for spec in self.config.runs():
            d = self.run_dir(spec)
            row = {"name": spec.name, **spec.model_dump(), "steps": steps, "steps_done": 0, "status": "pending"}
            state = d / "state.json"
            if state.exists():
                row["steps_done"] = json.loads(state.read_text())["step"]
                row["status"] = "done" if row["steps_done"] >= steps else "partial"
            if row["status"] != "done":
                if (d / FAILED).exists():
                    row.update(status="failed", reason=json.loads((d / FAILED).read_text())["reason"])
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
                   "--checkpoint-stride", str(m.checkpoint_stride or m.stride * 10), "--seed", str(m.seed),
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
        """Run every unfinished grid point on a pool of ``workers`` processes."""
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
            marker.write_text(json.dumps({"pid": process.pid, "started": time.time()}))
            out, err = process.communicate()
            marker.unlink(missing_ok=True)
            if process.returncode != 0:
                reason = next((ln for ln in reversed(err.splitlines()) if ln.startswith("error:")), None) \
                    or (err.strip().splitlines() or ["exit status %d" % process.returncode])[-1]
                d.mkdir(parents=True, exist_ok=True)
                (d / FAILED).write_text(json.dumps({"reason": reason.removeprefix("error: "), "returncode": process.returncode}))
                result = {"name": spec.name, "status": "failed", "reason": reason}
            else:
                result = {"name": spec.name, "status": "done", **json.loads(out)}
            if progress:
                progress(result)
            return result

        with ThreadPoolExecutor(max_workers=self.config.execution.workers) as pool:
            return list(pool.map(one, todo))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
