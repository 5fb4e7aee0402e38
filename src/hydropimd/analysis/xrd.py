"""Powder X-ray diffraction (2theta vs intensity) of the heavy sublattice from its static structure factor.

Only the heavy atoms are seen in a hydride (hydrogen scatters ~3000 times more
weakly per atom than La), so by default the pattern is that of all non-hydrogen
atoms (H, D and T left out; docs/theory/analysis.md), or of one chosen species.  For
frames t with positions r_j(t) of the N atoms used, of species s_j::

    S(G) = < |sum_j f_sj(|G|) exp(i G . r_j)|^2 > / N          (time average over frames)

(one species: f(|G|)^2 < |sum_j exp(i G . r_j)|^2 > / N).

Reciprocal route (default).  G runs over the reciprocal lattice of the
conventional cubic cell, G = 2 pi (h, k, l) C(t)^-T with C(t) = S^-1 H(t) the
frame's conventional cell (:mod:`hydropimd.lattice`), restricted to hkl
that are also reciprocal vectors of the simulation cell (S hkl integer; all hkl
for conventional supercells, the fcc-allowed ones for primitive-based cells).
Each G contributes at its own Bragg angle 2 theta = 2 asin(|G| lambda / 4 pi)
of that frame, so distortions split peaks and cell fluctuations broaden them.
Diffuse scattering between Bragg positions is not computed.  A peak is listed
when it holds a Bragg reflection, one whose coherent part |<F>|^2 (drift of the
species' centre removed) is at least half of <|F|^2>: thermal diffuse
scattering sampled at forbidden positions (e.g. (100) of fcc) is not a peak.

Debye route (``method="debye"``, for comparison).  The Debye formula on the
periodic system, from the histogram of pair distances up to r_max including
periodic images, with a Gaussian window W(r) = exp(-(sigma_q r)^2 / 2)::

    S(q) = 1 + sum_bins [h(r) / N - 4 pi rho r^2 dr] W(r) sin(q r) / (q r)

(P. Debye, Ann. Phys. 351, 809 (1915); the density term removes the window's
forward peak).  The window broadens peaks by a Gaussian of sigma_q in q, matched
to ``fwhm_deg``; r_max = 3.5 / sigma_q, so sharp patterns need very large r_max
(cost ~ r_max^3).  Measured (bench/analysis.py, 2 cores, 1000 frames of a
2816-atom cell, 256 La): reciprocal route 2.2 s at any width; Debye route at
FWHM 0.6 deg (r_max 42 A) 1.2 s per frame, about 20 min, and at the default
0.03 deg it would need r_max = 840 A (8000 times more).  Hence the reciprocal
route is the default and the Debye route is kept as an independent check.

Intensity convention (both routes): I(2 theta) = m |F|^2 LP(theta) with
m the multiplicity (every G is enumerated), F the structure factor with the
atomic form factors f0(q) of D. Waasmaier and A. Kirfel, Acta Cryst. A51, 416
(1995), for any element H to Cf (from xraydb, whose argument is
sin(theta)/lambda = q / 4 pi in 1/angstrom; for La it agrees with the Cromer-Mann
fit of International Tables Vol. C used before to 0.1 % below q = 10/A), and
the powder Lorentz-polarisation factor
of an unpolarised beam LP = (1 + cos^2 2theta) / (sin^2 theta cos theta)
(e.g. B. D. Cullity, Elements of X-ray Diffraction, eq. 4-19); ``lorentz_polarization=False``
drops LP.  The Debye S(q) is multiplied by q^2 dq/d(2 theta) to put it on the same
per-2theta footing; it is computed for one species (several: use the reciprocal route).  Patterns are scaled to 100 at the strongest point; peak
intensities to 100 for the strongest peak.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from hydropimd.lattice import LATTICES, PseudoCubicMapping, mapping_for, metric_from_cells
from hydropimd.analysis.trajectory import discard_start, read_frames
from hydropimd.errors import InputError
from hydropimd.structures import HYDROGEN, HYDROGEN_SYMBOLS

FORM_FACTOR_SOURCE = "Waasmaier-Kirfel f0(q) (xraydb)"
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
#: Gaussian window cut where W = exp(-3.5^2 / 2) = 0.002.
DEBYE_WINDOW_SIGMAS = 3.5
#: Largest r_max (angstrom) the Debye route accepts; beyond it the reciprocal route is the only practical one.
DEBYE_MAX_RMAX = 80.0
#: Distance histogram bin (angstrom): sin(q r) varies by q dr = 0.07 rad per bin at q = 7/A, attenuating by < 0.1 %.
DEBYE_BIN_ANGSTROM = 0.01
METHODS = ("reciprocal", "debye")


def form_factor(symbol: str, q_per_angstrom) -> np.ndarray:
    """Atomic X-ray form factor f0(q) (electrons) of a neutral atom, Waasmaier-Kirfel (xraydb), q = 4 pi sin(theta)/lambda in 1/A.

    xraydb's argument is sin(theta)/lambda = q / 4 pi.  D and T scatter as H.
    InputError for a symbol that is not an element H to Cf.
    """
    import xraydb

    q = np.asarray(q_per_angstrom, dtype=float)
    element = HYDROGEN if symbol in HYDROGEN_SYMBOLS else symbol
    try:
        values = xraydb.f0(element, (q / (4.0 * np.pi)).ravel())
    except Exception:  # xraydb raises ValueError or others for unknown ions
        raise InputError(f"no X-ray form factor for '{symbol}': give a chemical symbol from H to Cf") from None
    return np.asarray(values, dtype=float).reshape(q.shape)


def lorentz_polarization(two_theta_deg) -> np.ndarray:
    """Powder Lorentz-polarisation factor (1 + cos^2 2theta) / (sin^2 theta cos theta), unpolarised beam."""
    two_theta = np.radians(np.asarray(two_theta_deg, dtype=float))
    theta = 0.5 * two_theta
    return (1.0 + np.cos(two_theta) ** 2) / (np.sin(theta) ** 2 * np.cos(theta))


def two_theta_deg(q_per_angstrom, wavelength_angstrom: float) -> np.ndarray:
    """Bragg angle 2 theta (degrees) of scattering vectors |q| (1/angstrom): lambda = 2 d sin(theta), d = 2 pi / q; NaN beyond 180."""
    x = np.asarray(q_per_angstrom, dtype=float) * wavelength_angstrom / (4.0 * np.pi)
    with np.errstate(invalid="ignore"):
        return np.degrees(2.0 * np.arcsin(np.where(x <= 1.0, x, np.nan)))


def q_per_angstrom(two_theta, wavelength_angstrom: float) -> np.ndarray:
    return 4.0 * np.pi * np.sin(np.radians(np.asarray(two_theta, dtype=float)) / 2.0) / wavelength_angstrom


def reflections(mapping: PseudoCubicMapping, conventional_metric, q_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Conventional hkl (K, 3) within |G| <= q_max (1/angstrom) for the given conventional metric, one of each +-G pair,
    and the simulation-cell indices m = S hkl (integers) they correspond to."""
    lengths = np.sqrt(np.diag(conventional_metric))
    n = int(np.ceil(q_max * lengths.max() * 1.3 / (2.0 * np.pi))) + 1
    grid = np.array(list(itertools.product(range(-n, n + 1), repeat=3)))
    nonzero = grid[np.any(grid != 0, axis=1)]
    first = nonzero[np.arange(len(nonzero)), np.argmax(nonzero != 0, axis=1)]
    half = nonzero[first > 0]  # |F(-G)| = |F(G)| for real scatterers: keep one of each pair, weight 2
    m = half @ mapping.matrix.T
    integral = np.all(np.abs(m - np.round(m)) < 1e-6, axis=1)
    half, m = half[integral], np.round(m[integral]).astype(int)
    reciprocal = np.linalg.inv(conventional_metric)
    q = 2.0 * np.pi * np.sqrt(np.einsum("ki,ij,kj->k", half, reciprocal, half))
    keep = q <= q_max * 1.05
    return half[keep], m[keep]


