"""``hydropimd`` command line: a thin layer over the Python API.

Each sub-command parses its options, calls one public function of the package
with the same arguments, and prints a rich table or, with ``--json``, JSON.
Bad input raises :class:`hydropimd.errors.InputError` (exit status 2), a computation
that fails while it runs :class:`hydropimd.errors.RunFailed` (exit status 3); both are
printed here as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from hydropimd.cli import output
from hydropimd.errors import HydropimdError, InputError
from hydropimd.files import no_room_error


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where the options are listed, no usage block."""

    def error(self, message: str):
        output.error(f"{self.prog}: {message} (see '{self.prog} --help')")
        sys.exit(2)


def _common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of numbers") from None


def _dataset_dir(data: str | None, labels: str) -> Path:
    """A data set folder: ``--data`` as given (a published root resolves to its ``data/<labels>``), else the published one."""
    from hydropimd.data.location import published_root

    root = Path(data) if data else published_root()
    if root.is_file():
        raise InputError(f"{root} is a file; give the data set's folder (one holding type.raw and set.NNN/, or systems of them)")
    if not root.is_dir():
        raise InputError(f"data directory {root} does not exist; give --data DIR or set HYDROPIMD_DATA")
    if (root / "data" / labels).is_dir():
        return root / "data" / labels
    return root


# ---------------------------------------------------------------- structure
def _structure_options(text: str | None, what: str) -> dict:
    """``x=0.38,y=0.1`` -> {"x": 0.38, "y": 0.1}; a value that is no number stays text (``H=D``).  A name given
    twice is refused: which of its values is meant is not for us to guess."""
    values = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"{what} '{text}' must be NAME=VALUE pairs separated by commas")
        if key.strip() in values:
            raise InputError(f"{what} '{text}' gives {key.strip()} twice; give each name once")
        try:
            values[key.strip()] = float(value)
        except ValueError:
            values[key.strip()] = value.strip()
    return values


def _strain_option(text: str | None):
    """``tetragonal,1.02``, ``rhombohedral,89.5``, ``monoclinic,91`` or nine numbers (a symmetric strain)."""
    from hydropimd.structures import STRAIN_KINDS

    if text is None:
        return None
    kind, _, rest = text.partition(",")
    try:
        if kind.strip() in STRAIN_KINDS and kind.strip() != "matrix":
            return {"kind": kind.strip(), STRAIN_KINDS[kind.strip()]: float(rest)}
        values = [float(v) for v in text.replace("matrix,", "").split(",")]
    except ValueError:
        values = []
    if len(values) != 9:
        raise InputError(f"strain '{text}' must be tetragonal,C_OVER_A, rhombohedral,ANGLE, monoclinic,BETA "
                         "or nine numbers (a symmetric strain, row by row)")
    return {"kind": "matrix", "matrix": [values[0:3], values[3:6], values[6:9]]}


def cmd_structure_build(args) -> None:
    from ase.io.formats import UnknownFileTypeError

    from hydropimd.files import write_atoms_atomic

    from hydropimd.structures import HYDROGEN, build_structure, prototype, structure_from_file

    isotopes = _structure_options(args.isotopes, "--isotopes")
    if HYDROGEN in isotopes and args.isotope != HYDROGEN:
        raise InputError("give the hydrogen isotope once: --isotope or --isotopes H=...")
    isotopes.setdefault(HYDROGEN, args.isotope)
    if args.angles is not None and args.strain is not None:  # both would be applied, one after the other
        raise InputError("--angles and --strain both distort the cell; give one of them")
    strain = _strain_option(args.strain)
    if args.file is not None:
        given = [name for name, value in (("PROTOTYPE", args.prototype), ("--a", args.a), ("--x", args.x),
                                          ("--parameters", args.parameters)) if value is not None]
        if given:
            raise InputError(f"--file gives the structure; remove {', '.join(given)}")
        atoms = structure_from_file(args.file, supercell=args.supercell, strain=strain, isotopes=isotopes,
                                    angles=args.angles)
    else:
        if args.prototype is None:
            raise InputError("give a PROTOTYPE (e.g. lah10) or --file")
        defaults = prototype(args.prototype).get("parameters", {})  # unknown names: the error lists the known ones
        parameters = _structure_options(args.parameters, "--parameters")
        if args.x is not None:
            if "x" not in defaults or "x" in parameters:
                raise InputError(f"--x: prototype '{args.prototype}' has no parameter x" if "x" not in defaults
                                 else "give x once: --x or --parameters x=...")
            parameters["x"] = args.x
        atoms = build_structure(args.prototype, a=args.a, parameters=parameters, cell=args.cell,
                                supercell=args.supercell, strain=strain, isotopes=isotopes, angles=args.angles)
    fmt = args.format or ("extxyz" if Path(args.output).suffix in ("", ".xyz", ".extxyz") else None)
    try:
        write_atoms_atomic(args.output, atoms, format=fmt)
    except UnknownFileTypeError as err:
        raise InputError(f"ASE knows no output format {str(err).strip(chr(39))!r} for {args.output}; "
                         "give --format (e.g. extxyz, vasp, cif) or a known suffix") from None
    except (ValueError, KeyError) as err:
        raise InputError(f"cannot write {args.output} (format {fmt or 'from suffix'}): {err}") from None
    lengths_angles = atoms.cell.cellpar()
    summary = {
        "output": args.output,
        "natoms": len(atoms),
        "formula": atoms.get_chemical_formula(),
        "isotope": atoms.info.get("isotope", args.isotope),
        "volume_angstrom3": atoms.get_volume(),
        "cell_lengths_angstrom": lengths_angles[:3],
        "cell_angles_deg": lengths_angles[3:],
        "cell_kind": atoms.info.get("cell_kind"),
        "supercell_matrix": atoms.info.get("supercell_matrix"),
    }
    if args.json:
        output.print_json(summary)
    else:
        output.print_table("structure", ["quantity", "value"], [[k, v] for k, v in summary.items()])


