"""Exploration: MD with one committee member over a grid of conditions, giving candidate frames.

The DP-GEN exploration step (Zhang et al., Phys. Rev. Materials 3, 023804
(2019)) as docs/theory/active-learning.md describes it: constant-pressure (path-integral) MD
with one model of the committee at every (start structure, temperature,
pressure, beads) point of a grid, through the MD stage (:mod:`hydropimd.md.run`:
each run a directory advanced by its own worker process).  Every sampled configuration becomes a candidate, and for
path-integral runs that means every bead, not only the centroid: the beads are
the configurations whose forces the model is asked for, so they are what the
committee has to judge (and what DFT labels).

Output folder::

    runs/<name>/          one MD run directory per grid point (see hydropimd.md.rundir)
    candidates.extxyz     all frames of all runs, written atomically at the end
    explore.json          the grid and the summary of the last call

A finished grid point is skipped, a killed one resumes from its last checkpoint
(:func:`hydropimd.md.api.resume_md`), so calling :func:`explore` again after a
kill repeats no finished MD.

Grid (TOML file, flat or under ``[grid]``, or a dict; units K, GPa, fs): the lists of
conditions, plus any option of the MD stage (:class:`hydropimd.md.settings.MDOptions`,
the options of ``hydropimd md run``, with its defaults)::

    temperatures_k = [300, 1000]   # default [300]
    pressures_gpa = [150, 200]     # default [150]
    beads = [1, 8]                 # default [1]  (1: classical nuclei)
    steps = 1000                   # MD steps per run (a multiple of stride)
    timestep_fs = 0.5
    stride = 10                    # steps between saved frames
    seed = 12345                   # run k of the grid uses seed + k (independent thermostat noise)

Each run writes ``steps / stride * beads`` frames.  Runs are NPT with every cell
parameter free, each advanced by its own worker process (:mod:`hydropimd.md.worker`),
forces in-process, the beads split into min(beads, cores) concurrent groups.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from ase import Atoms
from ase.io import read, write
from pydantic import Field, field_validator

from hydropimd.errors import InputError
from hydropimd.files import write_json_atomic
from hydropimd.md import rundir
from hydropimd.md.grid import BeadList, PressureList, TemperatureList
from hydropimd.md.settings import MDOptions, MDSettings
from hydropimd.structures import read_structures

CANDIDATES = "candidates.extxyz"
SUMMARY = "explore.json"
#: run k of the grid uses seed + k * SEED_STEP: every run its own thermostat noise, reproducible from one seed
SEED_STEP = 1


class ExploreGrid(MDOptions):
    """The exploration grid: lists of conditions (K, GPa, bead counts) and the MD stage's options."""

    #: thermostat temperatures, K
    temperatures_k: TemperatureList = Field(default_factory=lambda: [300.0])
    #: barostat pressures, GPa
    pressures_gpa: PressureList = Field(default_factory=lambda: [150.0])
    #: bead counts (1: classical nuclei); every bead of a path-integral frame is a candidate
    beads: BeadList = Field(default_factory=lambda: [1])

    @field_validator("temperatures_k", "pressures_gpa", "beads", mode="before")
    @classmethod
    def _listify(cls, v):
        return v if isinstance(v, (list, tuple)) else [v]


def load_grid(grid: str | os.PathLike | dict | ExploreGrid | None) -> ExploreGrid:
    """Read and validate a grid: a TOML (or JSON) file, a dict, or None (all defaults)."""
    from hydropimd.config import load_settings, read_settings_file

    where = "grid"
    if isinstance(grid, (str, os.PathLike)):
        where, grid = str(grid), read_settings_file(grid, "grid config")
    if isinstance(grid, dict) and set(grid) == {"grid"} and isinstance(grid["grid"], dict):
        grid = grid["grid"]
    return load_settings(ExploreGrid, grid, where, "fix the grid config")


def _run_name(structure: int, temperature: float, pressure: float, beads: int) -> str:
    # 10 significant digits: distinct grid values (e.g. 150.0001 and 150.0002 GPa) never share a run directory
    return f"s{structure:03d}-T{temperature:.10g}K-P{pressure:.10g}GPa-b{beads}"


# settings that make two runs different experiments (a run directory made with others is not reused)
_IDENTITY = ("model", "pair", "temperature_k", "pressure_gpa", "beads", "steps", "timestep_fs", "stride", "seed",
             "ensemble")


def _changed_inputs(run, settings, start: Atoms) -> list[str]:
    """What differs between an existing run directory and the run asked for now (empty: the same run)."""
    old = run.meta["settings"]
    changed = [key for key in _IDENTITY if old.get(key) != getattr(settings, key)]
    first = read(run.dir / rundir.START)
    same_start = (first.get_chemical_symbols() == start.get_chemical_symbols()
                  and np.allclose(first.get_masses(), start.get_masses())
                  and np.allclose(first.cell.array, start.cell.array, atol=1e-6)
                  and np.allclose(first.positions, start.positions, atol=1e-6))
    return changed if same_start else [*changed, "start structure"]


