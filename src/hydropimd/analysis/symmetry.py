"""Space group of the time-averaged (centroid) structure of a run, with spglib at a ladder of tolerances.

Averaging.  Positions are averaged in fractional coordinates.  Each frame's
fractional coordinates are unwrapped against the previous frame's (minimum
image, frame to frame), which gives the same result as unwrapping against the
first frame while every atom stays within half a cell of its first position,
and stays right when the whole system drifts further than that over a long run
(the centroid of a PIMD run may drift).  The average is wrapped back into the
cell.  The cell is averaged as its metric tensor G = H H^T (H: rows = cell
vectors): the metric is free of the cell's orientation, so no rotation needs
removing; the averaged cell is rebuilt from the lengths and angles of <G>
(a along x, b in the xy plane).  i-PI's cells are triangular with a fixed
orientation, so for runs of ``hydropimd md run`` averaging the cell matrices
themselves would do as well (the two differ at second order in the cell
fluctuations).  Atoms that diffuse (a superionic hydrogen sublattice) have no
average site: their mean is meaningless and so is the symmetry found; check
``hydropimd analyze hydrogen`` first.

Ladder.  spglib (A. Togo et al., Sci. Technol. Adv. Mater. Meth. 4, 2384822
(2024)) is asked for the space group of the averaged structure at each
``symprec`` (angstrom: the largest displacement of an atom by a symmetry
operation that still counts as invariant).  Small tolerances see the residual
noise of the average (the standard error of a mean position is the thermal
spread over the square root of the number of independent frames) and report a
low symmetry; large ones see through real distortions and report the parent.

Headline rule.  The residual noise of the average is measured: the standard
error s of each averaged coordinate (the frames' scatter, sqrt(2 tau var / n)
with Sokal's integrated autocorrelation time tau of each coordinate, as in
:mod:`hydropimd.analysis.statistics`), and the noise floor is 3 sqrt(6) s_max
(~7.3 s_max): three standard deviations of the distance between two
independently averaged positions, s_max the largest s of any coordinate.  Below
the floor spglib sees the noise, and noise is itself reproducible from rung to
rung (P1 at 0.01 and 0.03 angstrom for 300 frames with 0.15 angstrom noise, measured),
so a plateau there means nothing.  The headline is the group found at the
smallest tolerance at or above the floor at which the next tolerance finds the
same group (stable across two consecutive rungs): a real distortion larger than
the floor gives that plateau before larger tolerances absorb it into the parent
group.  With no two consecutive rungs alike above the floor the headline is the
group at the largest tolerance, marked ``stable: false``; a single frame has no
noise estimate (floor 0).  Cell fluctuations are not in the floor (they average
out as 1/sqrt(n) too; not measured against the positional noise).  A real
distortion smaller than the floor is not resolved: the headline is then the
parent group, and more frames lower the floor.
"""

from __future__ import annotations

import numpy as np

from hydropimd.analysis.trajectory import discard_start, read_frames
from hydropimd.errors import InputError
from hydropimd.lattice import cellpar_from_metric, metric_from_cells

#: symprec ladder, angstrom (default of ``hydropimd analyze symmetry --tolerances``).
DEFAULT_TOLERANCES = (0.01, 0.03, 0.1, 0.2, 0.3)
#: Noise floor = this factor x the largest standard error of an averaged coordinate (3 standard deviations of
#: the distance between two averaged positions, sqrt(6) s).
NOISE_FLOOR_FACTOR = 3.0 * np.sqrt(6.0)
HEADLINE_RULE = ("the group found at the smallest tolerance at or above the noise floor (3 sqrt(6) x the largest "
                 "standard error of an averaged coordinate) at which the next tolerance finds the same group; "
                 "without two consecutive rungs alike, the group at the largest tolerance (stable: false)")


