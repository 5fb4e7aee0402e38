"""Hydrogen sublattice: partial radial distribution functions and hydrogen diffusion.

RDF.  g_ab(r) = n_ab(r) / (N_a rho_b 4 pi r^2 dr), n_ab the number of b atoms
in the shell around each a atom (ordered pairs, a != b atom), rho_b = N_b / V
(the normalisation of ase.geometry.rdf.get_rdf, consistent with LAMMPS
``compute rdf``), averaged over frames of the centroid trajectory.

Diffusion.  Positions are unwrapped by accumulating minimum-image steps
between consecutive frames (r_u(t) = r_u(t-1) + r(t) - r(t-1) - round(ds) H(t),
ds the fractional step; valid while an atom moves less than half a cell per
frame), the mass-weighted centre-of-mass drift of the whole system is removed,
and the hydrogen mean-square displacement is averaged over atoms and all time
origins (FFT algorithm: V. Calandrini et al., "nMoldyn", Collection SFN 12, 201
(2011)).  Einstein relation MSD(t) = 6 D t + b, fitted over a window of lag
times; the error of D is the spread of D over consecutive blocks of the run
divided by sqrt(number of blocks).  D in angstrom^2/ps (1 A^2/ps = 1e-4 cm^2/s).

Verdict: ``diffusing`` when D exceeds 3 error bars and the MSD at the end of the
fit window exceeds the squared H-H nearest-neighbour distance (the protons have
hopped at least one site on average), else ``solid``.  Earlier ab initio MD of
LaH10 saw the protons diffuse from about 800 K.
"""

from __future__ import annotations

import numpy as np
from ase.data import atomic_masses, atomic_numbers
from scipy import fft, stats

from hydropimd.analysis.trajectory import HYDROGEN_SYMBOLS, discard_start, read_frames
from hydropimd.errors import InputError

#: cm^2/s per angstrom^2/ps: (1e-8 cm)^2 / 1e-12 s; diffusion coefficients are also reported in cm^2/s,
#: the unit of the experimental literature
ANGSTROM2_PER_PS_IN_CM2_PER_S = 1e-4
#: frames: fewest for a diffusion estimate with a block error (N_BLOCKS blocks of at least 8 frames, enough
#: lag times in each block's fit window)
MIN_FRAMES = 32
#: consecutive blocks of the run whose D spread gives the error of D: 4 is the fewest with a usable
#: standard deviation that still leaves each block a quarter of the run
N_BLOCKS = 4
#: error bars D must exceed to count as diffusing: the usual 3-sigma threshold, kept well above 2 because an
#: error from N_BLOCKS blocks is itself rough
DIFFUSING_SIGMAS = 3.0
#: angstrom: default RDF range, past the first shells of LaH10 (H-H ~1.1 A, La-H ~2.1 A, La-La ~3.6 A) and
#: the next ones; a smaller cell caps it at half its smallest height (see RDF_RANGE_MARGIN)
RDF_RANGE_ANGSTROM = 6.0
#: fraction of half the smallest cell height the default RDF range may reach: just below that limit, up to
#: which rounding fractional differences finds every pair (the minimum image is exact)
RDF_RANGE_MARGIN = 0.999
#: default RDF histogram bins over the range (6 A / 200 = 0.03 A, finer than the thermal width of the peaks)
RDF_BINS = 200
#: default frames (evenly spaced) averaged for the RDFs: RDFs converge with far fewer frames than the MSD
RDF_FRAMES = 20
#: default MSD fit window, fractions of the run length: past the ballistic and vibrational short lags,
#: before the long lags that few time origins make noisy
FIT_WINDOW = (0.1, 0.5)
#: angstrom: the H-H nearest-neighbour peak is searched below this (H-H bonds in the clathrate hydrides are
#: 1.0-1.3 A; the next H-H shell and the La-H shell lie beyond 1.8 A at the pressures studied)
HH_PEAK_BELOW_ANGSTROM = 2.0
#: angstrom: hop distance assumed when g_HH has no peak below HH_PEAK_BELOW_ANGSTROM: a typical H-H
#: nearest-neighbour distance of the superhydrides (1.0-1.2 A)
DEFAULT_HOP_ANGSTROM = 1.0
#: angstrom: distances below this are an atom and itself (the same species' pair histogram)
SELF_DISTANCE_ANGSTROM = 1e-8
#: a atoms per batch of the pair histogram: the 256 x N x 3 difference array stays ~20 MB for N = 2816
PAIR_CHUNK_ATOMS = 256
#: padded time lags x atoms per FFT batch of the MSD: with 3 coordinates of 8 bytes, ~100 MB whatever the
#: system size
FFT_BATCH_VALUES = 2**22


