"""Selection cost: averaged SOAP + diversity subset for 10 000 frames, committee deviation vs one model.

Candidates: N = 352 LaH10 (2x2x2 conventional cell, a = 5.1 A), each frame strained
(symmetric strain, components uniform in +-2 %) and rattled (Gaussian, 0.1 A), which
is the spread of an exploration at 300-1000 K.

1. Averaged SOAP vectors (hydropimd.active.soap defaults: r_cut 4 A, n_max 6, l_max 4,
   sigma 0.4 A, outer average) of ``--soap-frames`` frames with dscribe on all cores;
   the per-frame time is extrapolated to ``--frames`` when fewer are computed.
2. The most diverse ``--n`` of ``--frames`` SOAP vectors (greedy + exchange, 8 starts).
   When fewer SOAP vectors were computed, the selection runs on ``--frames`` vectors
   made by perturbing the computed ones (same dimension and spread), since its cost
   depends only on their number and size.
3. Committee of 3 deviation (hydropimd.active.deviation) against one model's
   evaluation of the same ``--dev-frames`` frames: the published subtracted model,
   compressed (``dp compress``, cached), loaded three times (members of a committee
   differ only in their weights, so their cost is the same).  Goal: at most 3.1x.

Run by hand::

    .venv/bin/python bench/selection.py [--frames 10000] [--soap-frames 10000] [--dev-frames 64] [--n 100] [--json]
"""

from __future__ import annotations

import os
import sys

import argparse
import json
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from hydropimd.active.deviation import force_deviation, load_committee
from hydropimd.active.select import most_diverse_subset, subset_diversity
from hydropimd.active.soap import SOAPSettings, averaged_soap
from hydropimd.data.location import published_root
from hydropimd.potential.models import cached_compressed_model
from hydropimd.structures import build_lah10


def candidates(count: int, seed: int = 0):
    base = build_lah10(a=5.1, supercell=2)
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        atoms = base.copy()
        e = rng.uniform(-0.02, 0.02, size=(3, 3))
        atoms.set_cell(atoms.cell.array @ (np.eye(3) + (e + e.T) / 2), scale_atoms=True)
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        frames.append(atoms)
    return frames


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--soap-frames", type=int, default=10_000, help="frames whose SOAP is computed")
    parser.add_argument("--dev-frames", type=int, default=64, help="frames for the deviation timing")
    parser.add_argument("--n", type=int, default=100, help="frames to select")
    parser.add_argument("--data", help="published data root")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    result = {"machine": {"cores": cores, "load_average_1min_at_start": os.getloadavg()[0]},
              "natoms": 352, "frames": args.frames, "soap": SOAPSettings().as_dict()}

    frames = candidates(args.soap_frames)
    t0 = time.perf_counter()
    vectors = averaged_soap(frames, progress=lambda d, t: print(f"SOAP {d}/{t}", file=sys.stderr))
    soap_s = time.perf_counter() - t0
    result.update(soap_frames=args.soap_frames, soap_features=vectors.shape[1], soap_seconds=soap_s,
                  soap_ms_per_frame=1e3 * soap_s / args.soap_frames,
                  soap_seconds_for_all=soap_s * args.frames / args.soap_frames,
                  soap_extrapolated=args.soap_frames < args.frames)
    if args.soap_frames < args.frames:
        rng = np.random.default_rng(1)
        picks = rng.integers(0, len(vectors), size=args.frames)
        vectors = vectors[picks] + rng.normal(scale=vectors.std(axis=0), size=(args.frames, vectors.shape[1])) * 0.1
    t0 = time.perf_counter()
    chosen = most_diverse_subset(vectors, args.n)
    result.update(select_n=args.n, select_seconds=time.perf_counter() - t0,
                  select_diversity=subset_diversity(vectors, chosen))
    print(json.dumps({k: result[k] for k in ("soap_ms_per_frame", "soap_seconds_for_all", "select_seconds")}),
          file=sys.stderr)

    root = published_root(args.data)
    model = cached_compressed_model(root / "models/subtracted/graph.pb", root / "models/subtracted/input.json", root)
    committee = load_committee([model, model, model])
    frames = candidates(args.dev_frames, seed=2)
    force_deviation(frames[:2], committee)  # warm-up: first calls allocate
    coords = np.stack([a.positions for a in frames])
    cells = np.stack([a.cell.array for a in frames])
    symbols = frames[0].get_chemical_symbols()
    committee.evaluate(coords[:2], cells[:2], symbols, committee=False)
    # alternate one model and the committee, best of three each, in wall and in CPU time (all threads):
    # the machine may be shared, and CPU time is what contention disturbs least
    wall = {"one": [], "committee": []}
    cpu = {"one": [], "committee": []}
    for _ in range(3):
        w, c = time.perf_counter(), time.process_time()
        for start in range(0, len(frames), 64):
            committee.evaluate(coords[start:start + 64], cells[start:start + 64], symbols, committee=False)
        wall["one"].append(time.perf_counter() - w)
        cpu["one"].append(time.process_time() - c)
        w, c = time.perf_counter(), time.process_time()
        force_deviation(frames, committee)
        wall["committee"].append(time.perf_counter() - w)
        cpu["committee"].append(time.process_time() - c)
    one, three = min(wall["one"]), min(wall["committee"])
    result.update(dev_frames=args.dev_frames, one_model_ms_per_frame=1e3 * one / args.dev_frames,
                  committee3_ms_per_frame=1e3 * three / args.dev_frames, committee3_over_one=three / one,
                  committee3_over_one_cpu=min(cpu["committee"]) / min(cpu["one"]),
                  committee3_seconds_for_all=three * args.frames / args.dev_frames,
                  load_average_1min_at_end=os.getloadavg()[0])
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"SOAP: {result['soap_ms_per_frame']:.1f} ms/frame on {cores} cores "
              f"({result['soap_seconds_for_all']:.0f} s for {args.frames}"
              f"{', extrapolated' if result['soap_extrapolated'] else ''})")
        print(f"diversity selection of {args.n} from {args.frames}: {result['select_seconds']:.2f} s")
        print(f"deviation: one model {result['one_model_ms_per_frame']:.1f} ms/frame, committee of 3 "
              f"{result['committee3_ms_per_frame']:.1f} ms/frame, ratio {result['committee3_over_one']:.2f} wall, "
              f"{result['committee3_over_one_cpu']:.2f} CPU time (goal <= 3.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
