"""Active-learning commands: ``hydropimd explore``, ``hydropimd select`` (and the loop's ``hydropimd active``).

Each command lives in its own ``add_<name>(commands)`` function; :func:`add_commands`
registers them all, so a new command is one more function and one more line there.
"""

from __future__ import annotations

from hydropimd.cli import output


def _common(p):
    p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


# ---------------------------------------------------------------- explore
def cmd_explore(args) -> None:
    from hydropimd.active.explore import explore, load_grid

    grid = load_grid(args.grid)  # a bad config fails before the progress display starts
    with _explore_progress(args.quiet) as update:
        summary = explore(args.model, args.structures, grid, args.out, pair=args.pair, progress=update, force=args.force)
    if args.json:
        output.print_json(summary)
        return
    output.print_table(f"exploration in {summary['out']}: {summary['frames']} frames -> {summary['candidates']}",
                       ["run", "T (K)", "P (GPa)", "beads", "steps", "frames", "status"],
                       [[r["name"], r["temperature_k"], r["pressure_gpa"], r["beads"], r["steps_done"], r["frames"],
                         r["status"]] for r in summary["runs"]])


class _explore_progress:
    """Two bars: grid points done, and MD steps of the current point."""

    def __init__(self, quiet: bool):
        self.quiet = not output.show_progress(quiet)

    def __enter__(self):
        if self.quiet:
            return lambda info: output.stderr.print(f"[yellow]warning:[/] {info['warning']}") if "warning" in info else None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                            console=output.stderr, transient=True)
        self.bar.__enter__()
        self.runs = self.bar.add_task("grid points", total=None)
        self.steps = self.bar.add_task("MD steps", total=None)
        return self.update

    def update(self, info: dict) -> None:
        if "warning" in info:
            self.bar.console.print(f"[yellow]warning:[/] {info['warning']}")
        elif "runs_done" in info:
            self.bar.update(self.runs, completed=info["runs_done"], total=info["runs"])
            if "run" in info:
                self.bar.update(self.steps, description=f"MD {info['run']}", completed=0, total=None)
        elif "step" in info:
            self.bar.update(self.steps, completed=info["step"], total=info["steps"])

    def __exit__(self, *exc):
        if not self.quiet:
            self.bar.__exit__(*exc)


def add_explore(commands) -> None:
    p = _common(commands.add_parser("explore", help="MD with one committee member over a (T, P, beads) grid: candidates"))
    p.add_argument("--model", required=True, help="DeePMD-kit model driving the MD (one committee member)")
    p.add_argument("--structures", required=True, help="start structures (any ASE format; every frame is used)")
    p.add_argument("--grid", required=True,
                   help="TOML: temperatures_k, pressures_gpa, beads (lists) and any option of md run (steps, timestep_fs, stride, seed, ...)")
    p.add_argument("--out", required=True, help="output folder (one run per grid point; a killed exploration resumes)")
    p.add_argument("--pair", help="pair table added to the model")
    p.add_argument("--force", action="store_true",
                   help="replace runs in --out made with another model, table, start structure or settings")
    p.set_defaults(func=cmd_explore)


# ---------------------------------------------------------------- select
def cmd_select(args) -> None:
    from hydropimd.active.deviation import check_committee
    from hydropimd.active.select import check_window, select_frames, write_selection
    from hydropimd.files import check_writable

    check_window(args.lo, args.hi, args.n, args.mode)  # before the progress display starts
    check_committee(args.committee)
    if args.out:
        check_writable(args.out, "--out")  # before the deviations (minutes to hours) are computed
    with output.progress_bar("committee deviation", args.quiet) as update:
        result = select_frames(args.candidates, args.committee, args.lo, args.hi, args.n, mode=args.mode,
                               pair=args.pair, progress=update)
    if args.out:
        result["output"] = str(write_selection(args.candidates, result, args.out))
    if args.json:
        output.print_json(result)
        return
    c = result["counts"]
    rows = [["candidates", c["candidates"]], [f"below lo (E < {args.lo})", c["below_lo"]],
            [f"kept ({args.lo} <= E < {args.hi})", c["kept"]], [f"dropped (E >= {args.hi})", c["dropped"]],
            ["selected", c["selected"]]]
    if result["dropped_range"]:
        rows.append(["dropped E range (eV/A)", "{:.3g} .. {:.3g}".format(*result["dropped_range"])])
    if result.get("output"):
        rows.append(["written to", result["output"]])
    output.print_table(f"selection by {result['mode']}", ["quantity", "value"], rows)
    output.print_table("selected frames", ["frame", "max force deviation (eV/A)"],
                       [[s["index"], s["max_force_dev"]] for s in result["selected"]])
    if result.get("note"):
        output.stderr.print(f"[yellow]note:[/] {result['note']}")