def _pair_histogram(frac_a, frac_b, cell, edges, same: bool, chunk: int = PAIR_CHUNK_ATOMS) -> np.ndarray:
    """Counts of minimum-image a-b distances in the bins ``edges`` (ordered pairs, self excluded).

    Rounding fractional differences finds every pair closer than half the
    smallest cell height exactly (each fractional component of such a vector is
    below 1/2), so ``edges[-1]`` must not exceed it.  Hand-written because
    ase.geometry.rdf.get_rdf takes 1.5 s per frame and species pair on a
    2816-atom cell and ase.neighborlist.neighbor_list 12 s at a 6 A cutoff
    (measured); this takes about 0.3 s per frame for all pairs.
    """
    counts = np.zeros(len(edges) - 1)
    r_max = edges[-1]
    for start in range(0, len(frac_a), chunk):
        diff = frac_b[None, :, :] - frac_a[start:start + chunk, None, :]
        diff -= np.round(diff)
        d = np.linalg.norm(diff @ cell, axis=-1).ravel()
        d = d[(d < r_max) & (d > SELF_DISTANCE_ANGSTROM if same else True)]
        counts += np.histogram(d, bins=edges)[0]
    return counts


def radial_distribution_functions(frac, cells, symbols, pairs, r_max_angstrom: float, bins: int = RDF_BINS) -> tuple[np.ndarray, dict]:
    """Frame-averaged partial g(r) for each (a, b) in ``pairs`` from fractional positions (n, N, 3) and cells (n, 3, 3).

    Returns the bin centres (angstrom) and ``{"a-b": g}``.
    """
    edges = np.linspace(0.0, r_max_angstrom, bins + 1)
    shells = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    symbols = np.asarray(symbols)
    result = {}
    for a, b in pairs:
        ia, ib = symbols == a, symbols == b
        g = np.zeros(bins)
        for f, cell in zip(frac, cells):
            volume = abs(np.linalg.det(cell))
            counts = _pair_histogram(f[ia], f[ib], cell, edges, same=(a == b))
            g += counts / (ia.sum() * (ib.sum() / volume) * shells)
        result[f"{a}-{b}"] = g / len(frac)
    return 0.5 * (edges[1:] + edges[:-1]), result


def unwrapped_positions(positions, cells) -> np.ndarray:
    """Continuous trajectories (angstrom, (n, N, 3)) from wrapped positions and per-frame cells, by minimum-image steps."""
    positions = np.asarray(positions, dtype=float)
    cells = np.asarray(cells, dtype=float)
    frac = positions @ np.linalg.inv(cells)
    jumps = np.round(np.diff(frac, axis=0))  # lattice translations crossed between consecutive frames
    steps = np.diff(positions, axis=0) - jumps @ cells[1:]
    return np.concatenate([positions[:1], positions[:1] + np.cumsum(steps, axis=0)])


