"""Hydrogen-bond symmetrization: the off-centring of hydrogen on linear A-H-A bonds.

In H3S (Im-3m) every H sits midway on a linear S-H-S bond; in R3m it moves off the
centre towards one S (D. Duan et al., Sci. Rep. 4, 6968 (2014)).  Quantum protons
symmetrize the bond at lower pressure (I. Errea et al., Nature 532, 81 (2016)).  This
module measures that, for any A-H-A bond, from the centroid (and bead) trajectory.

Bonds.  In the time-averaged structure each hydrogen's two nearest heavy atoms A1, A2 within
:data:`BOND_SEARCH_ANGSTROM` (periodic images included, so an 8-atom cell works) make a bond when they are the same
element, the angle A1-H-A2 is at least :data:`LINEAR_ANGLE_DEG` and the farther one is at
most :data:`MAX_DISTANCE_RATIO` times the nearer one's distance.  The bond vectors are
grouped by orientation (parallel within :data:`ORIENTATION_TOLERANCE_DEG`, up to sign) and
oriented alike within a group.

Off-centring.  delta = (r_H - (r_A1 + r_A2) / 2) . b, b the unit vector from A1 to A2
(angstrom; delta > 0: H nearer A2).  Each frame's atoms are taken at the image nearest
to their place in the averaged structure, so atoms that cross the cell boundary do not
jump.

Order parameter.  m_g = the mean delta of orientation group g, per frame: the cell-averaged
signed off-centring of a zone-centre pattern (R3m in H3S: every bond of one orientation
shifts alike, |m_x| = |m_y| = |m_z|).  Its Binder cumulant, normalised for n components,
U = (n + 2) / 2 - (n / 2) <|m|^4> / <|m|^2>^2, is 0 for Gaussian fluctuations about a
symmetric state and 1 for an ordered one, whichever variant (sign pattern) each frame
visits (K. Binder, Z. Phys. B 43, 119 (1981)).

Verdict, with the statistics of the cell classification (:mod:`hydropimd.analysis.statistics`):

* ``off-centred`` when the mean of m is not zero (max-t and Hotelling tests at the
  significance, on N / (3 tau) cosine projections, tau the slowest of the m_g): the bonds sit
  off-centre in one variant;
* ``undetermined`` when fewer than :data:`MIN_PROJECTIONS` blocks of |m|^2 (N / (3 tau), its own
  tau) are available;
* ``off-centred`` when U exceeds :data:`BINDER_ORDERED` by more than its one-sided
  confidence bound (jackknife over the same blocks, Student t): ordered, hopping between
  variants so that m averages out;
* ``symmetric`` when U is below :data:`BINDER_ORDERED` by more than its bound and the mean test
  had its :data:`MIN_PROJECTIONS` projections;
* else ``undetermined`` (near the transition, or too short).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from hydropimd.analysis.statistics import conservative_tau, cosine_projections, projection_count
from hydropimd.analysis.trajectory import discard_start, read_frames
from hydropimd.errors import InputError
from hydropimd.md import rundir
from hydropimd.structures import HYDROGEN_SYMBOLS

#: degrees: an A-H-A angle at least this is a linear bond (H3S's S-H-S is 180 by symmetry; thermal bending of
#: the averaged structure is a few degrees, a tetrahedral or bent site 110-130)
LINEAR_ANGLE_DEG = 150.0
#: the farther A at most this times the nearer one's distance: R3m H3S at 100 GPa has 1.41 and 1.70 A (1.2);
#: 1.5 admits strong off-centring and rejects an A that is a second-shell neighbour
MAX_DISTANCE_RATIO = 1.5
#: angstrom: heavy neighbours of an H are looked for within this; A-H bonds of the hydrides are 1.0-2.5 A (H3S's S-H
#: 1.4-1.7, LaH10's La-H 2.1), and a fixed radius keeps the neighbour list small in 2816-atom cells
BOND_SEARCH_ANGSTROM = 3.0
#: degrees: bonds whose directions differ by less than this (up to sign) belong to one orientation group
ORIENTATION_TOLERANCE_DEG = 15.0
#: fewest cosine projections (independent blocks) for a verdict: the cell classification's rule
MIN_PROJECTIONS = 6
#: U above this (with its bound) is ordered, below it symmetric: midway between the Gaussian 0 and the ordered 1;
#: a single quartic well (the critical point's shape) gives U = 0.41 for one component
BINDER_ORDERED = 0.5
#: default histogram bins of the delta and order-parameter distributions
BINS = 60


def find_bonds(symbols, cell, fractional) -> dict:
    """Linear A-H-A bonds of a structure (cell rows and fractional positions of the time average).

    Returns ``hydrogen``, ``a1``, ``a2`` (atom indices, (n_bonds,)), ``offsets1``, ``offsets2`` (the
    fractional vectors from H to A1 and A2, periodic images included), ``group`` (orientation group of each
    bond), ``directions`` (unit vector of each group), ``element`` (A) and ``bond_length_angstrom``.
    """
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    symbols = np.asarray(symbols)
    heavy = ~np.isin(symbols, list(HYDROGEN_SYMBOLS))
    hydrogens = np.flatnonzero(~heavy)
    if not heavy.any() or not len(hydrogens):
        raise InputError("the structure needs hydrogen and heavier atoms for an A-H-A bond analysis")
    cell = np.asarray(cell, dtype=float)
    # only the geometry matters to the neighbour list (and ASE knows no D or T): one placeholder element for all
    atoms = Atoms(numbers=np.ones(len(symbols), dtype=int), scaled_positions=fractional, cell=cell, pbc=True)
    i, j, vectors = neighbor_list("ijD", atoms, BOND_SEARCH_ANGSTROM)
    rows = []
    for h in hydrogens:
        mine = (i == h) & heavy[j]
        if mine.sum() < 2:
            continue
        order = np.argsort(np.linalg.norm(vectors[mine], axis=1))[:2]
        (ja, jb), (va, vb) = j[mine][order], vectors[mine][order]
        da, db = np.linalg.norm(va), np.linalg.norm(vb)
        angle = np.degrees(np.arccos(np.clip(va @ vb / (da * db), -1.0, 1.0)))
        if symbols[ja] == symbols[jb] and angle >= LINEAR_ANGLE_DEG and db <= MAX_DISTANCE_RATIO * da:
            rows.append((h, ja, jb, va, vb))
    if not rows:
        raise InputError(f"no linear A-H-A bond in the structure (elements {', '.join(sorted(set(symbols.tolist())))}): "
                         f"no hydrogen has two like heavy neighbours at an angle >= {LINEAR_ANGLE_DEG:g} deg; "
                         "the bond analysis is for structures such as H3S")
    return _grouped(rows, cell, symbols)


def _grouped(rows, cell, symbols) -> dict:
    """Orientation groups of the bonds (module docstring), each bond oriented along its group's direction."""
    inverse = np.linalg.inv(cell)
    cos_tol = np.cos(np.radians(ORIENTATION_TOLERANCE_DEG))
    directions: list[np.ndarray] = []
    out = {k: [] for k in ("hydrogen", "a1", "a2", "offsets1", "offsets2", "group", "length")}
    for h, ja, jb, va, vb in rows:
        b = (vb - va) / np.linalg.norm(vb - va)
        g = next((k for k, d in enumerate(directions) if abs(b @ d) >= cos_tol), len(directions))
        if g == len(directions):
            directions.append(b)
        if b @ directions[g] < 0:  # orient A1 -> A2 along the group's direction
            ja, jb, va, vb = jb, ja, vb, va
        for key, value in zip(out, (h, ja, jb, va @ inverse, vb @ inverse, g, np.linalg.norm(vb - va))):
            out[key].append(value)
    return {"hydrogen": np.array(out["hydrogen"]), "a1": np.array(out["a1"]), "a2": np.array(out["a2"]),
            "offsets1": np.array(out["offsets1"]), "offsets2": np.array(out["offsets2"]),
            "group": np.array(out["group"]), "directions": np.array(directions),
            "element": str(symbols[out["a1"][0]]), "bond_length_angstrom": float(np.mean(out["length"]))}


