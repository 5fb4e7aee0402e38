"""Speed of hydropimd's analysis stage (hand-run benchmark, not a test).

What is measured
----------------
1. Cell analysis of a 100 000-frame trajectory (goal: under 5 s):
   * ``cell_shape`` on the metric tensors in memory (a 4x4x4 conventional LaH10
     cell, 2816 atoms, with thermal noise, shuttling between cubic and two
     rhombohedral variants);
   * ``analyze_cell`` end to end on a 100 000-frame extended XYZ file of the
     11-atom primitive cell (only the comment lines are parsed) and on a run
     directory holding only ``table.csv``.
2. La powder pattern of 1000 frames of a 2816-atom cell (goal: under 60 s):
   * ``analyze_xrd`` end to end (ASE reads the file, then the reciprocal route);
   * the two routes on the same frames in memory: the reciprocal-lattice
     structure factor at the default width (FWHM 0.03 deg) and at 0.6 deg, and the
     Debye distance-histogram route at 0.6 deg (r_max = 3.5 / sigma_q, about 40 A;
     timed on ``--debye-frames`` frames and extrapolated per frame), with the r_max
     the Debye route would need at the default width.

Synthetic data are written to a temporary folder first (not timed).

How to run (from the repository root; about two minutes on 2 cores)::

    .venv/bin/python bench/analysis.py
    .venv/bin/python bench/analysis.py --json
    .venv/bin/python bench/analysis.py --cell-frames 100000 --xrd-frames 1000 --debye-frames 5

Timings depend on anything else running on the machine: the load average before
and after is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.geometry import cellpar_to_cell
from ase.io import write

from hydropimd.analysis import analyze_cell, analyze_xrd, cell_shape, powder_pattern
from hydropimd.lattice import find_pseudo_cubic_mapping, metric_from_cellpar, metric_from_cells
from hydropimd.md import rundir
from hydropimd.analysis.xrd import DEBYE_WINDOW_SIGMAS, FWHM_PER_SIGMA
from hydropimd.structures import build_lah10

WAVELENGTH = 0.3344


def shuttling_angles(rng, n: int) -> np.ndarray:
    """Conventional angles: cubic, then +++ then +-- rhombohedral (4 deg), each a third, with 0.3 deg AR(1) noise."""
    states = np.array([[90, 90, 90], [94, 94, 94], [94, 86, 86]], dtype=float)
    angles = states[np.minimum(np.arange(n) * 3 // n, 2)]
    noise = np.zeros((n, 3))
    kicks = rng.normal(scale=0.3 * np.sqrt(1 - 0.8**2), size=(n, 3))
    for i in range(1, n):
        noise[i] = 0.8 * noise[i - 1] + kicks[i]
    return angles + noise


def timed(function, *args, **kw):
    start = time.perf_counter()
    result = function(*args, **kw)
    return time.perf_counter() - start, result


def write_primitive_extxyz(path: Path, conventional_cells) -> None:
    """Extended XYZ of the 11-atom LaH10 primitive cell in each conventional cell (written directly: quicker set-up than ASE)."""
    atoms = build_lah10(cell="primitive")
    frac = atoms.get_scaled_positions()
    symbols = atoms.get_chemical_symbols()
    basis = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    with open(path, "w") as handle:
        for i, conventional in enumerate(conventional_cells):
            cell = basis @ conventional
            positions = frac @ cell
            lattice = " ".join(f"{v:.8f}" for v in cell.ravel())
            handle.write(f"{len(symbols)}\nLattice=\"{lattice}\" Properties=species:S:1:pos:R:3 time_ps={0.01 * i:.4f} "
                         f"step={10 * i} pbc=\"T T T\"\n")
            handle.writelines(f"{s} {p[0]:.6f} {p[1]:.6f} {p[2]:.6f}\n" for s, p in zip(symbols, positions))


def bench_cell(n: int, workdir: Path) -> dict:
    rng = np.random.default_rng(1)
    angles = shuttling_angles(rng, n)
    lengths = 4 * (5.1 + rng.normal(scale=0.004, size=(n, 3)))  # 4x4x4 conventional cell
    metric = metric_from_cellpar(lengths, angles)
    time_ps = np.arange(n) * 0.01
    seconds, report = timed(cell_shape, metric, time_ps, n_sites=256)
    result = {"frames": n, "in_memory_s": seconds, "classification": report["classification"],
              "switches": report["shuttling"]["n_switches"]}

    path = workdir / "primitive.extxyz"
    write_primitive_extxyz(path, [cellpar_to_cell([*edges / 4, *a]) for edges, a in zip(lengths, angles)])
    seconds, report = timed(analyze_cell, str(path))
    result.update(extxyz_end_to_end_s=seconds, extxyz_mb=path.stat().st_size / 1e6, extxyz_classification=report["classification"])

    run = workdir / "table_run"
    run.mkdir(exist_ok=True)
    header = "step,time_ps,a,b,c,alpha,beta,gamma,volume,pressure_gpa,temperature_k,potential_ev,conserved_ev,kinetic_cv_ev"
    table = np.column_stack([np.arange(n) * 10, time_ps, lengths, angles, np.zeros((n, 6))])
    np.savetxt(run / rundir.TABLE, table, delimiter=",", header=header, comments="", fmt="%.8g")
    (run / rundir.SETTINGS).write_text(json.dumps({"temperature_k": 300, "pressure_gpa": 150, "beads": 1, "isotope": "H",
                                              "natoms": 2816, "timestep_fs": 0.5, "stride": 20}))
    seconds, report = timed(analyze_cell, str(run))
    result.update(table_csv_end_to_end_s=seconds, table_csv_classification=report["classification"])
    return result


def bench_xrd(n: int, debye_frames: int, workdir: Path) -> dict:
    rng = np.random.default_rng(2)
    atoms = build_lah10(supercell=4)  # 2816 atoms, 256 La
    path = workdir / "lah10_2816.extxyz"
    frames = []
    for i in range(n):
        frame = atoms.copy()
        strain = np.eye(3) + rng.normal(scale=0.003, size=(3, 3))
        frame.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        frame.positions += rng.normal(scale=0.07, size=frame.positions.shape)
        frame.info["time_ps"] = 0.01 * i
        frames.append(frame)
    write(path, frames, format="extxyz")
    result = {"frames": n, "atoms": len(atoms), "la_atoms": 256, "file_mb": path.stat().st_size / 1e6}
    seconds, pattern = timed(analyze_xrd, str(path), WAVELENGTH)
    result.update(end_to_end_s=seconds, peaks=len(pattern["peaks"]))

    la = np.array(atoms.get_chemical_symbols()) == "La"
    positions = np.array([f.positions[la] for f in frames])
    cells = np.array([f.cell.array for f in frames])
    mapping = find_pseudo_cubic_mapping(metric_from_cells(cells).mean(axis=0), 256)
    seconds, _ = timed(powder_pattern, positions, cells, mapping, WAVELENGTH, fwhm_deg=0.03)
    result["reciprocal_fwhm_0.03_s"] = seconds
    seconds, _ = timed(powder_pattern, positions, cells, mapping, WAVELENGTH, fwhm_deg=0.6)
    result["reciprocal_fwhm_0.6_s"] = seconds
    seconds, debye = timed(powder_pattern, positions[:debye_frames], cells[:debye_frames], mapping, WAVELENGTH,
                           fwhm_deg=0.6, method="debye")
    result.update({"debye_fwhm_0.6_frames_timed": debye_frames, "debye_fwhm_0.6_r_max_angstrom": debye["r_max_angstrom"],
                   "debye_fwhm_0.6_per_frame_s": seconds / debye_frames,
                   "debye_fwhm_0.6_extrapolated_s": seconds / debye_frames * n})
    sigma_q = (2 * np.pi / WAVELENGTH) * np.cos(np.radians(5.5)) * np.radians(0.03) / FWHM_PER_SIGMA
    result["debye_fwhm_0.03_r_max_angstrom"] = DEBYE_WINDOW_SIGMAS / sigma_q
    result["debye_fwhm_0.03_cost_factor_vs_0.6"] = (result["debye_fwhm_0.03_r_max_angstrom"] / debye["r_max_angstrom"]) ** 3
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell-frames", type=int, default=100_000)
    parser.add_argument("--xrd-frames", type=int, default=1000)
    parser.add_argument("--debye-frames", type=int, default=5, help="frames timed for the Debye route (extrapolated)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
               "numpy": np.__version__, "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="hydropimd-bench-") as tmp:
        cell = bench_cell(args.cell_frames, Path(tmp))
        xrd = bench_xrd(args.xrd_frames, args.debye_frames, Path(tmp))
    machine["load_after"] = os.getloadavg()
    report = {"machine": machine, "cell": cell, "xrd": xrd}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"machine: {machine['platform']}, {machine['cpus']} cores, Python {machine['python']}, numpy {machine['numpy']}; "
          f"load {machine['load_before'][0]:.2f} -> {machine['load_after'][0]:.2f}")
    print(f"cell analysis, {cell['frames']} frames (goal < 5 s):")
    print(f"  in memory (2816-atom cell metrics)       {cell['in_memory_s']:8.2f} s  -> {cell['classification']}, "
          f"{cell['switches']} switches")
    print(f"  extxyz end to end (11-atom cell, {cell['extxyz_mb']:.0f} MB) {cell['extxyz_end_to_end_s']:8.2f} s")
    print(f"  table.csv run directory end to end        {cell['table_csv_end_to_end_s']:8.2f} s")
    print(f"La powder pattern, {xrd['frames']} frames of {xrd['atoms']} atoms ({xrd['file_mb']:.0f} MB; goal < 60 s):")
    print(f"  analyze_xrd end to end (ASE read + reciprocal)  {xrd['end_to_end_s']:8.2f} s, {xrd['peaks']} peaks")
    print(f"  reciprocal route, FWHM 0.03 deg                 {xrd['reciprocal_fwhm_0.03_s']:8.2f} s")
    print(f"  reciprocal route, FWHM 0.6 deg                  {xrd['reciprocal_fwhm_0.6_s']:8.2f} s")
    print(f"  Debye route, FWHM 0.6 deg (r_max {xrd['debye_fwhm_0.6_r_max_angstrom']:.0f} A)       "
          f"{xrd['debye_fwhm_0.6_extrapolated_s']:8.1f} s  ({xrd['debye_fwhm_0.6_per_frame_s']:.2f} s/frame x {xrd['frames']})")
    print(f"  Debye route, FWHM 0.03 deg: r_max {xrd['debye_fwhm_0.03_r_max_angstrom']:.0f} A, "
          f"~{xrd['debye_fwhm_0.03_cost_factor_vs_0.6']:.0f}x the cost at 0.6 deg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
