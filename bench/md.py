"""MD throughput: in-process i-PI forces against i-PI + LAMMPS socket clients.

N = 352 LaH10 (2x2x2 conventional), the published model compressed (``dp compress``,
built once and cached), the published pair table, 300 K, 150 GPa, NPT with the
flexible barostat, P = 1, 8 and 16 beads.  For each engine and P it runs a short
MD and reports wall seconds per step and, in-process, the share of the step spent
in force evaluation (the rest is i-PI's integrator, thermostats, barostat and
hydropimd's bookkeeping).

Run by hand (a few minutes)::

    .venv/bin/python bench/md.py [--steps 20] [--beads 1,8,16] [--engines inprocess,lammps] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hydropimd.data.location import published_root
from hydropimd.md.ipi_input import MDSettings
from hydropimd.md.run import run_md
from hydropimd.potential.models import cached_compressed_model
from hydropimd.structures import build_lah10


def measure(engine: str, beads: int, steps: int, model: Path, table: Path, drivers: int, work: Path) -> dict:
    atoms = build_lah10(a=5.1, supercell=2, angles=(90.5, 90.5, 90.5))
    stride = max(steps // 4, 1)
    settings = MDSettings(model=str(model), pair=str(table), temperature_k=300.0, pressure_gpa=150.0, beads=beads,
                          steps=steps, stride=stride, checkpoint_stride=steps, engine=engine, drivers=drivers)
    t0 = time.perf_counter()
    summary = run_md(atoms, settings, work / f"{engine}-{beads}")
    total = time.perf_counter() - t0
    row = {"engine": engine, "beads": beads, "steps": steps, "seconds_per_step": summary["seconds_per_step"],
           "force_seconds_per_step": summary["force_seconds_per_step"], "wall_with_startup_s": total}
    if summary["force_seconds_per_step"]:
        row["force_share"] = summary["force_seconds_per_step"] / summary["seconds_per_step"]
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--beads", default="1,8,16")
    parser.add_argument("--engines", default="inprocess,lammps")
    parser.add_argument("--drivers", type=int, default=2, help="LAMMPS clients")
    parser.add_argument("--data", help="published data root")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    root = published_root(args.data)
    print("compressed model (built once, ~2 minutes, then cached) ...", file=sys.stderr)
    model = cached_compressed_model(root / "models/subtracted/graph.pb", root / "models/subtracted/input.json", root)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for beads in [int(b) for b in args.beads.split(",")]:
            for engine in args.engines.split(","):
                rows.append(measure(engine, beads, args.steps, model, root / "tables/full.table", args.drivers, Path(work)))
                print(json.dumps(rows[-1]), file=sys.stderr)
    by = {(r["engine"], r["beads"]): r for r in rows}
    ratios = {b: by[("inprocess", b)]["seconds_per_step"] / by[("lammps", b)]["seconds_per_step"]
              for (e, b) in by if e == "inprocess" and ("lammps", b) in by}
    result = {"machine": {"cores": os.cpu_count()}, "rows": rows, "inprocess_over_lammps": ratios}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{'engine':<10} {'P':>3} {'s/step':>8} {'force s/step':>13} {'force share':>12}")
        for r in rows:
            fs = r["force_seconds_per_step"]
            force = f"{fs:.3f}" if fs else "-"
            share = f"{r['force_share']:.1%}" if fs else "-"
            print(f"{r['engine']:<10} {r['beads']:>3} {r['seconds_per_step']:8.3f} {force:>13} {share:>12}")
        for b, ratio in ratios.items():
            print(f"P = {b}: in-process / LAMMPS({args.drivers} clients) = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
