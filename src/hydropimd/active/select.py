"""Choosing which candidate frames to label (docs/theory/active-learning.md).

1. The committee deviation E of every candidate (:mod:`hydropimd.active.deviation`;
   docs/theory/potential.md) sorts it into one of three windows (DP-GEN's trust levels,
   Zhang et al., Phys. Rev. Materials 3, 023804 (2019)):
   E < lo: the models agree, the frame is already described ("accurate");
   lo <= E < hi: a candidate for labelling;
   E >= hi: so far from the data that the frame is most likely unphysical
   (a poor early model's MD), dropped, and reported with its E range.
2. From the kept frames, N are picked either by the largest E (``deviation``)
   or by diversity (``diversity``): with x_i the averaged SOAP vector of frame
   i (:mod:`hydropimd.active.soap`), the subset S of size N maximising

       D(S) = sum_{i<j in S} |x_i - x_j|^2            (the diversity objective of docs/theory/active-learning.md)

   found by :func:`most_diverse_subset`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from ase import Atoms
from ase.io import read, write

from hydropimd.errors import InputError

MODES = ("deviation", "diversity")


# ---------------------------------------------------------------- diversity
def subset_diversity(vectors: np.ndarray, indices) -> float:
    """D(S) = sum over pairs i < j in S of |x_i - x_j|^2, by the identity |S| sum_i |x_i - mean_S|^2."""
    x = np.asarray(vectors, dtype=float)[np.asarray(indices, dtype=int)]
    if len(x) < 2:
        return 0.0
    return float(len(x) * np.sum((x - x.mean(axis=0)) ** 2))


def most_diverse_subset(vectors: np.ndarray, n: int, starts: int = 8, max_swaps: int | None = None) -> np.ndarray:
    """Indices (sorted) of ``n`` rows of ``vectors`` (M, d) with a large D(S) = sum_{i<j in S} |x_i - x_j|^2.

    Maximising D exactly is NP-hard (the "maximum diversity problem"; Kuo,
    Glover and Dhir, Decision Sciences 24, 1171 (1993)); this is the classic
    greedy construction followed by exchange (swap) local search, both cheap
    thanks to the identity

        D(S) = |S| sum_{i in S} |x_i - m_S|^2 = |S| q - |s|^2,
        s = sum_{i in S} x_i,   q = sum_{i in S} |x_i|^2,

    so with the running sums s, q and t_j = x_j . s for every candidate j:

    * adding j changes D by q + |S| |x_j|^2 - 2 t_j (O(1) per candidate);
    * swapping i in S for j outside changes D by
      a_i + b_j + 2 x_i . x_j with a_i = 2 t_i - (n + 1)|x_i|^2 and
      b_j = (n - 1)|x_j|^2 - 2 t_j (O(1) per pair, given the Gram rows of the
      members, which are kept and replaced one row per swap).

    Greedy start from a first frame, then repeatedly the frame with the
    largest gain; exchange: the best improving swap, until none improves D by
    more than 1e-12 relative (or ``max_swaps``, default 10 n).  This is done
    from ``starts`` first frames (those farthest from the mean of all) and the
    best result kept.  Cost per swap O(n M + M d).  Measured against brute
    force in the tests (docs/validation/selection.md: fraction optimal, worst ratio).

    This is not farthest-point sampling (ASAP, "fps"), which maximises the
    minimum distance between chosen points; the diversity objective of docs/theory/active-learning.md is the sum of squared
    distances, which favours spread around the subset mean and may pick
    near-duplicates at opposite extremes.
    """
    x = np.asarray(vectors, dtype=float)
    if x.ndim != 2:
        raise InputError(f"vectors must be a 2-D array (frames x features), got shape {x.shape}")
    m = len(x)
    if n < 1:
        raise InputError(f"the number of frames to select must be at least 1, got {n}")
    if n >= m:
        return np.arange(m)
    x = x - x.mean(axis=0)  # D is translation invariant; centring avoids cancellation in n q - |s|^2
    norms = np.einsum("ij,ij->i", x, x)
    if n == 1:
        return np.array([int(np.argmax(norms))])
    best, best_value = None, -np.inf
    for first in np.argsort(-norms, kind="stable")[:max(1, starts)]:
        members, value = _greedy_exchange(x, norms, n, int(first), 10 * n if max_swaps is None else max_swaps)
        if value > best_value * (1 + 1e-12):
            best, best_value = members, value
    return np.sort(np.array(best))


def _greedy_exchange(x: np.ndarray, norms: np.ndarray, n: int, first: int, max_swaps: int) -> tuple[list[int], float]:
    m = len(x)
    chosen = np.zeros(m, dtype=bool)
    members = [first]
    chosen[first] = True
    s = x[first].copy()
    q = float(norms[first])
    t = x @ s
    while len(members) < n:
        gain = q + len(members) * norms - 2 * t
        gain[chosen] = -np.inf
        j = int(np.argmax(gain))
        members.append(j)
        chosen[j] = True
        s += x[j]
        q += float(norms[j])
        t += x @ x[j]
    gram = x[members] @ x.T  # row r: x_{members[r]} . x_j for every j
    for _ in range(max_swaps):
        value = n * q - float(s @ s)
        a = 2 * t[members] - (n + 1) * norms[members]
        b = (n - 1) * norms - 2 * t
        b[chosen] = -np.inf
        delta = a[:, None] + b[None, :] + 2 * gram
        r, j = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if not delta[r, j] > 1e-12 * max(value, 1e-300):
            break
        i = members[r]
        members[r] = int(j)
        chosen[i], chosen[j] = False, True
        new_row = x @ x[j]
        t += new_row - gram[r]
        gram[r] = new_row
        s += x[j] - x[i]
        q += float(norms[j] - norms[i])
    return members, n * q - float(s @ s)


# ---------------------------------------------------------------- candidates
def read_candidates(candidates: str | os.PathLike | Sequence[Atoms]) -> list[Atoms]:
    """Candidate frames: an extxyz file (any ASE format; every frame) or a list of Atoms."""
    if not isinstance(candidates, (str, os.PathLike)):
        frames = list(candidates)
    else:
        try:
            frames = read(candidates, index=":")
        except FileNotFoundError:
            raise InputError(f"candidate file {candidates} does not exist") from None
        except Exception as err:  # ASE raises many types for unreadable files
            text = str(err).splitlines()[0] if str(err) else repr(err)
            raise InputError(f"cannot read candidate frames from {candidates}: {text}") from None
    if not frames:
        raise InputError(f"{candidates if isinstance(candidates, (str, os.PathLike)) else 'the candidate list'} "
                         "holds no frames")
    return frames


def check_window(lo: float, hi: float, n: int, mode: str) -> None:
    """One-line errors for impossible selection settings (lo >= hi, n < 1, unknown mode)."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0:
        raise InputError(f"deviation bounds lo {lo} and hi {hi} must be finite and lo >= 0 (eV/A)")
    if lo >= hi:
        raise InputError(f"lo {lo} must be smaller than hi {hi} (eV/A): frames with lo <= E < hi are kept")
    if n < 1:
        raise InputError(f"--n {n} must be at least 1")
    if mode not in MODES:
        raise InputError(f"mode '{mode}' must be deviation or diversity")


