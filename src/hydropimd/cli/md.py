"""``hydropimd md run`` (create a run directory and advance it), ``md advance DIR`` (the worker) and ``md beads``
(how many beads a temperature and frequency range need under each path-integral scheme).

The options of ``md run`` are generated from :class:`hydropimd.md.settings.MDSettings`:
each field is an option (``--timestep-fs`` for ``timestep_fs``), its help and default
come from the model, so that a default is written once.  A few fields keep their
established short spellings as aliases (``--temperature``, ``--dt-fs``, ``--threads``).
"""

from __future__ import annotations

import argparse
import types
import typing

from hydropimd.cli import output
from hydropimd.errors import InputError

#: established option spellings, accepted besides the field's own ``--field-name``
_ALIASES = {"temperature_k": ["--temperature"], "timestep_fs": ["--dt-fs"], "lammps_clients": ["--drivers"],
            "threads_per_client": ["--threads"], "ranks_per_client": ["--ranks-per-driver"]}
#: options of ``md run`` that are not run settings
_RUN_OPTIONS = ("structure", "out", "resume", "force", "json", "quiet")


def cmd_md_run(args) -> None:
    from hydropimd.md.api import resume_md, run_md
    from hydropimd.md.run import MDRun

    given = {name: value for name, value in vars(args).items()
             if name in _settings_fields() and value is not None and value is not False}
    if args.resume:
        steps = _resume_changes(args.out, given)
        if steps is not None:
            previous = MDRun(args.out).extend(steps)  # a refused total is refused before any notice
            change = "extending" if steps > previous else "shortening"
            output.note(f"{change} the run to {steps} steps (it had {previous})", args.quiet)
        with _progress(args.quiet) as update:
            summary = resume_md(args.out, progress=update)
    else:
        missing = [flag for flag, ok in (("--structure", args.structure), ("--temperature", "temperature_k" in given))
                   if not ok]
        if "model" not in given and "einstein_frequency_thz" not in given:
            missing.insert(1, "--model")
        if missing:
            raise InputError(f"a new run needs {' '.join(missing)} (or --resume --out DIR to continue one)")
        settings = _settings(given)
        with _progress(args.quiet) as update:
            summary = run_md(args.structure, settings, args.out, force=args.force, progress=update)
    _print_summary(args, summary)


def _resume_changes(out: str, given: dict) -> int | None:
    """The new total of steps when ``--steps`` changes the run's (checked by :meth:`MDRun.extend`); options equal to
    the stored ones are accepted, any other difference is refused, naming each option with its stored value (the run
    continues its own trajectory: a changed temperature, seed or bead count would make it another run)."""
    from hydropimd.md.rundir import read_metadata

    if not given:
        return None
    stored = read_metadata(out).get("settings", {})
    changed = {k: v for k, v in given.items() if k != "steps" and _differs(stored.get(k), v)}
    if changed:
        listed = ", ".join(f"--{k.replace('_', '-')} {v} (the run has {stored.get(k)})" for k, v in sorted(changed.items()))
        raise InputError(f"--resume continues a run with its stored settings; {listed} would make it another run: "
                         f"drop them, or start a new run with --out elsewhere (or --force)")
    if "steps" in given and given["steps"] != stored.get("steps"):
        return given["steps"]
    return None


def _differs(stored, given) -> bool:
    if isinstance(stored, float) or isinstance(given, float):
        try:
            return abs(float(stored) - float(given)) > 1e-12 * max(abs(float(stored)), 1.0)
        except (TypeError, ValueError):
            return True
    return stored != given


def cmd_md_advance(args) -> None:
    import os

    from hydropimd.md.worker import advance_here, thread_settings

    # this command is the run's own process (md run, a study, a cluster job start it): its thread settings are
    # set here, before DeePMD-kit is imported, unless its caller chose them
    for name, value in thread_settings(args.run_dir).items():
        os.environ.setdefault(name, value)
    with _progress(args.quiet) as update:
        summary = advance_here(args.run_dir, progress=update)
    _print_summary(args, summary)


def _settings(given: dict):
    from hydropimd.config import first_problem
    from hydropimd.md.settings import MDSettings
    from pydantic import ValidationError

    try:
        return MDSettings(**given)
    except ValidationError as err:
        problem = first_problem(err)
        name = problem.split(":")[0]
        flag = "--" + name.replace("_", "-") if name in _settings_fields() else name
        raise InputError(f"{flag}{problem[len(name):]} (see 'hydropimd md run --help')") from None


def _print_summary(args, summary: dict) -> None:
    if args.json:
        output.print_json({k: v for k, v in summary.items() if k != "last"})
        return
    last = summary["last"] or {}
    centroid = summary.get("temperature_column") == "centroid"
    output.print_table(f"run {summary['run_dir']}", ["quantity", "value"], [
        ["steps done", f"{summary['steps_done']} / {summary['steps']}"],
        ["seconds per step", summary["seconds_per_step"]],
        ["force seconds per step", summary["force_seconds_per_step"]],
        *[[k, last[k]] for k in ("a", "b", "c", "alpha", "beta", "gamma", "pressure_gpa") if k in last],
        *([["temperature_k (centroid: PIGLET)" if centroid else "temperature_k", last["temperature_k"]]]
          if "temperature_k" in last else []),
    ])