def mean_square_displacement(trajectories) -> np.ndarray:
    """MSD(m) (angstrom^2), m = 0..n-1 frames, averaged over atoms and time origins, of trajectories (n, N, 3).

    MSD(m) = S1(m) - 2 S2(m) with S2 the position autocorrelation (FFT) and S1 by
    recursion (Calandrini et al. 2011), O(n log n) per coordinate.
    """
    x = np.asarray(trajectories, dtype=float)
    n = len(x)
    squares = np.sum(x**2, axis=2).mean(axis=1)  # (n,) averaged over atoms
    total = 2.0 * squares.sum()
    s1 = np.empty(n)
    for m in range(n):
        s1[m] = total / (n - m)
        total -= squares[m] + squares[n - 1 - m]
    size = fft.next_fast_len(2 * n, real=True)
    s2 = np.zeros(n)
    chunk = max(1, FFT_BATCH_VALUES // size)  # atoms per FFT batch
    for start in range(0, x.shape[1], chunk):
        spectrum = fft.rfft(x[:, start:start + chunk], n=size, axis=0)
        s2 += fft.irfft(spectrum * spectrum.conj(), n=size, axis=0)[:n].sum(axis=(1, 2))
    s2 /= x.shape[1] * (n - np.arange(n))
    return s1 - 2.0 * s2


def _fit_diffusion(lag_ps, msd, window) -> tuple[float, float]:
    lo, hi = window
    rows = (lag_ps >= lo) & (lag_ps <= hi)
    if rows.sum() < 3:
        raise InputError("the MSD fit window holds fewer than 3 lag times; use a longer run or a wider --fit-window")
    fit = stats.linregress(lag_ps[rows], msd[rows])
    return fit.slope / 6.0, fit.intercept


def diffusion_coefficient(time_ps, trajectories, fit_window=FIT_WINDOW, n_blocks: int = N_BLOCKS) -> dict:
    """D (angstrom^2/ps) of unwrapped, drift-free trajectories (n, N, 3) with its block error.

    ``fit_window``: lag times as fractions of the analysed run length; the same
    fractions of the block length are fitted in each block.
    """
    time_ps = np.asarray(time_ps, dtype=float)
    lo, hi = fit_window
    if not 0 <= lo < hi <= 1:
        raise InputError(f"fit window {fit_window} must be fractions 0 <= start < end <= 1 of the run length")
    n = len(time_ps)
    dt = float(np.median(np.diff(time_ps)))
    msd = mean_square_displacement(trajectories)
    lag_ps = np.arange(n) * dt
    duration = lag_ps[-1]
    d, intercept = _fit_diffusion(lag_ps, msd, (lo * duration, hi * duration))
    block = n // n_blocks
    block_d = []
    for k in range(n_blocks):
        part = trajectories[k * block:(k + 1) * block]
        block_msd = mean_square_displacement(part)
        block_lags = np.arange(len(part)) * dt
        block_d.append(_fit_diffusion(block_lags, block_msd, (lo * block_lags[-1], hi * block_lags[-1]))[0])
    stderr = float(np.std(block_d, ddof=1) / np.sqrt(n_blocks))
    end = np.searchsorted(lag_ps, hi * duration, side="right") - 1
    return {
        "coefficient_angstrom2_per_ps": float(d),
        "stderr_angstrom2_per_ps": stderr,
        "coefficient_cm2_per_s": float(d) * ANGSTROM2_PER_PS_IN_CM2_PER_S,
        "stderr_cm2_per_s": stderr * ANGSTROM2_PER_PS_IN_CM2_PER_S,
        "fit_window_ps": [float(lo * duration), float(hi * duration)],
        "fit_intercept_angstrom2": float(intercept),
        "msd_at_fit_end_angstrom2": float(msd[end]),
        "block_coefficients_angstrom2_per_ps": [float(v) for v in block_d],
        "method": f"MSD = 6 D t + b over lags {lo:g}-{hi:g} of the run; error from {n_blocks} consecutive blocks",
        "series": {"lag_ps": lag_ps, "msd_angstrom2": msd},
    }


def _masses(frames) -> np.ndarray:
    if frames.masses is not None:
        return np.asarray(frames.masses, dtype=float)
    return np.array([atomic_masses[atomic_numbers[s]] for s in frames.symbols])


def _first_peak(r, g, below: float = HH_PEAK_BELOW_ANGSTROM) -> float | None:
    rows = (r < below) & (g > 0)
    if not rows.any():
        return None
    return float(r[rows][np.argmax(g[rows])])


def analyze_hydrogen(source, discard_ps: float = 0.0, dt_ps: float | None = None, r_max_angstrom: float | None = None,
                     bins: int = RDF_BINS, rdf_frames: int = RDF_FRAMES, fit_window=FIT_WINDOW, plot=None,
                     progress=None) -> dict:
    """RDFs (H-H, X-H, X-X for each other species X) and hydrogen diffusion of a run directory or trajectory.

    ``r_max_angstrom``: RDF range (default: :data:`RDF_RANGE_ANGSTROM` or half the
    smallest cell height, whichever is smaller); ``rdf_frames``: frames (evenly spaced) used
    for the RDFs; ``fit_window``: MSD fit range as fractions of the run.
    Returns a JSON-ready dict with ``rdf``, ``diffusion``, ``verdict`` and ``criterion``.
    """
    if int(bins) < 1 or int(rdf_frames) < 1:
        raise InputError(f"--bins {bins} and --rdf-frames {rdf_frames} must both be at least 1")
    if plot:
        from hydropimd.analysis.figures import check_plot_path

        check_plot_path(plot)
    frames = read_frames(source, dt_ps=dt_ps)
    start = discard_start(frames.time_ps, discard_ps)
    if len(frames) - start < MIN_FRAMES:
        raise InputError(f"{source}: {len(frames) - start} frames after discarding {discard_ps:g} ps; the diffusion "
                         f"estimate needs at least {MIN_FRAMES} frames (run longer or discard less)")
    symbols = frames.symbols
    hydrogen = np.isin(symbols, HYDROGEN_SYMBOLS)
    if not hydrogen.any():
        raise InputError(f"{source} has no hydrogen (it has {', '.join(sorted(set(symbols.tolist())))})")
    positions, cells, time_ps = frames.positions[start:], frames.cells[start:], frames.time_ps[start:]
    heights = np.abs(np.linalg.det(cells))[:, None] / np.linalg.norm(np.cross(cells[:, [1, 2, 0]], cells[:, [2, 0, 1]]), axis=2)
    limit = 0.5 * float(heights.min())
    if r_max_angstrom is None:
        r_max_angstrom = min(RDF_RANGE_ANGSTROM, RDF_RANGE_MARGIN * limit)
    elif not 0 < r_max_angstrom <= limit:
        raise InputError(f"--rmax {r_max_angstrom} A must be positive and at most half the smallest cell height ({limit:.3f} A)")
    others = [s for s in dict.fromkeys(symbols.tolist()) if s not in HYDROGEN_SYMBOLS]
    h = next(s for s in dict.fromkeys(symbols.tolist()) if s in HYDROGEN_SYMBOLS)
    pairs = [(h, h)] + [(x, h) for x in others] + [(x, x) for x in others]
    chosen = np.unique(np.linspace(0, len(positions) - 1, min(rdf_frames, len(positions))).astype(int))
    frac = positions[chosen] @ np.linalg.inv(cells[chosen])
    r, rdfs = radial_distribution_functions(frac, cells[chosen], symbols, pairs, r_max_angstrom, bins)
    if progress:
        progress(1, 2)

    unwrapped = unwrapped_positions(positions, cells)
    masses = _masses(frames)
    centre = np.einsum("tnk,n->tk", unwrapped, masses) / masses.sum()
    drift_free = unwrapped[:, hydrogen] - (centre - centre[0])[:, None, :]
    diffusion = diffusion_coefficient(time_ps, drift_free, fit_window)
    series = diffusion.pop("series")
    hop = _first_peak(r, rdfs[f"{h}-{h}"]) or DEFAULT_HOP_ANGSTROM
    diffusion["hop_distance_angstrom"] = hop
    d, err = diffusion["coefficient_angstrom2_per_ps"], diffusion["stderr_angstrom2_per_ps"]
    diffusing = d > DIFFUSING_SIGMAS * err and diffusion["msd_at_fit_end_angstrom2"] > hop**2
    if progress:
        progress(2, 2)
    result = {
        "source": str(source),
        "n_frames": int(len(positions)),
        "time_ps": [float(time_ps[0]), float(time_ps[-1])],
        "time_source": frames.time_source,
        "n_hydrogen": int(hydrogen.sum()),
        "rdf": {"r_angstrom": r, **rdfs, "frames_used": int(len(chosen)),
                "first_peak_angstrom": {k: _first_peak(r, v, r_max_angstrom) for k, v in rdfs.items()}},
        "diffusion": diffusion,
        "verdict": "diffusing" if diffusing else "solid",
        "criterion": (f"diffusing if D > {DIFFUSING_SIGMAS:g} x its error and MSD at the end of the fit window > (H-H nearest-neighbour distance "
                      f"{hop:.3g} A)^2; otherwise solid (protons vibrate about their sites)"),
    }
    if plot:
        from hydropimd.analysis.figures import plot_hydrogen

        plot_hydrogen(result, {"r_angstrom": r, "rdf": rdfs, **series}, plot)
        result["plot"] = str(plot)
    return result