def window_counts(dev: np.ndarray, lo: float, hi: float) -> dict:
    """Counts of the three deviation windows (E < lo, lo <= E < hi, E >= hi) and the dropped frames' E range."""
    dev = np.asarray(dev, dtype=float)
    below, dropped = dev < lo, dev >= hi
    return {
        "counts": {"candidates": len(dev), "below_lo": int(below.sum()), "kept": int((~below & ~dropped).sum()),
                   "dropped": int(dropped.sum())},
        "accurate_fraction": float(below.mean()) if len(dev) else 0.0,
        "dropped_range": [float(dev[dropped].min()), float(dev[dropped].max())] if dropped.any() else None,
        "deviation_range": ({"min_ev_per_angstrom": float(dev.min()), "median_ev_per_angstrom": float(np.median(dev)),
                             "max_ev_per_angstrom": float(dev.max())} if len(dev) else None),
    }


def choose_frames(
    dev: np.ndarray,
    lo: float,
    hi: float,
    n: int,
    mode: str = "deviation",
    vectors_of: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict:
    """The selection given every candidate's deviation ``dev`` (eV/A); see :func:`select_frames` for the result.

    ``vectors_of(indices)`` returns the averaged SOAP vectors of those
    candidates (diversity mode; called only when there are more kept frames
    than ``n``).
    """
    check_window(lo, hi, n, mode)
    dev = np.asarray(dev, dtype=float)
    kept = np.flatnonzero((dev >= lo) & (dev < hi))
    note = None
    if len(kept) <= n:
        pick = kept[np.argsort(-dev[kept], kind="stable")]
        if len(kept) < n:
            note = f"only {len(kept)} candidates lie in [{lo}, {hi}) eV/A: all of them are selected instead of {n}"
    elif mode == "deviation":
        pick = kept[np.argsort(-dev[kept], kind="stable")[:n]]
    else:
        if vectors_of is None:
            raise InputError("diversity selection needs the frames' SOAP vectors")
        pick = kept[most_diverse_subset(vectors_of(kept), n)]
    result = {"mode": mode, "lo": lo, "hi": hi, "n": n, **window_counts(dev, lo, hi), "note": note}
    result["counts"]["selected"] = len(pick)
    result["selected"] = [{"index": int(k), "max_force_dev": float(dev[k])} for k in pick]
    return result


def select_frames(
    candidates: str | os.PathLike | Sequence[Atoms],
    committee,
    lo: float,
    hi: float,
    n: int,
    mode: str = "deviation",
    pair=None,
    soap_settings=None,
    progress: Callable[[int, int], None] | None = None,
    deviations: np.ndarray | None = None,
) -> dict:
    """Committee deviation windows, then N frames by deviation or diversity.  Returns a JSON-ready dict.

    ``committee``: two or more model files (or a loaded :class:`HydridePotential`
    with a committee).  ``lo``, ``hi``: deviation bounds, eV/A (kept:
    lo <= E < hi).  ``pair`` is not used: the pair baseline cancels in the
    deviation.  ``soap_settings``: a :class:`SOAPSettings` or dict of its fields
    (diversity mode; species default to the committee's type map).
    ``deviations``: E of every candidate if already known (the committee is
    then loaded only to check it).  ``progress(done, total)``: frames evaluated.

    Result keys:
      ``selected``: list of ``{"index", "max_force_dev"}`` (index into the
      candidates; deviation mode by decreasing E, diversity mode by index);
      ``counts``: ``candidates``, ``below_lo``, ``kept``, ``dropped``, ``selected``;
      ``accurate_fraction``: below_lo / candidates (DP-GEN's accurate ratio);
      ``dropped_range``: [min, max] E of the dropped frames (eV/A) or None;
      ``deviation_range``: ``min_ev_per_angstrom``, ``median_ev_per_angstrom``, ``max_ev_per_angstrom`` of E over all candidates;
      ``mode``, ``lo``, ``hi``, ``n``, ``note`` (why fewer than n, else None),
      ``soap`` (the settings used, diversity mode), ``candidates`` (path), ``committee``
      (the model files; None when a loaded potential was given).
    """
    from hydropimd.active.deviation import check_committee, force_deviation, load_committee
    from hydropimd.active.soap import SOAPSettings, averaged_soap
    from hydropimd.potential.calculator import HydridePotential

    check_window(lo, hi, n, mode)
    if isinstance(committee, HydridePotential):
        potential, names = committee, None
    else:
        names = check_committee(committee)
    settings = dict(soap_settings.as_dict() if isinstance(soap_settings, SOAPSettings) else (soap_settings or {}))
    if mode == "diversity":
        SOAPSettings.from_dict(settings)  # bad settings fail before the models load
    frames = read_candidates(candidates)
    if not isinstance(committee, HydridePotential):
        potential = load_committee(names)  # type maps checked here, before any frame is evaluated
    if deviations is None:
        dev = force_deviation(frames, potential, progress=progress)
    else:
        dev = np.asarray(deviations, dtype=float)
        if dev.shape != (len(frames),):
            raise InputError(f"{len(dev)} deviations given for {len(frames)} candidate frames")
    if not settings.get("species"):  # one species list for every candidate: the committee's type map
        settings["species"] = list(potential.type_map)
    soap = SOAPSettings.from_dict(settings)
    used = []

    def vectors_of(indices):
        used.append(True)
        return averaged_soap([frames[k] for k in indices], soap)

    result = choose_frames(dev, lo, hi, n, mode, vectors_of)
    result["soap"] = soap.as_dict() if used else None
    result["candidates"] = str(candidates) if isinstance(candidates, (str, os.PathLike)) else None
    result["committee"] = names
    return result


def write_selection(candidates: str | os.PathLike | Sequence[Atoms], selection: dict, out: str | os.PathLike) -> Path:
    """Write the selected frames (in the selection's order) to ``out`` (extxyz, atomically).

    Each frame keeps its candidate ``info`` and gains ``candidate_index`` and
    ``max_force_dev`` (eV/A).
    """
    frames = read_candidates(candidates)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    picked = []
    for s in selection["selected"]:
        atoms = frames[s["index"]].copy()
        atoms.calc = None
        atoms.info.update({"candidate_index": s["index"], "max_force_dev": s["max_force_dev"]})
        picked.append(atoms)
    write(tmp, picked, format="extxyz")
    os.replace(tmp, out)
    return out