def _check_options(wavelength_angstrom, two_theta_range_deg, step_deg, fwhm_deg, method):
    if not wavelength_angstrom > 0:
        raise InputError(f"--wavelength {wavelength_angstrom} must be positive (angstrom; 0.3344 for the cubic phase data)")
    lo, hi = two_theta_range_deg
    if not 0 < lo < hi < 180:
        raise InputError(f"2theta range {lo:g}-{hi:g} deg must satisfy 0 < min < max < 180")
    if not step_deg > 0 or step_deg > (hi - lo) / 10:
        raise InputError(f"--step-deg {step_deg} must be positive and at most a tenth of the 2theta range")
    if fwhm_deg < 0:
        raise InputError(f"--fwhm-deg {fwhm_deg} must not be negative")
    if method not in METHODS:
        raise InputError(f"method '{method}' must be one of {', '.join(METHODS)}")


def _peak_list(hkl, two_theta_mean, intensity_mean, coherent, wavelength, merge_deg, min_relative, window) -> list[dict]:
    """Group reflections closer than ``merge_deg`` into peaks: 2theta (intensity-weighted), d (Bragg), hkl, relative intensity.

    A group is a peak when its intensity is at least ``min_relative`` % of the
    strongest and it holds a Bragg reflection (coherent fraction |<F>|^2 / <|F|^2>
    of at least 1/2); otherwise it is diffuse scattering sampled at a forbidden
    position.  Only peaks with 2theta inside ``window`` (lo, hi) are kept.
    """
    order = np.argsort(two_theta_mean)
    hkl, tt, inten, coherent = hkl[order], two_theta_mean[order], intensity_mean[order], coherent[order]
    breaks = np.flatnonzero(np.diff(tt) > merge_deg) + 1
    peaks = []
    for group in np.split(np.arange(len(tt)), breaks):
        total = float(inten[group].sum())
        bragg = group[coherent[group] >= 0.5]
        if total <= 0 or len(bragg) == 0:
            continue
        strong = bragg[inten[bragg] >= 0.01 * inten[bragg].max()]
        label = max(tuple(int(v) for v in hkl[i]) for i in strong)  # canonical: largest index triple of the strong members
        centre = float(np.sum(tt[group] * inten[group]) / total)
        if not window[0] <= centre <= window[1]:
            continue
        peaks.append({"two_theta_deg": centre, "d_angstrom": float(wavelength / (2.0 * np.sin(np.radians(centre) / 2.0))),
                      "hkl": list(label), "hkl_family": sorted((abs(v) for v in label), reverse=True),
                      "multiplicity": 2 * len(strong), "intensity": total,
                      "coherent_fraction": float(np.sum(coherent[group] * inten[group]) / total)})
    if not peaks:
        return []
    top = max(p["intensity"] for p in peaks)
    for p in peaks:
        p["intensity"] = 100.0 * p["intensity"] / top
    return [p for p in peaks if p["intensity"] >= min_relative]


