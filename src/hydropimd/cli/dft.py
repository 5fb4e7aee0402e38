"""``hydropimd label``, ``hydropimd dft pseudo`` and ``hydropimd pair dimer``: DFT labels and the dimer baseline."""

from __future__ import annotations

import argparse

from rich.markup import escape

from hydropimd.cli import output


def _flags(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def cmd_label(args) -> None:
    from hydropimd.dft.label import label_structures

    with output.progress_bar("pw.x SCF", args.quiet) as update:
        summary = label_structures(args.structures, args.out, config=args.config, pair=args.pair, mpi=args.mpi,
                                   pools=args.pools, pseudo_dir=args.pseudo_dir, retry_failed=args.retry_failed,
                                   max_memory_gb=args.max_memory_gb, progress=update)
    if args.json:
        output.print_json(summary)
        return
    rows = [[r["index"], r["system"], r["set"], r["status"] + (" (before)" if r["skipped"] else ""),
             r["energy_per_atom_ev"] if r["energy_per_atom_ev"] is not None else "",
             r["pressure_gpa"] if r["pressure_gpa"] is not None else "",
             r["max_force_ev_per_angstrom"] if r["max_force_ev_per_angstrom"] is not None else "",
             r["wall_seconds"] if r["wall_seconds"] is not None else ""] for r in summary["structures"]]
    output.print_table(f"labels in {summary['out']}: {summary['labelled']} new, {summary['skipped']} skipped, "
                       f"{summary['failed']} failed",
                       ["#", "system", "set", "status", "E eV/atom", "P GPa", "max |F| eV/A", "pw.x s"], rows)
    for r in summary["structures"]:
        if r["status"] not in ("done",) and r["reason"]:
            output.stderr.print(f"[yellow]structure {r['index']}:[/] {escape(r['reason'])}", soft_wrap=True)


def cmd_pseudo(args) -> None:
    from hydropimd.dft.pseudo import generate_pseudopotentials

    with output.progress_bar("ld1.x", args.quiet) as update:
        update(0, None)
        summary = generate_pseudopotentials(args.out, inputs=args.inputs, functional=args.functional, elements=args.elements,
                                            pslibrary=args.pslibrary)
    if args.json:
        output.print_json(summary)
    else:
        output.print_table(f"{summary['functional']} pseudopotentials in {summary['out']}",
                           ["file", "element", "re-wrapped lines", "bytes", "sha256"],
                           [[f["file"], f["element"], f["rewrapped_lines"], f["bytes"], f["sha256"][:16]] for f in summary["files"]])


def cmd_converge(args) -> None:
    from hydropimd.dft.convergence import check_convergence

    with output.progress_bar("pw.x SCF", args.quiet) as update:
        report = check_convergence(args.structures, args.out, config=args.config, ecutwfc_ry=args.ecutwfc_ry,
                                   kspacing_per_angstrom=args.kspacing, frames=args.frames,
                                   pseudo_dir=args.pseudo_dir, mpi=args.mpi, progress=update)
    if args.json:
        output.print_json(report)
        return
    rows = [[r["setting"], r["reference"], 1e3 * r["energy_shift_ev_per_atom"], 1e3 * r["relative_energy_ev_per_atom"],
             1e3 * r["max_force_ev_per_angstrom"], 1e3 * r["rms_force_ev_per_angstrom"], r["max_pressure_gpa"]]
            for r in report["comparisons"]]
    output.print_table(f"DFT convergence on {report['frames']} frames (differences from the reference)",
                       ["setting", "reference", "E shift meV/atom", "relative E meV/atom", "max dF meV/A",
                        "rms dF meV/A", "max dP GPa"], rows)


def cmd_dimer(args) -> None:
    from hydropimd.pair.dimer import build_dimer_table

    with output.progress_bar(f"CCSD {args.pair}", args.quiet) as update:
        summary = build_dimer_table(args.pair, args.output, r_min=args.r_min, r_max=args.r_max, points=args.points,
                                    rows=args.rows, basis=args.basis, spin=args.spin, compare=args.compare,
                                    figure=args.figure, cache=not args.no_cache, progress=update)
    if args.json:
        output.print_json(summary)
        return
    rows = [["table", f"{summary['output']} ({summary['keyword']}, {summary['rows']} rows)"],
            ["method", f"{summary['method']}/{summary['basis']}, {summary['reference']}, 2S = {summary['spin_2s']}"],
            ["range (A)", f"{summary['r_min_angstrom']:.4f} - {summary['cutoff_angstrom']:.4f} (zero at the cutoff)"],
            ["E at r_min (eV)", summary["binding_at_r_min_ev"]]]
    if "comparison" in summary:
        c = summary["comparison"]
        rows.append(["max |ours - published| (eV)", f"{c['max_abs_deviation_ev']:.4g} at {c['at_r_angstrom']:.4f} A"])
        if "accessible" in c:
            a = c["accessible"]
            rows.append([f"  where published < {a['below_ev']:g} eV", f"{a['max_abs_deviation_ev']:.4g} at {a['at_r_angstrom']:.4f} A "
                         f"({100 * a['max_rel_deviation']:.2g} % max relative)"])
    if "figure" in summary:
        rows.append(["figure", summary["figure"]])
    output.print_table(f"{summary['pair']} dimer", ["quantity", "value"], rows)


def add_commands(commands, pair_actions=None) -> None:
    """Add ``label`` and ``dft pseudo`` to ``commands``, and ``dimer`` to the ``pair`` group's sub-parsers."""
    p = _flags(commands.add_parser("label", help="DFT labels with pw.x, appended to a DeePMD npy data set"))
    p.add_argument("--structures", required=True, help="structures to label (any ASE-readable file, e.g. extxyz)")
    p.add_argument("--out", required=True, help="data set folder (full/ and subtracted/ systems, records, logs)")
    p.add_argument("--config", help="TOML or JSON DFT settings (default: the study's: PBE, 50 Ry, ...)")
    p.add_argument("--pair", help="pair table: also write the subtracted twin (full - pair)")
    p.add_argument("--mpi", type=int, default=1, help="pw.x MPI ranks (default 1)")
    p.add_argument("--pools", type=int, help="k-point pools (default: the most that fit in memory)")
    p.add_argument("--pseudo-dir", help="folder with the UPF files (else $ESPRESSO_PSEUDO, else the cache)")
    p.add_argument("--retry-failed", action="store_true", help="run again structures whose SCF did not converge")
    p.add_argument("--max-memory-gb", type=float, help="memory pw.x may use (default: what is available now)")
    p.set_defaults(func=cmd_label)

    dft = commands.add_parser("dft", help="DFT set-up").add_subparsers(dest="action", required=True)
    p = _flags(dft.add_parser("pseudo", help="generate the pslibrary pseudopotentials with ld1.x"))
    p.add_argument("--elements", nargs="+", metavar="EL", help="elements to generate from pslibrary's collection, e.g. S H")
    p.add_argument("--pslibrary", help="pslibrary's folder (else $HYDROPIMD_PSLIBRARY, else ../shared/pslibrary beside "
                                       "the published data, else the cache, fetched from GitHub when missing)")
    p.add_argument("--out", help="target folder (default: the cache, used when no --pseudo-dir is given)")
    p.add_argument("--inputs", help="instead of --elements: a folder of ld1.x inputs (*.in), e.g. ../shared/pslibrary-inputs")
    p.add_argument("--functional", choices=["PBE", "LDA"], default="PBE", help="PBE (the study's) or LDA (Perdew-Zunger)")
    p.set_defaults(func=cmd_pseudo)

    p = _flags(dft.add_parser("converge", help="label a few frames with tighter cutoffs or k-points and compare"))
    p.add_argument("--structures", required=True, help="representative structures (any ASE-readable file)")
    p.add_argument("--out", required=True, help="folder: one data set per setting, and convergence.json")
    p.add_argument("--config", help="TOML or JSON base DFT settings (default: the study's: PBE, 50/400 Ry, 0.27 1/A)")
    p.add_argument("--ecutwfc-ry", type=float, nargs="+", default=[], metavar="RY",
                   help="tighter wavefunction cutoffs, Ry (ecutrho scaled with it), e.g. 70 90")
    p.add_argument("--kspacing", type=float, nargs="+", default=[], metavar="PER_A",
                   help="finer k-point spacings, 1/A, e.g. 0.2 0.15")
    p.add_argument("--frames", type=int, help="use the first N structures (default: all)")
    p.add_argument("--pseudo-dir", help="folder with the UPF files (else $ESPRESSO_PSEUDO, else the cache)")
    p.add_argument("--mpi", type=int, default=1, help="pw.x MPI ranks (default 1)")
    p.set_defaults(func=cmd_converge)

    if pair_actions is None:
        pair_actions = commands.add_parser("pair", help="the tabulated pair baseline").add_subparsers(dest="action", required=True)
    p = _flags(pair_actions.add_parser("dimer", help="pair table from isolated-dimer CCSD energies (PySCF)"))
    p.add_argument("--pair", required=True, help="element pair A-B, e.g. S-H")
    p.add_argument("--r-min", type=float, help="shortest distance, angstrom (default: the published table's)")
    p.add_argument("--r-max", type=float, help="cutoff, angstrom: the energy is zero there (default: the published cutoff; for another pair the bond length of its dimer, found by a CCSD scan)")
    p.add_argument("--points", type=int, help="CCSD points between r-min and r-max (default: the pair's spec)")
    p.add_argument("--rows", type=int, help="table rows (default: the published table's 1000 / 152 / 92)")
    p.add_argument("--basis", help="basis set (default cc-pV5Z for H-H, def2-QZVPPD with its ECP otherwise)")
    p.add_argument("--spin", type=int, help="2S of the dimer (default: 0, a closed-shell singlet with RHF-CCSD, for "
                   "an even electron count; 1, a doublet with UHF-CCSD, for an odd one)")
    p.add_argument("--compare", help="table with the same section to compare with; 'published': the study's full.table")
    p.add_argument("--figure", help="PNG with both curves")
    p.add_argument("--no-cache", action="store_true", help="recompute points even if cached")
    p.add_argument("-o", "--output", required=True, help="table file (other sections in it are kept)")
    p.set_defaults(func=cmd_dimer)

