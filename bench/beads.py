"""Bead convergence of LaH10 under PILE and PIGLET (issue #14): how few beads give the large-P answer.

N = 44 LaH10 (conventional cell), the published model and pair table, NPT with the flexible
barostat.  For every (temperature, pressure, scheme, P) it runs one MD and reports, after
discarding the first quarter, with correlated error bars (Sokal):

* the centroid-virial kinetic energy per H atom (eV) -- the quantity PIGLET is built to converge;
* the volume (A^3) and the mean |angle - 90| of the cell (deg) -- the study's observables;
* the H-H radial distribution function of the centroids (first peak position and height);
* the wall seconds per simulated ps (from the run's own timings).

Defaults: 300 K and 100 K at 150 GPa, highest frequency 2500 cm^-1; PILE at P = 8, 16, 32, 64; PIGLET and eco
(i-PI's economised springs, PILE thermostat) at P = 4, 6, 8, 12, 16.
Goal of the issue: PIGLET at P <= 8 (300 K) and P <= 16 (100 K) within error of PILE's large-P
limit.  Results go to a JSON file that later calls extend (a killed run of the bench resumes:
finished points are read back, unfinished runs continue from their checkpoints).

Run by hand (hours on 2 cores at the defaults; ``--steps 400 --pile 8 --piglet 8`` is a smoke test)::

    .venv/bin/python bench/beads.py [--steps 4000] [--temperatures 300,100] [--pressures 150]
                                    [--pile 8,16,32,64] [--piglet 4,6,8,12,16] [--eco 4,6,8,12,16]
                                    [--out bench-beads]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from ase.io import read

from hydropimd.analysis.statistics import correlated_mean
from hydropimd.data.location import published_root
from hydropimd.md import rundir
from hydropimd.md.run import MDRun, resume_md, run_md
from hydropimd.md.settings import MDSettings
from hydropimd.potential.models import cached_compressed_model
from hydropimd.structures import build_lah10


def integers(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def numbers(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def run_point(out: Path, scheme: str, beads: int, temperature_k: float, pressure_gpa: float, steps: int,
              max_frequency_cm1: float) -> Path:
    """The run of one point, created or resumed (a bench killed half-way continues)."""
    root = published_root()
    run_dir = out / f"{scheme}-P{beads}-T{temperature_k:g}-p{pressure_gpa:g}"
    # the study's model: dp compress'd (cached), 2-3x faster than the graph as published
    model = cached_compressed_model(root / "models/subtracted/graph.pb", root / "models/subtracted/input.json", root)
    settings = MDSettings(model=str(model), pair=str(root / "tables/full.table"),
                          temperature_k=temperature_k, pressure_gpa=pressure_gpa, beads=beads, steps=steps, stride=10,
                          sampling=scheme, max_frequency_cm1=max_frequency_cm1)
    if rundir.is_run_directory(run_dir):
        resume_md(run_dir)
    else:
        run_md(build_lah10(a=5.05, angles=(90.6, 90.6, 90.6)), settings, run_dir)
    return run_dir


def hh_rdf_peak(run_dir: Path, start: int, r_max: float = 2.5, bins: int = 125) -> tuple[float, float]:
    """(position A, height) of the first peak of the centroids' H-H g(r), frames from ``start`` on."""
    from ase.geometry.rdf import get_rdf

    frames = read(run_dir / rundir.CENTROID, index=f"{start}:")
    histogram = np.zeros(bins)
    for atoms in frames:
        hydrogen = atoms[[s == "H" for s in atoms.get_chemical_symbols()]]
        g, r = get_rdf(hydrogen, r_max, bins)
        histogram += g
    histogram /= max(len(frames), 1)
    k = int(np.argmax(histogram))
    return float(r[k]), float(histogram[k])


