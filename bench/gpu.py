"""The cost of a path-integral step at the study's size: force evaluation (DeePMD-kit, TensorFlow or PyTorch,
float64 or float32; on a GPU when torch sees one), the pair baseline, and i-PI's own share.

For each system size N (LaH10 supercells: 352 = 2x2x2, 2816 = 4x4x4 conventional cells) and bead count P:

- ``force_s``: one :meth:`HydridePotential.evaluate` of P rattled frames, model only: on a GPU all P frames go
  in one DeePMD-kit call (as the in-process driver does there); on the CPU the batch runs in this process's
  threads (``--threads``), which is not the in-process driver's bead-parallel layout: compare backends with it,
  not with ``bench/md.py``.  ``gpu_memory_gib``: torch's peak allocation during the call.
- ``pair_s``: the published pair baseline on the same P frames (numpy on the CPU, always).
- ``ipi_s``: seconds per step of an i-PI run whose forces are trivial (the Einstein PES in-process, NVT, PILE,
  P beads, N atoms): i-PI's normal-mode transforms, thermostat, integrator and output; ``checkpoint_s``: one
  checkpoint (runs write one every ``checkpoint_stride`` steps, 100 by default).

Each row also projects the full study (``STUDY_RUNS`` runs of ``STUDY_STEPS`` steps at that N and P) in hours:
``study_hours_cpu_side`` from pair_s + ipi_s + one checkpoint per ``CHECKPOINT_STEPS``, and per model form
``study_hours`` with its force_s added (NVT figures: the barostat's cell integration is a 3x3 update).

Run by hand (CPU: minutes; ``--sizes 2816`` takes longer)::

    .venv/bin/python bench/gpu.py [--sizes 352,2816] [--beads 1,16,32] [--models tf,pt64,pt32] [--json FILE]
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

import numpy as np

from hydropimd.data.location import published_root
from hydropimd.md.run import run_md
from hydropimd.md.settings import MDSettings
from hydropimd.pair.baseline import PairBaseline
from hydropimd.potential.calculator import HydridePotential
from hydropimd.potential.models import cached_compressed_model, resolve_model
from hydropimd.potential.pytorch import cached_pytorch_model
from hydropimd.structures import build_lah10

#: conventional cells per edge for each size (44 atoms per conventional fcc LaH10 cell)
SUPERCELL = {44: 1, 352: 2, 2816: 4}
#: the study's grid: ~20 state points of 10 ps at 0.5 fs
STUDY_RUNS, STUDY_STEPS = 20, 20000
#: steps between checkpoints of a run (MDSettings' default: 10 output strides of 10 steps)
CHECKPOINT_STEPS = 100


def frames(n_atoms: int, beads: int):
    """P rattled copies of the N-atom LaH10 supercell near 150 GPa: coords (P, N, 3) A, cells (P, 3, 3) A, symbols."""
    atoms = build_lah10(a=5.1, supercell=SUPERCELL[n_atoms], angles=(90.5, 90.5, 90.5))
    rng = np.random.default_rng(1)
    coords = atoms.positions[None] + rng.normal(0.0, 0.05, (beads, len(atoms), 3))
    return coords, np.repeat(atoms.cell.array[None], beads, axis=0), atoms.get_chemical_symbols()


def _gpu_memory():
    """(reset, peak GiB) of torch's CUDA allocator, or None when torch sees no GPU."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return (torch.cuda.reset_peak_memory_stats, lambda: torch.cuda.max_memory_allocated() / 2**30)


def force_seconds(potential: HydridePotential, n_atoms: int, beads: int, repeats: int) -> dict:
    """Wall seconds of one all-bead model call (after a warm-up call), and the GPU memory peak."""
    coords, cells, symbols = frames(n_atoms, beads)
    memory = _gpu_memory() if potential.device != "cpu" else None
    potential.evaluate(coords, cells, symbols, committee=False)  # warm-up: graph compilation, batch-size search
    if memory:
        memory[0]()
    start = time.perf_counter()
    for _ in range(repeats):
        potential.evaluate(coords, cells, symbols, committee=False)
    row = {"force_s": (time.perf_counter() - start) / repeats, "device": potential.device}
    if memory:
        row["gpu_memory_gib"] = memory[1]()
    return row


