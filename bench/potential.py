"""Throughput of hydropimd's potential against DeePMD-kit's own ``DeepPot.eval`` (hand-run benchmark, not a test).

What is measured
----------------
Energy + forces + virial of the published LaH10 model (``models/subtracted/graph.pb``,
upgraded from DeePMD-kit 1.x as hydropimd does) on frames of the 352-atom ``aimd``
system of ``data/subtracted``, for the model as published ("uncompressed") and for
its ``dp compress`` version ("compressed"; built once, about two minutes, and cached
as ``<hydropimd cache>/models/<sha256 of graph.pb>-compressed.pb``).

Three callers are timed side by side in the same process, each its own object:

* ``bare``       DeePMD-kit's ``DeepPot(model, auto_batch_size=A).eval(coords, cells, types)``;
* ``calc``       ``HydridePotential(model, atoms_per_call=A).evaluate(...)`` (no pair term);
* ``calc+pair``  the same with the published pair baseline (``tables/full.table``);

and, for reference, the pair term alone (``PairBaseline.compute_batch``).

Cases: (a) one frame per call (after a warm-up call; median of ``--repeats`` calls),
at DeePMD-kit's CPU default A = 1024 atoms per call; (b) one call on a batch of
``--batch`` (16) frames (median of ``--batch-repeats`` calls after a warm-up), for
every A of ``--sizes``.  DeePMD-kit splits a batch into chunks of A // 352 frames
(at least one), so A sets how many frames TensorFlow sees at once; bare and
calculator always get the same A.  Calls are interleaved (bare, calc, calc+pair,
and in the batch case every A as well, in rotating order; all callers are loaded
at once) so that drifting machine speed hits every configuration alike.  The
spread, (max - min) / median of a row's calls, shows how far the ratios can be
trusted.

Reported per case: seconds per frame, atoms per second, the ratio calc / bare
(goal <= 1.05) and calc+pair / bare, and batch per-frame / single per-frame
(goal <= 1.0); then the best A for a batch per model.  Before timing, the
calculator's results are checked against the bare ``DeepPot`` ones.

How to run (from the repository root; about 5 minutes on 2 cores, plus about two
minutes the first time for the compression)::

    .venv/bin/python bench/potential.py                    # table
    .venv/bin/python bench/potential.py --json             # figures as JSON
    .venv/bin/python bench/potential.py --data DIR --repeats 10 --batch-repeats 3 \\
        --sizes 352,704,1024,2048,5632 --models uncompressed,compressed

The data root follows the usual rule (``--data``, then ``$HYDROPIMD_DATA``, then the
cache of ``hydropimd data fetch``).  ``DP_INFER_BATCH_SIZE`` is removed from the
environment because it would override A for both callers.  Timings depend on
anything else running on the machine: the load average before and after is printed.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow / DeePMD-kit are imported
os.environ.pop("DP_INFER_BATCH_SIZE", None)  # it would override atoms_per_call for both callers

import argparse
import gc
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from hydropimd.data.location import published_root
from hydropimd.data.systems import find_systems
from hydropimd.errors import InputError
from hydropimd.pair.baseline import PairBaseline
from hydropimd.potential.calculator import HydridePotential
from hydropimd.potential.models import cached_compressed_model, resolve_model

SYSTEM = "aimd"
GRAPH = "models/subtracted/graph.pb"
INPUT_JSON = "models/subtracted/input.json"
TABLE = "tables/full.table"
DEFAULT_ATOMS_PER_CALL = 1024  # DeePMD-kit's CPU default, and HydridePotential's
CALLERS = ("bare", "calc", "calc+pair")
TYPE_MAP = ["La", "H"]  # the model's type map (type.raw of the published data: 0 = La, 1 = H)


# ----------------------------------------------------------------------------- set-up


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import deepmd
    import tensorflow as tf

    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "deepmd_kit": deepmd.__version__,
        "tensorflow": tf.__version__,
        "threads_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "DP_INTRA_OP_PARALLELISM_THREADS",
                                                    "DP_INTER_OP_PARALLELISM_THREADS") if k in os.environ},
    }


def compressed_model(root: Path, graph: Path, log) -> Path:
    """The compressed model of ``graph`` (``dp compress``, about two minutes the first time, then cached)."""
    log(f"compressed model of {graph} (built once, about two minutes, then cached) ...")
    return cached_compressed_model(graph, root / INPUT_JSON, root)


def load_frames(root: Path, nbatch: int):
    systems = [s for s in find_systems(root / "data" / "subtracted") if s.name == SYSTEM]
    if not systems:
        raise InputError(f"no system '{SYSTEM}' under {root / 'data' / 'subtracted'}")
    frames = systems[0].load("all")
    if len(frames) < nbatch:
        raise InputError(f"system '{SYSTEM}' has {len(frames)} frames, fewer than --batch {nbatch}")
    # evenly spread frames: distinct neighbourhoods, like the beads of a path integral
    pick = np.linspace(0, len(frames) - 1, nbatch).round().astype(int)
    return frames.symbols, frames.coords[pick], frames.cells[pick]


# ----------------------------------------------------------------------------- timing


def cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall s, busy CPU s of the whole machine, CPU s of this process), to tell how much else ran."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq = (int(x) for x in fields[:7])
    own = os.times()
    return time.perf_counter(), (user + nice + system + irq + softirq) / ticks, own.user + own.system


def other_cores(before, after) -> float | None:
    """Average number of CPU cores busy with anything but this process between two snapshots."""
    if before is None or after is None:
        return None
    wall = after[0] - before[0]
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / wall) if wall > 0 else None



def time_interleaved(calls: dict, repeats: int) -> tuple[dict, dict]:
    """Median wall time (s) of each zero-argument call, and its spread (max - min) / median.

    One warm-up call each, then ``repeats`` rounds calling each once, in rotating order."""
    for fn in calls.values():
        fn()
    times = {name: [] for name in calls}
    names = list(calls)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - t0)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    return medians, {name: (max(ts) - min(ts)) / medians[name] for name, ts in times.items()}


def build_callers(model: Path, pair: PairBaseline, atoms_per_call: int, types: np.ndarray, symbols: list[str]):
    from deepmd.infer import DeepPot

    bare = DeepPot(str(model), auto_batch_size=atoms_per_call)
    calc = HydridePotential(model, atoms_per_call=atoms_per_call)
    calc_pair = HydridePotential(model, pair=pair, atoms_per_call=atoms_per_call)
    if not np.array_equal(calc.atom_types(symbols), types):
        raise RuntimeError(f"calculator type map {calc.type_map} differs from the bench's {TYPE_MAP}")
    return bare, calc, calc_pair


def make_calls(bare, calc, calc_pair, coords, cells, types, symbols) -> dict:
    nf = len(cells)
    flat_c, flat_b = coords.reshape(nf, -1), cells.reshape(nf, 9)
    return {
        "bare": lambda: bare.eval(flat_c, flat_b, types),
        "calc": lambda: calc.evaluate(coords, cells, symbols),
        "calc+pair": lambda: calc_pair.evaluate(coords, cells, symbols),
    }


def check_same(bare, calc, coords, cells, types, symbols, what: str) -> None:
    """The calculator without pair term must give DeePMD-kit's numbers (else the comparison is moot)."""
    nf = len(cells)
    e, f, v = bare.eval(coords.reshape(nf, -1), cells.reshape(nf, 9), types)[:3]
    ev = calc.evaluate(coords, cells, symbols)
    for name, a, b in (("energy", e.reshape(nf), ev.energy), ("forces", f.reshape(ev.forces.shape), ev.forces),
                       ("virial", v.reshape(nf, 3, 3), ev.virial)):
        if not np.allclose(a, b, rtol=1e-10, atol=1e-8):
            raise RuntimeError(f"{what}: calculator {name} differs from DeepPot.eval by {np.abs(a - b).max():.3g}")