def off_centring(positions, cells, bonds: dict) -> np.ndarray:
    """delta (angstrom, (n_frames, n_bonds)) of every bond in every frame (module docstring)."""
    positions = np.asarray(positions, dtype=float)
    cells = np.asarray(cells, dtype=float)
    frac = np.einsum("tnj,tjk->tnk", positions, np.linalg.inv(cells))
    h = frac[:, bonds["hydrogen"]]

    def to_a(index, reference):  # the image of A nearest to where the average structure has it
        d = frac[:, index] - h
        d -= np.round(d - reference)
        return np.einsum("tbj,tjk->tbk", d, cells)

    u1, u2 = to_a(bonds["a1"], bonds["offsets1"]), to_a(bonds["a2"], bonds["offsets2"])
    axis = u2 - u1
    axis /= np.linalg.norm(axis, axis=2, keepdims=True)
    return -np.einsum("tbk,tbk->tb", 0.5 * (u1 + u2), axis)


def order_parameter(delta, groups) -> np.ndarray:
    """m_g (angstrom, (n_frames, n_groups)): the mean delta over the bonds of each orientation group, per frame."""
    delta = np.asarray(delta, dtype=float)
    groups = np.asarray(groups)
    return np.stack([delta[:, groups == g].mean(axis=1) for g in range(groups.max() + 1)], axis=1)