# ---------------------------------------------------------------- data
def cmd_data_info(args) -> None:
    from hydropimd.data.systems import dataset_info

    info = dataset_info(_dataset_dir(args.dir or args.data, "full"))
    if args.json:
        output.print_json(info)
        return
    rows = [[s["name"], s["natoms"], s["sets"], s["frames"], s["train_frames"], s["test_frames"]] for s in info["systems"]]
    rows.append(["total", "", "", info["n_frames"], info["n_train_frames"], info["n_test_frames"]])
    output.print_table(f"{info['path']} ({info['split']})", ["system", "atoms", "sets", "frames", "train", "test"], rows)


def cmd_data_fetch(args) -> None:
    from hydropimd.data.location import PUBLISHED_URL, fetch_published

    with output.progress_bar("downloading", args.quiet) as update:
        dest = fetch_published(args.dest, PUBLISHED_URL if args.url is None else args.url, progress=update)
    if args.json:
        output.print_json({"dest": str(dest)})
    else:
        output.stdout.print(f"published data in {dest}")


def cmd_data_path(args) -> None:
    from hydropimd.data.location import published_path, published_root

    path = published_path(args.relative, args.data) if args.relative else published_root(args.data)
    output.print_json({"path": str(path)}) if args.json else print(path)


def cmd_data_convert(args) -> None:
    from hydropimd.pair.baseline import PairBaseline
    from hydropimd.pair.convert import convert_dataset

    table, mode = (args.add_pair, "add") if args.add_pair else (args.remove_pair, "remove")
    pair = PairBaseline.from_file(table)
    with output.progress_bar(f"{mode} pair term", args.quiet) as update:
        summary = convert_dataset(args.source, args.target, pair, mode, progress=update)
    if args.json:
        output.print_json(summary)
    else:
        output.stdout.print(f"{summary['n_frames']} frames in {summary['n_systems']} systems written to {summary['to']}")


# ---------------------------------------------------------------- pair
def cmd_pair_eval(args) -> None:
    from hydropimd.pair.baseline import PairBaseline
    from hydropimd.structures import read_structure

    pair = PairBaseline.from_file(args.table)
    atoms = read_structure(args.structure)
    energy, forces, virial = pair.compute(atoms)
    result = {"energy_ev": energy, "virial_ev": virial, "forces_ev_per_angstrom": forces,
              "max_force_ev_per_angstrom": float(abs(forces).max()) if len(forces) else 0.0}
    if args.json:
        output.print_json(result)
    else:
        output.print_table("pair baseline", ["quantity", "value"],
                           [["energy (eV)", energy], ["max |force| component (eV/A)", result["max_force_ev_per_angstrom"]],
                            ["virial trace (eV)", float(virial.trace())]])


def cmd_pair_compare(args) -> None:
    from hydropimd.pair.baseline import PairBaseline
    from hydropimd.pair.check import compare_with_dataset

    pair = PairBaseline.from_file(args.table)
    with output.progress_bar("comparing", args.quiet) as update:
        report = compare_with_dataset(pair, args.full, args.subtracted, progress=update)
    if args.json:
        output.print_json(report)
        return
    rows = [[n, r["n_frames"], r["max_energy_error_ev"], r["max_force_error_ev_per_angstrom"], r["max_virial_error_ev"]]
            for n, r in report["systems"].items()]
    output.print_table("full - subtracted vs pair term (max |difference|)", ["system", "frames", "energy eV", "force eV/A", "virial eV"], rows)


