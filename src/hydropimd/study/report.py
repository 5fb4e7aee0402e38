"""The study report: Markdown and HTML with the figures, from the analysis stage.

Contents: the grid and its status; per run the classification, mean
conventional-cell angles with correlated error bars, the variant-independent
order parameter and the space group of the time-averaged structure (the
headline of :func:`hydropimd.analysis.analyze_symmetry`); transition pressures per temperature; figures of the order
parameter against pressure and of the (P, T) phase diagram (classical vs
path-integral, H vs D, from :func:`hydropimd.analysis.analyze_phase`), powder
patterns of the heavy atoms (all non-hydrogen) at each wavelength for the highest- and lowest-pressure runs side
by side, and the angle traces of runs whose cell shuttles.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import markdown

from hydropimd.analysis import analyze_cell, analyze_phase, analyze_symmetry, analyze_xrd, ensemble_check
from hydropimd.analysis.ensemble import MAX_STANDARD_ERRORS, PRESSURE_TOLERANCE_GPA, TEMPERATURE_TOLERANCE
from hydropimd.errors import InputError
from hydropimd.files import write_text_atomic


def _fmt(values, errors) -> str:
    return ", ".join(f"{v:.2f} ± {e:.2f}" for v, e in zip(values, errors))


def _space_group(run, discard_ps: float) -> str:
    """Headline space group of a run's time-averaged structure ("-" when it cannot be found, e.g. no centroid frames)."""
    try:
        top = analyze_symmetry(run, discard_ps=discard_ps)["headline"]
    except InputError:
        return "-"
    return f"{top['symbol']} ({top['number']}){'' if top['stable'] else ' ?'}"


def _measured(check: dict) -> str:
    """Mean temperature and pressure of a run with their errors, '(!)' after one that misses its target."""
    return ", ".join(f"{check[f'{c}_mean']:.{d}f} ± {check[f'{c}_stderr']:.{d}f}{' (!)' if check[f'{name}_ok'] is False else ''}"
                     for name, c, d in (("temperature", "temperature_k", 0), ("pressure", "pressure_gpa", 2)))


def _ensemble_lines(checks) -> list[str]:
    """The report's sentence on the runs whose thermostat or barostat missed its target
    (:mod:`hydropimd.analysis.ensemble`)."""
    rule = (f"by more than {MAX_STANDARD_ERRORS:g} standard errors and {100 * TEMPERATURE_TOLERANCE:g} % of the "
            f"temperature or {PRESSURE_TOLERANCE_GPA:g} GPa")
    off = [c for c in checks if c["temperature_ok"] is False or c["pressure_ok"] is False]
    column = ("Measured T: the centroid's under PIGLET (its bead modes are held away from T on purpose), the ring "
              "polymer's otherwise; P: the centroid-virial pressure.")
    short = [Path(c["run"]).name for c in checks if c.get("note")]
    if short:  # too few rows for a verdict (analysis.ensemble.MIN_ROWS): said, not counted as held
        column += f" Too few rows to judge: {', '.join(short)}."
    if not off:
        return [column, f"No run missed its target temperature or pressure ({rule})."]
    names = ", ".join(f"{Path(c['run']).name} ({'T' if c['temperature_ok'] is False else ''}"
                      f"{'P' if c['pressure_ok'] is False else ''})" for c in off)
    return [column, f"**Off their ensemble** ((!) above; missed {rule}): {names}. Their cell shapes are those of "
            "another temperature or pressure; under PIGLET a hot centroid means too few beads for this potential's "
            "anharmonicity: add beads."]


def check_expectation(expectation, runs: list[dict]) -> dict:
    """One published statement against the runs it covers: ``agrees`` (every decided run has the expected class,
    at least one decided), ``disagrees`` (a decided run contradicts it), ``undetermined`` (no run decided) or
    ``not run`` (no finished run covers it); with the classes found at each pressure."""
    from hydropimd.analysis.classify import UNDETERMINED

    covered = sorted((r for r in runs if expectation.covers(r)), key=lambda r: r["pressure_gpa"])
    decided = [r for r in covered if r["classification"] != UNDETERMINED]
    wrong = [r for r in decided if (r["classification"] == "cubic") != (expectation.expected == "cubic")]
    verdict = ("not run" if not covered else "undetermined" if not decided else "disagrees" if wrong else "agrees")
    found = ", ".join(f"{r['pressure_gpa']:g} GPa {r['classification']}{' (shuttles)' if r.get('is_shuttling') else ''}"
                      for r in covered)
    return {"statement": expectation.statement, "source": expectation.source, "verdict": verdict,
            "found": found or "-", "n_runs": len(covered)}


def _expectation_lines(checks: list[dict]) -> list[str]:
    if not checks:
        return []
    lines = ["## Published statements and this study", "", "| statement | source | this study | verdict |",
             "|---|---|---|---|"]
    lines += [f"| {c['statement']} | {c['source']} | {c['found']} | {c['verdict']} |" for c in checks]
    return lines + [""]


