"""Shuttling: when a cell switches between cubic and distorted, or between distortion variants.

Variants.  With conventional angle deviations delta = (alpha, beta, gamma) - 90
(degrees), a rhombohedral cell along one body diagonal has |delta_1| = |delta_2|
= |delta_3| with a sign pattern: (+,+,+), (+,-,-), (-,+,-), (-,-,+) are the four
diagonals compressed (the angles open up, the diagonal shortens), the negated
patterns the same diagonals elongated.  Flipping conventional axis i negates the
two angles that involve it, and permuting axes permutes angles and lengths
alike: these 24 operations map equivalent variants onto each other.

Criterion (per frame).  delta(t) is smoothed by a moving average over
``smooth_ps`` (thermal noise would otherwise flip the labels every frame).  A
frame becomes distorted when max_i |delta_i| of the smoothed series exceeds
``threshold_deg`` and returns to cubic when it drops below half of it
(hysteresis).  A distorted frame's variant is the sign pattern of the smoothed
deviations, with 0 for components below threshold/2.  Stretches shorter than the
smoothing window are merged into their neighbours, then label changes are
counted as switches.  Length anisotropy (tetragonal cells) is not part of the
criterion.

The order parameter eta(t) = (|delta_1| + |delta_2| + |delta_3|) / 3 (sorted
|angle - 90| averaged) does not depend on the variant; the raw angles do, so
their means over a shuttling run are meaningless.  :func:`align_to_variant`
maps every frame of an equivalent variant onto the dominant one so that means
and tests can use all frames.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

CUBIC = "cubic"
#: Angle sign multipliers of flipping no axis, axis a, b or c (angle i is opposite axis i).
_FLIPS = [np.array(m, dtype=float) for m in ([1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1])]
_PERMUTATIONS = [np.array(p) for p in itertools.permutations(range(3))]


@dataclass(frozen=True)
class Shuttling:
    """Per-frame states and their statistics (see the module docstring for the criterion).

    ``labels``: per frame ``cubic`` or a sign pattern such as ``+--``;
    ``smoothed_deviations_deg``: the smoothed angle - 90 used for the labels;
    ``window_frames``: moving-average (and minimum dwell) length in frames.
    """

    labels: np.ndarray
    smoothed_deviations_deg: np.ndarray
    window_frames: int
    threshold_deg: float
    smooth_ps: float

    @property
    def distorted(self) -> np.ndarray:
        return self.labels != CUBIC

    def segments(self, time_ps) -> list[dict]:
        """Consecutive stretches of one label: label, start_ps, end_ps, frames."""
        edges = np.flatnonzero(self.labels[1:] != self.labels[:-1]) + 1
        starts = np.concatenate([[0], edges])
        ends = np.concatenate([edges, [len(self.labels)]])
        return [{"label": str(self.labels[s]), "start_ps": float(time_ps[s]), "end_ps": float(time_ps[e - 1]), "frames": int(e - s)}
                for s, e in zip(starts, ends)]

    def summary(self, time_ps) -> dict:
        """Fraction of time distorted, variants visited, switch counts and the criterion, JSON-ready."""
        segments = self.segments(time_ps)
        pairs = list(zip(segments[:-1], segments[1:]))
        cubic_distorted = sum(1 for a, b in pairs if (a["label"] == CUBIC) != (b["label"] == CUBIC))
        n = len(self.labels)
        variants = []
        for label in sorted(set(self.labels.tolist()) - {CUBIC}):
            variants.append({"variant": label, "fraction": float(np.mean(self.labels == label)), "description": describe_variant(label)})
        variants.sort(key=lambda v: -v["fraction"])
        return {
            "is_shuttling": len(segments) > 1,
            "fraction_distorted": float(np.mean(self.distorted)) if n else 0.0,
            "variants_visited": variants,
            "n_switches": len(pairs),
            "n_cubic_distorted_switches": cubic_distorted,
            "n_variant_switches": len(pairs) - cubic_distorted,
            "segments": segments if len(segments) <= 200 else segments[:200],
            "criterion": (
                f"angle - 90 smoothed over {self.window_frames} frames ({self.smooth_ps:.3g} ps); distorted when the largest "
                f"|smoothed angle - 90| > {self.threshold_deg:g} deg, cubic again below {self.threshold_deg / 2:g} deg; variant = "
                f"signs of smoothed angle - 90 (0 below {self.threshold_deg / 2:g} deg); stretches shorter than the window merged"),
        }


def describe_variant(label: str) -> str:
    """Words for a sign pattern: ``+--`` -> ``rhombohedral, compressed along [1-1-1]``."""
    signs = [{"+": 1, "-": -1, "0": 0}[c] for c in label]
    if 0 not in signs:
        sense = signs[0] * signs[1] * signs[2]
        # With axis flips f_i, angle i carries f_j f_k times the sense; solving with f_1 = +1 gives the diagonal.
        diagonal = [1, sense * signs[2], sense * signs[1]]
        text = "".join("1" if d > 0 else "-1" for d in diagonal)
        return f"rhombohedral, {'compressed' if sense > 0 else 'elongated'} along [{text}]"
    names = ["alpha", "beta", "gamma"]
    moved = [f"{names[i]} {'>' if s > 0 else '<'} 90" for i, s in enumerate(signs) if s]
    return f"{len(moved)} angle{'s' if len(moved) > 1 else ''} off 90 ({', '.join(moved)})"


def _label(pattern: np.ndarray) -> str:
    return "".join("+" if s > 0 else "-" if s < 0 else "0" for s in pattern)


def _merge_short(labels: np.ndarray, min_frames: int) -> np.ndarray:
    """Absorb stretches shorter than ``min_frames`` into the preceding stretch (a short first one into the next)."""
    if min_frames <= 1 or len(labels) == 0:
        return labels.copy()
    edges = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], edges])
    lengths = np.diff(np.concatenate([starts, [len(labels)]]))
    runs: list[list] = []  # [label, frames]; one pass, O(number of stretches)
    for start, length in zip(starts, lengths):
        label = labels[start]
        if runs and (length < min_frames or runs[-1][0] == label):
            runs[-1][1] += length
        elif runs and runs[-1][1] < min_frames and len(runs) == 1:
            runs[-1] = [label, runs[-1][1] + length]  # a short first stretch takes the label of the next
        else:
            runs.append([label, length])
    merged = np.empty(len(labels), dtype=labels.dtype)
    position = 0
    for label, length in runs:
        merged[position:position + length] = label
        position += length
    return merged


def detect_shuttling(time_ps, deviations_deg, threshold_deg: float = 1.0, smooth_ps: float = 0.5) -> Shuttling:
    """Label every frame cubic or a distortion variant from angle deviations (angle - 90, degrees, shape (n, 3)).

    ``threshold_deg``: distortion threshold on the smoothed deviations;
    ``smooth_ps``: moving-average window (ps, at least one frame).
    """
    time_ps = np.asarray(time_ps, dtype=float)
    deviations = np.asarray(deviations_deg, dtype=float)
    dt = float(np.median(np.diff(time_ps))) if len(time_ps) > 1 else 1.0
    window = max(1, int(round(smooth_ps / dt))) if dt > 0 else 1
    window = min(window, max(1, len(deviations) // 4))
    smoothed = uniform_filter1d(deviations, size=window, axis=0, mode="nearest")
    largest = np.abs(smoothed).max(axis=1)
    distorted = np.zeros(len(deviations), dtype=bool)
    state = False
    for i, value in enumerate(largest):  # hysteresis needs the previous state: a short sequential loop
        state = value > threshold_deg if not state else value >= 0.5 * threshold_deg
        distorted[i] = state
    patterns = np.where(np.abs(smoothed) >= 0.5 * threshold_deg, np.sign(smoothed), 0.0)
    labels = np.array([_label(p) if d else CUBIC for p, d in zip(patterns, distorted)], dtype=object)
    labels = _merge_short(labels, window)
    return Shuttling(labels.astype(str), smoothed, window, float(threshold_deg), float(window * dt))


def variant_operation(label: str, reference: str):
    """(permutation, angle sign multipliers) mapping the pattern ``label`` onto ``reference``, or None.

    Operations without permutation are preferred (they keep alpha, beta, gamma in place).
    """
    pattern = np.array([{"+": 1, "-": -1, "0": 0}[c] for c in label], dtype=float)
    target = np.array([{"+": 1, "-": -1, "0": 0}[c] for c in reference], dtype=float)
    for perm in _PERMUTATIONS:
        for flips in _FLIPS:
            if np.array_equal(flips * pattern[perm], target):
                return perm, flips
    return None


def align_to_variant(lengths, deviations_deg, labels, reference: str | None = None):
    """Map each frame of a variant equivalent to ``reference`` (default: the most visited) onto it.

    Returns (aligned lengths (n, 3), aligned deviations (n, 3), reference label,
    labels that could not be aligned: e.g. the opposite sense of the same
    diagonal, which is a different structure).  Cubic frames are left as they are.
    """
    lengths = np.array(lengths, dtype=float)
    deviations = np.array(deviations_deg, dtype=float)
    labels = np.asarray(labels)
    distorted_labels = [lab for lab in labels.tolist() if lab != CUBIC]
    if not distorted_labels:
        return lengths, deviations, None, []
    if reference is None:
        values, counts = np.unique(distorted_labels, return_counts=True)
        reference = str(values[np.argmax(counts)])
    unaligned = []
    for label in sorted(set(distorted_labels) - {reference}):
        op = variant_operation(label, reference)
        if op is None:
            unaligned.append(label)
            continue
        perm, flips = op
        rows = labels == label
        lengths[rows] = lengths[rows][:, perm]
        deviations[rows] = flips * deviations[rows][:, perm]
    return lengths, deviations, reference, unaligned
