"""``hydropimd study run | status | report``."""

from __future__ import annotations

from pathlib import Path

from hydropimd.cli import output
from hydropimd.errors import RunFailed
from hydropimd.md.rundir import FAILED
from hydropimd.study.config import SHIPPED_STUDIES


def _config_args(p, default: str = "the configuration kept in DIR") -> None:
    p.add_argument("config", nargs="?", help=f"study TOML file, or a shipped study by name: {', '.join(SHIPPED_STUDIES)} (default: {default})")
    p.add_argument("--dir", required=True, help="study directory")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _status_table(rows: list[dict]) -> None:
    output.print_table("study", ["run", "status", "steps", "reason"],
                       [[r["name"], r["status"], f"{r['steps_done']}/{r['steps']}", r.get("reason", "")] for r in rows])


def cmd_run(args) -> None:
    from hydropimd.study import run_study

    def progress(result: dict) -> None:
        if not args.quiet:
            output.stderr.print(f"{result['name']}: {result['status']}"
                                + (f" ({result['reason']})" if result.get("reason") else ""))

    summary = run_study(args.config, args.dir, force=args.force, report=args.report, progress=progress, only=args.only)
    if args.json:
        output.print_json(summary)
    else:
        _status_table(summary["status"])
        if "report" in summary:
            output.stdout.print(f"report: {summary['report']['report']} and {summary['report']['html']}")
    _refuse_failures(summary)


def _refuse_failures(summary: dict) -> None:
    """Exit non-zero (after the output) when runs of this call failed: the study is not complete."""
    failed = [r["name"] for r in summary["ran"] if r["status"] == "failed"]
    if failed:
        where = Path(summary["study"]) / "runs" / (failed[0] if len(failed) == 1 else "*") / FAILED
        raise RunFailed(f"{len(failed)} run{'s' if len(failed) > 1 else ''} failed; see {where}, fix the cause and run "
                         "'hydropimd study run' again (runs with a checkpoint resume from it)",
                        retryable=any(r.get("retryable") for r in summary["ran"] if r["status"] == "failed"))


def cmd_status(args) -> None:
    from hydropimd.study import study_status

    rows = study_status(args.config, args.dir)
    output.print_json({"runs": rows}) if args.json else _status_table(rows)


def cmd_report(args) -> None:
    from hydropimd.study import study_report

    with output.progress_bar("analysing", args.quiet) as update:
        result = study_report(args.config, args.dir, out=args.out, progress=update)
    if args.json:
        output.print_json(result)
    else:
        output.stdout.print(f"report: {result['report']} and {result['html']} ({len(result['figures'])} figures)")


def add_commands(commands) -> None:
    study = commands.add_parser("study", help="grids of MD runs and their report").add_subparsers(dest="action", required=True)
    p = study.add_parser("run", help="run every unfinished grid point, then write the report")
    _config_args(p, default="the configuration kept in DIR when it holds a study, else the shipped demo study")
    p.add_argument("--force", action="store_true",
                   help="replace a study directory made by another configuration (never a folder that is not a study)")
    p.add_argument("--report", help="report folder (default: DIR/report)")
    p.add_argument("--only", action="append", metavar="RUN",
                   help="run only this grid point (its name in 'study status', e.g. T300K-P100GPa-H-4beads); repeat "
                        "for several; the others wait for a later call")
    p.set_defaults(func=cmd_run)
    p = study.add_parser("status", help="done, running, partial, failed (with the reason), pending")
    _config_args(p)
    p.set_defaults(func=cmd_status)
    p = study.add_parser("report", help="analyse the finished runs: Markdown + HTML with figures")
    _config_args(p)
    p.add_argument("--out", help="report folder (default: DIR/report)")
    p.set_defaults(func=cmd_report)