def summarise(run_dir: Path) -> dict:
    """The observables of one finished run, with standard errors from the integrated autocorrelation time."""
    table = rundir.read_table(run_dir)
    start = len(table) // 4
    meta = MDRun(run_dir).meta
    n_h = read(run_dir / rundir.START).get_chemical_symbols().count("H")

    def estimate(values):
        e = correlated_mean(np.asarray(values, dtype=float))
        return [e.mean, e.stderr]

    rows = table[start:]
    angles = [np.mean([abs(r[k] - 90.0) for k in ("alpha", "beta", "gamma")]) for r in rows]
    settings, timings = meta["settings"], meta.get("timings", {})
    simulated_ps = timings.get("steps_done", settings["steps"]) * settings["timestep_fs"] * 1e-3
    peak_r, peak_g = hh_rdf_peak(run_dir, start)
    return {
        "scheme": settings["sampling"], "beads": settings["beads"], "temperature_k": settings["temperature_k"],
        "pressure_gpa": settings["pressure_gpa"], "steps": settings["steps"],
        "kinetic_cv_per_h_ev": [v / n_h for v in estimate([r["kinetic_cv_ev"] for r in rows])],
        "volume_a3": estimate([r["volume"] for r in rows]),
        "mean_abs_angle_deviation_deg": estimate(angles),
        "temperature_k_measured": estimate([r["temperature_k"] for r in rows]),
        "hh_rdf_first_peak_angstrom": peak_r, "hh_rdf_first_peak_height": peak_g,
        "wall_seconds_per_ps": timings.get("wall_seconds", float("nan")) / simulated_ps if simulated_ps else None,
    }


def markdown_table(results: dict) -> str:
    """The convergence table of the README: one row per finished point, by temperature, scheme and P."""
    rows = ["| T (K) | scheme | P | K_cv per H (meV) | volume (A^3) | mean abs(angle - 90) (deg) | H-H g(r) peak (A) "
            "| wall s per ps |", "|---|---|---|---|---|---|---|---|"]
    order = {"pile": 0, "eco": 1, "piglet": 2}
    for r in sorted(results.values(), key=lambda r: (-r["temperature_k"], order[r["scheme"]], r["beads"])):
        (k, dk), (v, dv), (a, da) = r["kinetic_cv_per_h_ev"], r["volume_a3"], r["mean_abs_angle_deviation_deg"]
        rows.append(f"| {r['temperature_k']:g} | {r['scheme']} | {r['beads']} | {1000 * k:.1f} +- {1000 * dk:.1f} | "
                    f"{v:.2f} +- {dv:.2f} | {a:.2f} +- {da:.2f} | {r['hh_rdf_first_peak_angstrom']:.2f} | "
                    f"{_wall(r):.0f} |")
    return "\n".join(rows) + "\n\n" + converged_table(results)


def _wall(point: dict) -> float:
    return point.get("wall_seconds_per_ps", point.get("cpu_seconds_per_ps"))  # the key's name before 2026-12-01


def _agrees(point: dict, reference: dict, key: str) -> bool:
    """Within two combined standard errors."""
    (a, da), (b, db) = point[key], reference[key]
    return abs(a - b) <= 2 * np.hypot(da, db)


def _extrapolated(pile: list[dict], key: str) -> list[float]:
    """PILE's P -> infinity limit of ``key`` from its two largest bead counts, assuming the Trotter error
    ~ 1/P^2 (Richardson): (P2^2 x2 - P1^2 x1) / (P2^2 - P1^2), with the error propagated."""
    (p1, (x1, e1)), (p2, (x2, e2)) = [(r["beads"], r[key]) for r in sorted(pile, key=lambda r: r["beads"])[-2:]]
    w1, w2 = p1**2, p2**2
    return [(w2 * x2 - w1 * x1) / (w2 - w1), np.hypot(w2 * e2, w1 * e1) / (w2 - w1)]


