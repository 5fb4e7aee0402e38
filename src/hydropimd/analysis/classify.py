"""Cubic, rhombohedral or other: statistical tests on the conventional-cell lengths and angles of a trajectory.

Input: per-frame conventional lengths a, b, c (angstrom) and deviations
delta_i = angle_i - 90 (degrees), already aligned to one distortion variant
(:func:`hydropimd.analysis.shuttling.align_to_variant`).  Hypotheses on the
time averages (SPEC section 8):

* cubic:        delta_1 = delta_2 = delta_3 = 0 and a = b = c       (5 constraints)
* rhombohedral: |delta_1| = |delta_2| = |delta_3| and a = b = c      (4 constraints;
                signs taken from the means, so (+,-,-) counts)

Each is a Wald test (Hotelling T^2 with an F reference, see
:func:`hydropimd.analysis.statistics.wald_test`) on the per-frame contrasts, with
error bars from the integrated autocorrelation time.  Decision at significance
level ``significance`` (default 1 %): cubic if the cubic hypothesis is not
rejected; else rhombohedral if that one is not rejected; else "other", refined
by single-quantity z-tests into tetragonal (angles 90, two lengths equal),
orthorhombic (angles 90, lengths differ), monoclinic (one angle off 90, or two
equal ones with the two lengths they share equal), triclinic (the rest).  The
test measures statistical, not physical, significance: a very long run can
resolve a tiny distortion, so the size of the deviation is reported with it.
A run too short for the test (at most 6 effective samples for the 5 cubic
constraints) is "undetermined", never cubic or distorted.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from hydropimd.analysis.statistics import correlated_mean, wald_test
from hydropimd.errors import InputError

#: the classification of a run too short for the test
UNDETERMINED = "undetermined"


def _z_pvalue(values) -> tuple[float, float, float]:
    """(mean, stderr, two-sided p of mean = 0) of a per-frame series."""
    estimate = correlated_mean(values)
    if estimate.stderr <= 0:
        return estimate.mean, 0.0, 1.0 if abs(estimate.mean) < 1e-12 else 0.0
    return estimate.mean, estimate.stderr, float(2 * stats.norm.sf(abs(estimate.mean) / estimate.stderr))


def classify_cell(lengths_angstrom, deviations_deg, significance: float = 0.01) -> dict:
    """Classify from per-frame conventional lengths (n, 3) and angle - 90 (n, 3); returns a JSON-ready dict.

    Keys: ``classification``; ``test`` with each hypothesis's T^2, dof, effective
    sample size and p-value; ``confidence`` (1 - p of the cubic hypothesis when
    distorted, the p-value of cubic when cubic) with ``confidence_meaning``;
    ``statement`` (one sentence); ``max_deviation_upper_deg`` (upper bound of
    max |mean angle - 90| at the 1 - significance level).
    """
    if not 0 < significance < 0.5:
        raise InputError(f"--significance {significance} must lie between 0 and 0.5 (e.g. 0.01)")
    lengths = np.asarray(lengths_angstrom, dtype=float)
    delta = np.asarray(deviations_deg, dtype=float)
    length_differences = np.column_stack([lengths[:, 0] - lengths[:, 1], lengths[:, 1] - lengths[:, 2]])
    cubic = wald_test(np.column_stack([delta, length_differences]))
    signs = np.where(delta.mean(axis=0) < 0, -1.0, 1.0)
    folded = signs * delta
    rhombohedral = wald_test(np.column_stack([folded[:, 0] - folded[:, 1], folded[:, 1] - folded[:, 2], length_differences]))
    angle_tests = [_z_pvalue(delta[:, i]) for i in range(3)]
    z_crit = stats.norm.isf(significance / 2)
    upper = max(abs(m) + z_crit * s for m, s, _ in angle_tests)

    if np.isnan(cubic["p_value"]):
        kind = UNDETERMINED
        statement = (f"undetermined: {cubic['n_effective']:.1f} effective samples, the test needs more than "
                     f"{cubic['dof'] + 1}; run longer")
        confidence, meaning = float("nan"), "none: too few effective samples for the test"
    elif cubic["p_value"] > significance:
        kind = "cubic"
        statement = (f"consistent with cubic: cubic not rejected (p = {cubic['p_value']:.3g} > {significance:g}); "
                     f"max |angle - 90| < {upper:.3g} deg at {100 * (1 - significance):g} %")
        confidence, meaning = cubic["p_value"], "p-value of the cubic hypothesis (not rejected)"
    else:
        confidence, meaning = 1.0 - cubic["p_value"], "1 - p-value of the cubic hypothesis (rejected)"
        if rhombohedral["p_value"] > significance:
            kind = "rhombohedral"
        else:
            kind = _other_kind(lengths, delta, significance)
        statement = (f"{kind}: cubic rejected (p = {cubic['p_value']:.3g}); rhombohedral "
                     f"{'not rejected' if rhombohedral['p_value'] > significance else 'rejected'} (p = {rhombohedral['p_value']:.3g}) "
                     f"at significance {significance:g}")
    return {
        "classification": kind,
        "confidence": float(confidence),
        "confidence_meaning": meaning,
        "statement": statement,
        "significance": significance,
        "max_deviation_upper_deg": float(upper),
        "test": {
            "method": ("Wald test (Hotelling T^2, F reference with the effective sample size) on per-frame contrasts of the "
                       "variant-aligned conventional cell; error bars from the Sokal integrated autocorrelation time"),
            "cubic": {"constraints": "angle_i - 90 = 0 (3), a - b = b - c = 0 (2)", **cubic},
            "rhombohedral": {"constraints": "|angle_i - 90| equal (2), a - b = b - c = 0 (2)", **rhombohedral},
            "angle_p_values": [p for _, _, p in angle_tests],
        },
    }


def _other_kind(lengths: np.ndarray, delta: np.ndarray, significance: float) -> str:
    """Tetragonal, orthorhombic, monoclinic or triclinic from single-quantity tests (Bonferroni over 3 angles, 3 pairs)."""
    level = significance / 3
    off = [i for i in range(3) if _z_pvalue(delta[:, i])[2] <= level]
    pairs = [(0, 1), (1, 2), (0, 2)]
    equal = {pair for pair in pairs if _z_pvalue(lengths[:, pair[0]] - lengths[:, pair[1]])[2] > level}
    if not off:
        return "tetragonal" if equal else "orthorhombic"
    if len(off) == 1:
        return "monoclinic"
    if len(off) == 2:
        i, j = off
        same_size = _z_pvalue(np.abs(delta[:, i]) - np.abs(delta[:, j]))[2] > level
        shared = tuple(sorted((i, j)))  # angles i and j are opposite axes i and j: a = b for alpha = beta
        if same_size and shared in equal:
            return "monoclinic"
    return "triclinic"
