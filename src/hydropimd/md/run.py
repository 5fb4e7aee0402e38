"""Creating and advancing one MD run directory: i-PI integrates, hydropimd keeps the records.

:meth:`MDRun.create` writes a run directory once, with its settings (the format is
:mod:`hydropimd.md.rundir`'s).  :meth:`MDRun.advance` then runs i-PI in the calling process in
chunks of ``stride`` steps, appending one row to the run's table and one frame to its
trajectories after each, read straight from i-PI's state.  Every ``checkpoint_stride`` steps it
writes an i-PI checkpoint and then, atomically, ``state.json`` naming that checkpoint and the
byte lengths of the output files at that moment.  A run killed at any instant (kill -9 included)
resumes from the state file: output files are cut back to the recorded lengths (so rows written
after the checkpoint are neither lost in the middle nor duplicated, the classic i-PI restart
pitfall) and i-PI restarts from the matching checkpoint, random-number state included, so the
resumed rows are the rows an uninterrupted run would have written.

:func:`hydropimd.md.api.run_md` and :func:`hydropimd.md.api.resume_md` are the Python API: they create
the directory and advance it in a process of its own (:mod:`hydropimd.md.worker`), because i-PI,
TensorFlow and DeePMD-kit's thread settings are process-wide.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import escape, unescape

import numpy as np
from ase import Atoms
from ase.io import read, write

from hydropimd.errors import AtomsTooClose, HydropimdError, InputError, RunFailed
from hydropimd.files import LOCK_FILE, lock_directory, write_json_atomic
from hydropimd.md import rundir
from hydropimd.md.guard import check_configurations
from hydropimd.md.ipi_driver import FORCE_SECONDS_KEY
from hydropimd.md.ipi_input import ipi_input_xml
from hydropimd.md.lammps import SOCKET_PREFIX, check_clients, stop_clients
from hydropimd.md.rundir import OUTPUT_FILES, TABLE_COLUMNS
from hydropimd.md.settings import MDSettings
from hydropimd.structures import describe_supercell, hydrogen_isotope, structure_problem

# i-PI property name -> (our column, unit for unit_to_user)
_PROPERTIES = {
    "pressure_cv": ("pressure_gpa", "gigapascal"),
    "temperature": ("temperature_k", "kelvin"),
    "potential": ("potential_ev", "electronvolt"),
    "conserved": ("conserved_ev", "electronvolt"),
    "kinetic_cv": ("kinetic_cv_ev", "electronvolt"),
}
DRIVER_PATH = Path(__file__).with_name("ipi_driver.py")


def _properties(settings: MDSettings) -> dict:
    """The i-PI properties of a row: under PIGLET the temperature is the centroid's (i-PI's ``temperature(nm=0)``),
    as the bead modes are thermostatted away from the physical temperature."""
    if settings.sampling != "piglet":
        return _PROPERTIES
    return {("temperature(nm=0)" if name == "temperature" else name): value for name, value in _PROPERTIES.items()}


def _versions() -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in ("hydropimd", "ipi", "deepmd-kit", "ase", "numpy")}


def describe_cell(atoms: Atoms) -> dict:
    """How the simulation cell relates to the conventional cubic cell of an fcc hydride (run.json, for the analysis):
    the builder's record in ``atoms.info``, else inferred (see :func:`hydropimd.structures.describe_supercell`)."""
    return describe_supercell(atoms)


