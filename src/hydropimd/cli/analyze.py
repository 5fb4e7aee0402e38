"""``hydropimd analyze``: cell shape, powder diffraction, phase diagrams, the hydrogen sublattice, the space group and
the ensemble check (temperature and pressure against their targets) of MD runs; harmonic phonons of a structure with the potential.

Each sub-command calls one public function of :mod:`hydropimd.analysis` with
the same arguments and prints rich tables, or JSON with ``--json``; ``--plot
FILE`` writes a figure (PNG or PDF by the suffix).  ``cli/main.py`` adds the
group with :func:`add_commands`.  Bad input raises InputError, which main
prints as one line (exit status 2).
"""

from __future__ import annotations

import argparse

from hydropimd.cli import output


def _common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--plot", metavar="FILE", help="write a figure; PNG or PDF by the suffix")
    return p


def _pair(text: str) -> tuple[float, float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not two comma-separated numbers") from None
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"'{text}' must be two comma-separated numbers")
    return values[0], values[1]


def _pm(values, errors, digits: int = 4) -> str:
    return ", ".join(f"{v:.{digits}f} ± {e:.2g}" for v, e in zip(values, errors))


def _discard(text: str):
    """``--discard-ps``: a time in ps, or ``auto``."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' must be a time in ps or 'auto'") from None


def _shape_options(p: argparse.ArgumentParser, auto: bool = False) -> None:
    if auto:
        p.add_argument("--discard-ps", type=_discard, default=0.0,
                       help="equilibration to drop from the start, ps, or 'auto': where the volume and the angles "
                       "have left their initial transient (Chodera's maximum of effective samples; default 0)")
    else:
        p.add_argument("--discard-ps", type=float, default=0.0, help="equilibration to drop from the start, ps (default 0)")
    p.add_argument("--lattice", choices=["fcc", "bcc", "sc"],
                   help="cubic lattice of the heavy atoms (default: the run's recorded parent lattice, else fcc)")
    p.add_argument("--threshold-deg", type=float, default=1.0,
                   help="shuttling: a frame is distorted when its smoothed largest |angle - 90| exceeds this (default 1)")
    p.add_argument("--smooth-ps", type=float, default=0.5, help="shuttling: moving-average window, ps (default 0.5)")
    p.add_argument("--significance", type=float, default=0.01, help="level of the classification tests (default 0.01)")


# ---------------------------------------------------------------- cell
def cmd_analyze_cell(args) -> None:
    from hydropimd.analysis import analyze_cell

    with output.progress_bar("reading frames", args.quiet) as update:
        report = analyze_cell(args.source, discard_ps=args.discard_ps, dt_ps=args.dt_ps, lattice=args.lattice,
                              threshold_deg=args.threshold_deg, smooth_ps=args.smooth_ps, significance=args.significance,
                              plot=args.plot, progress=update)
    if args.json:
        output.print_json(report)
        return
    shuttling = report["shuttling"]
    rows = [
        ["classification", report["classification"]],
        ["rule", report["classification_rule"]],
        ["test (all frames)", report["classification_test"]["statement"]],
        ["cell", report["mapping"]["description"]],
        ["frames (effective samples)", f"{report['n_frames']} ({report['n_effective']:.0f})"],
        ["time (ps)", f"{report['time_ps'][0]:g} - {report['time_ps'][1]:g} ({report['time_source']})"],
        ["discarded (ps)", f"{report['discard_ps']:g}" + (" (auto: " + ", ".join(
            f"{k} {v:g}" for k, v in report["equilibration"]["starts_ps"].items()) + ")" if report["equilibration"] else "")],
        ["a, b, c (Å)", _pm(report["lengths_angstrom"], report["lengths_stderr_angstrom"])],
        ["alpha, beta, gamma (deg)" + (f" aligned to {report['angles_aligned_to_variant']}" if report["angles_aligned_to_variant"] else ""),
         _pm(report["angles_deg"], report["angles_stderr_deg"], 3)],
        ["|angle - 90| sorted (deg)", _pm(report["angle_deviations_sorted_deg"], report["angle_deviations_sorted_stderr_deg"], 3)],
        ["order parameter <mean |angle - 90|> (deg)",
         f"{report['order_parameter']['mean_deg']:.3f} ± {report['order_parameter']['stderr_deg']:.2g}"],
        ["fraction of time distorted", f"{shuttling['fraction_distorted']:.3f}"],
        ["switches (cubic<->distorted, between variants)",
         f"{shuttling['n_switches']} ({shuttling['n_cubic_distorted_switches']}, {shuttling['n_variant_switches']})"],
        ["variants visited", "; ".join(f"{v['variant']} {v['fraction']:.2f} ({v['description']})" for v in shuttling["variants_visited"]) or "none"],
        ["shuttling criterion", shuttling["criterion"]],
    ]
    state = report["distorted_state"]
    if state:
        rows.insert(3, ["distorted state", f"{state['classification']}, {100 * state['fraction_of_time']:.0f} % of the time; "
                                           f"alpha, beta, gamma = {_pm(state['angles_deg'], state['angles_stderr_deg'], 3)} deg"])
    if shuttling["is_shuttling"]:
        rows.insert(8, ["raw alpha, beta, gamma (deg; mix variants)", _pm(report["raw_angles_deg"], report["raw_angles_stderr_deg"], 3)])
    rows += [["note", n] for n in report["notes"]]
    if report.get("plot"):
        rows.append(["figure", report["plot"]])
    output.print_table(f"{report['source']}: conventional cubic cell", ["quantity", "value"], rows)


# ---------------------------------------------------------------- xrd
def cmd_analyze_xrd(args) -> None:
    from hydropimd.analysis import analyze_xrd

    with output.progress_bar("structure factor", args.quiet) as update:
        result = analyze_xrd(args.sources, args.wavelength, element=args.element, two_theta_min_deg=args.two_theta_min,
                             two_theta_max_deg=args.two_theta_max, step_deg=args.step_deg, fwhm_deg=args.fwhm_deg,
                             method=args.method, lorentz_polarization_factor=not args.no_lp, discard_ps=args.discard_ps,
                             dt_ps=args.dt_ps, lattice=args.lattice, plot=args.plot, progress=update)
    if args.json:
        output.print_json(result)
        return
    for pattern in result.get("patterns", [result]):
        rows = [[f"{p['two_theta_deg']:.4f}", f"{p['d_angstrom']:.4f}", " ".join(map(str, p["hkl"])),
                 "".join(map(str, p["hkl_family"])), p.get("multiplicity", ""), f"{p['intensity']:.1f}"] for p in pattern["peaks"]]
        output.print_table(
            f"{pattern['source']}: {pattern['element']} powder pattern, λ = {pattern['wavelength_angstrom']:g} Å, "
            f"{pattern['n_frames']} frame(s), {pattern['method']}",
            ["2θ (deg)", "d (Å)", "hkl", "family", "multiplicity", "I (%)"], rows)
        output.stdout.print(pattern["conventions"])
    if result.get("plot"):
        output.stdout.print(f"figure: {result['plot']}")


# ---------------------------------------------------------------- phase
def cmd_analyze_phase(args) -> None:
    from hydropimd.analysis import analyze_phase

    with output.progress_bar("analysing runs", args.quiet) as update:
        result = analyze_phase(args.runs, study=args.study, discard_ps=args.discard_ps, lattice=args.lattice,
                               threshold_deg=args.threshold_deg, smooth_ps=args.smooth_ps, significance=args.significance,
                               plot=args.plot, progress=update)
    if args.json:
        output.print_json(result)
        return
    rows = [[r["group"], r["temperature_k"], r["pressure_gpa"], r["natoms"], _pm(r["angles_deg"], r["angles_stderr_deg"], 2),
             f"{r['distortion_deg']:.3f} ± {r['distortion_stderr_deg']:.2g}", r["classification"],
             f"{r['fraction_distorted']:.2f}", r["run"]] for r in result["runs"]]
    output.print_table("runs", ["group", "T (K)", "P (GPa)", "N", "alpha, beta, gamma (deg)", "mean |angle - 90| (deg)",
                                "class", "distorted fraction", "run"], rows)
    rows = []
    for group in result["groups"]:
        for t in group["transitions"]:
            value = "-" if t["transition_pressure_gpa"] is None else f"{t['transition_pressure_gpa']:.1f} ± {t['uncertainty_gpa']:.2g}"
            rows.append([group["name"], t["temperature_k"], value, t["method"]])
    output.print_table("transition pressure", ["group", "T (K)", "P_c (GPa)", "method"], rows)
    if result.get("plot"):
        output.stdout.print(f"figure: {result['plot']}")


# ---------------------------------------------------------------- hydrogen
def cmd_analyze_hydrogen(args) -> None:
    from hydropimd.analysis import analyze_hydrogen

    with output.progress_bar("hydrogen sublattice", args.quiet) as update:
        result = analyze_hydrogen(args.source, discard_ps=args.discard_ps, dt_ps=args.dt_ps, r_max_angstrom=args.rmax,
                                  bins=args.bins, rdf_frames=args.rdf_frames, fit_window=args.fit_window, plot=args.plot,
                                  progress=update)
    if args.json:
        output.print_json(result)
        return
    d = result["diffusion"]
    rows = [
        ["verdict", result["verdict"]],
        ["criterion", result["criterion"]],
        ["D (Å²/ps)", f"{d['coefficient_angstrom2_per_ps']:.4g} ± {d['stderr_angstrom2_per_ps']:.2g}"],
        ["D (cm²/s)", f"{d['coefficient_cm2_per_s']:.3g} ± {d['stderr_cm2_per_s']:.2g}"],
        ["MSD at fit end (Å²)", f"{d['msd_at_fit_end_angstrom2']:.4g}"],
        ["fit window (ps)", f"{d['fit_window_ps'][0]:g} - {d['fit_window_ps'][1]:g}"],
        ["frames", result["n_frames"]],
    ]
    rows += [[f"g(r) first peak {k} (Å)", "-" if v is None else f"{v:.3f}"] for k, v in result["rdf"]["first_peak_angstrom"].items()]
    if result.get("plot"):
        rows.append(["figure", result["plot"]])
    output.print_table(f"{result['source']}: hydrogen sublattice", ["quantity", "value"], rows)


# ---------------------------------------------------------------- bonds
def cmd_analyze_bonds(args) -> None:
    from hydropimd.analysis import analyze_bonds

    with output.progress_bar("bond off-centring", args.quiet):
        result = analyze_bonds(args.source, discard_ps=args.discard_ps, dt_ps=args.dt_ps,
                               significance=args.significance, bins=args.bins, plot=args.plot)
    if args.json:
        output.print_json(result)
        return
    c, m = result["delta_centroid"], result["order_parameter"]
    binder = result["binder_stderr"]
    rows = [
        ["verdict", result["verdict"]],
        ["reason", result["reason"]],
        ["bonds", f"{result['n_bonds']} {result['element']}-H-{result['element']}, {len(result['groups'])} orientations, "
                  f"{result['element']}-{result['element']} {result['bond_length_angstrom']:.4f} Å"],
        ["centroid δ: rms, mean |δ| (Å)", f"{c['rms_angstrom']:.4f}, {c['mean_abs_angstrom']:.4f}"],
        ["order parameter m per orientation (Å)", ", ".join(f"{v:+.4f}" for v in m["components_angstrom"])],
        ["order parameter rms (Å)", f"{m['rms_angstrom']:.4f}"],
        ["Binder cumulant U", f"{result['binder']:.3f}" + ("" if binder is None else f" ± {binder:.2g}")],
        ["frames (independent blocks)", f"{result['n_frames']} ({result['n_projections']})"],
    ]
    if result["delta_beads"]:
        b = result["delta_beads"]
        rows.insert(4, ["bead δ: rms, mean |δ| (Å)", f"{b['rms_angstrom']:.4f}, {b['mean_abs_angstrom']:.4f}"])
    if result.get("plot"):
        rows.append(["figure", result["plot"]])
    output.print_table(f"{result['source']}: linear {result['element']}-H-{result['element']} bonds", ["quantity", "value"], rows)


# ---------------------------------------------------------------- symmetry
def _tolerances(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not comma-separated numbers (symprec, angstrom)") from None


def cmd_analyze_symmetry(args) -> None:
    from hydropimd.analysis import analyze_symmetry

    with output.progress_bar("averaging frames", args.quiet) as update:
        result = analyze_symmetry(args.source, tolerances=args.tolerances, discard_ps=args.discard_ps, dt_ps=args.dt_ps,
                                  progress=update)
    if args.json:
        output.print_json(result)
        return
    top = result["headline"]
    rows = [[f"{r['symprec_angstrom']:g}", r["symbol"] or "-", r["number"] or "-", r["n_operations"],
             "headline" if r["symprec_angstrom"] == top["symprec_angstrom"] else ""] for r in result["ladder"]]
    cell = result["average_cell"]
    output.print_table(f"{result['source']}: {result['formula']}, {result['n_frames']} frame(s) averaged, "
                       f"a, b, c = {', '.join(f'{v:.4f}' for v in cell['lengths_angstrom'])} Å, "
                       f"angles = {', '.join(f'{v:.3f}' for v in cell['angles_deg'])} deg",
                       ["symprec (Å)", "space group", "number", "operations", ""], rows)
    output.stdout.print(f"headline: {top['symbol']} ({top['number']}) at symprec {top['symprec_angstrom']:g} Å"
                        f"{'' if top['stable'] else ' (no two consecutive tolerances agree)'}; "
                        f"noise floor {result['noise_floor_angstrom']:.3g} Å; rule: {result['headline_rule']}")
    for note in result["notes"]:
        output.stdout.print(f"note: {note}")


# ---------------------------------------------------------------- ensemble
def cmd_analyze_ensemble(args) -> None:
    from hydropimd.analysis import ensemble_check

    result = ensemble_check(args.run, discard_ps=args.discard_ps)
    if args.json:
        output.print_json(result)
        return
    verdict = {True: "held", False: "MISSED", None: "too few rows" if result["note"] else "no target"}
    rows = [[name, f"{result[f'{column}_mean']:.{digits}f} ± {result[f'{column}_stderr']:.{digits}f}",
             "-" if result[f"{column}_target"] is None else f"{result[f'{column}_target']:g}", verdict[result[f"{name}_ok"]]]
            for name, column, digits in (("temperature", "temperature_k", 1), ("pressure", "pressure_gpa", 2))]
    output.print_table(f"{result['run']}: temperature column = {result['temperature_column']}",
                       ["quantity", "mean ± error", "target", "verdict"], rows)
    if result["note"]:
        output.stdout.print(result["note"])


# ---------------------------------------------------------------- phonons
def cmd_analyze_phonons(args) -> None:
    from hydropimd.analysis import analyze_phonons

    with output.progress_bar("displaced supercells", args.quiet) as update:
        result = analyze_phonons(args.structure, args.model, pair=args.pair, pressure_gpa=args.pressure_gpa,
                                 supercell=args.supercell, mesh=args.mesh, amplitude_angstrom=args.amplitude,
                                 fmax=args.fmax, plot=args.plot, progress=update)
    if args.json:
        output.print_json(result)
        return
    relax = result["relaxation"]
    modes = result["imaginary_modes"]
    worst = modes[0] if modes else None
    rows = [
        ["space group (kept in the relaxation)", result["space_group"]],
        ["conventional a, b, c (Å)", ", ".join(f"{v:.4f}" for v in result["conventional_lengths_angstrom"])],
        ["pressure reached (GPa)", f"{relax['pressure_reached_gpa']:.2f} (target {relax['pressure_target_gpa']:g})"],
        ["volume (Å³/atom)", f"{relax['volume_angstrom3_per_atom']:.4f}"],
        ["supercell", f"{result['n_atoms_supercell']} atoms, {result['n_displacements']} displacement(s) of "
                      f"{result['displacement_angstrom']:g} Å"],
        ["Γ acoustic |ν| (THz)", ", ".join(f"{v:.3g}" for v in result["gamma_acoustic_thz"])],
        ["highest frequency", f"{result['max_frequency_thz']:.2f} THz = {result['max_frequency_cm1']:.0f} cm⁻¹"],
        ["lowest frequency", f"{result['lowest_frequency_thz']:.3f} THz at q = {result['lowest_frequency_q']}"],
        ["Debye temperature (K)", f"{result['debye_temperature_k']:.0f} ({result['debye_definition']})"],
        [f"imaginary modes (ν < -{result['imaginary_tolerance_thz']:g} THz)",
         "none" if worst is None else
         f"at {result['n_imaginary_mesh_qpoints']} irreducible mesh q-points ({100 * result['imaginary_fraction_of_mesh']:.1f} % "
         f"of the mesh) and on {result['n_imaginary_band_lines']} line(s) of the band path; worst "
         f"{worst['frequencies_thz'][0]:.3f} THz at q = {worst['q_reduced_primitive']}"
         + (f" ({worst['label']})" if worst["label"] else "")],
        ["q-points", result["q_coordinates"]],
        ["time (s)", f"{result['seconds']:.1f}"],
    ]
    if result.get("plot"):
        rows.append(["figure", result["plot"]])
    output.print_table(f"{result['structure']}: harmonic phonons at {relax['pressure_target_gpa']:g} GPa", ["quantity", "value"], rows)


# ---------------------------------------------------------------- parser
def add_commands(commands) -> None:
    """Add the ``analyze`` group (cell, xrd, phase, hydrogen, bonds, symmetry, ensemble, phonons) to the sub-parsers of the ``hydropimd`` parser."""
    analyze = commands.add_parser("analyze", help="cell shape, powder diffraction, phase diagrams, hydrogen sublattice, bond symmetry, space group, ensemble check, phonons")
    actions = analyze.add_subparsers(dest="action", required=True)

    p = _common(actions.add_parser("cell", help="conventional-cell lengths and angles, error bars, classification, shuttling"))
    p.add_argument("source", metavar="RUN|TRAJ", help="run directory of 'hydropimd md run' or an ASE-readable trajectory with cells")
    p.add_argument("--dt-ps", type=float, help="time between frames, ps, when the file has no time_ps")
    _shape_options(p, auto=True)
    p.set_defaults(func=cmd_analyze_cell)

    p = _common(actions.add_parser("xrd", help="powder X-ray diffraction of the heavy atoms (all non-hydrogen by default)"))
    p.add_argument("sources", nargs="+", metavar="RUN|STRUCTURE",
                   help="run directories, trajectories or structures; several are drawn side by side")
    p.add_argument("--wavelength", type=float, required=True, help="X-ray wavelength, angstrom (0.3344 and 0.2952 in the study)")
    p.add_argument("--element", help="scattering species (default: all non-hydrogen atoms, each with its own form factor)")
    p.add_argument("--two-theta-min", type=float, default=2.0, help="2θ range start, degrees (default 2)")
    p.add_argument("--two-theta-max", type=float, default=20.0, help="2θ range end, degrees (default 20)")
    p.add_argument("--step-deg", type=float, default=0.005, help="2θ grid spacing, degrees (default 0.005)")
    p.add_argument("--fwhm-deg", type=float, default=0.03, help="Gaussian peak width (FWHM) in 2θ, degrees (default 0.03)")
    p.add_argument("--method", choices=["reciprocal", "debye"], default="reciprocal",
                   help="structure factor on the reciprocal lattice (default) or Debye distance histogram")
    p.add_argument("--no-lp", action="store_true", help="no Lorentz-polarisation factor")
    p.add_argument("--discard-ps", type=float, default=0.0, help="equilibration to drop from the start, ps (default 0)")
    p.add_argument("--dt-ps", type=float, help="time between frames, ps, when the file has no time_ps")
    p.add_argument("--lattice", choices=["fcc", "bcc", "sc"],
                   help="cubic lattice for hkl (default: the parent lattice the run's run.json or the structure file "
                   "records, else fcc)")
    p.set_defaults(func=cmd_analyze_xrd)

    p = _common(actions.add_parser("phase", help="many runs: table, transition pressures, phase diagram"))
    p.add_argument("runs", nargs="*", metavar="RUN", help="run directories")
    p.add_argument("--study", metavar="DIR", help="folder whose subfolders (any depth) are run directories")
    _shape_options(p, auto=True)
    p.set_defaults(func=cmd_analyze_phase)

    p = _common(actions.add_parser("hydrogen", help="radial distribution functions and hydrogen diffusion"))
    p.add_argument("source", metavar="RUN|TRAJ", help="run directory or trajectory with positions")
    p.add_argument("--discard-ps", type=float, default=0.0, help="equilibration to drop from the start, ps (default 0)")
    p.add_argument("--dt-ps", type=float, help="time between frames, ps, when the file has no time_ps")
    p.add_argument("--rmax", type=float, help="RDF range, angstrom (default: 6 or half the smallest cell height)")
    p.add_argument("--bins", type=int, default=200, help="RDF bins (default 200)")
    p.add_argument("--rdf-frames", type=int, default=20, help="frames (evenly spaced) for the RDFs (default 20)")
    p.add_argument("--fit-window", type=_pair, default=(0.1, 0.5),
                   help="MSD fit range as fractions of the run, START,END (default 0.1,0.5)")
    p.set_defaults(func=cmd_analyze_hydrogen)

    p = _common(actions.add_parser("bonds", help="off-centring of H on linear A-H-A bonds (H3S): symmetric or off-centred"))
    p.add_argument("source", metavar="RUN|TRAJ", help="run directory (centroids; beads when saved) or trajectory with cells")
    p.add_argument("--discard-ps", type=float, default=0.0, help="equilibration to drop from the start, ps (default 0)")
    p.add_argument("--dt-ps", type=float, help="time between frames, ps, when the file has no time_ps")
    p.add_argument("--significance", type=float, default=0.01, help="level of the verdict's tests (default 0.01)")
    p.add_argument("--bins", type=int, default=60, help="histogram bins of the distributions (default 60)")
    p.set_defaults(func=cmd_analyze_bonds)

    p = actions.add_parser("symmetry", help="space group (spglib) of the time-averaged structure at a ladder of tolerances")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("source", metavar="RUN|TRAJ", help="run directory (its centroid frames) or trajectory with positions and cells")
    p.add_argument("--tolerances", type=_tolerances, metavar="T1,T2,...",
                   help="spglib symprec values, angstrom (default 0.01,0.03,0.1,0.2,0.3: analysis.symmetry.DEFAULT_TOLERANCES)")
    p.add_argument("--discard-ps", type=float, default=0.0, help="equilibration to drop from the start, ps (default 0)")
    p.add_argument("--dt-ps", type=float, help="time between frames, ps, when the file has no time_ps")
    p.set_defaults(func=cmd_analyze_symmetry)

    p = actions.add_parser("ensemble", help="a run's mean temperature and pressure against its thermostat's and barostat's targets")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress output (the check reads one table)")
    p.add_argument("run", metavar="RUN", help="run directory of 'hydropimd md run'")
    p.add_argument("--discard-ps", type=float, default=0.0, help="equilibration to drop from the start, ps (default 0)")
    p.set_defaults(func=cmd_analyze_ensemble)

    p = _common(actions.add_parser("phonons", help="harmonic phonons (phonopy) of a structure relaxed at a pressure with the potential"))
    p.add_argument("--structure", required=True, help="structure file (any cell of the crystal: it is reduced to its primitive cell)")
    p.add_argument("--model", required=True, help="DeePMD-kit frozen model")
    p.add_argument("--pair", help="pair table added to the model (the published full.table for the subtracted model)")
    p.add_argument("--pressure-gpa", type=float, required=True, help="pressure of the relaxation, GPa")
    p.add_argument("--supercell", default="2", help="N, N1,N2,N3 or nine integers, in conventional cells (default 2)")
    p.add_argument("--mesh", default="16", help="q-mesh N or N1,N2,N3 of the primitive reciprocal cell (default 16)")
    p.add_argument("--amplitude", type=float, default=0.01, help="displacement, angstrom (default 0.01)")
    p.add_argument("--fmax", type=float, default=1e-3, help="relaxation force threshold, eV/angstrom (default 0.001)")
    p.set_defaults(func=cmd_analyze_phonons)