def row(model: str, case: str, atoms_per_call: int, nf: int, natoms: int, t: dict, pair_only: float,
        spread: dict) -> dict:
    per_frame = {k: t[k] / nf for k in CALLERS}
    return {
        "model": model,
        "case": case,
        "frames_per_call": nf,
        "atoms_per_call": atoms_per_call,
        "frames_per_chunk": min(nf, max(atoms_per_call // natoms, 1)),
        "s_per_frame": per_frame,
        "atoms_per_s": {k: natoms / v for k, v in per_frame.items()},
        "pair_only_s_per_frame": pair_only / nf,
        "spread": spread,
        "calc_over_bare": per_frame["calc"] / per_frame["bare"],
        "calc_pair_over_bare": per_frame["calc+pair"] / per_frame["bare"],
    }


# ----------------------------------------------------------------------------- main


def run(args, log) -> dict:
    root = published_root(args.data)
    graph = root / GRAPH
    for p in (graph, root / TABLE):
        if not p.exists():
            raise InputError(f"{p} is missing from the published data")
    symbols, coords, cells = load_frames(root, args.batch)
    natoms = len(symbols)
    types = np.array([TYPE_MAP.index(s) for s in symbols], dtype=np.int32)
    pair = PairBaseline.from_file(root / TABLE)

    models = {}
    for name in args.models:
        if name == "uncompressed":
            models[name] = resolve_model(graph)
        elif name == "compressed":
            models[name] = compressed_model(root, graph, log)
        else:
            raise InputError(f"unknown model '{name}'; choose uncompressed and/or compressed")

    sizes = sorted(set(args.sizes))
    result = {"machine": machine_info(), "load_average_start": os.getloadavg(), "system": SYSTEM,
              "natoms": natoms, "batch": args.batch, "repeats": args.repeats, "batch_repeats": args.batch_repeats,
              "models": {k: str(v) for k, v in models.items()}, "rows": [], "summary": {}}
    t_start = time.perf_counter()
    snap = cpu_snapshot()
    one_c, one_b = coords[:1], cells[:1]
    for name, path in models.items():
        # one set of callers per atoms_per_call, all alive at once so that the batch calls of every
        # atoms_per_call are interleaved too: drifting machine speed then hits every configuration alike
        callers = {}
        for apc in sorted(set(sizes) | {DEFAULT_ATOMS_PER_CALL}):
            log(f"{name}: loading and checking atoms_per_call {apc} ...")
            callers[apc] = build_callers(path, pair, apc, types, symbols)
            check_same(callers[apc][0], callers[apc][1], coords, cells, types, symbols,
                       f"{name}, batch, atoms_per_call {apc}")
        bare, calc, calc_pair = callers[DEFAULT_ATOMS_PER_CALL]
        check_same(bare, calc, one_c, one_b, types, symbols, f"{name}, single frame")
        log(f"{name}: timing single frames ...")
        t, spread = time_interleaved(make_calls(bare, calc, calc_pair, one_c, one_b, types, symbols), args.repeats)
        t_pair, _ = time_interleaved({"pair": lambda: pair.compute_batch(one_c, one_b, symbols)}, args.repeats)
        single = row(name, "single", DEFAULT_ATOMS_PER_CALL, 1, natoms, t, t_pair["pair"], spread)
        result["rows"].append(single)
        log(f"{name}: timing batches of {args.batch} ...")
        calls = {}
        for apc in sizes:
            for caller, fn in make_calls(*callers[apc], coords, cells, types, symbols).items():
                calls[(apc, caller)] = fn
        t, spread = time_interleaved(calls, args.batch_repeats)
        t_pair, _ = time_interleaved({"pair": lambda: pair.compute_batch(coords, cells, symbols)}, args.batch_repeats)
        batch_rows = [
            row(name, f"batch {args.batch}", apc, args.batch, natoms, {k: t[(apc, k)] for k in CALLERS},
                t_pair["pair"], {k: spread[(apc, k)] for k in CALLERS})
            for apc in sizes
        ]
        del bare, calc, calc_pair, callers, calls
        gc.collect()
        for r in batch_rows:
            r["batch_over_single"] = {k: r["s_per_frame"][k] / single["s_per_frame"][k] for k in CALLERS}
        result["rows"].extend(batch_rows)
        best = min(batch_rows, key=lambda r: r["s_per_frame"]["calc"])
        best_bare = min(batch_rows, key=lambda r: r["s_per_frame"]["bare"])
        default = next((r for r in batch_rows if r["atoms_per_call"] == DEFAULT_ATOMS_PER_CALL), None)
        result["summary"][name] = {
            "best_atoms_per_call": best["atoms_per_call"],
            "best_atoms_per_call_bare": best_bare["atoms_per_call"],
            "best_batch_s_per_frame_calc": best["s_per_frame"]["calc"],
            "single_s_per_frame_calc": single["s_per_frame"]["calc"],
            "best_batch_over_single_calc": best["batch_over_single"]["calc"],
            "default_batch_over_single_calc": default["batch_over_single"]["calc"] if default else None,
            "single_calc_over_bare": single["calc_over_bare"],
            "single_calc_pair_over_bare": single["calc_pair_over_bare"],
            "best_batch_calc_over_bare": best["calc_over_bare"],
            "best_batch_calc_pair_over_bare": best["calc_pair_over_bare"],
        }
    result["load_average_end"] = os.getloadavg()
    result["other_processes_cores"] = other_cores(snap, cpu_snapshot())
    result["timed_s"] = time.perf_counter() - t_start
    return result


def print_table(result: dict) -> None:
    import shutil

    from rich.console import Console
    from rich.table import Table

    # wide enough for the tables when piped to a file; a narrower terminal wraps
    console = Console(width=max(shutil.get_terminal_size((160, 24)).columns, 160))
    m = result["machine"]
    la0 = ", ".join(f"{x:.2f}" for x in result["load_average_start"])
    la1 = ", ".join(f"{x:.2f}" for x in result["load_average_end"])
    console.print(f"[bold]Machine[/]: {m['nproc']} CPUs, {m['cpu']}; DeePMD-kit {m['deepmd_kit']}, "
                  f"TensorFlow {m['tensorflow']}, Python {m['python']} {m['threads_env'] or ''}")
    console.print(f"System '{result['system']}' ({result['natoms']} atoms); single frame: median of {result['repeats']} "
                  f"calls; batch of {result['batch']}: median of {result['batch_repeats']} calls; timed "
                  f"{result['timed_s']:.0f} s; load average (1, 5, 15 min) {la0} -> {la1}")
    other = result["other_processes_cores"]
    if other is not None:
        warn = "  [red]other processes competed: timings are not clean[/]" if other > 0.2 else ""
        console.print(f"Other processes kept {other:.2f} of {m['nproc']} CPU cores busy on average while timing.{warn}")

    def ratio(x, goal):
        text = f"{x:.3f}"
        return f"[green]{text}[/]" if x <= goal else f"[red]{text}[/]"

    def table(title, columns):
        t = Table(title=title)
        for col in columns:
            t.add_column(col, justify="left" if col in ("model", "case") else "right")
        return t

    times = table("Milliseconds per frame (energy + forces + virial)",
                  ("model", "case", "atoms/call", "frames/chunk", "bare", "calc", "calc+pair", "pair only",
                   "calc/bare", "calc+pair/bare", "batch/single (calc)", "spread"))
    rates = table("Atoms per second", ("model", "case", "atoms/call", "bare", "calc", "calc+pair"))
    last_model = None
    for r in result["rows"]:
        if last_model is not None and r["model"] != last_model:
            times.add_section()
            rates.add_section()
        last_model = r["model"]
        s, a = r["s_per_frame"], r["atoms_per_s"]
        bos = r.get("batch_over_single")
        head = (r["model"], r["case"], str(r["atoms_per_call"]))
        times.add_row(
            *head, str(r["frames_per_chunk"]),
            *(f"{1e3 * s[k]:.1f}" for k in CALLERS), f"{1e3 * r['pair_only_s_per_frame']:.1f}",
            ratio(r["calc_over_bare"], 1.05), f"{r['calc_pair_over_bare']:.3f}",
            ratio(bos["calc"], 1.0) if bos else "-",
            f"{100 * max(r['spread'].values()):.0f}%",
        )
        rates.add_row(*head, *(f"{a[k]:,.0f}" for k in CALLERS))
    console.print(times)
    console.print(rates)

    summary = table("Per model (calc = HydridePotential without pair term)",
                    ("model", "best atoms/call", "best atoms/call (bare)", "single ms", "best batch ms",
                     "best batch/single", "batch/single at 1024", "single calc/bare", "single calc+pair/bare"))
    for name, s in result["summary"].items():
        summary.add_row(
            name, str(s["best_atoms_per_call"]), str(s["best_atoms_per_call_bare"]),
            f"{1e3 * s['single_s_per_frame_calc']:.1f}", f"{1e3 * s['best_batch_s_per_frame_calc']:.1f}",
            ratio(s["best_batch_over_single_calc"], 1.0),
            "-" if s["default_batch_over_single_calc"] is None else ratio(s["default_batch_over_single_calc"], 1.0),
            ratio(s["single_calc_over_bare"], 1.05), f"{s['single_calc_pair_over_bare']:.3f}",
        )
    console.print(summary)
    console.print("Goals: calc/bare <= 1.05 (no pair term), batch/single <= 1.0.  frames/chunk = frames DeePMD-kit "
                  "hands TensorFlow at once (atoms/call // atoms, at least 1).  spread = largest (max - min) / median "
                  "of the row's three callers: ratios closer to 1 than that are within the noise.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="published data root (default: $HYDROPIMD_DATA, then the cache)")
    parser.add_argument("--repeats", type=int, default=10, help="timed single-frame calls per caller (default 10)")
    parser.add_argument("--batch-repeats", type=int, default=3, help="timed batch calls per caller (default 3)")
    parser.add_argument("--batch", type=int, default=16, help="frames in the batch case (default 16)")
    parser.add_argument("--sizes", default="352,704,1024,2048,5632",
                        help="atoms_per_call values for the batch case, comma-separated (default 352,704,1024,2048,5632)")
    parser.add_argument("--models", default="uncompressed,compressed", help="which models (default both)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of tables")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        parser.error("--sizes takes comma-separated integers")
    if args.repeats < 1 or args.batch_repeats < 1 or args.batch < 1 or not args.sizes or min(args.sizes) < 1:
        parser.error("--repeats, --batch-repeats, --batch and --sizes must be positive")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]

    logging.getLogger("deepmd").setLevel(logging.ERROR)  # one DP_INFER_BATCH_SIZE hint per DeepPot otherwise

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    load = os.getloadavg()[0]
    if load > 0.5:
        log(f"note: load average {load:.2f} before starting; other processes will slow the timings")
    try:
        result = run(args, log)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
