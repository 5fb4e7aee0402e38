"""Running, checkpointing and resuming MD: i-PI drives, hydropimd keeps the records.

i-PI (in this process) integrates the equations of motion; this module advances
it in chunks of ``stride`` steps and after each chunk appends one row to the
run's table and one frame to its trajectories, read straight from i-PI's
state.  Every ``checkpoint_stride`` steps it writes an i-PI checkpoint and then,
atomically, ``state.json`` naming that checkpoint and the byte lengths of the
output files at that moment.  A run killed at any instant (kill -9 included)
resumes from the state file: output files are cut back to the recorded lengths
(so rows written after the checkpoint are neither lost in the middle nor
duplicated, the classic i-PI restart pitfall) and i-PI restarts from the
matching checkpoint, random-number state included, so the resumed rows are the
rows an uninterrupted run would have written.

Run directory:
    input.xml         the generated i-PI input (``i-pi input.xml`` reruns it by hand)
    init.extxyz       starting structure, masses included
    run.json          inputs, versions, cell description; timings when a call ends
    state.json        the current checkpoint, output lengths it covers, timings so far
    table.csv         one row per output stride (see TABLE_COLUMNS)
    centroid.extxyz   centroid positions and cell per output stride
    beads.extxyz      every bead per output stride (with save_beads)
    checkpoints/      i-PI checkpoints; state.json names the current one
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
from ase import Atoms
from ase.io import read, write

from hydropimd.errors import InputError
from hydropimd.files import write_json_atomic
from hydropimd.md.ipi_driver import VOLUME_RATIO_LIMITS
from hydropimd.md.ipi_input import FORCEFIELD_NAME, MDSettings, ipi_input_xml
from hydropimd.md.lammps import SOCKET_PREFIX, check_clients, stop_clients
from hydropimd.pair.baseline import PairBaseline
from hydropimd.structures import hydrogen_isotope, read_structure

TABLE_COLUMNS = [
    "step", "time_ps", "a", "b", "c", "alpha", "beta", "gamma", "volume", "pressure_gpa",
    "temperature_k", "potential_ev", "conserved_ev", "kinetic_cv_ev", "max_force_dev",
]
# i-PI property name -> (our column, unit for unit_to_user)
_PROPERTIES = {
    "pressure_cv": ("pressure_gpa", "gigapascal"),
    "temperature": ("temperature_k", "kelvin"),
    "potential": ("potential_ev", "electronvolt"),
    "conserved": ("conserved_ev", "electronvolt"),
    "kinetic_cv": ("kinetic_cv_ev", "electronvolt"),
}
OUTPUT_FILES = ("table.csv", "centroid.extxyz", "beads.extxyz")
RUN_FILES = (*OUTPUT_FILES, "state.json", "run.json", "input.xml", "init.extxyz", "checkpoints", "lammps")
DRIVER_PATH = Path(__file__).with_name("ipi_driver.py")


def _versions() -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in ("hydropimd", "ipi", "deepmd-kit", "ase", "numpy")}


def describe_cell(atoms: Atoms) -> dict:
    """How the simulation cell relates to the conventional cubic cell of an fcc hydride (for the analysis)."""
    angles = atoms.cell.cellpar()[3:]
    kind = "primitive" if np.all(np.abs(angles - 60) < 15) else "conventional"
    per_cell = 11 if kind == "primitive" else 44
    reps = round((len(atoms) / per_cell) ** (1 / 3))
    return {"cell_kind": kind, "supercell": [reps] * 3}


class MDRun:
    """One run directory: creating it, advancing it, resuming it."""

    def __init__(self, out: str | os.PathLike):
        self.dir = Path(out).resolve()  # i-PI is loaded from inside the directory: relative paths would break
        self.state_file = self.dir / "state.json"
        self.meta_file = self.dir / "run.json"

    # ---------------------------------------------------------------- set-up
    def create(self, atoms: Atoms, settings: MDSettings, force: bool = False) -> None:
        settings.validate()
        if not atoms.pbc.all() or atoms.cell.rank < 3:
            raise InputError("the structure must be periodic in all three directions (give a cell)")
        if self.meta_file.exists() or self.state_file.exists():
            if not force:
                raise InputError(f"{self.dir} already holds a run; use --resume to continue it or --force to replace it")
            self.discard()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "checkpoints").mkdir()
        write(self.dir / "init.extxyz", atoms, format="extxyz")
        socket = self._socket_name() if settings.engine == "lammps" else None
        xml = ipi_input_xml(settings, self.dir / "init.extxyz", DRIVER_PATH, socket_address=socket)
        (self.dir / "input.xml").write_text(xml)
        meta = {
            "settings": asdict(settings),
            "temperature_k": settings.temperature_k,
            "pressure_gpa": settings.pressure_gpa,
            "beads": settings.beads,
            "isotope": hydrogen_isotope(atoms),
            "natoms": len(atoms),
            "formula": atoms.get_chemical_formula(),
            "timestep_fs": settings.timestep_fs,
            "stride": settings.stride,
            "ensemble": settings.ensemble,
            **describe_cell(atoms),
            "socket": socket,
            "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_json_atomic(self.meta_file, meta)
        with open(self.dir / "table.csv", "w") as f:
            f.write(",".join(TABLE_COLUMNS) + "\n")
        for name in OUTPUT_FILES[1:]:
            (self.dir / name).touch()
        write_json_atomic(self.state_file, {"step": 0, "checkpoint": None, "lengths": self._lengths(),
                                       "wall_seconds": 0.0, "force_seconds": 0.0, "warned_step": None})

    def discard(self) -> None:
        """Remove the run's own files; a run directory may also hold the user's (its start structure, ...)."""
        for name in RUN_FILES:
            path = self.dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)

    def _socket_name(self) -> str:
        # unix socket paths are limited to ~100 characters: a short name unique to this run
        return f"hydropimd-{os.getpid()}-{time.time_ns() % 10**9}"

    def _lengths(self) -> dict:
        return {name: (self.dir / name).stat().st_size for name in OUTPUT_FILES if (self.dir / name).exists()}

    @property
    def meta(self) -> dict:
        if not self.meta_file.exists():
            raise InputError(f"{self.dir} is not a hydropimd run directory (no run.json)")
        return json.loads(self.meta_file.read_text())

    @property
    def settings(self) -> MDSettings:
        return MDSettings(**self.meta["settings"])

    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    # ---------------------------------------------------------------- running
    def _load_simulation(self, state: dict):
        from ipi.engine.simulation import Simulation
        from ipi.utils.softexit import softexit

        source = self.dir / "checkpoints" / state["checkpoint"] if state["checkpoint"] else self.dir / "input.xml"
        cwd = os.getcwd()
        os.chdir(self.dir)  # i-PI resolves init.extxyz relative to the working directory

        def no_ipi_outputs(simulation):
            del simulation.outtemplate[:]  # hydropimd writes its own, resumable outputs

        if self.settings.engine == "lammps" and not self.settings.port:
            Path(SOCKET_PREFIX + self.meta["socket"]).unlink(missing_ok=True)  # left behind by a killed run
        try:
            with open(source) as f:
                sim = Simulation.load_from_xml(f, custom_verbosity="quiet", post_init_hook=no_ipi_outputs)
        finally:
            os.chdir(cwd)
        # i-PI's soft exit would write a RESTART file into the working directory on Ctrl-C;
        # hydropimd keeps its own checkpoints, so plain Python signal handling is restored
        softexit.reset()
        sim.step = state["step"]
        return sim

    @staticmethod
    def _run_until(sim, step: int) -> None:
        """Advance i-PI to ``step`` steps done (its loop leaves ``sim.step`` at the last index run)."""
        if step > sim.step:
            sim.tsteps = step
            sim.run()
            sim.step = step

    def _truncate_outputs(self, lengths: dict) -> None:
        """Cut output files back to their lengths at the checkpoint (drops rows written after it)."""
        for name, size in lengths.items():
            path = self.dir / name
            with open(path, "r+b") as f:
                f.truncate(size)

    def _write_checkpoint(self, sim, step: int, total_steps: int) -> str:
        import ipi.inputs.simulation as isimulation

        status = isimulation.InputSimulation()
        status.store(sim)
        status.step.store(step)
        status.total_steps.store(total_steps)  # the runner advances i-PI in chunks; the checkpoint keeps the goal
        name = f"step-{step:09d}.xml"
        path = self.dir / "checkpoints" / name
        tmp = path.with_name(name + ".partial")
        with open(tmp, "w") as f:
            f.write(status.write(name="simulation"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return name

    def _record(self, sim, step: int, driver, files: dict, settings: MDSettings, symbols) -> dict:
        from ipi.utils.units import unit_to_user

        system = sim.syslist[0]
        bohr = unit_to_user("length", "angstrom", 1.0)
        cell = system.cell.h.T * bohr  # rows are lattice vectors
        a, b, c, alpha, beta, gamma = Atoms(cell=cell, pbc=True).cell.cellpar()
        row = {"step": step, "time_ps": step * settings.timestep_fs * 1e-3, "a": a, "b": b, "c": c,
               "alpha": alpha, "beta": beta, "gamma": gamma, "volume": abs(np.linalg.det(cell))}
        for name, (column, unit) in _PROPERTIES.items():
            value, dimension, _ = system.properties[name]
            row[column] = float(unit_to_user(dimension, unit, value))
        row["max_force_dev"] = "" if driver is None or driver.last_max_force_dev is None else driver.last_max_force_dev
        files["table"].write(",".join(_format(row[k]) for k in TABLE_COLUMNS) + "\n")
        centroid = Atoms(symbols, positions=system.beads.qc.reshape(-1, 3) * bohr, cell=cell, pbc=True)
        centroid.info.update({"step": step, "time_ps": row["time_ps"]})
        write(files["centroid"], centroid, format="extxyz")
        if settings.save_beads:
            q = system.beads.q.reshape(settings.beads, -1, 3) * bohr
            for k in range(settings.beads):
                bead = Atoms(symbols, positions=q[k], cell=cell, pbc=True)
                bead.info.update({"step": step, "time_ps": row["time_ps"], "bead": k})
                write(files["beads"], bead, format="extxyz")
        return row

    def advance(self, progress: Callable[[dict], None] | None = None, stop_after_steps: int | None = None) -> dict:
        """Run from the last checkpoint to the end (or ``stop_after_steps`` more steps); returns a summary."""
        settings = self.settings
        state = self.state()
        if state["step"] >= settings.steps:
            return self._finished_summary(state, settings)
        self._truncate_outputs(state["lengths"])
        symbols = read(self.dir / "init.extxyz").get_chemical_symbols()
        natoms = len(symbols)
        sim = self._load_simulation(state)
        clients, watchdog = [], None
        if settings.engine == "lammps":
            from hydropimd.md.lammps import start_clients
            from hydropimd.potential.models import resolve_model

            elements = list(dict.fromkeys(symbols))  # LAMMPS atom types; pair_coeff maps them to the model by name
            clients = start_clients(self.dir, read(self.dir / "init.extxyz"), str(resolve_model(settings.model)),
                                    settings.pair, elements, self.meta["socket"], settings.drivers,
                                    settings.threads_per_driver, port=settings.port, ranks=settings.ranks_per_driver)
            if clients:
                watchdog = _ClientWatchdog(clients)
                watchdog.start()
        forcefield = sim.fflist[FORCEFIELD_NAME]
        driver = getattr(forcefield, "driver", None)
        if not hasattr(driver, "force_seconds"):
            driver = None  # a reference PES: no timing or committee
        if driver is not None:
            driver.force_seconds = 0.0
        step = state["step"]
        start_step = step
        target = settings.steps if stop_after_steps is None else min(settings.steps, step + stop_after_steps)
        wall0 = time.perf_counter()
        wall_before = state["wall_seconds"]
        force_before = state.get("force_seconds", 0.0)
        v0 = None
        files = {"table": open(self.dir / "table.csv", "a"), "centroid": open(self.dir / "centroid.extxyz", "a"),
                 "beads": open(self.dir / "beads.extxyz", "a")}
        last_row = None
        steady = None
        try:
            while step < target:
                monitor = driver is not None and settings.monitor_stride and (step + settings.stride) % settings.monitor_stride == 0
                try:
                    if monitor:
                        # the committee judges the configuration of the row's own step: run to one step
                        # before it, then flag the last force evaluation
                        self._run_until(sim, step + settings.stride - 1)
                        driver.monitor_next = True
                    self._run_until(sim, step + settings.stride)
                except InputError as err:
                    raise InputError(f"stopped near step {step}: {err}; {self._kept(state)}") from None
                if clients:
                    check_clients(clients, self.dir)
                step += settings.stride
                if steady is None:  # the first chunk pays for start-up (graph compilation, client connection)
                    steady = (time.perf_counter(), step, driver.force_seconds if driver else 0.0)
                row = self._record(sim, step, driver, files, settings, symbols)
                last_row = row
                self._check_health(row, natoms, step, state, v0)
                v0 = v0 or row["volume"]
                if driver is not None and driver.last_max_force_dev is not None:
                    if settings.dev_warn is not None and driver.last_max_force_dev > settings.dev_warn and state.get("warned_step") is None:
                        state["warned_step"] = step
                        if progress:
                            progress({"warning": f"max committee force deviation {driver.last_max_force_dev:.3f} eV/A "
                                      f"exceeds {settings.dev_warn} at step {step}: the run has left the training data"})
                    driver.last_max_force_dev = None
                if step % settings.checkpoint_stride == 0 or step == target:
                    for f in files.values():
                        f.flush()
                        os.fsync(f.fileno())
                    name = self._write_checkpoint(sim, step, settings.steps)
                    previous = state["checkpoint"]
                    state.update(step=step, checkpoint=name, lengths=self._lengths(),
                                 wall_seconds=wall_before + time.perf_counter() - wall0,
                                 force_seconds=force_before + (driver.force_seconds if driver else 0.0))
                    write_json_atomic(self.state_file, state)
                    if previous and previous != name:
                        (self.dir / "checkpoints" / previous).unlink(missing_ok=True)
                if progress:
                    progress({"step": step, "steps": settings.steps, "time_ps": row["time_ps"],
                              "wall_seconds": wall_before + time.perf_counter() - wall0, "start_step": start_step})
        finally:
            for f in files.values():
                f.close()
            if watchdog:
                watchdog.stop()
            stop_clients(clients)
            sim.stop()
        done = state["step"]
        if steady is not None and done > steady[1]:
            t_start, step_start, force_start = steady
        else:
            t_start, step_start, force_start = wall0, start_step, 0.0
        steps_timed = max(done - step_start, 1)
        wall = time.perf_counter() - t_start
        meta = self.meta
        meta["timings"] = {"steps_done": done, "wall_seconds": state["wall_seconds"],
                           "force_seconds": state.get("force_seconds", 0.0),
                           "seconds_per_step_last_call": wall / steps_timed}
        write_json_atomic(self.meta_file, meta)
        return {
            "run_dir": str(self.dir),
            "steps_done": done,
            "steps": settings.steps,
            "table": str(self.dir / "table.csv"),
            # steady state: the first output stride (start-up) is left out when more than one ran
            "seconds_per_step": wall / steps_timed,
            "force_seconds_per_step": ((driver.force_seconds - force_start) / steps_timed) if driver else None,
            "last": last_row,
            "max_force_dev_warning_step": state.get("warned_step"),
        }

    def _finished_summary(self, state: dict, settings: MDSettings) -> dict:
        """The summary of a run that has done all its steps (resuming it is a no-op): whole-run averages."""
        with open(self.dir / "table.csv") as f:
            rows = list(csv.DictReader(f))
        last = {k: float(v) for k, v in rows[-1].items() if v not in ("", None)} if rows else None
        return {
            "run_dir": str(self.dir), "steps_done": state["step"], "steps": settings.steps,
            "table": str(self.dir / "table.csv"),
            "seconds_per_step": state["wall_seconds"] / state["step"],
            "force_seconds_per_step": state.get("force_seconds", 0.0) / state["step"] or None,
            "last": last, "max_force_dev_warning_step": state.get("warned_step"),
        }

    def _check_health(self, row: dict, natoms: int, step: int, state: dict, v0: float | None) -> None:
        values = [row[k] for k in ("a", "b", "c", "volume", "potential_ev", "pressure_gpa")]
        if not np.all(np.isfinite(values)):
            raise InputError(f"energies or forces became NaN or infinite at step {step}; {self._kept(state)}")
        low, high = VOLUME_RATIO_LIMITS
        if v0 is not None and not (low < row["volume"] / v0 < high):
            raise InputError(f"the cell {'collapsed' if row['volume'] < v0 else 'exploded'} at step {step} "
                             f"(volume {row['volume']:.1f} A^3 from {v0:.1f}); {self._kept(state)}")

    @staticmethod
    def _kept(state: dict) -> str:
        if state["checkpoint"] is None:
            return "no checkpoint was reached; fix the input and rerun"
        return f"the last good checkpoint (step {state['step']}) is kept; --resume continues from it"


class _ClientWatchdog(threading.Thread):
    """Stops i-PI when a LAMMPS client dies: i-PI would otherwise wait for its forces forever."""

    def __init__(self, clients):
        super().__init__(daemon=True, name="lammps-watchdog")
        self.clients = clients
        self.done = threading.Event()

    def run(self):
        from ipi.utils.softexit import softexit

        while not self.done.wait(0.5):
            if any(c.poll() is not None for c in self.clients):
                softexit.triggered = True  # i-PI's force wait loops give up on this flag
                return

    def stop(self):
        self.done.set()


def _format(value) -> str:
    if value == "" or value is None:
        return ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(float(value))


def run_md(
    structure: Atoms | str | os.PathLike,
    settings: MDSettings,
    out: str | os.PathLike,
    force: bool = False,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Create a run directory and run it to the end.  Returns the summary of :meth:`MDRun.advance`."""
    from hydropimd.potential.models import resolve_model

    atoms = read_structure(structure)
    if settings.einstein_frequency_thz is None:
        resolve_model(settings.model)  # a missing or non-model file fails here, before the run directory exists
    if settings.pair:
        # the table is read (and its elements checked) now, before the run directory exists
        PairBaseline.from_file(settings.pair).check_elements(atoms.get_chemical_symbols())
    run = MDRun(out)
    run.create(atoms, settings, force=force)
    return _advance_or_discard(run, progress)


def resume_md(out: str | os.PathLike, progress: Callable[[dict], None] | None = None) -> dict:
    """Continue a run from its last checkpoint (after a kill, a crash or an earlier ``stop_after_steps``)."""
    run = MDRun(out)
    if not run.state_file.exists():
        raise InputError(f"{out} is not a hydropimd run directory (no state.json)")
    return _advance_or_discard(run, progress)


def _advance_or_discard(run: MDRun, progress) -> dict:
    """Advance ``run``; when it fails before writing anything (no checkpoint, no row: a start-up failure such
    as an element the model lacks), remove it so that the fixed command runs without --force."""
    try:
        return run.advance(progress)
    except InputError as err:
        if run.state()["checkpoint"] is None:
            with open(run.dir / "table.csv") as f:
                rows = sum(1 for _ in f) - 1
            if rows <= 0:
                run.discard()
            else:
                raise InputError(f"{err} with --force (the {rows} rows written so far stay for inspection)") from None
        raise