def add_select(commands) -> None:
    p = _common(commands.add_parser("select", help="pick candidates to label by committee deviation or SOAP diversity"))
    p.add_argument("--candidates", required=True, help="candidate frames (extxyz, e.g. explore's candidates.extxyz)")
    p.add_argument("--committee", nargs="+", required=True, metavar="MODEL", help="two or more DeePMD-kit models")
    p.add_argument("--pair", help="pair table (cancels in the deviation; accepted for symmetry with the MD)")
    p.add_argument("--lo", type=float, required=True, help="lower deviation bound, eV/A: frames below are already accurate")
    p.add_argument("--hi", type=float, required=True, help="upper deviation bound, eV/A: frames at or above are dropped")
    p.add_argument("--n", type=int, required=True, help="number of frames to select")
    p.add_argument("--mode", choices=["deviation", "diversity"], default="deviation",
                   help="largest deviation, or most diverse averaged SOAP vectors (default deviation)")
    p.add_argument("--out", help="write the selected frames here (extxyz)")
    p.set_defaults(func=cmd_select)


# ---------------------------------------------------------------- active (the loop)
def _active_table(status: dict) -> None:
    errors = any(r["error"] for r in status["generations"])
    rows = []
    for r in status["generations"]:
        c = r["counts"] or {}
        row = [r["generation"], r["stage"] or "-", "" if r["candidates"] is None else r["candidates"],
               c.get("below_lo", ""), c.get("kept", ""), c.get("dropped", ""), c.get("selected", ""),
               "" if r["accurate_ratio"] is None else f"{r['accurate_ratio']:.3f}", r["mode"] or "",
               "" if r["labelled"] is None else r["labelled"]]
        rows.append(row + ([f"{r['error_stage']}: {r['error']}" if r["error"] else ""] if errors else []))
    output.print_table(f"active learning in {status['work_dir']}",
                       ["gen", "stage", "cand.", "E<lo", "kept", "drop", "sel.", "acc.", "mode", "frames"]
                       + (["error"] if errors else []), rows)
    output.stdout.print(f"stopped: {status['stopped']}" if status["stopped"] else "not finished (run it again to resume)")


def cmd_active_run(args) -> None:
    from hydropimd.active.loop import load_config, run_active

    config = load_config(args.config)

    def progress(info: dict) -> None:
        if not args.quiet and info.get("event") in ("start", "done", "stop"):
            what = info["reason"] if info["event"] == "stop" else f"{info['stage']} {info['event']}"
            where = "initial data" if info["generation"] is None else f"generation {info['generation']}"
            output.stderr.print(f"{where}: {what}")

    status = run_active(config, progress=progress)
    output.print_json(status) if args.json else _active_table(status)


def cmd_active_status(args) -> None:
    from hydropimd.active.loop import active_status

    status = active_status(args.target)
    output.print_json(status) if args.json else _active_table(status)


def cmd_active_report(args) -> None:
    from hydropimd.active.report import active_report

    with output.progress_bar("testing committees", args.quiet) as update:
        result = active_report(args.dir, args.test_data, args.out or f"{args.dir}/report", split=args.split,
                               progress=update)
    if args.json:
        output.print_json(result)
        return
    output.print_table(f"test errors on {result['test_data']} ({result['split']} split, {result['test_frames']} frames)",
                       ["generation", "energy RMSE eV/atom", "force RMSE eV/A"],
                       [[r["generation"], r["energy_rmse_per_atom_ev"], r["force_rmse_ev_per_angstrom"]]
                        for r in result["errors"]])
    output.stdout.print("figures: " + ", ".join(result["figures"]))


def add_active(commands) -> None:
    active = commands.add_parser("active", help="the active-learning loop: train, explore, select, label, repeat")
    sub = active.add_subparsers(dest="action", required=True)
    p = _common(sub.add_parser("run", help="run or resume the loop described by a TOML config"))
    p.add_argument("config", help="loop config (TOML): work_dir, [data], [training], [explore], [select], "
                                  "[labeller], [stop]")
    p.set_defaults(func=cmd_active_run)
    p = _common(sub.add_parser("status", help="per generation: stage reached, counts, accurate ratio, mode, errors"))
    p.add_argument("target", metavar="CONFIG|DIR", help="the loop's config or its work directory")
    p.set_defaults(func=cmd_active_status)
    p = _common(sub.add_parser("report", help="test errors vs generation, SOAP PCA map, counts (PNG and PDF)"))
    p.add_argument("dir", help="the loop's work directory")
    p.add_argument("--test-data", required=True, help="one common labelled test set (full labels when the loop uses a pair)")
    p.add_argument("--split", choices=["test", "train", "all"], default="test", help="which frames of it (default test)")
    p.add_argument("--out", help="report folder (default DIR/report)")
    p.set_defaults(func=cmd_active_report)


def add_commands(commands) -> None:
    add_explore(commands)
    add_select(commands)
    add_active(commands)
