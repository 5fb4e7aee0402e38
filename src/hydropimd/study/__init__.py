"""Studies: a (T, P, isotope, beads) grid of MD runs, executed locally or on a cluster, then one report.

Python API (the ``hydropimd study`` commands call these with the same arguments):
:func:`run_study`, :func:`study_status`, :func:`study_report`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from hydropimd.study.config import load_config
from hydropimd.study.runner import Study


def _open(config: str | os.PathLike | None, directory: str | os.PathLike) -> tuple[Study, str]:
    cfg, base = load_config(config)
    text = Path(config).read_text() if config else Path(__file__).with_name("demo.toml").read_text()
    return Study(directory, cfg, base), text


def run_study(config: str | os.PathLike | None, directory: str | os.PathLike, force: bool = False,
              report: str | os.PathLike | None = None, progress: Callable[[dict], None] | None = None) -> dict:
    """Run every unfinished grid point of ``config`` (None: the shipped demo) in ``directory``, then write the report."""
    study, text = _open(config, directory)
    study.prepare(text, force=force)
    if study.config.execution.mode == "dpdispatcher":
        from hydropimd.study.cluster import run_on_cluster

        results = run_on_cluster(study, progress=progress)
    else:
        results = study.run_local(progress=progress)
    status = study.status()
    summary = {"study": str(study.dir), "ran": results, "status": status}
    if any(row["status"] == "done" for row in status):
        from hydropimd.study.report import write_report

        summary["report"] = {k: v for k, v in write_report(study, report).items() if k != "phase"}
    return summary


def study_status(config: str | os.PathLike | None, directory: str | os.PathLike) -> list[dict]:
    """Done, partial, running, failed (with the reason) or pending, for every grid point."""
    study, _ = _open(config, directory)
    return study.status()


def study_report(config: str | os.PathLike | None, directory: str | os.PathLike, out: str | os.PathLike | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    """Analyse the finished runs and write report.md / report.html with figures (default: DIRECTORY/report)."""
    from hydropimd.study.report import write_report

    study, _ = _open(config, directory)
    return write_report(study, out, progress=progress)


__all__ = ["run_study", "study_status", "study_report"]
