"""The Python API of MD runs: :func:`run_md` creates a run directory and :func:`resume_md` continues one, each
advanced to its end in a process of its own (:mod:`hydropimd.md.worker`), because i-PI, TensorFlow and
DeePMD-kit's thread settings are process-wide.

The layers of the MD stage, each importing only those before it: settings (:mod:`hydropimd.md.settings`), the
run-directory format (:mod:`hydropimd.md.rundir`), the engine that advances a run in the calling process
(:mod:`hydropimd.md.run`), the worker process (:mod:`hydropimd.md.worker`) and this API.
"""

from __future__ import annotations

import os
from typing import Callable

from ase import Atoms

from hydropimd.errors import HydropimdError, InputError
from hydropimd.files import LOCK_FILE
from hydropimd.md import rundir
from hydropimd.md.run import MDRun
from hydropimd.md.settings import MDSettings
from hydropimd.md.worker import advance_in_own_process
from hydropimd.pair.baseline import PairBaseline
from hydropimd.potential.models import resolve_model
from hydropimd.structures import read_structure


def run_md(
    structure: Atoms | str | os.PathLike,
    settings: MDSettings,
    out: str | os.PathLike,
    force: bool = False,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Create a run directory and advance it to the end in a process of its own.  Returns :meth:`MDRun.summary`."""
    atoms = read_structure(structure)
    if settings.einstein_frequency_thz is None:
        resolve_model(settings.model)  # a missing or non-model file fails here, before the run directory exists
    if settings.pair:
        # the table is read (and its elements checked) now, before the run directory exists
        PairBaseline.from_file(settings.pair).check_elements(atoms.get_chemical_symbols())
    run = MDRun(out)
    run.create(atoms, settings, force=force)
    return _advance_or_discard(run, progress)


def resume_md(out: str | os.PathLike, progress: Callable[[dict], None] | None = None, steps: int | None = None) -> dict:
    """Continue a run from its last checkpoint (after a kill, a crash or an earlier ``stop_after_steps``);
    ``steps`` replaces the stored total, no fewer than the steps done and a whole number of strides (the only setting
    a resumed run may change: the others define the trajectory already written)."""
    run = MDRun(out)
    if not run.state_file.exists():
        raise InputError(f"{out} is not a hydropimd run directory (no {rundir.STATE})")
    if steps is not None:
        run.extend(steps)
    return _advance_or_discard(run, progress, created_here=False)


def _advance_or_discard(run: MDRun, progress, created_here: bool = True) -> dict:
    """Advance ``run`` in its own process; when a run this call created fails before writing anything (no
    checkpoint, no row: a start-up failure such as an element the model lacks), remove it so that the fixed command
    runs without --force.  A resumed run is never removed: it may be another process's, starting up."""
    try:
        return advance_in_own_process(run.dir, progress)
    except HydropimdError as err:
        if created_here and run.state()["checkpoint"] is None:
            rows = rundir.table_row_count(run.dir)
            if rows <= 0:
                _remove_failed_start(run, err)
            else:
                raise err.reworded(f"{err} with --force (the {rows} rows written so far stay for inspection)") from None
        raise


def _remove_failed_start(run: MDRun, err: HydropimdError) -> None:
    """Remove a run that failed before writing anything, so that the fixed command runs without --force; the
    worker's log stays only when the message points to it (a crash's traceback), and an emptied directory goes."""
    keep = (rundir.WORKER_LOG,) if rundir.WORKER_LOG in str(err) else ()
    run.discard(keep=keep)
    if not keep:
        (run.dir / LOCK_FILE).unlink(missing_ok=True)
        try:
            run.dir.rmdir()  # only when empty: a directory that also holds the user's files stays
        except OSError:
            pass
