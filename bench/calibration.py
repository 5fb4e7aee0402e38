"""Error rates of the cell classification on a battery of synthetic trajectories of known truth (hand-run, not a test).

Truths, noise and scoring: tests/analysis/calibration_battery.py (AR(1) noise of
0.4 deg / 0.02 A, tau_int = 9.5 frames, 2x2x2 fcc supercell, full ``cell_shape``
pipeline incl. shuttling detection and variant alignment).  Prints one row per
truth x N/tau: the headline classes, the undetermined fraction, the error rate
(a wrong class; "cubic" counts only for a truth distorted by >= 10 standard
errors) with its 95 % Clopper-Pearson upper bound, and gross errors ("cubic"
for such a truth).

How to run (from the repository root; about 3 minutes for 200 repeats on 2 cores)::

    .venv/bin/python bench/calibration.py --repeats 200 --seed 7
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.analysis.calibration_battery import run_battery  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--significance", type=float, default=0.01)
    args = parser.parse_args()
    start = time.perf_counter()
    rows = run_battery(args.seed, args.repeats, significance=args.significance)
    print(f"| truth | N/tau | undetermined | error rate (95 % upper) | gross | headline classes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        upper = stats.beta.ppf(0.95, r["errors"] + 1, r["runs"] - r["errors"]) if r["errors"] < r["runs"] else 1.0
        classes = ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items(), key=lambda kv: -kv[1]))
        print(f"| {r['truth']} | {r['n_over_tau']} | {r['undetermined']:.2f} | {r['error_rate']:.3f} ({upper:.3f}) | "
              f"{r['gross']} | {classes} |")
    decided = sum(r["runs"] * (1 - r["undetermined"]) for r in rows)
    errors = sum(r["errors"] for r in rows)
    print(f"\n{sum(r['runs'] for r in rows)} runs, {decided:.0f} decided, {errors} errors ({errors / max(decided, 1):.4f} of decided), "
          f"{sum(r['gross'] for r in rows)} gross, {sum(r['headline_class_while_test_undetermined'] for r in rows)} headline classes "
          f"while the test said undetermined; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