def write_report(study, out: str | os.PathLike | None = None, progress: Callable[[int, int], None] | None = None) -> dict:
    """Analyse every finished run of ``study`` and write ``report.md``, ``report.html`` and figures into ``out``.

    The analysis settings are those of ``study.config`` as given now (they may change between calls).
    """
    out = Path(out) if out else study.dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    status = study.status()
    done = [study.runs_dir / row["name"] for row in status if row["status"] == "done"]
    if not done:
        raise InputError(f"no finished run in {study.dir}; run 'hydropimd study run' first")
    discard = study.config.analysis.discard_ps
    steps = 2 + len(study.config.analysis.wavelengths_angstrom)
    phase = analyze_phase(runs=done, discard_ps=discard, plot=out / "phase.png")
    if progress:
        progress(1, steps)
    by_pressure = sorted(phase["runs"], key=lambda r: r["pressure_gpa"])
    xrd_figures = []
    if len(by_pressure) >= 1:
        pair = [by_pressure[-1]["run"], by_pressure[0]["run"]] if len(by_pressure) > 1 else [by_pressure[0]["run"]]
        pair_discard = max(r["discard_ps"] for r in by_pressure if r["run"] in pair)  # per run when "auto"
        for k, wavelength in enumerate(study.config.analysis.wavelengths_angstrom):
            figure = out / f"xrd-{wavelength:g}A.png"
            analyze_xrd(pair, wavelength, discard_ps=pair_discard, plot=figure)
            xrd_figures.append((wavelength, figure.name))
            if progress:
                progress(2 + k, steps)
    traces = []
    for row in phase["runs"]:
        if row.get("is_shuttling"):
            figure = out / f"cell-{Path(row['run']).name}.png"
            analyze_cell(row["run"], discard_ps=row["discard_ps"], plot=figure)
            traces.append((Path(row["run"]).name, figure.name))
    if progress:
        progress(steps, steps)

    dropped = (f"first {discard:g} ps discarded." if discard != "auto" else "each run's transient discarded, found "
               "from its volume and angles (Chodera's maximum of effective samples; 'discarded' column).")
    lines = [f"# Study report: {study.dir.name}", "",
             f"{len(done)} of {len(status)} runs finished; model `{Path(study.config.potential.model).name}`, "
             f"N = {phase['runs'][0]['natoms']} atoms, {study.config.md.time_ps:g} ps per run, {dropped}", "",
             "## Runs", "",
             "| T (K) | P (GPa) | isotope | beads | class | distortion (deg) | conventional angles (deg) | effective samples "
             "| discarded (ps) | space group | measured T (K), P (GPa) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    ensembles = {r["run"]: ensemble_check(r["run"], r["discard_ps"]) for r in phase["runs"]}
    for r in sorted(phase["runs"], key=lambda r: (r["temperature_k"], r["pressure_gpa"], r["isotope"], r["beads"])):
        lines.append(f"| {r['temperature_k']:g} | {r['pressure_gpa']:g} | {r['isotope']} | {r['beads']} | "
                     f"{r['classification']}{' (shuttles)' if r.get('is_shuttling') else ''} | "
                     f"{r['distortion_deg']:.2f} ± {r['distortion_stderr_deg']:.2f} | "
                     f"{_fmt(r['angles_deg'], r['angles_stderr_deg'])} | {r['n_effective']:.0f} | {r['discard_ps']:.3g} | "
                     f"{_space_group(r['run'], r['discard_ps'])} | {_measured(ensembles[r['run']])} |")
    lines += ["", f"Order parameter: {phase['order_parameter']}.",
              *_ensemble_lines(ensembles.values()),
              "Space group: spglib's group of the time-averaged centroid structure at the smallest tolerance above the "
              "noise of the average that the next tolerance confirms ('?': none confirmed; 'hydropimd analyze symmetry RUN' "
              "shows the ladder).", "", "## Transition pressures", ""]
    checks = [check_expectation(e, phase["runs"]) for e in study.config.analysis.expectations]
    lines[lines.index("## Transition pressures"):lines.index("## Transition pressures")] = _expectation_lines(checks)
    for group in phase["groups"]:
        for t in group["transitions"]:
            p = t["transition_pressure_gpa"]
            value = f"{p:.0f} ± {t['uncertainty_gpa']:.0f} GPa" if p is not None else "not bracketed"
            lines.append(f"- {group['name']}, {t['temperature_k']:g} K: {value} ({t['method']})")
    lines += ["", "## Phase diagram and order parameter", "", "![phase](phase.png)", "", "## Powder diffraction (heavy atoms)", "",
              "Highest- and lowest-pressure runs side by side.", ""]
    lines += [f"### {w:g} Å\n\n![xrd {w:g}]({name})\n" for w, name in xrd_figures]
    if traces:
        lines += ["## Angle traces of shuttling runs", ""]
        lines += [f"### {name}\n\n![{name}]({fig})\n" for name, fig in traces]
    failed = [row for row in status if row["status"] == "failed"]
    if failed:
        lines += ["## Failed runs", ""] + [f"- {row['name']}: {row['reason']}" for row in failed]
    text = "\n".join(lines) + "\n"
    write_text_atomic(out / "report.md", text)
    body = markdown.markdown(text, extensions=["tables"])
    write_text_atomic(out / "report.html", (
        "<!doctype html><html><head><meta charset='utf-8'><title>hydropimd study report</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:0.2em 0.5em}img{max-width:100%}</style></head><body>"
        f"{body}</body></html>\n"))
    return {"report": str(out / "report.md"), "html": str(out / "report.html"), "n_runs": len(done),
            "phase": phase, "expectations": checks, "ensembles": list(ensembles.values()),
            # those of this report: figures of earlier settings (other wavelengths) may lie beside them
            "figures": sorted(["phase.png", *(name for _, name in xrd_figures), *(fig for _, fig in traces)])}
