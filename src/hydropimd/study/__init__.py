"""Studies: a (T, P, isotope, beads) grid of MD runs, executed locally or on a cluster, then one report.

Python API (the ``hydropimd study`` commands call these with the same arguments):
:func:`run_study`, :func:`study_status`, :func:`study_report`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from hydropimd.errors import InputError
from hydropimd.study.config import config_file, load_config
from hydropimd.study.runner import MARKER, Study, foreign_directory


def _open(config: str | os.PathLike | None, directory: str | os.PathLike) -> tuple[Study, str]:
    """The study of ``config`` (a file, a shipped study's name; None: the one ``directory`` holds, else the demo) in
    ``directory``, and the configuration's text.  A ``directory`` that is not a study's (an MD run, a folder of
    other files) is refused first, before a configuration is read."""
    refusal = foreign_directory(directory)
    if refusal:
        raise InputError(refusal)
    if config is None and (Path(directory) / MARKER).exists():
        # the study resumes with its own configuration: the demo's would be "another configuration" to replace
        study = _existing(None, directory)
        return study, (study.dir / "study.toml").read_text()
    cfg, base = load_config(config)
    text = config_file(config).read_text()
    return Study(directory, cfg, base), text


def _existing(config: str | os.PathLike | None, directory: str | os.PathLike) -> Study:
    """The study already in ``directory``, with the configuration it keeps (``DIR/study.toml``) or ``config``.

    A given ``config`` must be the study's own (same digest: potential, structure, grid, MD settings;
    its [analysis] may differ and is what the report then uses).
    """
    directory = Path(directory)
    if not (directory / MARKER).exists():
        what = "does not exist" if not directory.exists() else "holds no study (no study.json)"
        raise InputError(f"study directory {directory} {what}; check --dir, or start the study with "
                         f"'hydropimd study run [CONFIG] --dir {directory}'")
    stored = json.loads((directory / MARKER).read_text())
    if config is None:
        config = directory / "study.toml"
        cfg, base = load_config(config, base=Path(stored.get("config_dir", directory)))
    else:
        cfg, base = load_config(config)
    study = Study(directory, cfg, base)
    if not study.made_by_this_config(stored):
        raise InputError(f"{config} is not the configuration of the study in {directory} (its potential, structure, "
                         f"grid or MD settings differ); give the study's own file, or none to use {directory}/study.toml")
    return study


def run_study(config: str | os.PathLike | None, directory: str | os.PathLike, force: bool = False,
              report: str | os.PathLike | None = None, progress: Callable[[dict], None] | None = None,
              only: list[str] | None = None) -> dict:
    """Run every unfinished grid point of ``config`` (None: the configuration ``directory`` keeps when it holds a
    study, else the shipped demo) in ``directory``, then write the report.

    ``only``: run names (as ``study status`` lists them) to run now, the others left for a later call (the points
    that matter first, or a grid shared between machines); a name that is no point of the grid is an InputError
    before anything is written.

    Runs that fail are in the summary (``ran``: status "failed" with the reason; also in their failed.json).
    """
    from hydropimd.files import LOCK_FILE, lock_directory

    study, text = _open(config, directory)  # a bad config fails before the directory exists
    if only:
        study.todo(only)  # ... and so do unknown run names
    fresh = not study.dir.exists()
    lock = lock_directory(study.dir, f"{study.dir} is used by another 'study run'; wait for it or use another --dir")
    try:
        study.prepare(text, force=force)
        if study.config.execution.mode == "dpdispatcher":
            from hydropimd.study.cluster import run_on_cluster

            results = run_on_cluster(study, progress=progress, only=only)
        else:
            results = study.run_local(progress=progress, only=only)
    finally:
        lock.close()
        if fresh and [p.name for p in study.dir.iterdir()] == [LOCK_FILE]:  # refused before writing: leave nothing
            (study.dir / LOCK_FILE).unlink()
            study.dir.rmdir()
    status = study.status()
    summary = {"study": str(study.dir), "ran": results, "status": status}
    if study.config.analysis.report and any(row["status"] == "done" for row in status):
        from hydropimd.study.report import write_report

        summary["report"] = {k: v for k, v in write_report(study, report).items() if k != "phase"}
    return summary


def study_status(config: str | os.PathLike | None, directory: str | os.PathLike) -> list[dict]:
    """Done, running, partial (resumable), failed (with the reason) or pending, for every grid point.

    ``config`` None: the configuration kept in ``directory``.
    """
    return _existing(config, directory).status()


def study_report(config: str | os.PathLike | None, directory: str | os.PathLike, out: str | os.PathLike | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    """Analyse the finished runs and write report.md / report.html with figures (default: DIRECTORY/report).

    ``config`` None: the configuration kept in ``directory``.
    """
    from hydropimd.study.report import write_report

    return write_report(_existing(config, directory), out, progress=progress)


__all__ = ["run_study", "study_status", "study_report"]