def pair_seconds(pair: PairBaseline, n_atoms: int, beads: int) -> float:
    coords, cells, symbols = frames(n_atoms, beads)
    start = time.perf_counter()
    pair.compute_batch(coords, cells, symbols)
    return time.perf_counter() - start


def ipi_seconds(n_atoms: int, beads: int, steps: int, work: Path) -> dict:
    """i-PI's seconds per step with trivial forces (Einstein PES, NVT): its own share of a step, from two runs of
    ``steps`` and ``3 steps`` steps, so that the start-up and the closing checkpoint (an i-PI XML of every bead,
    written once per run here) cancel; the checkpoint's cost is reported apart (``checkpoint_s``, approximately:
    the shorter run's time beyond its steps)."""
    atoms = build_lah10(a=5.1, supercell=SUPERCELL[n_atoms], angles=(90.5, 90.5, 90.5))
    walls = []
    for length in (steps, 3 * steps):
        settings = MDSettings(einstein_frequency_thz=40.0, ensemble="nvt", temperature_k=300.0, beads=beads,
                              steps=length, stride=length, checkpoint_stride=length)
        summary = run_md(atoms, settings, work / f"ipi-{n_atoms}-{beads}-{length}")
        walls.append(summary["seconds_per_step"] * length)
    per_step = (walls[1] - walls[0]) / (2 * steps)
    return {"ipi_s": per_step, "checkpoint_s": walls[0] - per_step * steps}


def project(row: dict) -> None:
    """Add the full study's hours at this row's N and P (module docstring) to ``row``."""
    cpu_side = row["pair_s"] + row.get("ipi_s", 0.0) + row.get("checkpoint_s", 0.0) / CHECKPOINT_STEPS
    hours = STUDY_RUNS * STUDY_STEPS / 3600.0
    row["study_hours_cpu_side"] = hours * cpu_side
    for value in row.values():
        if isinstance(value, dict) and "force_s" in value:
            value["study_hours"] = hours * (cpu_side + value["force_s"])


def load_models(names: list[str], root: Path) -> dict:
    """The published subtracted model in each requested form: tf (the graph), tfc (``dp compress``), pt64 / pt32
    (PyTorch float64 / float32), pt64c (PyTorch float64, ``dp --pt compress``); converted once, then cached."""
    graph, script = root / "models/subtracted/graph.pb", root / "models/subtracted/input.json"
    makers = {"tf": lambda: resolve_model(graph),
              "tfc": lambda: cached_compressed_model(graph, script, root),
              "pt64": lambda: cached_pytorch_model(graph, script, root, precision="float64"),
              "pt32": lambda: cached_pytorch_model(graph, script, root, precision="float32"),
              "pt64c": lambda: cached_pytorch_model(graph, script, root, precision="float64", compress=True)}
    names = [n for n in names if n]  # --models "": i-PI and the pair baseline only
    unknown = sorted(set(names) - set(makers))
    if unknown:
        raise SystemExit(f"unknown model forms {unknown}; choose from {sorted(makers)}")
    print(f"models {names} (converted once, then cached) ...", file=sys.stderr)
    return {name: makers[name]() for name in names}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="352,2816")
    parser.add_argument("--beads", default="1,16,32")
    parser.add_argument("--models", default="tf,pt64,pt32", help="comma-separated: tf, tfc, pt64, pt32, pt64c")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ipi-steps", type=int, default=20, help="steps of each trivial-force i-PI run (0: skip)")
    parser.add_argument("--max-atom-frames", type=int, default=10**6,
                        help="skip model calls above N x P atoms (a CPU takes ~0.15 ms per atom)")
    parser.add_argument("--data", help="published data root")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args(argv)
    root = published_root(args.data)
    sizes, beads = [int(s) for s in args.sizes.split(",")], [int(b) for b in args.beads.split(",")]
    models = load_models(args.models.split(","), root)
    pair = PairBaseline.from_file(root / "tables/full.table")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for n in sizes:
            for p in beads:
                row = {"atoms": n, "beads": p, "pair_s": pair_seconds(pair, n, p)}
                if args.ipi_steps:
                    row.update(ipi_seconds(n, p, args.ipi_steps, Path(work)))
                for name, path in models.items():
                    if n * p <= args.max_atom_frames:
                        row[name] = force_seconds(HydridePotential(path), n, p, args.repeats)
                project(row)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "machine": os.uname().nodename}, indent=1))
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
