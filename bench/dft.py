"""pw.x cost per SCF at the study's settings: the 11- and 44-atom cells, 1 vs 2 MPI ranks.

    .venv/bin/python bench/dft.py --pseudo-dir ../shared/pseudopotentials [--cells 11,44] [--mpi 1,2]

Cells: the perfect 11-atom primitive cell (a = 5.1 A; full Fm-3m symmetry, so pw.x reduces
its shifted 8x8x8 grid, the study's k-point density, to 60 k-points) and the 44-atom
conventional cell rattled by 0.05 A with the study's shifted 3x3x3 grid (k-point spacing
0.45 1/A; no symmetry: 14 k-points).  At the study's density the 44-atom cell would get
5x5x5 (63 k-points, ~4.5x the cost, ~20 min per SCF on 2 cores): too long for a benchmark.  With 2 ranks pw.x runs two
k-point pools (``-nk 2``), the layout ``hydropimd label --mpi 2`` chooses when memory allows.
Each run is one SCF from scratch in a child process, so its peak resident memory (per rank)
is measured alone and compared with the estimate made before labelling
(:mod:`hydropimd.dft.memory`).  Timings on a shared 2-core machine are noisy: other jobs
running at the same time can double them.
"""

from __future__ import annotations

import sys

import argparse
import json
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def structure(natoms: int):
    from hydropimd.structures import build_lah10

    if natoms == 11:
        return build_lah10(a=5.1, cell="primitive")
    if natoms == 44:
        atoms = build_lah10(a=5.1)
        atoms.positions += np.random.default_rng(44).normal(scale=0.05, size=atoms.positions.shape)
        return atoms
    raise SystemExit(f"cells: 11 or 44, not {natoms}")


def one(natoms: int, mpi: int, pseudo_dir: str, kspacing: float | None) -> dict:
    """One SCF in this process's children; returns timings, labels and peak memory."""
    from hydropimd.dft.memory import estimate_memory, read_species
    from hydropimd.dft.pwx import run_pw
    from hydropimd.dft.settings import DFTSettings

    settings = DFTSettings(**({"kspacing_per_angstrom": kspacing} if kspacing else {}))
    atoms = structure(natoms)
    species = {e: read_species(Path(pseudo_dir) / settings.pseudopotential(e)) for e in set(atoms.get_chemical_symbols())}
    pools = mpi
    estimate = estimate_memory(atoms, settings, species, mpi, pools)
    with tempfile.TemporaryDirectory(prefix="bench-dft-") as work:
        start = time.perf_counter()
        result = run_pw(atoms, settings, work, pseudo_dir, mpi=mpi, pools=pools)
        wall = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # kB -> GB, largest process
    return {
        "natoms": natoms, "mpi": mpi, "pools": pools, "kpoint_grid": list(result.kpoint_grid),
        "n_kpoints": result.n_kpoints, "iterations": result.iterations, "seconds": round(wall, 1),
        "seconds_per_iteration": round(wall / result.iterations, 2),
        "energy_per_atom_ev": result.energy_ev / natoms, "pressure_gpa": result.pressure_gpa,
        "peak_rss_per_rank_gb": round(peak_gb, 3), "estimate_per_rank_gb": round(estimate.per_process_gb, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pseudo-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "pseudopotentials"))
    parser.add_argument("--cells", default="11,44", help="comma-separated: 11, 44")
    parser.add_argument("--mpi", default="1,2", help="comma-separated rank counts")
    parser.add_argument("--kspacing", type=float, help="k-point spacing, 1/A (default: the study's 0.27)")
    parser.add_argument("--kspacing-44", type=float, default=0.45,
                        help="k-point spacing of the 44-atom cell (default 0.45 1/A: shifted 3x3x3)")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--one", nargs=2, type=int, metavar=("NATOMS", "MPI"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], args.pseudo_dir, args.kspacing)))
        return
    rows = []
    print(f"{'atoms':>5} {'ranks':>5} {'k-grid':>7} {'k-pts':>5} {'iter':>4} {'s/SCF':>7} {'s/iter':>6} "
          f"{'E eV/atom':>12} {'P GPa':>7} {'RSS GB':>7} {'est GB':>7}", flush=True)
    for natoms in map(int, args.cells.split(",")):
        for mpi in map(int, args.mpi.split(",")):
            command = [sys.executable, __file__, "--one", str(natoms), str(mpi), "--pseudo-dir", args.pseudo_dir]
            kspacing = args.kspacing_44 if natoms == 44 else args.kspacing
            if kspacing:
                command += ["--kspacing", str(kspacing)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(done.stderr)
            r = json.loads(done.stdout.splitlines()[-1])
            rows.append(r)
            print(f"{r['natoms']:>5} {r['mpi']:>5} {'x'.join(map(str, r['kpoint_grid'])):>7} {r['n_kpoints']:>5} "
                  f"{r['iterations']:>4} {r['seconds']:>7.1f} {r['seconds_per_iteration']:>6.2f} "
                  f"{r['energy_per_atom_ev']:>12.5f} {r['pressure_gpa']:>7.2f} {r['peak_rss_per_rank_gb']:>7.3f} "
                  f"{r['estimate_per_rank_gb']:>7.3f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