def binder_cumulant(m) -> float:
    """U = (n + 2) / 2 - (n / 2) <|m|^4> / <|m|^2>^2 of an (N, n) order parameter: 0 Gaussian, 1 ordered."""
    m = np.asarray(m, dtype=float).reshape(len(m), -1)
    n = m.shape[1]
    m2 = np.sum(m * m, axis=1)
    if not np.mean(m2) > 0:
        return 0.0
    return float((n + 2) / 2 - (n / 2) * np.mean(m2 * m2) / np.mean(m2) ** 2)


def _binder_with_error(m, blocks: int) -> tuple[float, float]:
    """U of all frames and its jackknife standard error over ``blocks`` contiguous blocks."""
    m = np.asarray(m, dtype=float)
    edges = np.linspace(0, len(m), blocks + 1).astype(int)
    keep = [np.concatenate([m[:a], m[b:]]) for a, b in zip(edges[:-1], edges[1:])]
    leave_one_out = np.array([binder_cumulant(k) for k in keep])
    spread = np.sqrt((blocks - 1) / blocks * np.sum((leave_one_out - leave_one_out.mean()) ** 2))
    return binder_cumulant(m), float(spread)


def classify_bonds(m, significance: float = 0.01) -> dict:
    """The verdict on an order-parameter series m (N, n) (module docstring): symmetric, off-centred or undetermined.

    The mean test counts its blocks with the autocorrelation time of m, the Binder cumulant with that of |m|^2:
    a run that hops between variants decorrelates m slowly and |m|^2 fast.
    """
    m = np.asarray(m, dtype=float).reshape(len(m), -1)
    if not 0 < significance < 1:
        raise InputError(f"significance {significance} must lie between 0 and 1 (e.g. 0.01)")
    squared = np.sum(m * m, axis=1)
    tau_m, tau_u = (conservative_tau(x) if len(m) > 3 else float(len(m)) for x in (m, squared))
    blocks_m, blocks_u = projection_count(len(m), tau_m), projection_count(len(m), tau_u)
    result = {"n_frames": len(m), "tau_frames": tau_m, "n_projections": blocks_m, "binder_blocks": blocks_u,
              "significance": significance, "mean_angstrom": m.mean(axis=0).tolist(), "binder": binder_cumulant(m),
              "binder_stderr": None, "p_mean_zero": None}
    if blocks_m >= MIN_PROJECTIONS:
        test = cosine_projections(m, tau_m).max_t_hotelling(np.eye(m.shape[1]))
        result["p_mean_zero"] = test["p_value"]
        if test["p_value"] < significance:
            return {**result, "verdict": "off-centred",
                    "reason": f"mean order parameter non-zero (p = {test['p_value']:.2g} < {significance:g}): one variant"}
    if blocks_u < MIN_PROJECTIONS:
        return {**result, "verdict": "undetermined",
                "reason": f"{blocks_u} independent blocks of |m|^2 (N / 3 tau) < {MIN_PROJECTIONS}: run longer"}
    u, u_err = _binder_with_error(m, blocks_u)
    bound = float(stats.t.ppf(1 - significance, blocks_u - 1)) * u_err
    result.update(binder=u, binder_stderr=u_err)
    if u - bound > BINDER_ORDERED:
        return {**result, "verdict": "off-centred",
                "reason": f"Binder cumulant {u:.2f} +- {u_err:.2f} above {BINDER_ORDERED}: ordered, hopping between variants"}
    if u + bound < BINDER_ORDERED and blocks_m >= MIN_PROJECTIONS:
        return {**result, "verdict": "symmetric",
                "reason": f"mean order parameter zero (p = {result['p_mean_zero']:.2g}) and Binder cumulant {u:.2f} +- "
                          f"{u_err:.2f} below {BINDER_ORDERED}: Gaussian about the bond centre"}
    return {**result, "verdict": "undetermined",
            "reason": f"Binder cumulant {u:.2f} +- {u_err:.2f} not separated from {BINDER_ORDERED}, or {blocks_m} blocks "
                      f"of m < {MIN_PROJECTIONS}: near the transition, or run longer"}


