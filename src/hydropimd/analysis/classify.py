"""Cubic, rhombohedral or other: statistical tests on the conventional-cell lengths and angles of a trajectory.

Input: per-frame conventional lengths a, b, c (angstrom) and deviations
delta_i = angle_i - 90 (degrees), already aligned to one distortion variant
(:func:`hydropimd.analysis.shuttling.align_to_variant`).  Hypotheses on the
time averages (docs/theory/analysis.md):

* cubic:        delta_1 = delta_2 = delta_3 = 0 and a = b = c       (5 constraints)
* rhombohedral: s_1 delta_1 = s_2 delta_2 = s_3 delta_3 and a = b = c (4 constraints)
                for some sign pattern s = (+,+,+), (+,-,-), (-,+,-), (-,-,+)

Every contrast is a linear combination of the six per-frame series, so one set
of B low-frequency cosine projections estimates all their covariances
(:class:`~hydropimd.analysis.statistics.CosineProjections`: the equal-weighted
cosine estimator of Mueller 2007 / Lazarus et al. 2018, with B = N / (3 tau)
from Wolff's bias-corrected Sokal tau).  References are then Student t(B) and
F(q, B - q + 1), which carry the uncertainty of the error bars themselves; the
F test with an effective sample size estimated from the same short series did
not (it called a 4-degree rhombohedral run cubic, and rhombohedral runs
triclinic at 2-3 % for a nominal 1 %).

Each hypothesis is rejected when Hotelling's T^2 or the largest single |t|
rejects (Bonferroni over the two, :meth:`CosineProjections.max_t_hotelling`):
a mean angle many standard errors from 90 degrees therefore always rejects
cubic, however little power T^2 has.  The rhombohedral hypothesis is composite
(the variant is unknown): its p-value is the largest over the four sign
patterns, valid because the true pattern's p-value is uniform.  Decision at
level ``significance`` (default 1 %): cubic if cubic is not rejected; else
rhombohedral if that is not rejected; else tetragonal, orthorhombic, monoclinic
or triclinic from single t-tests (Bonferroni over 3 angles and 3 length pairs).
A run with fewer than :data:`MIN_PROJECTIONS` projections (about N < 20 tau)
is "undetermined", never a class: there the error bars are too uncertain for
"not rejected" to mean anything.  The test measures statistical, not physical,
significance: a very long run can resolve a tiny distortion, so the size of the
deviation is reported with it.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from hydropimd.analysis.statistics import conservative_tau, cosine_projections
from hydropimd.errors import InputError

#: the classification of a run too short for the test
UNDETERMINED = "undetermined"
#: Fewest cosine projections (degrees of freedom of the error bars) for a class.  Below it the error bar is
#: itself too uncertain for "cubic not rejected" to mean anything (t(B) critical values at the Bonferroni level
#: grow steeply as B falls); with 6, the battery of bench/calibration.py (8000 runs, N / tau 10-200) has every
#: error rate at or below the 1 % level and no cubic verdict for a truth 10 or more standard errors away.
MIN_PROJECTIONS = 6

_SIGN_PATTERNS = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)


def _angle(i: int, sign: float = 1.0) -> np.ndarray:
    """Weights on the 6 columns (delta_1..3, a, b, c) selecting sign * delta_i."""
    w = np.zeros(6)
    w[i] = sign
    return w


def _length_difference(i: int, j: int) -> np.ndarray:
    w = np.zeros(6)
    w[3 + i], w[3 + j] = 1.0, -1.0
    return w


def _cubic_weights() -> np.ndarray:
    return np.column_stack([_angle(0), _angle(1), _angle(2), _length_difference(0, 1), _length_difference(1, 2)])


def _rhombohedral_weights(signs) -> np.ndarray:
    folded = [_angle(i, signs[i]) for i in range(3)]
    return np.column_stack([folded[0] - folded[1], folded[1] - folded[2], _length_difference(0, 1), _length_difference(1, 2)])


def _all_weights() -> np.ndarray:
    """Every contrast any test uses: the conservative tau must cover each (a difference can be slower than its terms)."""
    return np.column_stack([_cubic_weights(), _length_difference(0, 2), *[_rhombohedral_weights(s)[:, :2] for s in _SIGN_PATTERNS]])


def _rhombohedral_test(projections) -> dict:
    """The composite rhombohedral test: the sign pattern fitting best (largest p) and its result."""
    results = [(projections.max_t_hotelling(_rhombohedral_weights(s)), s) for s in _SIGN_PATTERNS]
    best, signs = max(results, key=lambda r: r[0]["p_value"])
    pattern = "".join("+" if s > 0 else "-" for s in signs)
    return {**best, "sign_pattern": pattern}


def _decide(cubic: dict, rhombohedral: dict, projections, significance: float) -> tuple[str, str]:
    """(class, statement) from the two tests; a run with too few projections is undetermined."""
    b = projections.n_projections
    if b < MIN_PROJECTIONS:
        verdict = (f"cubic rejected (p = {cubic['p_value']:.3g}) but too few to tell which distortion"
                   if cubic["p_value"] <= significance else "too few to test cubic")
        return UNDETERMINED, (f"undetermined: {projections.n_effective:.1f} effective samples give {b} independent "
                              f"error-bar projections, a class needs {MIN_PROJECTIONS}; {verdict}; run longer")
    if cubic["p_value"] > significance:
        return "cubic", f"consistent with cubic: cubic not rejected (p = {cubic['p_value']:.3g} > {significance:g})"
    if rhombohedral["p_value"] > significance:
        kind = "rhombohedral"
    else:
        kind = _other_kind(projections, significance)
    rejected = "not rejected" if rhombohedral["p_value"] > significance else "rejected"
    return kind, (f"{kind}: cubic rejected (p = {cubic['p_value']:.3g}); rhombohedral {rejected} "
                  f"(p = {rhombohedral['p_value']:.3g}, variant {rhombohedral['sign_pattern']}) at significance {significance:g}")


def _max_deviation_upper(projections, significance: float) -> float:
    """Simultaneous upper bound on max_i |mean delta_i| at 1 - significance (t(B), Bonferroni over 3 angles)."""
    t_crit = stats.t.isf(significance / 6, projections.n_projections)
    return max(abs(m) + t_crit * s for m, s, _ in (projections.t_test(_angle(i)) for i in range(3)))


def classify_cell(lengths_angstrom, deviations_deg, significance: float = 0.01) -> dict:
    """Classify from per-frame conventional lengths (n, 3) and angle - 90 (n, 3); returns a JSON-ready dict.

    Keys: ``classification``; ``test`` with each hypothesis's T^2 (``statistic``),
    ``dof``, ``n_effective`` (N / 2 tau with the conservative tau),
    ``n_projections`` and ``p_value``; ``confidence`` (1 - p of the cubic
    hypothesis when distorted, the p-value of cubic when cubic, NaN when
    undetermined) with ``confidence_meaning``; ``statement`` (one sentence);
    ``max_deviation_upper_deg`` (simultaneous upper bound of max |mean angle - 90|
    at the 1 - significance level).
    """
    if not 0 < significance < 0.5:
        raise InputError(f"--significance {significance} must lie between 0 and 0.5 (e.g. 0.01)")
    series = np.column_stack([np.asarray(deviations_deg, dtype=float), np.asarray(lengths_angstrom, dtype=float)])
    projections = cosine_projections(series, conservative_tau(series @ _all_weights()))
    common = {"n_effective": projections.n_effective, "n_projections": projections.n_projections}
    cubic = {**projections.max_t_hotelling(_cubic_weights()), **common}
    rhombohedral = {**_rhombohedral_test(projections), **common}
    kind, statement = _decide(cubic, rhombohedral, projections, significance)
    upper = _max_deviation_upper(projections, significance)
    if kind == UNDETERMINED:
        confidence, meaning = float("nan"), "none: too few effective samples for the test"
    elif kind == "cubic":
        confidence, meaning = cubic["p_value"], "p-value of the cubic hypothesis (not rejected)"
        statement += f"; max |angle - 90| < {upper:.3g} deg at {100 * (1 - significance):g} %"
    else:
        confidence, meaning = 1.0 - cubic["p_value"], "1 - p-value of the cubic hypothesis (rejected)"
    return {
        "classification": kind,
        "confidence": float(confidence),
        "confidence_meaning": meaning,
        "statement": statement,
        "significance": significance,
        "max_deviation_upper_deg": float(upper),
        "test": {
            "method": ("Hotelling T^2 (F reference) and largest single |t| (t reference), Bonferroni-combined, on per-frame "
                       "contrasts of the variant-aligned conventional cell; covariance of the means from B low-frequency cosine "
                       "projections (equal-weighted cosine estimator, B = N / (3 tau), tau: Sokal window with Wolff's bias "
                       "correction, maximum over contrasts)"),
            "cubic": {"constraints": "angle_i - 90 = 0 (3), a - b = b - c = 0 (2)", **cubic},
            "rhombohedral": {"constraints": "s_i (angle_i - 90) equal for the best sign pattern s (2), a - b = b - c = 0 (2)",
                             **rhombohedral},
            "angle_p_values": [projections.t_test(_angle(i))[2] for i in range(3)],
        },
    }


def _other_kind(projections, significance: float) -> str:
    """Tetragonal, orthorhombic, monoclinic or triclinic from single t-tests (Bonferroni over 3 angles, 3 pairs)."""
    level = significance / 6
    off = [i for i in range(3) if projections.t_test(_angle(i))[2] <= level]
    pairs = [(0, 1), (1, 2), (0, 2)]
    equal = {pair for pair in pairs if projections.t_test(_length_difference(*pair))[2] > level}
    if not off:
        return "tetragonal" if equal else "orthorhombic"
    if len(off) == 1:
        return "monoclinic"
    if len(off) == 2:
        i, j = off
        # |delta_i| = |delta_j| holds for one of the two relative signs: composite, so the larger p decides
        same_size = max(projections.t_test(_angle(i) - _angle(j, s))[2] for s in (1.0, -1.0)) > level
        if same_size and (i, j) in equal:  # angles i and j are opposite axes i and j: a = b for alpha = beta
            return "monoclinic"
    return "triclinic"
