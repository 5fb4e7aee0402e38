"""The format of an MD run directory, in one place: its file names, and reading them.

A run is a directory, created once with its settings (by :meth:`hydropimd.md.run.MDRun.create`)
and advanced by one entry point in its own process (:mod:`hydropimd.md.worker`, ``hydropimd md
advance DIR``), which writes its own outcome.  Every other stage (analysis, study, exploration)
reads a run through this module and nothing else:

    input.xml         the generated i-PI input (``i-pi input.xml`` reruns it by hand)
    init.extxyz       the starting structure, masses included
    run.json          the settings (``settings``: :class:`~hydropimd.md.settings.MDSettings`), the thermodynamic
                      point, the cell record, the reference volume of the volume guard, versions; ``timings``
                      once a call ends
    state.json        the current checkpoint, the output lengths it covers, timings so far
    failed.json       written by the worker when a call fails: kind ("input", "run", or "crash" for a bug),
                      message, retryable, exit_status, step
    progress.json     the worker's latest step and warnings (rewritten every ~0.5 s while it runs)
    worker.log        what the worker process and its native libraries printed (for people: a crash's traceback)
    table.csv         one row per output stride (:data:`TABLE_COLUMNS`)
    centroid.extxyz   centroid positions and cell per output stride
    beads.extxyz      every bead per output stride (with ``save_beads``)
    checkpoints/      i-PI checkpoints; state.json names the current one
    lammps/           inputs and logs of the LAMMPS clients (engine lammps)
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from hydropimd.errors import InputError

INPUT_XML = "input.xml"
START = "init.extxyz"
SETTINGS = "run.json"
STATE = "state.json"
FAILED = "failed.json"
PROGRESS = "progress.json"
WORKER_LOG = "worker.log"
TABLE = "table.csv"
CENTROID = "centroid.extxyz"
BEADS = "beads.extxyz"
CHECKPOINTS = "checkpoints"
LAMMPS = "lammps"
#: the file that marks a study's folder (:mod:`hydropimd.study.runner`): named here, below the study stage, so that a
#: run refuses to be created in a study's folder without importing the study
STUDY_MARKER = "study.json"

#: appended once per output stride; cut back to the lengths state.json records when a run resumes
OUTPUT_FILES = (TABLE, CENTROID, BEADS)
#: what :meth:`~hydropimd.md.run.MDRun.create` writes: a new run directory, complete for its worker
CREATED_FILES = (*OUTPUT_FILES, STATE, SETTINGS, INPUT_XML, START, CHECKPOINTS)
#: everything a run owns: what replacing a run removes, and what a cluster job takes and brings back
RUN_FILES = (*OUTPUT_FILES, STATE, SETTINGS, INPUT_XML, START, CHECKPOINTS, LAMMPS, FAILED, PROGRESS, WORKER_LOG)
#: the columns of table.csv: cell (A, degrees, A^3), centroid-virial pressure (GPa), temperature (K; the centroid's
#: under PIGLET, run.json ``temperature_column``),
#: potential, conserved and centroid-virial kinetic energy (eV), committee force deviation (eV/A, empty when
#: not evaluated at that row)
TABLE_COLUMNS = [
    "step", "time_ps", "a", "b", "c", "alpha", "beta", "gamma", "volume", "pressure_gpa",
    "temperature_k", "potential_ev", "conserved_ev", "kinetic_cv_ev", "max_force_dev",
]


def is_run_directory(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a run directory (it has a run.json)."""
    return Path(path).is_dir() and (Path(path) / SETTINGS).is_file()


def _read_json(path: Path, what: str) -> dict | None:
    if not path.exists():
        return None
    try:
        payload = json.loads(path.read_text())
    except (ValueError, OSError) as err:
        raise InputError(f"{path} ({what}) cannot be read ({err}); the run directory is damaged") from None
    if not isinstance(payload, dict):
        raise InputError(f"{path} ({what}) must hold a JSON object; the run directory is damaged")
    return payload


def read_metadata(run_dir: str | os.PathLike) -> dict:
    """run.json of a run: its settings, point, cell record, reference volume, versions, timings."""
    meta = _read_json(Path(run_dir) / SETTINGS, "the run's settings")
    if meta is None:
        raise InputError(f"{run_dir} is not a run directory of 'hydropimd md run' (no {SETTINGS})")
    return meta


def read_state(run_dir: str | os.PathLike) -> dict | None:
    """state.json (``step``, ``checkpoint``, ``lengths``, timings), None before the run was created."""
    return _read_json(Path(run_dir) / STATE, "the run's checkpoint state")


def read_failure(run_dir: str | os.PathLike) -> dict | None:
    """failed.json as the worker wrote it (``kind``, ``message``, ``retryable``, ``step``), None when none."""
    return _read_json(Path(run_dir) / FAILED, "the run's failure record")


def read_progress(run_dir: str | os.PathLike) -> dict | None:
    """progress.json (the worker's last step and warnings), None when the worker has not written one yet."""
    try:
        return _read_json(Path(run_dir) / PROGRESS, "the run's progress")
    except InputError:
        return None  # rewritten while it was read: the next poll sees the new one


def resumable(state: dict | None) -> bool:
    """Whether a state names a checkpoint to resume from (a run that reached one, whatever stopped it)."""
    return bool(state) and state.get("checkpoint") is not None and state.get("step", 0) > 0


def steps_done(run_dir: str | os.PathLike) -> int:
    """Steps covered by the run's last checkpoint (0 before the first one or before the run exists)."""
    state = read_state(run_dir)
    return state.get("step", 0) if state else 0


def read_table(run_dir: str | os.PathLike) -> list[dict]:
    """The rows of table.csv as dicts of floats (an empty cell, e.g. an unmonitored deviation, is None)."""
    with open(Path(run_dir) / TABLE) as f:
        return [{k: (float(v) if v not in ("", None) else None) for k, v in row.items()} for row in csv.DictReader(f)]


def table_row_count(run_dir: str | os.PathLike) -> int:
    """Rows of table.csv (the header excluded), 0 when it does not exist."""
    path = Path(run_dir) / TABLE
    if not path.exists():
        return 0
    with open(path) as f:
        return max(sum(1 for _ in f) - 1, 0)


def read_beads(run_dir: str | os.PathLike) -> list:
    """Every bead frame of beads.extxyz (ASE Atoms with ``step``, ``time_ps`` and ``bead`` in their info)."""
    from ase.io import read

    path = Path(run_dir) / BEADS
    return read(path, index=":") if path.exists() and path.stat().st_size else []