# ---------------------------------------------------------------- model
def cmd_model_import(args) -> None:
    from hydropimd.potential.importing import import_model

    data_root = None
    if args.input_json:  # the script's training systems: the published ones are found under the data location
        from hydropimd.data.location import published_root

        data_root = published_root(args.data)
    # dp compress takes minutes (tabulating the embedding nets): a spinner says it is working
    what = "dp compress" if args.compress else "converting" if Path(args.out).suffix == ".pth" else "upgrading the graph"
    with output.progress_bar(what, args.quiet) as update:
        update(0, None)
        summary = import_model(args.graph, args.out, compress=args.compress, input_json=args.input_json,
                               data_root=data_root, backend=args.backend, precision=args.precision)
    if args.json:
        output.print_json(summary)
    else:
        output.stdout.print(f"model written to {summary['output']} ({summary['bytes']} bytes, backend "
                            f"{summary['backend']}, {summary['precision']}, compressed: {summary['compressed']})")


def cmd_model_test(args) -> None:
    from hydropimd.potential.calculator import HydridePotential
    from hydropimd.potential.testing import model_test_errors

    from hydropimd.data.systems import find_systems

    data = _dataset_dir(args.data, "full" if args.pair else "subtracted")
    potential = HydridePotential(args.model, pair=args.pair)
    systems = find_systems(data, type_map=potential.type_map)  # a system without type_map.raw: the model's types
    with output.progress_bar("evaluating systems", args.quiet) as update:
        report = model_test_errors(potential, systems, split=args.split, progress=update)
    if args.json:
        output.print_json(report)
        return
    keys = ["energy_rmse_per_atom_ev", "force_rmse_ev_per_angstrom", "virial_rmse_per_atom_ev"]
    rows = [[name, r["n_frames"], *(r.get(k, float("nan")) for k in keys)] for name, r in report["systems"].items()]
    rows.append(["overall (dp test weighting)", report["n_frames"], *(report[k] for k in keys)])
    output.print_table(
        f"{Path(args.model).name}{' + ' + Path(args.pair).name if args.pair else ''} on {data} ({args.split} split)",
        ["system", "frames", "energy RMSE eV/atom", "force RMSE eV/A", "virial RMSE eV/atom"], rows,
    )


