"""MD throughput: in-process i-PI forces against i-PI + LAMMPS socket clients.

N = 352 LaH10 (2x2x2 conventional), the published model compressed (``dp compress``,
built once and cached), the published pair table, 300 K, 150 GPa, NPT with the
flexible barostat, P = 1, 8 and 16 beads.  For each engine and P it runs a short
MD and reports wall seconds per step and, in-process, the share of the step spent
in force evaluation (the rest is i-PI's integrator, thermostats, barostat and
hydropimd's bookkeeping).

It also measures the cost of one force evaluation on one core for each path
(LAMMPS: one single-threaded ``lmp`` running NVE with a neighbour-list rebuild
every step, as under ``fix ipi``; in-process: one single-threaded
:class:`HydridePotential` evaluating 4-frame batches) and from it the lower
bound of an in-process step, ceil(P / cores) x (in-process seconds per frame):
what a step would take with perfect parallel scaling and no integrator at all.

Run by hand (a few minutes)::

    .venv/bin/python bench/md.py [--steps 20] [--beads 1,8,16] [--engines inprocess,lammps] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hydropimd.data.location import published_root
from hydropimd.errors import InputError
from hydropimd.md.lammps import client_input, lammps_executable
from hydropimd.md.settings import MDSettings
from hydropimd.md.run import run_md
from hydropimd.potential.models import cached_compressed_model
from hydropimd.structures import build_lah10


def measure(engine: str, beads: int, steps: int, model: Path, table: Path, drivers: int, work: Path) -> dict:
    atoms = bench_structure()
    stride = max(steps // 4, 1)
    settings = MDSettings(model=str(model), pair=str(table), temperature_k=300.0, pressure_gpa=150.0, beads=beads,
                          steps=steps, stride=stride, checkpoint_stride=steps, engine=engine, lammps_clients=drivers)
    t0 = time.perf_counter()
    summary = run_md(atoms, settings, work / f"{engine}-{beads}")
    total = time.perf_counter() - t0
    row = {"engine": engine, "beads": beads, "steps": steps, "seconds_per_step": summary["seconds_per_step"],
           "force_seconds_per_step": summary["force_seconds_per_step"], "wall_with_startup_s": total}
    if summary["force_seconds_per_step"]:
        row["force_share"] = summary["force_seconds_per_step"] / summary["seconds_per_step"]
    return row


def bench_structure():
    return build_lah10(a=5.1, supercell=2, angles=(90.5, 90.5, 90.5))


def lammps_frame_seconds(model: Path, table: Path, steps: int, work: Path) -> float:
    """Wall seconds per force evaluation of one single-threaded LAMMPS process (the clients' input)."""
    from ase.io import write

    work.mkdir(parents=True, exist_ok=True)
    atoms = bench_structure()
    atoms.rattle(0.05, seed=1)
    write(work / "frame.data", atoms, format="lammps-data", specorder=["La", "H"], masses=True, atom_style="atomic")
    setup = client_input("frame.data", str(Path(model).resolve()), str(Path(table).resolve()), ["La", "H"], socket="unused").split("fix ipi")[0]
    (work / "frame.in").write_text(setup + "velocity all create 300 1\nfix nve all nve\ntimestep 0.0005\n"
                                   "neigh_modify every 1 delay 0 check no\nrun 5\n" + f"run {steps}\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", DP_INTRA_OP_PARALLELISM_THREADS="1",
               DP_INTER_OP_PARALLELISM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([lammps_executable(), "-in", "frame.in", "-log", "none", "-nocite"], cwd=work, env=env,
                         capture_output=True, text=True, check=True).stdout
    seconds, done = re.findall(r"Loop time of (\S+) on 1 procs for (\d+) steps", out)[-1]
    return float(seconds) / int(done)


def inprocess_frame_seconds(model: Path, table: Path, repeats: int) -> float:
    """Wall seconds per frame of one single-threaded HydridePotential on 4-frame batches (own process:
    DeePMD-kit fixes its thread counts when TensorFlow starts)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", DP_INTRA_OP_PARALLELISM_THREADS="1",
               DP_INTER_OP_PARALLELISM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, __file__, "--frame-cost-child", str(model), str(table), str(repeats)], env=env, capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def _frame_cost_child(model: str, table: str, repeats: int) -> None:
    import numpy as np

    from hydropimd.potential.calculator import HydridePotential

    atoms = bench_structure()
    atoms.rattle(0.05, seed=1)
    potential = HydridePotential(model, pair=table)
    coords, cells = np.array([atoms.positions] * 4), np.array([atoms.cell.array] * 4)
    potential.evaluate(coords, cells, atoms.get_chemical_symbols())
    start = time.perf_counter()
    for _ in range(repeats):
        potential.evaluate(coords, cells, atoms.get_chemical_symbols())
    print((time.perf_counter() - start) / (4 * repeats))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--beads", default="1,8,16")
    parser.add_argument("--engines", default="inprocess,lammps")
    parser.add_argument("--drivers", type=int, default=2, help="LAMMPS clients")
    parser.add_argument("--data", help="published data root")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--frame-cost-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.frame_cost_child:
        _frame_cost_child(args.frame_cost_child[0], args.frame_cost_child[1], int(args.frame_cost_child[2]))
        return 0
    root = published_root(args.data)
    print("compressed model (built once, ~2 minutes, then cached) ...", file=sys.stderr)
    model = cached_compressed_model(root / "models/subtracted/graph.pb", root / "models/subtracted/input.json", root)
    table = root / "tables/full.table"
    rows = []
    with tempfile.TemporaryDirectory() as work:
        frame = {"inprocess": inprocess_frame_seconds(model, table, repeats=10),
                 "lammps": lammps_frame_seconds(model, table, 40, Path(work) / "frame")}
        print(json.dumps({"seconds_per_frame_one_core": frame}), file=sys.stderr)
        for beads in [int(b) for b in args.beads.split(",")]:
            for engine in args.engines.split(","):
                rows.append(measure(engine, beads, args.steps, model, table, args.drivers, Path(work)))
                print(json.dumps(rows[-1]), file=sys.stderr)
    by = {(r["engine"], r["beads"]): r for r in rows}
    ratios = {b: by[("inprocess", b)]["seconds_per_step"] / by[("lammps", b)]["seconds_per_step"]
              for (e, b) in by if e == "inprocess" and ("lammps", b) in by}
    cores = len(os.sched_getaffinity(0))
    # frames are the unit of parallel work: P frames on C cores take at least ceil(P / C) frame times
    bound = {b: math.ceil(b / cores) * frame["inprocess"] for b in ratios}
    result = {"machine": {"cores": cores}, "rows": rows, "inprocess_over_lammps": ratios,
              "seconds_per_frame_one_core": frame, "inprocess_lower_bound_seconds_per_step": bound,
              "lower_bound_over_lammps": {b: bound[b] / by[("lammps", b)]["seconds_per_step"] for b in ratios}}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{'engine':<10} {'P':>3} {'s/step':>8} {'force s/step':>13} {'force share':>12}")
        for r in rows:
            fs = r["force_seconds_per_step"]
            force = f"{fs:.3f}" if fs else "-"
            share = f"{r['force_share']:.1%}" if fs else "-"
            print(f"{r['engine']:<10} {r['beads']:>3} {r['seconds_per_step']:8.3f} {force:>13} {share:>12}")
        print(f"one force evaluation on one core: in-process {frame['inprocess'] * 1e3:.1f} ms, "
              f"LAMMPS {frame['lammps'] * 1e3:.1f} ms")
        for b, ratio in ratios.items():
            print(f"P = {b}: in-process / LAMMPS({args.drivers} clients) = {ratio:.2f}; in-process lower bound "
                  f"{bound[b]:.3f} s/step = {result['lower_bound_over_lammps'][b]:.2f} x LAMMPS")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as err:
        sys.exit(f"error: {err}")
