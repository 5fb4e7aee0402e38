"""A battery of synthetic cell trajectories of known truth, run through ``cell_shape``, scored against the truth.

Shared by tests/analysis/test_analysis_calibration.py (small battery) and
bench/calibration.py (large battery).  Each trajectory: conventional angle
deviations and lengths of a 2x2x2 fcc supercell (32 La sites) with AR(1) noise
(0.4 deg on angles, 0.02 A on lengths, phi = 0.9: tau_int = 9.5 frames, frames
0.01 ps apart) of N = (N/tau) tau_int frames.  A "shuttling" truth switches
between two equivalent rhombohedral variants every N/4 frames (the analysis must
align them).  Scoring (significance alpha):

* error: a class other than the truth's, "undetermined", or (only when the
  truth is not *clear*) "cubic" (a distortion the run cannot resolve);
* gross error: "cubic" for a clear truth, i.e. one whose smallest distinguishing
  difference (angle off 90, |angle| difference, length difference) is at least
  CLEAR_SE true standard errors sigma / sqrt(N / (2 tau_int)).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from hydropimd.analysis import cell_shape
from hydropimd.lattice import metric_from_cellpar
from tests.analysis.synthetic import ar1

SIGMA_DEG, SIGMA_A, PHI, DT_PS, A = 0.4, 0.02, 0.9, 0.01, 5.1
TAU_INT = (1 + PHI) / (2 * (1 - PHI))
CLEAR_SE = 10.0
N_OVER_TAU = (10, 20, 50, 100, 200)


@dataclass(frozen=True)
class Truth:
    name: str
    expected: str
    deviations: tuple  # mean angle - 90 (deg)
    lengths: tuple = (A, A, A)
    shuttle_to: tuple | None = None  # deviations of the second variant visited

    def smallest_difference_se(self, n_over_tau: float) -> float:
        """Smallest difference that distinguishes this truth from a higher symmetry, in true standard errors."""
        if self.expected == "cubic":
            return float("inf")
        se_angle = SIGMA_DEG / np.sqrt(n_over_tau / 2)
        se_length = SIGMA_A / np.sqrt(n_over_tau / 2)
        d, lengths = np.abs(self.deviations), np.array(self.lengths)
        angle = [x / se_angle for x in d if x > 0]
        sizes = [abs(x - y) / se_angle for x, y in zip(d, np.roll(d, 1)) if x != y]
        lens = [abs(x - y) / se_length for x, y in zip(lengths, np.roll(lengths, 1)) if x != y]
        # cubic is told apart by the largest deviation; the lower class by the smallest difference that defines it
        rejects_cubic = max(angle + lens)
        defines_class = min(sizes + lens) if self.expected != "rhombohedral" else rejects_cubic
        return float(min(rejects_cubic, defines_class))


TRUTHS = [
    Truth("cubic", "cubic", (0.0, 0.0, 0.0)),
    Truth("rhombohedral 0.5 (+,+,+)", "rhombohedral", (0.5, 0.5, 0.5)),
    Truth("rhombohedral 1.5 (+,-,-)", "rhombohedral", (1.5, -1.5, -1.5)),
    Truth("rhombohedral 4 (+,-,-)", "rhombohedral", (4.0, -4.0, -4.0)),
    Truth("rhombohedral 2 (-,+,-)", "rhombohedral", (-2.0, 2.0, -2.0)),
    Truth("rhombohedral 3 shuttling (+,-,-)<->(-,+,-)", "rhombohedral", (3.0, -3.0, -3.0), shuttle_to=(-3.0, 3.0, -3.0)),
    Truth("tetragonal c/a 1.02", "tetragonal", (0.0, 0.0, 0.0), (A, A, 1.02 * A)),
    Truth("monoclinic gamma 93", "monoclinic", (0.0, 0.0, 3.0)),
]


def trajectory(rng, truth: Truth, n_over_tau: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame conventional lengths (n, 3) and angles (n, 3) of one realisation."""
    n = int(round(n_over_tau * TAU_INT))
    deviations = np.tile(np.array(truth.deviations, dtype=float), (n, 1))
    if truth.shuttle_to is not None:
        second = (np.arange(n) // max(n // 4, 1)) % 2 == 1
        deviations[second] = truth.shuttle_to
    lengths = np.array(truth.lengths) + ar1(rng, n, SIGMA_A, PHI, (3,))
    return lengths, 90.0 + deviations + ar1(rng, n, SIGMA_DEG, PHI, (3,))


def verdict(rng, truth: Truth, n_over_tau: float, significance: float = 0.01) -> dict:
    """The report's headline class and the test's own class of one realisation through ``cell_shape``."""
    lengths, angles = trajectory(rng, truth, n_over_tau)
    metric = metric_from_cellpar(2 * lengths, angles)  # 2x2x2 conventional supercell
    report = cell_shape(metric, np.arange(len(lengths)) * DT_PS, n_sites=32, significance=significance)
    return {"headline": report["classification"], "test": report["classification_test"]["classification"]}


def score(truth: Truth, n_over_tau: float, classes: list[str]) -> dict:
    """Counts, error and gross-error rates of the headline classes of one (truth, N/tau) cell of the battery."""
    clear = truth.smallest_difference_se(n_over_tau) >= CLEAR_SE
    allowed = {truth.expected, "undetermined"} | (set() if clear or truth.expected == "cubic" else {"cubic"})
    n = len(classes)
    errors = sum(c not in allowed for c in classes)
    gross = sum(c == "cubic" for c in classes) if clear and truth.expected != "cubic" else 0
    return {"truth": truth.name, "n_over_tau": n_over_tau, "runs": n, "clear": clear, "counts": dict(Counter(classes)),
            "undetermined": sum(c == "undetermined" for c in classes) / n, "errors": errors, "error_rate": errors / n,
            "gross": gross}


def run_battery(seed: int, repeats: int, n_over_tau=N_OVER_TAU, truths=TRUTHS, significance: float = 0.01) -> list[dict]:
    """Score every (truth, N/tau) cell with ``repeats`` realisations; headline and test must agree when undetermined."""
    rng = np.random.default_rng(seed)
    rows = []
    for truth in truths:
        for ratio in n_over_tau:
            results = [verdict(rng, truth, ratio, significance) for _ in range(repeats)]
            row = score(truth, ratio, [r["headline"] for r in results])
            row["headline_class_while_test_undetermined"] = sum(r["test"] == "undetermined" and r["headline"] != "undetermined"
                                                                for r in results)
            rows.append(row)
    return rows