def converged_table(results: dict) -> str:
    """Per temperature and scheme, the fewest beads whose kinetic energy per H and volume agree with the reference
    within two combined standard errors, and the wall time per ps that costs.  The reference: PILE extrapolated to
    P -> infinity from its two largest bead counts when it has two, else PILE at its largest P."""
    rows = ["| T (K) | reference | scheme | fewest beads that agree | wall s per ps | vs largest PILE |",
            "|---|---|---|---|---|---|"]
    for temperature in sorted({r["temperature_k"] for r in results.values()}, reverse=True):
        at_t = [r for r in results.values() if r["temperature_k"] == temperature]
        pile = sorted((r for r in at_t if r["scheme"] == "pile"), key=lambda r: r["beads"])
        if not pile:
            continue
        largest = pile[-1]
        if len(pile) >= 2:
            reference = {key: _extrapolated(pile, key) for key in ("kinetic_cv_per_h_ev", "volume_a3")}
            label, used = f"PILE P -> inf ({pile[-2]['beads']}, {pile[-1]['beads']})", pile[-2:]
        else:
            reference, label, used = largest, f"PILE P = {largest['beads']}", [largest]
        for scheme in ("pile", "eco", "piglet"):
            # the points the reference is made of do not count as agreeing with it
            candidates = [r for r in at_t if r["scheme"] == scheme and not any(r is u for u in used)]
            agreeing = sorted((r for r in candidates if _agrees(r, reference, "kinetic_cv_per_h_ev")
                               and _agrees(r, reference, "volume_a3")), key=lambda r: r["beads"])
            if agreeing:
                best = agreeing[0]
                rows.append(f"| {temperature:g} | {label} | {scheme} | {best['beads']} | {_wall(best):.0f} | "
                            f"{_wall(best) / _wall(largest):.2f} |")
            elif candidates:
                rows.append(f"| {temperature:g} | {label} | {scheme} | none of {sorted(r['beads'] for r in candidates)} "
                            "| - | - |")
        if len(pile) >= 2:
            (k, dk), (v, dv) = reference["kinetic_cv_per_h_ev"], reference["volume_a3"]
            rows.append(f"| {temperature:g} | {label} | (reference) | K_cv per H {1000 * k:.1f} +- {1000 * dk:.1f} meV, "
                        f"volume {v:.2f} +- {dv:.2f} A^3 | - | - |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--temperatures", type=numbers, default=[300.0, 100.0])
    p.add_argument("--pressures", type=numbers, default=[150.0])
    p.add_argument("--pile", type=integers, default=[8, 16, 32, 64])
    p.add_argument("--piglet", type=integers, default=[4, 6, 8, 12, 16])
    p.add_argument("--eco", type=integers, default=[4, 6, 8, 12, 16])
    # LaH10's highest harmonic frequency with the published model is ~2100 cm^-1 (analyze phonons): 2500 with margin,
    # as the lah10-paper study; it sets PIGLET's fitted range and eco's springs
    p.add_argument("--max-frequency-cm1", type=float, default=2500.0)
    p.add_argument("--out", type=Path, default=Path("bench-beads"))
    p.add_argument("--table", action="store_true", help="print the finished points as a Markdown table and stop")
    args = p.parse_args()
    if args.table:
        print(markdown_table(json.loads((args.out / "results.json").read_text())))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    for temperature in args.temperatures:
        for pressure in args.pressures:
            for scheme, bead_counts in (("pile", args.pile), ("piglet", args.piglet), ("eco", args.eco)):
                for beads in bead_counts:
                    key = f"{scheme}-P{beads}-T{temperature:g}-p{pressure:g}-n{args.steps}"
                    if key in results:
                        continue
                    t0 = time.time()
                    run_dir = run_point(args.out, scheme, beads, temperature, pressure, args.steps, args.max_frequency_cm1)
                    results[key] = {**summarise(run_dir), "bench_wall_s": time.time() - t0}
                    results_file.write_text(json.dumps(results, indent=1))
                    print(json.dumps({key: results[key]}))


if __name__ == "__main__":
    main()