def _drift_free(frac: np.ndarray) -> np.ndarray:
    """Fractional positions with the species' mean displacement from frame 0 removed (minimum image per atom).

    A rigid translation multiplies F(G) by a phase; without this correction
    |<F>|^2 would decay with the drift of the centre of mass, not with disorder.
    """
    displacement = frac - frac[:1]
    displacement -= np.round(displacement)
    return frac - displacement.mean(axis=1, keepdims=True)


def _reciprocal(frac, cells, mapping, wavelength, edges, symbols, lp, progress):
    conventional = mapping.conventional_cells(cells)
    conventional_metric = metric_from_cells(conventional)
    q_max = q_per_angstrom(edges[-1], wavelength)
    hkl, m = reflections(mapping, conventional_metric.mean(axis=0), q_max)
    n_frames, n_atoms = frac.shape[:2]
    reciprocal = np.linalg.inv(conventional_metric)
    q = 2.0 * np.pi * np.sqrt(np.einsum("ki,tij,kj->tk", hkl, reciprocal, hkl))  # (frames, K)
    tt = two_theta_deg(q, wavelength)
    frac = _drift_free(frac)
    species = sorted(set(symbols))
    members = [np.flatnonzero(symbols == s) for s in species]
    factors = [form_factor(s, q) for s in species]  # (frames, K) each
    amplitude = np.zeros(q.shape, dtype=complex)  # F(G) = sum_species f_s(|G|) sum_{j in s} exp(i G . r_j)
    for t in range(n_frames):
        phase = (2.0 * np.pi) * (frac[t] @ m.T)
        cos, sin = np.cos(phase), np.sin(phase)
        for index, f in zip(members, factors):
            amplitude[t] += f[t] * (cos[index].sum(axis=0) + 1j * sin[index].sum(axis=0))
        if progress:
            progress(t + 1, n_frames)
    intensity = np.abs(amplitude) ** 2 / n_atoms
    total = intensity.mean(axis=0)
    coherent = np.divide(np.abs(amplitude.mean(axis=0)) ** 2 / n_atoms, total, out=np.zeros_like(total), where=total > 0)
    intensity *= 2.0  # the -G partner of each kept G
    if lp:
        intensity *= lorentz_polarization(tt)
    valid = np.isfinite(tt)
    histogram, _ = np.histogram(tt[valid], bins=edges, weights=intensity[valid])
    return histogram / n_frames, hkl, np.nanmean(tt, axis=0), intensity.mean(axis=0), coherent