def _distribution(values, bins: int, limit: float) -> dict:
    values = np.asarray(values, dtype=float).ravel()
    density, edges = np.histogram(values, bins=bins, range=(-limit, limit), density=True)
    return {"edges_angstrom": edges.tolist(), "density_per_angstrom": density.tolist(),
            "mean_angstrom": float(values.mean()), "rms_angstrom": float(np.sqrt(np.mean(values**2))),
            "mean_abs_angstrom": float(np.mean(np.abs(values)))}


def _bead_deltas(source, bonds: dict, start_time_ps: float) -> np.ndarray | None:
    """delta of every bead frame at or after ``start_time_ps`` of a run directory saved with every bead, else None."""
    if not (Path(source).is_dir() and rundir.is_run_directory(source)):
        return None
    frames = [f for f in rundir.read_beads(source) if float(f.info.get("time_ps", 0.0)) >= start_time_ps - 1e-9]
    if not frames:
        return None
    return off_centring([f.positions for f in frames], [f.cell.array for f in frames], bonds)


def analyze_bonds(source, discard_ps: float = 0.0, dt_ps: float | None = None, significance: float = 0.01,
                  bins: int = BINS, plot=None) -> dict:
    """Off-centring of the linear A-H-A bonds of a run directory or trajectory, and the verdict on their symmetry.

    Returns the bonds found (element, count, orientation groups, mean A-A length, A), the distributions of
    delta over the centroid frames and, for a run saved with every bead, over the beads (A), the order
    parameter's mean, distribution (its components pooled) and Binder cumulant, and :func:`classify_bonds`'s
    verdict.  ``plot``: a figure of the distributions (PNG or PDF).
    """
    from hydropimd.analysis.symmetry import average_structure

    if bins < 2:
        raise InputError(f"--bins {bins} must be at least 2")
    frames = read_frames(source, dt_ps=dt_ps)
    first = discard_start(frames.time_ps, discard_ps)
    positions, cells = frames.positions[first:], frames.cells[first:]
    bonds = find_bonds(frames.symbols, *average_structure(positions, cells))
    delta = off_centring(positions, cells, bonds)
    m = order_parameter(delta, bonds["group"])
    beads = _bead_deltas(source, bonds, float(frames.time_ps[first]))
    limit = float(np.max(np.abs(delta if beads is None else np.concatenate([delta.ravel(), beads.ravel()]))))
    limit = max(limit, 1e-3)
    verdict = classify_bonds(m, significance)
    result = {
        "source": str(source), "n_frames": len(delta), "time_ps": [float(frames.time_ps[first]), float(frames.time_ps[-1])],
        "element": bonds["element"], "n_bonds": len(bonds["hydrogen"]),
        "bond_length_angstrom": bonds["bond_length_angstrom"],
        "groups": [{"direction": d.round(4).tolist(), "bonds": int(np.sum(bonds["group"] == g))}
                   for g, d in enumerate(bonds["directions"])],
        "delta_centroid": _distribution(delta, bins, limit),
        "delta_beads": None if beads is None else _distribution(beads, bins, limit),
        "order_parameter": {**_distribution(m, bins, limit), "components_angstrom": m.mean(axis=0).tolist()},
        **{k: verdict[k] for k in ("verdict", "reason", "binder", "binder_stderr", "p_mean_zero", "n_projections",
                                   "binder_blocks", "tau_frames", "significance")},
    }
    if plot:
        from hydropimd.analysis.figures import plot_bonds

        plot_bonds(result, plot)
        result["plot"] = str(plot)
    return result