# ---------------------------------------------------------------- parser
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hydropimd")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    from hydropimd.structures import HYDROGEN, HYDROGEN_ISOTOPES

    parser = Parser(prog="hydropimd", description="Quantum-nuclear stability of hydride crystals.")
    parser.add_argument("--version", action="version", version=f"hydropimd {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    structure = commands.add_parser("structure", help="build crystal structures").add_subparsers(dest="action", required=True)
    p = _common(structure.add_parser("build", help="a crystal of the prototype library, or a structure file"))
    p.add_argument("prototype", nargs="?",
                   help="prototype name from prototypes.toml (lah10, h3s, cah6, yh6, labeh8, ...); omit with --file")
    p.add_argument("--file", help="a structure file ASE reads (CIF, POSCAR, extxyz) instead of a prototype")
    p.add_argument("--a", type=float, help="cubic lattice constant, angstrom (default: the prototype's; lah10 5.1)")
    p.add_argument("--x", type=float, help="the Wyckoff parameter x of a prototype that has one (see prototypes.toml)")
    p.add_argument("--parameters", help="free Wyckoff parameters NAME=VALUE,... (default: the prototype's)")
    p.add_argument("--cell", choices=["conventional", "primitive"], default="conventional")
    p.add_argument("--supercell", default="1",
                   help="repetitions of the --cell: N, N1,N2,N3 or a 3x3 integer matrix row by row (nine values), "
                        "determinant > 0 (352 atoms: conventional 2; 297: primitive 3; 528: conventional 2,2,3)")
    p.add_argument("--angles", type=_floats, help="conventional-cell angles alpha,beta,gamma in degrees, imposed at fixed volume")
    p.add_argument("--strain", help="start strain at fixed volume: tetragonal,C_OVER_A, rhombohedral,ANGLE, "
                                    "monoclinic,BETA (degrees) or nine numbers (a symmetric strain)")
    p.add_argument("--isotope", choices=list(HYDROGEN_ISOTOPES), default=HYDROGEN)
    p.add_argument("--isotopes", help="masses per element ELEMENT=ISOTOPE_OR_MASS,... (H=D, S=32.06)")
    p.add_argument("--format", help="ASE output format (default: extxyz)")
    p.add_argument("-o", "--output", required=True, help="output file")
    p.set_defaults(func=cmd_structure_build)

    data = commands.add_parser("data", help="DeePMD npy data sets").add_subparsers(dest="action", required=True)
    p = _common(data.add_parser("info", help="systems, frames, atoms and the test split"))
    p.add_argument("dir", nargs="?", help="data set folder (default: the published data)")
    p.add_argument("--data", help="data location (else $HYDROPIMD_DATA, else the fetched cache)")
    p.set_defaults(func=cmd_data_info)
    p = _common(data.add_parser("fetch", help="download the published LaH10 data set"))
    p.add_argument("--dest", help="target folder (default: the cache)")
    p.add_argument("--url", help="archive URL (default: the GitHub archive of kkly1995/Data-for-fcc-LaH)")
    p.set_defaults(func=cmd_data_fetch)
    p = _common(data.add_parser("path", help="print where a published file is, by the data-location rule"))
    p.add_argument("relative", nargs="?", help="e.g. models/subtracted/graph.pb or tables/full.table")
    p.add_argument("--data", help="data location")
    p.set_defaults(func=cmd_data_path)
    p = _common(data.add_parser("convert", help="add or remove the pair term from a data set's labels"))
    p.add_argument("--from", dest="source", required=True, help="source data set folder")
    p.add_argument("--to", dest="target", required=True, help="new data set folder")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--add-pair", metavar="TABLE", help="subtracted -> full")
    g.add_argument("--remove-pair", metavar="TABLE", help="full -> subtracted")
    p.set_defaults(func=cmd_data_convert)

    pair = commands.add_parser("pair", help="the tabulated pair baseline").add_subparsers(dest="action", required=True)
    p = _common(pair.add_parser("eval", help="pair energy, forces and virial of a structure"))
    p.add_argument("--table", required=True, help="LAMMPS pair table file (published sections and cutoffs)")
    p.add_argument("--structure", required=True, help="any ASE-readable periodic structure")
    p.set_defaults(func=cmd_pair_eval)
    p = _common(pair.add_parser("compare", help="check full - subtracted labels against the pair term"))
    p.add_argument("--table", required=True)
    p.add_argument("--full", required=True, help="data set with full labels")
    p.add_argument("--subtracted", required=True, help="the same frames with subtracted labels")
    p.set_defaults(func=cmd_pair_compare)

    model = commands.add_parser("model", help="DeePMD-kit models").add_subparsers(dest="action", required=True)
    p = _common(model.add_parser("import", help="upgrade a DeePMD-kit 1.x graph, optionally compress it or convert "
                                 "it to the PyTorch backend"))
    p.add_argument("graph", help="frozen graph (.pb)")
    p.add_argument("--out", required=True, help="output model file (.pth with --backend pt)")
    p.add_argument("--compress", action="store_true", help="compress with dp compress (dp --pt compress)")
    p.add_argument("--backend", choices=("tf", "pt"),
                   help="tf: a TensorFlow graph; pt: a PyTorch model for GPUs (needs hydropimd[gpu]); "
                        "default: pt for an --out ending in .pth, else tf")
    p.add_argument("--precision", choices=("float64", "float32"), default="float64",
                   help="network precision of a --backend pt model (float32: faster on GPUs)")
    p.add_argument("--input-json", help="the model's training script (DeePMD-kit 1.x keys accepted)")
    p.add_argument("--data", help="data location holding the script's training systems")
    p.set_defaults(func=cmd_model_import)
    p = _common(model.add_parser("test", help="energy, force and virial RMSE on a data set"))
    p.add_argument("--model", required=True, help="frozen model (DeePMD-kit 1.x graphs are upgraded automatically)")
    p.add_argument("--pair", help="pair table added to the model (then the labels must be full)")
    p.add_argument("--data", help="data set folder or published root (default: the published data)")
    p.add_argument("--split", choices=["test", "train", "all"], default="test")
    p.set_defaults(func=cmd_model_test)

    from hydropimd.cli import active, analyze, dft, md, study, train

    train.add_commands(commands)
    md.add_commands(commands)
    analyze.add_commands(commands)
    study.add_commands(commands)
    active.add_commands(commands)
    dft.add_commands(commands, pair_actions=pair)  # label, dft pseudo, pair dimer
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger("deepmd").setLevel(logging.ERROR)  # DeePMD-kit's tuning hints are not our users' business
    try:
        args.func(args)
    except HydropimdError as err:  # InputError: exit 2; RunFailed: exit 3
        output.error(str(err))
        return err.exit_status
    except OSError as err:  # a path the user gave that cannot be read or written, or a full disk
        full = no_room_error(err, os.getcwd())
        if full is not None:
            output.error(str(full))
            return full.exit_status
        where = f" {err.filename}" if err.filename else ""
        output.error(f"cannot access{where}: {err.strerror or err}; check the path and its permissions")
        return 2
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    return 0


def run() -> None:
    """Console entry point: ``main`` then an immediate exit.

    TensorFlow's CUDA stubs print ``implib-gen`` complaints from their static
    destructors on CPU-only machines; leaving through ``os._exit`` after
    flushing skips them, so the last line a user sees is ours.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