class _progress:
    """Rich progress bar showing simulated time, ns/day and ETA; warnings go above it."""

    def __init__(self, quiet: bool):
        self.quiet = not output.show_progress(quiet)

    def __enter__(self):
        if self.quiet:
            return lambda info: output.warning(info["warning"]) if "warning" in info else None
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[ps]} ps"),
                            TextColumn("{task.fields[rate]} ns/day"), TimeRemainingColumn(), console=output.stderr, transient=True)
        self.bar.__enter__()
        self.task = self.bar.add_task("MD", total=None, ps="0", rate="-")
        return self.update

    def update(self, info: dict) -> None:
        if "warning" in info:
            output.warning(info["warning"], console=self.bar.console)
            return
        done = info["step"] - info["start_step"]
        rate = ""
        if info["wall_seconds"] > 0 and done > 0:
            ps_per_s = info["time_ps"] / max(info["step"], 1) * done / info["wall_seconds"]
            rate = f"{ps_per_s * 86400 / 1000:.3g}"
        self.bar.update(self.task, completed=info["step"], total=info["steps"], ps=f"{info['time_ps']:.3f}", rate=rate)

    def __exit__(self, *exc):
        if not self.quiet:
            self.bar.__exit__(*exc)


def cmd_md_beads(args) -> None:
    from hydropimd.md.beads import SCHEMES, bead_advice

    schemes = SCHEMES if args.sampling == "all" else (args.sampling,)
    advice = bead_advice(args.temperature_k, args.max_frequency_cm1, args.phonons, schemes, args.tolerance,
                         args.gle_library)
    if args.json:
        output.print_json(advice)
        return
    pile = next((a["beads"] for a in advice["schemes"] if a["scheme"] == "pile"), None)
    rows = [[a["scheme"],
             a["beads"] or (f"none up to {a['most_beads']}" if a["tried"] else f"at least {a['least_beads']}"),
             f"{100 * a['worst_error']:.2f} %" if a["beads"] else "-",
             f"{pile / a['beads']:.1f}" if pile and a["beads"] else "-", a["rule"]] for a in advice["schemes"]]
    output.print_table(f"beads at {advice['temperature_k']:g} K up to {advice['max_frequency_cm1']:.0f} cm^-1 "
                       f"(hbar omega / kT = {advice['schemes'][0]['hbar_omega_over_kt']:.1f}; "
                       f"tolerance {100 * advice['tolerance']:g} %)",
                       ["sampling", "beads", "worst harmonic error", "PILE beads / beads", "rule"], rows)


def _settings_fields() -> dict:
    from hydropimd.md.settings import MDSettings

    return MDSettings.model_fields


def _add_settings_options(p: argparse.ArgumentParser) -> None:
    """One option per field of MDSettings, help and default from the model (the default itself stays there:
    an option not given is not passed, so the model's default applies)."""
    for name, field in _settings_fields().items():
        flags = [f"--{name.replace('_', '-')}", *_ALIASES.get(name, [])]
        kind = _scalar_type(field.annotation)
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        shown = " (required for a new run)" if field.is_required() else \
            "" if default in (None, [], False) else f" (default {default})"
        help_text = (field.description or name) + shown
        if kind is bool:
            p.add_argument(*flags, dest=name, action="store_true", help=help_text)
        elif typing.get_origin(field.annotation) is list:
            p.add_argument(*flags, dest=name, nargs="+", metavar="MODEL", help=help_text)
        elif typing.get_origin(field.annotation) is typing.Literal:
            p.add_argument(*flags, dest=name, choices=list(typing.get_args(field.annotation)), help=help_text)
        else:
            p.add_argument(*flags, dest=name, type=kind, help=help_text)


def _scalar_type(annotation):
    """int, float, str or bool from a field's annotation (``int | None`` -> int)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation if annotation in (int, float, bool) else str


def add_commands(commands) -> None:
    md = commands.add_parser("md", help="molecular dynamics with i-PI").add_subparsers(dest="action", required=True)
    p = md.add_parser("run", help="NPT (path-integral) MD with a fully flexible cell")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--structure", help="starting structure (any ASE format; masses give the isotope)")
    _add_settings_options(p)
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--force", action="store_true", help="replace a run already in --out")
    p.set_defaults(func=cmd_md_run)

    a = md.add_parser("advance", help="advance a run directory from its last checkpoint, in this process "
                      "(the worker that md run, study run and explore start)")
    a.add_argument("run_dir", help="run directory made by md run, study run or explore")
    a.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_md_advance)

    b = md.add_parser("beads", help="the bead count a temperature and highest frequency need (pile, eco, piglet)")
    b.add_argument("--temperature-k", "--temperature", dest="temperature_k", type=float, required=True,
                   help="temperature, K")
    b.add_argument("--max-frequency-cm1", type=float, help="the system's highest vibrational frequency, cm^-1")
    b.add_argument("--phonons", help="or: a saved 'hydropimd analyze phonons --json' result (its highest frequency)")
    b.add_argument("--sampling", choices=["all", "pile", "eco", "piglet"], default="all",
                   help="scheme(s) to advise on (default all)")
    b.add_argument("--tolerance", type=float, default=0.01,
                   help="largest relative error of a harmonic mode's kinetic energy (default 0.01 = 1 %%)")
    b.add_argument("--gle-library", help="GLE4MD library folder (default: the data-location rule)")
    b.add_argument("--json", action="store_true", help="print the advice as JSON on stdout")
    b.add_argument("--quiet", action="store_true", help="no progress output")
    b.set_defaults(func=cmd_md_beads)