def explore(
    model: str | os.PathLike,
    structures: str | os.PathLike | Atoms | Sequence[Atoms],
    grid: str | os.PathLike | dict | ExploreGrid | None,
    out: str | os.PathLike,
    pair: str | os.PathLike | None = None,
    progress: Callable[[dict], None] | None = None,
    force: bool = False,
) -> dict:
    """Run the exploration grid and write every sampled frame to ``out/candidates.extxyz``.

    A grid point whose run directory exists is resumed (or skipped when finished) if
    it was made with the same model, pair table, start structure and settings; one
    made with other inputs is refused, or replaced with ``force``.

    ``model``: the committee member driving the MD; ``pair``: pair table added
    to it (as in production MD).  ``progress`` receives ``{"runs_done",
    "runs", "run"}`` before each grid point, then the MD stage's own progress
    dictionaries (``step``, ``steps``, ... or ``warning``).

    Candidate frames carry ``info`` keys ``temperature_k``, ``pressure_gpa``,
    ``beads``, ``bead`` (index of the bead), ``structure`` (index of the start
    structure), ``step``, ``time_ps`` and ``run`` (run directory name).

    Returns a JSON-ready summary: ``out``, ``candidates`` (path), ``frames``,
    ``runs`` (one entry per grid point: name, conditions, ``status`` "ran",
    "resumed", "done before" or "replaced", ``steps_done``, ``frames``) and ``grid``.
    """
    grid = load_grid(grid)
    starts = _checked_starts(structures, model, pair)
    out = Path(out).resolve()
    if rundir.is_run_directory(out):
        raise InputError(f"{out} holds an MD run (run.json), not an exploration; give another --out")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    points = grid_points(grid, len(starts))
    runs = []
    for k, point in enumerate(points):
        if progress:
            progress({"runs_done": k, "runs": len(points), "run": _run_name(*point)})
        settings = run_settings(grid, k, point, model, pair)
        runs.append(_explore_point(out / "runs" / _run_name(*point), settings, starts[point[0]], point, force, progress))
    if progress:
        progress({"runs_done": len(points), "runs": len(points)})
    frames = _write_candidates(out, runs)
    summary = {"out": str(out), "candidates": str(out / CANDIDATES), "frames": frames, "model": str(model),
               "pair": str(pair) if pair else None, "grid": grid.model_dump(), "runs": runs}
    write_json_atomic(out / SUMMARY, summary)
    return summary


def _checked_starts(structures, model, pair) -> list[Atoms]:
    """The start structures, after checking them, the model and the table (before any run directory exists)."""
    from hydropimd.potential.models import resolve_model

    starts = read_structures(structures)
    for k, atoms in enumerate(starts):
        if not atoms.pbc.all():
            raise InputError(f"start structure {k} is not periodic in all three directions; give structures with a cell")
    resolve_model(model)
    if pair is not None and not Path(pair).is_file():
        raise InputError(f"pair table {pair} does not exist")
    return starts


def grid_points(grid: ExploreGrid, n_structures: int) -> list[tuple[int, float, float, int]]:
    """Every (start structure index, temperature K, pressure GPa, beads) of the grid, in a stable order."""
    return list(itertools.product(range(n_structures), grid.temperatures_k, grid.pressures_gpa, grid.beads))


def run_settings(grid: ExploreGrid, k: int, point: tuple, model, pair) -> MDSettings:
    """The MD settings of run ``k`` of the grid, at ``point`` (from :func:`grid_points`)."""
    _, temperature, pressure, beads = point
    return MDSettings.at_point(
        grid, model=str(Path(model).resolve()), pair=str(Path(pair).resolve()) if pair else None,
        temperature_k=float(temperature), pressure_gpa=float(pressure), beads=int(beads),
        seed=grid.seed + k * SEED_STEP, save_beads=True,
        # one model session per bead group: more groups than beads would only load idle copies
        bead_groups=grid.bead_groups or min(int(beads), len(os.sched_getaffinity(0))))


def _explore_point(run_dir: Path, settings: MDSettings, start: Atoms, point: tuple, force: bool, progress) -> dict:
    """Run, resume or skip one grid point (each advanced by its own worker process); its entry of the summary."""
    from hydropimd.md.api import resume_md, run_md
    from hydropimd.md.run import MDRun

    run = MDRun(run_dir)
    changed = _changed_inputs(run, settings, start) if run.state_file.exists() else []
    if changed and not force:
        raise InputError(f"{run_dir} was run with another {', '.join(changed)} than asked for now; "
                         "use a new --out folder, or --force to replace such runs")
    if run.state_file.exists() and not changed:
        if run.state()["step"] >= settings.steps:
            status = "done before"
        else:
            resume_md(run_dir, progress=progress)
            status = "resumed"
    else:
        # no state file: nothing usable was written (killed during set-up, or never started); or --force
        # and a run made with other inputs
        run_md(start, settings, run_dir, force=True, progress=progress)
        status = "replaced" if changed else "ran"
    s, temperature, pressure, beads = point
    return {"name": run_dir.name, "run_dir": str(run_dir), "structure": s, "temperature_k": float(temperature),
            "pressure_gpa": float(pressure), "beads": int(beads), "status": status, "steps_done": run.state()["step"]}


def _write_candidates(out: Path, runs: list[dict]) -> int:
    """Gather every bead frame of every run into ``candidates.extxyz`` (atomically); returns the frame count."""
    tmp = out / (CANDIDATES + ".partial")
    total = 0
    with open(tmp, "w") as f:
        for r in runs:
            frames = rundir.read_beads(r["run_dir"])
            for atoms in frames:
                atoms.info.update({"temperature_k": r["temperature_k"], "pressure_gpa": r["pressure_gpa"],
                                   "beads": r["beads"], "structure": r["structure"], "run": r["name"]})
                write(f, atoms, format="extxyz")
            r["frames"] = len(frames)
            total += len(frames)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out / CANDIDATES)
    return total