def cell_from_metric(metric) -> np.ndarray:
    """Cell matrix (rows = vectors, angstrom) with a along x and b in the xy plane, from a metric tensor (3, 3)."""
    from ase.geometry import cellpar_to_cell

    lengths, angles = cellpar_from_metric(np.asarray(metric, dtype=float)[None])
    return cellpar_to_cell(np.concatenate([lengths[0], angles[0]]))


def average_structure(positions, cells) -> tuple[np.ndarray, np.ndarray]:
    """Time-averaged cell (3, 3) and fractional positions (N, 3) in [0, 1) of frames (n, N, 3) in cells (n, 3, 3).

    Fractional coordinates are unwrapped frame to frame (minimum image) before
    averaging; the cell is rebuilt from the averaged metric tensor (see the
    module docstring).
    """
    cell, fractional, _ = _average(positions, cells)
    return cell, fractional


def _standard_errors(cartesian: np.ndarray) -> np.ndarray:
    """Standard error (angstrom) of the mean of each coordinate of unwrapped positions (n, N, 3): sqrt(2 tau var / n)."""
    from hydropimd.analysis.statistics import integrated_autocorrelation_time

    n = len(cartesian)
    columns = cartesian.reshape(n, -1)
    if n < 2:
        return np.zeros(columns.shape[1])
    errors = np.empty(columns.shape[1])
    for chunk in np.array_split(np.arange(columns.shape[1]), max(1, columns.shape[1] // 512)):  # bounded memory
        tau = np.atleast_1d(integrated_autocorrelation_time(columns[:, chunk])[0])
        errors[chunk] = np.sqrt(2.0 * tau * columns[:, chunk].var(axis=0) / n)
    return errors


def _average(positions, cells):
    positions = np.asarray(positions, dtype=float)
    cells = np.asarray(cells, dtype=float)
    if positions.ndim != 3 or cells.shape != (len(positions), 3, 3) or len(positions) == 0:
        raise InputError("average_structure needs positions (n, N, 3) and cells (n, 3, 3) of at least one frame")
    frac = np.einsum("tnj,tjk->tnk", positions, np.linalg.inv(cells))
    steps = np.diff(frac, axis=0)
    steps -= np.round(steps)
    unwrapped = np.concatenate([frac[:1], frac[:1] + np.cumsum(steps, axis=0)])
    mean = unwrapped.mean(axis=0)
    cell = cell_from_metric(metric_from_cells(cells).mean(axis=0))
    return cell, mean - np.floor(mean), _standard_errors(unwrapped @ cell)


def _type_numbers(symbols) -> np.ndarray:
    """One integer per distinct symbol (spglib needs only that species be told apart; D and T are their own types)."""
    _, numbers = np.unique(np.asarray(symbols), return_inverse=True)
    return numbers + 1


def space_groups(cell, fractional, symbols, tolerances=DEFAULT_TOLERANCES) -> list[dict]:
    """spglib's space group (symbol, number, operations) of one structure at each tolerance (angstrom), smallest first."""
    import spglib

    tolerances = check_tolerances(tolerances)
    structure = (np.asarray(cell, dtype=float), np.asarray(fractional, dtype=float), _type_numbers(symbols))
    ladder = []
    for symprec in tolerances:
        dataset = spglib.get_symmetry_dataset(structure, symprec=symprec)
        if dataset is None:
            ladder.append({"symprec_angstrom": symprec, "symbol": None, "number": None, "n_operations": 0,
                           "error": "spglib found no space group at this tolerance"})
            continue
        ladder.append({"symprec_angstrom": symprec, "symbol": dataset.international, "number": int(dataset.number),
                       "n_operations": len(dataset.rotations)})
    return ladder


def headline(ladder: list[dict], noise_floor_angstrom: float = 0.0) -> dict:
    """The headline group of a ladder, smallest tolerance first (see :data:`HEADLINE_RULE`)."""
    above = [r for r in ladder if r["symprec_angstrom"] >= noise_floor_angstrom]
    for lower, upper in zip(above, above[1:]):
        if lower["number"] is not None and lower["number"] == upper["number"]:
            return {"symbol": lower["symbol"], "number": lower["number"], "symprec_angstrom": lower["symprec_angstrom"],
                    "stable": True}
    last = ladder[-1]
    return {"symbol": last["symbol"], "number": last["number"], "symprec_angstrom": last["symprec_angstrom"], "stable": False}


def check_tolerances(tolerances) -> tuple[float, ...]:
    """The tolerances sorted, smallest first (None: :data:`DEFAULT_TOLERANCES`); InputError for none, non-positive or repeated ones."""
    values = tuple(sorted(float(t) for t in (DEFAULT_TOLERANCES if tolerances is None else tolerances)))
    if not values:
        raise InputError("give at least one tolerance (symprec, angstrom)")
    if any(not t > 0 for t in values):
        raise InputError(f"tolerances {', '.join(f'{t:g}' for t in values)} must be positive (symprec, angstrom)")
    if len(set(values)) != len(values):
        raise InputError(f"tolerances {', '.join(f'{t:g}' for t in values)} repeat a value")
    return values


def symmetry_of_frames(positions, cells, symbols, tolerances=DEFAULT_TOLERANCES) -> dict:
    """Ladder and headline of frames (n, N, 3) in cells (n, 3, 3) with the N chemical symbols (see the module docstring)."""
    tolerances = check_tolerances(tolerances)
    cell, fractional, errors = _average(positions, cells)
    ladder = space_groups(cell, fractional, symbols, tolerances)
    lengths, angles = cellpar_from_metric(metric_from_cells(cell[None]))
    floor = float(NOISE_FLOOR_FACTOR * errors.max()) if errors.size else 0.0
    notes = []
    if floor > ladder[-1]["symprec_angstrom"]:
        notes.append(f"the noise floor {floor:.3g} A is above the largest tolerance: the average is not converged "
                     "(more frames, or larger tolerances)")
    return {"headline": headline(ladder, floor), "headline_rule": HEADLINE_RULE, "ladder": ladder,
            "noise_floor_angstrom": floor, "largest_standard_error_angstrom": float(errors.max()) if errors.size else 0.0,
            "notes": notes,
            "n_frames": int(len(positions)), "natoms": int(len(symbols)),
            "formula": _formula(symbols),
            "average_cell": {"lengths_angstrom": lengths[0].tolist(), "angles_deg": angles[0].tolist(),
                             "matrix_angstrom": cell.tolist()},
            "average_fractional_positions": fractional.tolist(),
            "symbols": [str(s) for s in symbols]}


def _formula(symbols) -> str:
    names, counts = np.unique(np.asarray(symbols), return_counts=True)
    return "".join(f"{n}{c if c > 1 else ''}" for n, c in zip(names.tolist(), counts.tolist()))


def analyze_symmetry(source, tolerances=DEFAULT_TOLERANCES, discard_ps: float = 0.0, dt_ps: float | None = None,
                     progress=None) -> dict:
    """Space group of the time-averaged structure of a run directory (its centroid frames) or trajectory file.

    ``tolerances``: spglib symprec values, angstrom; ``discard_ps``: equilibration
    dropped from the start.  Returns ``headline`` (symbol, number, symprec_angstrom,
    stable), ``ladder`` (one entry per tolerance, smallest first), the averaged cell
    and positions, and the frames used.
    """
    tolerances = check_tolerances(tolerances)
    frames = read_frames(source, dt_ps=dt_ps)
    start = discard_start(frames.time_ps, discard_ps) if len(frames) > 1 else 0
    if progress:
        progress(0, 1)
    result = symmetry_of_frames(frames.positions[start:], frames.cells[start:], frames.symbols, tolerances)
    if progress:
        progress(1, 1)
    times = frames.time_ps[start:]
    return {"source": str(source), **result, "time_ps": [float(times[0]), float(times[-1])], "time_source": frames.time_source}
