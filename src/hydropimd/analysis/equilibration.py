"""Where a run's initial transient ends, found from its data (``--discard-ps auto``).

A run starts from a structure that is not a typical member of its ensemble (an
ideal cubic cell, a neighbouring pressure's end), so its first picoseconds drift.
A fixed discard either wastes data or keeps drift.  Chodera's rule picks, for a
series ``A_t``, the start ``t0`` that maximises the effective number of samples
kept, ``N_eff(t0) = (T - t0) / g(t0)`` with ``g`` the statistical inefficiency of
``A[t0:]``: dropping more removes bias but costs samples; the maximum balances
the two (J. D. Chodera, J. Chem. Theory Comput. 12, 1799 (2016)).  pymbar's
``timeseries.detect_equilibration`` implements it; the start taken here is the
latest over the observables the analysis uses, so every one of them is past its
transient.
"""

from __future__ import annotations

import logging

import numpy as np

from hydropimd.errors import InputError

#: the most candidate starts tried per series: pymbar evaluates one statistical inefficiency per candidate (each
#: O(N)), so long runs are scanned every N // 500 frames (a 0.2 % resolution of the start)
MAX_CANDIDATES = 500


def equilibration_starts(observables: np.ndarray) -> list[int]:
    """The Chodera start (a frame index) of each column of ``observables`` (frames x series)."""
    logging.getLogger("pymbar").setLevel(logging.ERROR)  # its import-time banners (JAX, caveats) are not ours
    from pymbar import timeseries

    data = np.asarray(observables, dtype=float)
    data = data[:, None] if data.ndim == 1 else data
    if len(data) < 3:
        raise InputError(f"{len(data)} frames are too few to find the end of the equilibration; run longer")
    skip = max(1, len(data) // MAX_CANDIDATES)
    starts = []
    for column in data.T:
        if np.ptp(column) == 0:  # a constant series (a fixed angle) is equilibrated from its first frame
            starts.append(0)
            continue
        start, _, _ = timeseries.detect_equilibration(column, nskip=skip)
        starts.append(int(start))
    return starts


def cell_observables(metric: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The volume (A^3) and the three cell angles (deg) of each frame's metric tensor (frames x 3 x 3): the
    quantities a cell-shape verdict rests on, as columns, with their names."""
    metric = np.asarray(metric, dtype=float)
    lengths = np.sqrt(np.einsum("nii->ni", metric))
    angles = [np.degrees(np.arccos(metric[:, j, k] / (lengths[:, j] * lengths[:, k]))) for j, k in ((1, 2), (0, 2), (0, 1))]
    volume = np.sqrt(np.linalg.det(metric))
    return np.column_stack([volume, *angles]), ["volume", "alpha", "beta", "gamma"]