def _debye(frac, cells, wavelength, centres, symbol, lp, sigma_q, progress):
    r_max = DEBYE_WINDOW_SIGMAS / sigma_q
    bins = int(np.ceil(r_max / DEBYE_BIN_ANGSTROM))
    counts = np.zeros(bins)
    n_frames, n_atoms = frac.shape[:2]
    density = 0.0
    for t in range(n_frames):
        cell = cells[t]
        wrapped = frac[t] - np.floor(frac[t])
        diff = (wrapped[None, :, :] - wrapped[:, None, :]).reshape(-1, 3)  # fractional r_j - r_i, in (-1, 1)
        heights = abs(np.linalg.det(cell)) / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
        reach = np.ceil(r_max / heights).astype(int) + 1
        for shift in itertools.product(*(range(-k, k + 1) for k in reach)):
            d = np.linalg.norm((diff + shift) @ cell, axis=1)
            d = d[(d < r_max) & (d > 1e-8)]  # drops i = j without shift only
            counts += np.bincount((d / DEBYE_BIN_ANGSTROM).astype(int), minlength=bins)[:bins]
        density += n_atoms / abs(np.linalg.det(cell))
        if progress:
            progress(t + 1, n_frames)
    density /= n_frames
    r = (np.arange(bins) + 0.5) * DEBYE_BIN_ANGSTROM
    pair_term = counts / (n_frames * n_atoms) - 4.0 * np.pi * density * r**2 * DEBYE_BIN_ANGSTROM
    window = np.exp(-0.5 * (sigma_q * r) ** 2)
    q = q_per_angstrom(centres, wavelength)
    weights = pair_term * window
    structure = np.empty_like(q)
    for chunk in np.array_split(np.arange(len(q)), max(1, len(q) // 256)):  # bounded memory: (256 x bins) at a time
        structure[chunk] = 1.0 + np.sinc(np.outer(q[chunk], r) / np.pi) @ weights
    pattern = structure * q**2 * form_factor(symbol, q) ** 2
    if lp:
        pattern *= lorentz_polarization(centres)
    return pattern, r_max


def _check_frames(positions: np.ndarray, cells: np.ndarray, wavelength_angstrom: float, two_theta_max_deg: float):
    """Refuse NaN frames, and a wavelength too long for any reflection inside the 2theta range: Bragg's law
    needs lambda = 2 d sin(theta) with d at most the longest cell edge (no lattice plane is spaced wider)."""
    if not (np.all(np.isfinite(positions)) and np.all(np.isfinite(cells))):
        raise InputError("the trajectory holds NaN or infinite positions or cells; the run is damaged: analyse a good one")
    d_max = float(np.linalg.norm(cells, axis=-1).max())
    reach = wavelength_angstrom / (2.0 * d_max)
    if reach >= np.sin(np.radians(two_theta_max_deg) / 2.0):
        need = 2.0 * d_max * np.sin(np.radians(two_theta_max_deg) / 2.0)
        raise InputError(f"--wavelength {wavelength_angstrom:g} A reaches no reflection below 2theta = {two_theta_max_deg:g} deg "
                         f"(the widest plane spacing is at most {d_max:.3g} A): use a wavelength below {need:.3g} A "
                         f"(0.3344 A for the cubic phase data) or a larger --two-theta-max")


def powder_pattern(positions, cells, mapping: PseudoCubicMapping, wavelength_angstrom: float, element: str | None = None,
                   two_theta_range_deg=(2.0, 20.0), step_deg: float = 0.005, fwhm_deg: float = 0.03,
                   method: str = "reciprocal", lorentz_polarization_factor: bool = True, min_relative_intensity: float = 0.1,
                   progress=None, symbols=None) -> dict:
    """Powder pattern of the atoms at positions (n_frames, N, 3) in cells (n_frames, 3, 3), angstrom.

    ``symbols``: the N chemical symbols, each atom scattering with its own form
    factor; without them every atom is ``element``.

    ``fwhm_deg``: Gaussian peak width in 2 theta (degrees); ``step_deg``: grid
    spacing; ``min_relative_intensity``: peaks weaker than this (% of the
    strongest) are left out of the list.  Returns ``two_theta_deg`` (grid),
    ``intensity`` (% of the maximum), ``peaks`` (two_theta_deg, d_angstrom, hkl
    in the conventional cubic cell, hkl_family, multiplicity, intensity) and the
    conventions used.
    """
    _check_options(wavelength_angstrom, two_theta_range_deg, step_deg, fwhm_deg, method)
    positions = np.asarray(positions, dtype=float)
    cells = np.asarray(cells, dtype=float)
    _check_frames(positions, cells, wavelength_angstrom, two_theta_range_deg[1])
    if symbols is None and element is None:
        raise InputError("powder_pattern needs the atoms' symbols or one element for all of them")
    symbols = np.full(positions.shape[1], element, dtype=object) if symbols is None else np.asarray(symbols, dtype=object)
    if len(symbols) != positions.shape[1]:
        raise InputError(f"{len(symbols)} symbols for {positions.shape[1]} atoms")
    species = sorted(set(symbols.tolist()))
    label = element if element is not None and species == [element] else ", ".join(species)
    lo, hi = two_theta_range_deg
    edges = np.arange(lo, hi + 0.5 * step_deg, step_deg)
    centres = 0.5 * (edges[1:] + edges[:-1])
    frac = positions @ np.linalg.inv(cells)
    merge_deg = max(fwhm_deg, step_deg)
    extra = {}
    if method == "reciprocal":
        histogram, hkl, tt_mean, intensity_mean, coherent = _reciprocal(frac, cells, mapping, wavelength_angstrom, edges,
                                                                        symbols, lorentz_polarization_factor, progress)
        pattern = gaussian_filter1d(histogram, fwhm_deg / FWHM_PER_SIGMA / step_deg, mode="constant") if fwhm_deg > 0 else histogram
        peaks = _peak_list(hkl, tt_mean, intensity_mean, coherent, wavelength_angstrom, merge_deg, min_relative_intensity, (lo, hi))
    else:
        if fwhm_deg <= 0:
            raise InputError("the Debye route needs a peak width: give --fwhm-deg > 0")
        if len(species) > 1:
            raise InputError(f"the Debye route takes one species ({label} given): choose one with --element, "
                             "or use the reciprocal route")
        sigma_q = (2.0 * np.pi / wavelength_angstrom) * np.cos(np.radians(0.25 * (lo + hi))) * np.radians(fwhm_deg) / FWHM_PER_SIGMA
        r_max = DEBYE_WINDOW_SIGMAS / sigma_q
        if r_max > DEBYE_MAX_RMAX:
            needed = fwhm_deg * r_max / DEBYE_MAX_RMAX
            raise InputError(f"the Debye route needs r_max = {r_max:.0f} A for --fwhm-deg {fwhm_deg:g} (limit {DEBYE_MAX_RMAX:g} A); "
                             f"use --fwhm-deg >= {needed:.2f} or the reciprocal route")
        pattern, r_max = _debye(frac, cells, wavelength_angstrom, centres, species[0], lorentz_polarization_factor, sigma_q,
                                progress)
        peaks = _debye_peaks(pattern, centres, frac[0], cells, mapping, wavelength_angstrom, min_relative_intensity, fwhm_deg)
        extra = {"r_max_angstrom": r_max, "window": f"Gaussian, sigma_q = {sigma_q:.4g} 1/A"}
    top = pattern.max()
    intensity = 100.0 * pattern / top if top > 0 else pattern
    return {
        "element": label,
        "species": species,
        "n_atoms": int(positions.shape[1]),
        "n_frames": int(positions.shape[0]),
        "wavelength_angstrom": float(wavelength_angstrom),
        "method": method,
        "fwhm_deg": float(fwhm_deg),
        "step_deg": float(step_deg),
        "two_theta_range_deg": [float(lo), float(hi)],
        "peaks": peaks,
        "two_theta_deg": centres,
        "intensity": intensity,
        "conventions": (f"I = m |F|^2{' x LP' if lorentz_polarization_factor else ''}, F with the form factors f(q), "
                        f"LP = (1 + cos^2 2theta)/(sin^2 theta cos theta) (unpolarised){'' if lorentz_polarization_factor else ' not applied'}; "
                        f"form factors: {FORM_FACTOR_SOURCE} of {label}; "
                        "hkl of the conventional cubic cell; peaks closer than the FWHM are one peak"),
        "mapping": mapping.describe(),
        **extra,
    }


def _debye_peaks(pattern, centres, frac0, cells, mapping, wavelength, min_relative, fwhm_deg) -> list[dict]:
    """Local maxima of a Debye pattern labelled with the nearest reflection of the mean cell that has intensity.

    Maxima farther than one FWHM from every such reflection are window ripples, not peaks, and are dropped.
    """
    conventional_metric = metric_from_cells(mapping.conventional_cells(cells)).mean(axis=0)
    q_max = q_per_angstrom(centres[-1], wavelength)
    hkl, m = reflections(mapping, conventional_metric, q_max)
    phase = 2.0 * np.pi * (frac0 @ m.T)
    strength = np.cos(phase).sum(axis=0) ** 2 + np.sin(phase).sum(axis=0) ** 2
    allowed = strength > 1e-3 * strength.max()
    hkl = hkl[allowed]
    tt = two_theta_deg(2.0 * np.pi * np.sqrt(np.einsum("ki,ij,kj->k", hkl, np.linalg.inv(conventional_metric), hkl)), wavelength)
    top = pattern.max()
    index, _ = find_peaks(pattern, prominence=min_relative * top / 100.0)
    peaks = []
    for i in index:
        distance = np.abs(tt - centres[i])
        nearest = int(np.nanargmin(distance))
        if distance[nearest] > fwhm_deg:
            continue
        label = [int(v) for v in hkl[nearest]]
        peaks.append({"two_theta_deg": float(centres[i]),
                      "d_angstrom": float(wavelength / (2.0 * np.sin(np.radians(centres[i]) / 2.0))),
                      "hkl": label, "hkl_family": sorted((abs(v) for v in label), reverse=True),
                      "intensity": float(100.0 * pattern[i] / top)})
    return peaks


def _recorded_lattice(source, metadata: dict) -> str | None:
    """The parent lattice (fcc, bcc, sc) a structure file records in its first frame's info (``parent_lattice``, as
    ``hydropimd structure build`` writes it); None for a run directory (its run.json's record applies, in
    ``metadata``) and for a file without one (or with an unknown name): the mapping then falls back to fcc."""
    if metadata:
        return None
    from ase.io import read

    # read_frames keeps no per-frame info: the first frame again (a structure is one frame; a trajectory's first)
    value = read(source, index=0).info.get("parent_lattice")
    return value if value in LATTICES else None


def analyze_xrd(sources, wavelength_angstrom: float, element: str | None = None, two_theta_min_deg: float = 2.0,
                two_theta_max_deg: float = 20.0, step_deg: float = 0.005, fwhm_deg: float = 0.03, method: str = "reciprocal",
                lorentz_polarization_factor: bool = True, discard_ps: float = 0.0, dt_ps: float | None = None,
                lattice: str | None = None, plot=None, progress=None) -> dict:
    """Powder pattern of the heavy sublattice (``element`` None: all non-hydrogen atoms; else that species) of each
    run directory, trajectory or structure file in ``sources``.

    Trajectories are averaged over their frames (after ``discard_ps``).  One
    source: the pattern dict (keys ``peaks``, ``two_theta_deg``, ``intensity``,
    ...); several: ``{"patterns": [...]}``, drawn side by side with ``plot``.
    """
    sources = [sources] if isinstance(sources, (str, bytes)) or not hasattr(sources, "__iter__") else list(sources)
    _check_options(wavelength_angstrom, (two_theta_min_deg, two_theta_max_deg), step_deg, fwhm_deg, method)
    if plot:
        from hydropimd.analysis.figures import check_plot_path

        check_plot_path(plot)
    patterns = []
    for source in sources:
        if element is None:
            frames = read_frames(source, dt_ps=dt_ps)
            heavy = ~np.isin(frames.symbols, HYDROGEN_SYMBOLS)
            if not heavy.any():
                raise InputError(f"{source} has only hydrogen: give --element H for its pattern")
            frames.positions, frames.symbols = frames.positions[:, heavy], frames.symbols[heavy]
        else:
            frames = read_frames(source, dt_ps=dt_ps, species=[element])
        start = discard_start(frames.time_ps, discard_ps) if len(frames) > 1 else 0
        cells = frames.cells[start:]
        parent = lattice or _recorded_lattice(source, frames.metadata)
        mapping = mapping_for(metric_from_cells(cells), frames.n_sites, frames.metadata, parent)
        pattern = powder_pattern(frames.positions[start:], cells, mapping, wavelength_angstrom, element,
                                 (two_theta_min_deg, two_theta_max_deg), step_deg, fwhm_deg, method,
                                 lorentz_polarization_factor, progress=progress, symbols=frames.symbols)
        pattern["source"] = str(source)
        patterns.append(pattern)
    if plot:
        from hydropimd.analysis.figures import plot_xrd

        plot_xrd(patterns, plot)
    if len(patterns) == 1:
        result = patterns[0]
        if plot:
            result["plot"] = str(plot)
        return result
    return {"patterns": patterns, **({"plot": str(plot)} if plot else {})}
