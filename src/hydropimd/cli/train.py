"""``hydropimd train``: a committee of Deep Potentials with DeePMD-kit."""

from __future__ import annotations

from hydropimd.cli import output


def cmd_train(args) -> None:
    from hydropimd.training.committee import train_committee

    if not output.show_progress(args.quiet):
        summary = train_committee(args.data, args.out, committee=args.committee, steps=args.steps, config=args.config,
                                  pair=args.pair, compress=args.compress)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=output.stderr, transient=True) as bar:
            tasks = {}

            def update(info: dict) -> None:
                k = info["member"]
                if k not in tasks:
                    tasks[k] = bar.add_task(f"member {k} steps", total=info["steps"])
                bar.update(tasks[k], completed=info["step"])

            summary = train_committee(args.data, args.out, committee=args.committee, steps=args.steps,
                                      config=args.config, pair=args.pair, compress=args.compress, progress=update)
    if args.json:
        output.print_json(summary)
    else:
        output.print_table(f"committee in {summary['out']} (test split)", ["member", "steps", "energy eV/atom", "force eV/A",
                                                                         "virial eV/atom"],
                           [[m["member"], m["steps"], m["energy_rmse_per_atom_ev"], m["force_rmse_ev_per_angstrom"],
                             m["virial_rmse_per_atom_ev"]] for m in summary["members"]])


def add_commands(commands) -> None:
    p = commands.add_parser("train", help="train a committee of DeePMD-kit models")
    p.add_argument("--data", nargs="+", required=True, help="DeePMD npy data sets (the last set of each system is held out; "
                                                           "a published root means its data/full)")
    p.add_argument("--out", required=True, help="output folder (a killed training resumes here, a larger --steps continues "
                                                "it; other data, table, config or committee are refused)")
    p.add_argument("--config", help="TOML or JSON overriding the study's DeePMD-kit defaults")
    p.add_argument("--committee", type=int, default=3, help="number of models (default 3)")
    p.add_argument("--steps", type=int, help="training steps (default 1,000,000; the learning rate still decays to its end value)")
    p.add_argument("--pair", help="pair table: the data are full labels, the models learn full - pair")
    p.add_argument("--compress", action="store_true", help="also compress each model (dp compress)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)
