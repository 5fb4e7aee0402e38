"""``hydropimd md run``: constant-pressure (path-integral) MD through i-PI."""

from __future__ import annotations


from hydropimd.cli import output
from hydropimd.errors import InputError


def cmd_md_run(args) -> None:
    from hydropimd.md.ipi_input import MDSettings
    from hydropimd.md.run import resume_md, run_md

    if args.resume:
        with _progress(args.quiet) as update:
            summary = resume_md(args.out, progress=update)
    else:
        missing = [name for name in ("structure", "model", "temperature") if getattr(args, name) is None]
        if missing:
            raise InputError(f"a new run needs --{' --'.join(m.replace('_', '-') for m in missing)} "
                             "(or --resume --out DIR to continue one)")
        if (args.steps is None) == (args.time_ps is None):
            raise InputError("give exactly one of --steps N or --time-ps T")
        steps = args.steps if args.steps is not None else round(args.time_ps * 1000 / args.dt_fs)
        settings = MDSettings(
            model=args.model, pair=args.pair, temperature_k=args.temperature, pressure_gpa=args.pressure_gpa,
            steps=steps, beads=args.beads, timestep_fs=args.dt_fs, ensemble=args.ensemble, seed=args.seed,
            stride=args.stride, checkpoint_stride=args.checkpoint_stride, thermostat_tau_fs=args.thermostat_tau_fs,
            barostat_tau_fs=args.barostat_tau_fs, cell_thermostat_tau_fs=args.cell_thermostat_tau_fs,
            committee=args.committee or [], monitor_stride=args.monitor_stride, dev_warn=args.dev_warn,
            engine=args.engine, drivers=args.drivers, threads_per_driver=args.threads, save_beads=args.save_beads,
            bead_groups=args.bead_groups, port=args.port, ranks_per_driver=args.ranks_per_driver,
        )
        with _progress(args.quiet) as update:
            summary = run_md(args.structure, settings, args.out, force=args.force, progress=update)
    if args.json:
        output.print_json({k: v for k, v in summary.items() if k != "last"})
    else:
        last = summary["last"] or {}
        output.print_table(f"run {summary['run_dir']}", ["quantity", "value"], [
            ["steps done", f"{summary['steps_done']} / {summary['steps']}"],
            ["seconds per step", summary["seconds_per_step"]],
            ["force seconds per step", summary["force_seconds_per_step"]],
            *[[k, last[k]] for k in ("a", "b", "c", "alpha", "beta", "gamma", "pressure_gpa", "temperature_k") if k in last],
        ])


class _progress:
    """Rich progress bar showing simulated time, ns/day and ETA; warnings go above it."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

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


def add_commands(commands) -> None:
    md = commands.add_parser("md", help="molecular dynamics with i-PI").add_subparsers(dest="action", required=True)
    p = md.add_parser("run", help="NPT (path-integral) MD with a fully flexible cell")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--structure", help="starting structure (any ASE format; masses give the isotope)")
    p.add_argument("--model", help="DeePMD-kit model (1.x graphs are upgraded automatically)")
    p.add_argument("--pair", help="pair table added to the model")
    p.add_argument("--temperature", type=float, help="temperature, K")
    p.add_argument("--pressure-gpa", type=float, help="pressure, GPa")
    p.add_argument("--beads", type=int, default=1, help="path-integral beads (1: classical nuclei)")
    p.add_argument("--steps", type=int, help="number of MD steps")
    p.add_argument("--time-ps", type=float, help="simulated time, ps (instead of --steps)")
    p.add_argument("--dt-fs", type=float, default=0.5, help="timestep, fs (default 0.5)")
    p.add_argument("--ensemble", choices=["npt", "nvt", "nve"], default="npt")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--stride", type=int, default=10, help="steps between table rows and frames")
    p.add_argument("--checkpoint-stride", type=int, default=100, help="steps between checkpoints")
    p.add_argument("--thermostat-tau-fs", type=float, default=100.0, help="PILE-L centroid time constant, fs")
    p.add_argument("--barostat-tau-fs", type=float, default=200.0, help="barostat time constant, fs")
    p.add_argument("--cell-thermostat-tau-fs", type=float, default=100.0, help="cell Langevin time constant, fs")
    p.add_argument("--engine", choices=["inprocess", "lammps"], default="inprocess")
    p.add_argument("--drivers", type=int, default=2, help="LAMMPS clients (engine lammps)")
    p.add_argument("--threads", type=int, default=1, help="threads per LAMMPS client")
    p.add_argument("--port", type=int, default=0,
                   help="inet socket port for LAMMPS clients on other machines (default 0: unix socket, local clients)")
    p.add_argument("--ranks-per-driver", type=int, default=1, help="MPI ranks of each LAMMPS client")
    p.add_argument("--bead-groups", type=int, default=0, help="bead groups evaluated concurrently in-process (0: one per core)")
    p.add_argument("--committee", nargs="+", metavar="MODEL", help="extra models for the force deviation")
    p.add_argument("--monitor-stride", type=int, default=0, help="steps between committee evaluations")
    p.add_argument("--dev-warn", type=float, help="warn once when the max force deviation exceeds this, eV/A")
    p.add_argument("--save-beads", action="store_true", help="also write every bead (for active learning)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--force", action="store_true", help="replace a run already in --out")
    p.set_defaults(func=cmd_md_run)