class MDRun:
    """One run directory: creating it (here), advancing it (in the process that calls :meth:`advance`)."""

    def __init__(self, out: str | os.PathLike):
        self.dir = Path(out).resolve()  # i-PI is loaded from inside the directory: relative paths would break
        self.state_file = self.dir / rundir.STATE
        self.meta_file = self.dir / rundir.SETTINGS

    # ---------------------------------------------------------------- set-up
    def create(self, atoms: Atoms, settings: MDSettings, force: bool = False) -> None:
        """Write the run directory: start structure, i-PI input, run.json (settings, point, cell record,
        the volume guard's reference volume), empty outputs and a state at step 0."""
        if not atoms.pbc.all() or atoms.cell.rank < 3:
            raise InputError("the structure must be periodic in all three directions (give a cell)")
        problem = structure_problem(atoms)
        if problem:  # found here, not as an exploded cell some steps later
            raise InputError(f"the start structure is broken: {problem}; fix it")
        socket = self._socket_name() if settings.engine == "lammps" else None
        reference_volume = float(atoms.get_volume())
        # the input first: what it refuses (PIGLET options, ...) is refused before anything is written or replaced
        xml = ipi_input_xml(settings, self.dir / rundir.START, DRIVER_PATH, socket_address=socket,
                            reference_volume_a3=reference_volume)
        self._make_room(force)
        new_folder = not self.dir.exists()
        try:
            self._write_new(atoms, settings, xml, socket, reference_volume)
        except BaseException:  # a full disk, a kill: a refusal leaves the disk as it found it
            self.discard(keep=(rundir.WORKER_LOG,))
            if new_folder:
                shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _make_room(self, force: bool) -> None:
        """Refuse a study's folder and any other folder of the user's that is not a run, and a run without ``force``;
        remove a run with it."""
        if (self.dir / rundir.STUDY_MARKER).exists():  # with or without --force: a study's files are never a run's
            raise InputError(f"{self.dir} holds a hydropimd study ({rundir.STUDY_MARKER}), not a run: give a new or "
                             "empty folder as --out ('study run' makes the study's own runs)")
        if self.dir.is_dir() and not (self.meta_file.exists() or self.state_file.exists()):
            foreign = sorted(set(os.listdir(self.dir)) - {rundir.WORKER_LOG, LOCK_FILE})  # a failed start's leftovers
            if foreign:
                raise InputError(f"{self.dir} holds files that are not a hydropimd run ({', '.join(foreign[:4])}"
                                 f"{', ...' if len(foreign) > 4 else ''}); give a new or empty folder as --out")
        if self.meta_file.exists() or self.state_file.exists():
            if not force:
                raise InputError(f"{self.dir} already holds a run; use --resume to continue it or --force to replace it")
            busy = lock_directory(self.dir, f"{self.dir} is being advanced by another process; wait for it to end "
                                            "(or stop it) before replacing it")
            try:
                self.discard()
            finally:
                busy.close()

    def _write_new(self, atoms: Atoms, settings: MDSettings, xml: str, socket, reference_volume: float) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / rundir.CHECKPOINTS).mkdir()
        write(self.dir / rundir.START, atoms, format="extxyz")
        (self.dir / rundir.INPUT_XML).write_text(xml)
        meta = {
            "settings": settings.model_dump(),
            "temperature_k": settings.temperature_k, "pressure_gpa": settings.pressure_gpa, "beads": settings.beads,
            "isotope": hydrogen_isotope(atoms), "natoms": len(atoms), "formula": atoms.get_chemical_formula(),
            "timestep_fs": settings.timestep_fs, "stride": settings.stride, "ensemble": settings.ensemble,
            **describe_cell(atoms),
            "reference_volume_a3": reference_volume,
            # under PIGLET the bead modes are thermostatted away from the physical temperature: the centroid's is reported
            "temperature_column": "centroid" if settings.sampling == "piglet" else "ring polymer",
            "socket": socket, "versions": _versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_json_atomic(self.meta_file, meta)
        with open(self.dir / rundir.TABLE, "w") as f:
            f.write(",".join(TABLE_COLUMNS) + "\n")
        for name in OUTPUT_FILES[1:]:
            (self.dir / name).touch()
        write_json_atomic(self.state_file, {"step": 0, "checkpoint": None, "lengths": self._lengths(),
                                            "wall_seconds": 0.0, "force_seconds": 0.0, "warned_step": None})

    def discard(self, keep: tuple[str, ...] = ()) -> None:
        """Remove the run's own files but ``keep``; a run directory may also hold the user's (its start structure)."""
        for name in set(rundir.RUN_FILES) - set(keep):
            path = self.dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)

    def extend(self, steps: int) -> int:
        """Set the run's total to ``steps`` (run.json) and return the total it had; fewer steps than already done, or
        a total its settings refuse (not a whole number of strides), is refused with run.json unchanged."""
        busy = lock_directory(self.dir, f"{self.dir} is being advanced by another process; extend it once that ends")
        try:
            meta, done = self.meta, self.state()["step"]
            if steps < done:
                raise InputError(f"--steps {steps} is fewer than the {done} steps this run has done; give at least {done}")
            previous = meta["settings"]["steps"]
            # the new total replaces a time_ps given at creation, which would contradict it
            meta["settings"] = {**meta["settings"], "steps": steps, "time_ps": None}
            _validated(meta["settings"], f"--steps {steps} does not fit this run")
            write_json_atomic(self.meta_file, meta)
            return previous
        finally:
            busy.close()

    def _socket_name(self) -> str:
        # unix socket paths are limited to ~100 characters: a short name unique to this run
        return f"hydropimd-{os.getpid()}-{time.time_ns() % 10**9}"

    def _lengths(self) -> dict:
        return {name: (self.dir / name).stat().st_size for name in OUTPUT_FILES if (self.dir / name).exists()}

    @property
    def meta(self) -> dict:
        return rundir.read_metadata(self.dir)

    @property
    def settings(self) -> MDSettings:
        return _validated(self.meta["settings"], str(self.meta_file),
                          "the run was made by an earlier version that allowed it: start it again with --force")

    @property
    def reference_volume_a3(self) -> float:
        """The volume guard's reference: the starting structure's volume (runs made before it was stored: read it)."""
        meta = self.meta
        if "reference_volume_a3" in meta:
            return float(meta["reference_volume_a3"])
        return float(read(self.dir / rundir.START).get_volume())

    def state(self) -> dict:
        state = rundir.read_state(self.dir)
        if state is None:
            raise InputError(f"{self.dir} is not a hydropimd run directory (no {rundir.STATE})")
        return state

    # ---------------------------------------------------------------- advancing
    def advance(self, progress: Callable[[dict], None] | None = None, stop_after_steps: int | None = None) -> dict:
        """Run from the last checkpoint to the end (or ``stop_after_steps`` more steps) in this process.

        ``progress`` receives ``{"step", "steps", "time_ps", "wall_seconds", "start_step"}`` after every row
        and ``{"warning": text}`` once when the committee deviation first exceeds ``dev_warn``.
        Returns :meth:`summary`.  Errors: :class:`InputError` (the input, e.g. atoms closer than the pair
        table allows) or :class:`RunFailed` (e.g. a cell that exploded), naming the step and what was kept.
        """
        settings, state = self.settings, self.state()
        if state["step"] >= settings.steps:
            return self.summary()
        self._truncate_outputs(state["lengths"])
        (self.dir / rundir.FAILED).unlink(missing_ok=True)
        target = settings.steps if stop_after_steps is None else min(settings.steps, state["step"] + stop_after_steps)
        session = _Session(self, settings, state)
        try:
            session.start()
            session.run_to(target, progress)
        except AtomsTooClose as err:  # the start structure was checked: the dynamics brought them together
            raise RunFailed(f"stopped near step {session.step}: {err.pair}: the dynamics blew up (is the "
                            f"{settings.timestep_fs:g} fs timestep too long? the study uses 0.5 fs; or does the potential "
                            f"fail at these conditions?); {self._kept(state)}") from None
        except HydropimdError as err:
            raise err.reworded(f"stopped near step {session.step}: {err}; {self._kept(state)}") from None
        finally:
            session.close()
        self._store_timings(session)
        return self.summary()

    def _truncate_outputs(self, lengths: dict) -> None:
        """Cut output files back to their lengths at the checkpoint (drops rows written after it)."""
        for name, size in lengths.items():
            with open(self.dir / name, "r+b") as f:
                f.truncate(size)

    def _write_checkpoint(self, sim, step: int, total_steps: int) -> str:
        import ipi.inputs.simulation as isimulation

        status = isimulation.InputSimulation()
        status.store(sim)
        status.step.store(step)
        status.total_steps.store(total_steps)  # the runner advances i-PI in chunks; the checkpoint keeps the goal
        name = f"step-{step:09d}.xml"
        path = self.dir / rundir.CHECKPOINTS / name
        tmp = path.with_name(name + ".partial")
        with open(tmp, "w") as f:
            f.write(status.write(name="simulation"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return name

    def _store_timings(self, session: "_Session") -> None:
        """run.json's ``timings``: whole-run totals and this call's steady-state seconds per step."""
        meta, state = self.meta, session.state
        steps, wall, force = session.steady_rates()
        meta["timings"] = {"steps_done": state["step"], "wall_seconds": state["wall_seconds"],
                           "force_seconds": state.get("force_seconds", 0.0),
                           "seconds_per_step_last_call": wall / steps,
                           "force_seconds_per_step_last_call": force / steps if session.forces_through_driver else None}
        write_json_atomic(self.meta_file, meta)

    def summary(self) -> dict:
        """Where the run stands: steps done, its table, seconds per step (steady state of the last call, else
        whole-run averages), the last row and the step of the deviation warning."""
        settings, state = self.settings, self.state()
        rows = rundir.read_table(self.dir)
        timings = self.meta.get("timings", {})
        done = max(state["step"], 1)
        return {
            "run_dir": str(self.dir), "steps_done": state["step"], "steps": settings.steps,
            "table": str(self.dir / rundir.TABLE),
            "seconds_per_step": timings.get("seconds_per_step_last_call", state["wall_seconds"] / done),
            "force_seconds_per_step": timings.get("force_seconds_per_step_last_call",
                                                  state.get("force_seconds", 0.0) / done or None),
            "last": {k: v for k, v in rows[-1].items() if v is not None} if rows else None,
            "max_force_dev_warning_step": state.get("warned_step"),
            "temperature_column": self.meta.get("temperature_column", "ring polymer"),
        }

    @staticmethod
    def _kept(state: dict) -> str:
        if state["checkpoint"] is None:
            return "no checkpoint was reached; fix the input and rerun"
        return f"the last good checkpoint (step {state['step']}) is kept; --resume continues from it"


class _Session:
    """One call of :meth:`MDRun.advance`: i-PI loaded from the last checkpoint, its force clients, the open
    output files and the committee; advanced one output stride at a time."""

    def __init__(self, run: MDRun, settings: MDSettings, state: dict):
        self.run, self.settings, self.state = run, settings, state
        self.symbols = read(run.dir / rundir.START).get_chemical_symbols()
        self.reference_volume_a3 = run.reference_volume_a3
        self.step = self.start_step = state["step"]
        self.wall_before, self.force_before = state["wall_seconds"], state.get("force_seconds", 0.0)
        self.wall0 = time.perf_counter()
        self.steady = None  # (time, step, force seconds) after the first stride, which pays for start-up
        self.sim, self.clients, self.watchdog, self.files, self.committee = None, [], None, {}, None
        self.forces_through_driver = settings.engine == "inprocess" and settings.einstein_frequency_thz is None

    def start(self) -> None:
        """Load i-PI (its force field: the driver and its model sessions), the committee, the LAMMPS clients, and
        open the outputs; :meth:`close` undoes whatever of it was done."""
        self.sim = _load_simulation(self.run, self.settings, self.state)
        self.committee = _committee(self.settings)
        if self.settings.engine == "lammps":
            self._start_clients()
        self.files = {name: open(self.run.dir / name, "a") for name in OUTPUT_FILES}

    def _start_clients(self) -> None:
        from hydropimd.md.lammps import start_clients
        from hydropimd.potential.models import resolve_model

        s, run = self.settings, self.run
        start = read(run.dir / rundir.START)
        elements = list(dict.fromkeys(self.symbols))  # LAMMPS atom types; pair_coeff maps them to the model by name
        self.clients = start_clients(run.dir, start, str(resolve_model(s.model)), s.pair, elements, run.meta["socket"],
                                     s.lammps_clients, s.threads_per_client, port=s.port, ranks=s.ranks_per_client)
        if self.clients:
            self.watchdog = _ClientWatchdog(self.clients)
            self.watchdog.start()

    def force_seconds(self) -> float:
        """Seconds the in-process driver spent in force calls during this session (from i-PI's extras)."""
        if not self.forces_through_driver:
            return 0.0
        extras = self.sim.syslist[0].forces.extras
        values = extras.get(FORCE_SECONDS_KEY) if isinstance(extras, dict) else None
        if values is None:
            return 0.0
        return float(np.max(np.asarray(values, dtype=float)))

    def wall_seconds(self) -> float:
        return self.wall_before + time.perf_counter() - self.wall0

    def run_to(self, target: int, progress) -> None:
        """Advance stride by stride to ``target`` steps, recording, checking and checkpointing."""
        s = self.settings
        while self.step < target:
            _run_until(self.sim, self.step + s.stride)
            if self.clients:
                check_clients(self.clients, self.run.dir)
            self.step += s.stride
            if self.steady is None:
                self.steady = (time.perf_counter(), self.step, self.force_seconds())
            row = self._record()
            self._check(row)
            self._monitor(row, progress)
            self.files[rundir.TABLE].write(",".join(_format(row[k]) for k in TABLE_COLUMNS) + "\n")
            if self.step % s.checkpoint_stride == 0 or self.step == target:
                self._checkpoint()
            if progress:
                progress({"step": self.step, "steps": s.steps, "time_ps": row["time_ps"],
                          "wall_seconds": self.wall_seconds(), "start_step": self.start_step})

    def _record(self) -> dict:
        """The row of the current step (cell, i-PI's estimators); writes the centroid and, if asked, the beads."""
        from ipi.utils.units import unit_to_user

        s, system = self.settings, self.sim.syslist[0]
        bohr = unit_to_user("length", "angstrom", 1.0)
        cell = system.cell.h.T * bohr  # rows are lattice vectors
        a, b, c, alpha, beta, gamma = Atoms(cell=cell, pbc=True).cell.cellpar()
        time_ps = self.step * s.timestep_fs * 1e-3
        row = {"step": self.step, "time_ps": time_ps, "a": a, "b": b, "c": c,
               "alpha": alpha, "beta": beta, "gamma": gamma, "volume": abs(np.linalg.det(cell)), "max_force_dev": ""}
        for name, (column, unit) in _properties(s).items():
            value, dimension, _ = system.properties[name]
            row[column] = float(unit_to_user(dimension, unit, value))
        self.cell, self.beads_q = cell, system.beads.q.reshape(s.beads, -1, 3) * bohr
        centroid = Atoms(self.symbols, positions=system.beads.qc.reshape(-1, 3) * bohr, cell=cell, pbc=True)
        centroid.info.update({"step": self.step, "time_ps": time_ps})
        write(self.files[rundir.CENTROID], centroid, format="extxyz")
        if s.save_beads:
            for k in range(s.beads):
                bead = Atoms(self.symbols, positions=self.beads_q[k], cell=cell, pbc=True)
                bead.info.update({"step": self.step, "time_ps": time_ps, "bead": k})
                write(self.files[rundir.BEADS], bead, format="extxyz")
        return row

    def _check(self, row: dict) -> None:
        """Stop on NaN estimators; and on a cell the guard refuses where the forces bypass the driver, which
        guards every force call of the in-process engine itself (LAMMPS clients, the Einstein reference)."""
        values = [row[k] for k in ("a", "b", "c", "volume", "potential_ev", "pressure_gpa")]
        if not np.all(np.isfinite(values)):
            raise RunFailed("energies or forces became NaN or infinite")
        if not self.forces_through_driver:
            check_configurations(self.cell[None], self.reference_volume_a3)

    def _monitor(self, row: dict, progress) -> None:
        """At monitored rows, the committee's max force deviation over the beads of the row's own step (eV/A)."""
        s = self.settings
        if self.committee is None or not s.monitor_stride or self.step % s.monitor_stride:
            return
        cells = np.repeat(self.cell[None], s.beads, axis=0)
        deviation = float(self.committee.evaluate(self.beads_q, cells, self.symbols, committee=True).max_force_dev.max())
        row["max_force_dev"] = deviation
        if s.dev_warn is not None and deviation > s.dev_warn and self.state.get("warned_step") is None:
            self.state["warned_step"] = self.step
            if progress:
                progress({"warning": f"max committee force deviation {deviation:.3f} eV/A exceeds {s.dev_warn} "
                          f"at step {self.step}: the run has left the training data"})

    def _checkpoint(self) -> None:
        """Flush the outputs, write i-PI's checkpoint, then state.json naming it (atomically), drop the old one."""
        for f in self.files.values():
            f.flush()
            os.fsync(f.fileno())
        run, state = self.run, self.state
        name = run._write_checkpoint(self.sim, self.step, self.settings.steps)
        previous = state["checkpoint"]
        state.update(step=self.step, checkpoint=name, lengths=run._lengths(), wall_seconds=self.wall_seconds(),
                     force_seconds=self.force_before + self.force_seconds())
        write_json_atomic(run.state_file, state)
        if previous and previous != name:
            (run.dir / rundir.CHECKPOINTS / previous).unlink(missing_ok=True)

    def steady_rates(self) -> tuple[int, float, float]:
        """Steps, wall seconds and force seconds of this call after its first stride (all of it if only one ran)."""
        done = self.state["step"]
        if self.steady is not None and done > self.steady[1]:
            t_start, step_start, force_start = self.steady
        else:
            t_start, step_start, force_start = self.wall0, self.start_step, 0.0
        return max(done - step_start, 1), time.perf_counter() - t_start, self.force_seconds() - force_start

    def close(self) -> None:
        for f in self.files.values():
            f.close()
        if self.watchdog:
            self.watchdog.stop()
        stop_clients(self.clients)
        if self.sim is not None:
            self.sim.stop()


def _validated(values: dict, where: str, fix: str = "") -> MDSettings:
    """The settings of ``values``; a refusal as one :class:`InputError` line: ``where``, the problem, ``fix``."""
    from pydantic import ValidationError

    from hydropimd.config import first_problem

    try:
        return MDSettings(**values)
    except ValidationError as err:
        raise InputError(f"{where}: {first_problem(err)}{'; ' + fix if fix else ''}") from None


def _committee(settings: MDSettings):
    """The model and its committee, evaluated by the runner at monitored rows (None without a committee)."""
    if not settings.committee or not settings.monitor_stride:
        return None
    from hydropimd.potential.calculator import HydridePotential

    return HydridePotential(settings.model, committee=settings.committee)


def _load_simulation(run: MDRun, settings: MDSettings, state: dict):
    """i-PI's Simulation from the last checkpoint (or input.xml), without i-PI's own outputs."""
    from ipi.engine.simulation import Simulation
    from ipi.utils.softexit import softexit

    source = run.dir / rundir.CHECKPOINTS / state["checkpoint"] if state["checkpoint"] else run.dir / rundir.INPUT_XML
    cwd = os.getcwd()
    os.chdir(run.dir)  # i-PI resolves init.extxyz relative to the working directory

    def no_ipi_outputs(simulation):
        del simulation.outtemplate[:]  # hydropimd writes its own, resumable outputs

    if settings.engine == "lammps" and not settings.port:
        Path(SOCKET_PREFIX + run.meta["socket"]).unlink(missing_ok=True)  # left behind by a killed run
    try:
        # the run's own total, which an extended run (resume --steps) has raised past the checkpoint's
        text = re.sub(r"<total_steps>\s*\d+\s*</total_steps>", f"<total_steps>{settings.steps}</total_steps>",
                      _with_this_driver(source.read_text()))
        xml = io.StringIO(text)
        sim = Simulation.load_from_xml(xml, custom_verbosity="quiet", post_init_hook=no_ipi_outputs)
    finally:
        os.chdir(cwd)
    # i-PI's soft exit would write a RESTART file into the working directory on Ctrl-C;
    # hydropimd keeps its own checkpoints, so plain Python signal handling is restored
    softexit.reset()
    sim.step = state["step"]
    return sim


def _with_this_driver(xml: str) -> str:
    """The i-PI input or checkpoint with its PES file paths pointing at this installation's: a run created
    on one machine (or with another installation) is advanced on another, e.g. a cluster node."""
    return re.sub(r"<pes_path>\s*([^<]*?)\s*</pes_path>",
                  lambda m: f"<pes_path>{escape(str(DRIVER_PATH.with_name(Path(unescape(m[1])).name)))}</pes_path>", xml)


def _run_until(sim, step: int) -> None:
    """Advance i-PI to ``step`` steps done (its loop leaves ``sim.step`` at the last index run)."""
    if step > sim.step:
        sim.tsteps = step
        sim.run()
        sim.step = step


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
