"""Cell shape from the metric tensor, and the map from a simulation cell to its pseudo-cubic conventional cell.

An MD cell H (rows: lattice vectors h_1, h_2, h_3, angstrom) may rotate during a
run, so every shape quantity here comes from the rotation-invariant metric
tensor G = H H^T (G_ij = h_i . h_j, angstrom^2): lengths |h_i| = sqrt(G_ii) and
angles cos(alpha) = G_23 / sqrt(G_22 G_33) etc. (alpha between h_2 and h_3,
beta between h_1 and h_3, gamma between h_1 and h_2; degrees).

Pseudo-cubic mapping.  A simulation cell of a cubic crystal is a supercell
h_i = sum_j S_ij c_j of the conventional cubic cell c_1, c_2, c_3 (edge a), with
S = diag(n_1, n_2, n_3) B and B the conventional (identity) or primitive basis
in units of a (fcc: rows (0,1/2,1/2), (1/2,0,1/2), (1/2,1/2,0); angles 60 deg).
Then G = S G_c S^T, so the conventional metric is G_c = S^-1 G S^-T whatever the
orientation.  S is found by trying every basis (and sign choice of its rows)
and every n_1 n_2 n_3 equal to the number of cells, fitting a, and keeping the
smallest misfit |G - a^2 S S^T| / |G|; the number of cells comes from the
number of lattice sites (metal atoms; 4 per conventional fcc cell).
S is fixed for a whole trajectory (the topology of the supercell cannot change
in MD), so the distortion variants of different frames are labelled consistently.

A run made from a built structure records its cell in run.json
(``parent_lattice``, ``cell_kind``, ``supercell_matrix`` M, an integer 3x3 matrix
relative to the conventional or primitive parent cell, see
:func:`hydropimd.structures.describe_supercell`); then S = M B exactly (any M:
non-cubic diagonal like 2x2x3, or non-diagonal), checked against the cell, and
the search above is used only when the record is missing or was itself inferred.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from hydropimd.errors import InputError

#: Cubic lattices: lattice sites per conventional cell and the primitive basis in units of the cubic edge.
LATTICES = {
    "fcc": (4, np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])),
    "bcc": (2, np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]])),
    "sc": (1, np.eye(3)),
}
#: Largest accepted relative misfit |G - a^2 S S^T| / |G| (a cube sheared to 94/86/86 degrees gives 0.10).
MAPPING_TOLERANCE = 0.2
#: Without a site count, supercell multiples n_i are searched up to this value.
MAX_MULTIPLE = 8


def metric_from_cells(cells) -> np.ndarray:
    """Metric tensors G = H H^T (angstrom^2) of cells of shape (3, 3) or (n, 3, 3), rows = lattice vectors."""
    cells = np.asarray(cells, dtype=float)
    return cells @ np.swapaxes(cells, -1, -2)


def metric_from_cellpar(lengths_angstrom, angles_deg) -> np.ndarray:
    """Metric tensors from lengths (a, b, c) and angles (alpha, beta, gamma), shapes (n, 3) or (3,)."""
    lengths = np.asarray(lengths_angstrom, dtype=float)
    cosines = np.cos(np.radians(np.asarray(angles_deg, dtype=float)))
    g = np.empty(lengths.shape[:-1] + (3, 3))
    for i in range(3):
        g[..., i, i] = 1.0
    for k, (i, j) in enumerate([(1, 2), (0, 2), (0, 1)]):  # alpha: b-c, beta: a-c, gamma: a-b
        g[..., i, j] = g[..., j, i] = cosines[..., k]
    return g * lengths[..., :, None] * lengths[..., None, :]


def cellpar_from_metric(metric) -> tuple[np.ndarray, np.ndarray]:
    """Lengths (angstrom) and angles alpha, beta, gamma (degrees) from metric tensors, shapes (..., 3).

    The formula of ASE's ``Cell.cellpar()``, vectorised: ASE works one cell at a
    time (measured 1.1 s for 100 000 cells against ~10 ms here).
    """
    g = np.asarray(metric, dtype=float)
    lengths = np.sqrt(np.diagonal(g, axis1=-2, axis2=-1))
    cosines = np.stack([g[..., 1, 2] / (lengths[..., 1] * lengths[..., 2]),
                        g[..., 0, 2] / (lengths[..., 0] * lengths[..., 2]),
                        g[..., 0, 1] / (lengths[..., 0] * lengths[..., 1])], axis=-1)
    return lengths, np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))


def _multiples(n_cells: int | None):
    """Supercell multiples (n1, n2, n3): all factorisations of n_cells, else all up to MAX_MULTIPLE with gcd 1."""
    if n_cells is not None:
        for n1 in range(1, n_cells + 1):
            if n_cells % n1:
                continue
            rest = n_cells // n1
            for n2 in range(1, rest + 1):
                if rest % n2 == 0:
                    yield (n1, n2, rest // n2)
        return
    for n in itertools.product(range(1, MAX_MULTIPLE + 1), repeat=3):
        if np.gcd.reduce(n) == 1:
            yield n


@dataclass(frozen=True)
class PseudoCubicMapping:
    """Simulation cell h_i = sum_j S_ij c_j in terms of the conventional cubic cell c_j.

    ``matrix``: S (rows: simulation cell vectors in units of the cubic edge);
    ``kind``: ``conventional`` or ``primitive`` (the basis B of S = M B);
    ``supercell``: (n1, n2, n3) when M is diagonal, else M as nested tuples
    (``supercell_matrix``: M as an integer array in both cases); ``a_angstrom``: pseudo-cubic edge from the volume
    of the reference metric, (V / det S)^(1/3); ``misfit``: |G - a^2 S S^T| / |G| of that metric (0 for a perfect cube);
    ``source``: how it was obtained (inferred from the cell, or from run.json).
    """

    lattice: str
    kind: str
    supercell: tuple
    matrix: np.ndarray = field(repr=False)
    a_angstrom: float
    misfit: float
    source: str

    @property
    def supercell_matrix(self) -> np.ndarray:
        """M = S B^-1: integer rows of the simulation cell in units of the parent (conventional or primitive) cell."""
        return np.round(self.matrix @ np.linalg.inv(_basis(self.lattice, self.kind))).astype(int)

    @property
    def n_cells(self) -> int:
        """Parent cells in the simulation cell, det M."""
        return int(round(abs(np.linalg.det(self.supercell_matrix))))

    def conventional_metric(self, metric) -> np.ndarray:
        """G_c = S^-1 G S^-T for metric tensors of shape (..., 3, 3) (angstrom^2)."""
        inv = np.linalg.inv(self.matrix)
        return inv @ np.asarray(metric, dtype=float) @ inv.T

    def conventional_cells(self, cells) -> np.ndarray:
        """Conventional cell vectors C = S^-1 H (rows, angstrom) in the orientation of the simulation cell."""
        return np.linalg.inv(self.matrix) @ np.asarray(cells, dtype=float)

    def describe(self) -> str:
        """One line: what the simulation cell is and how the conventional vectors follow from it."""
        vectors = ", ".join(f"c{i + 1} = {_combination(row)}" for i, row in enumerate(np.linalg.inv(self.matrix)))
        return (f"simulation cell = {_supercell_words(self.supercell_matrix)} {self.lattice} {self.kind} cells ({self.source}); "
                f"conventional cubic vectors {vectors}; shape from G_c = S^-1 G S^-T")

    def to_dict(self) -> dict:
        supercell = [list(row) for row in self.supercell] if _is_nested(self.supercell) else list(self.supercell)
        return {"lattice": self.lattice, "kind": self.kind, "supercell": supercell,
                "supercell_matrix": self.supercell_matrix.tolist(), "matrix": self.matrix.tolist(), "a_angstrom": self.a_angstrom, "misfit": self.misfit,
                "source": self.source, "description": self.describe()}


def _is_nested(supercell) -> bool:
    return len(supercell) > 0 and isinstance(supercell[0], (tuple, list, np.ndarray))


def _is_diagonal(matrix) -> bool:
    matrix = np.asarray(matrix)
    return bool(np.array_equal(matrix, np.diag(np.diag(matrix))))


def _supercell_tuple(matrix) -> tuple:
    """(n1, n2, n3) of a diagonal M, else M as nested tuples."""
    matrix = np.asarray(matrix, dtype=int)
    if _is_diagonal(matrix):
        return tuple(int(v) for v in np.diag(matrix))
    return tuple(tuple(int(v) for v in row) for row in matrix)


def _supercell_words(matrix) -> str:
    """``2x2x3`` for a diagonal M, else ``[[1, 1, 0], ...] (det 2)``."""
    matrix = np.asarray(matrix, dtype=int)
    if _is_diagonal(matrix):
        return "x".join(str(int(v)) for v in np.diag(matrix))
    return f"{matrix.tolist()} (det {int(round(np.linalg.det(matrix)))})"


def _combination(coefficients) -> str:
    """``(-h1 + h2 + h3)/3`` for coefficients (-1/3, 1/3, 1/3) of the simulation vectors."""
    fractions = [Fraction(float(v)).limit_denominator(96) for v in coefficients]
    denominator = int(np.lcm.reduce([f.denominator for f in fractions]))
    terms = []
    for j, f in enumerate(fractions):
        k = int(f * denominator)
        if k:
            term = f"{abs(k) if abs(k) != 1 else ''}h{j + 1}"
            terms.append(("-" if k < 0 else "") + term if not terms else ("- " if k < 0 else "+ ") + term)
    text = " ".join(terms)
    if denominator == 1:
        return text
    return f"({text})/{denominator}" if " " in text else f"{text}/{denominator}"


def _basis(lattice: str, kind: str) -> np.ndarray:
    if lattice not in LATTICES:
        raise InputError(f"lattice '{lattice}' is not known; use one of {', '.join(LATTICES)}")
    return np.eye(3) if kind == "conventional" else LATTICES[lattice][1]


def _fit(metric: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """(pseudo-cubic edge from the volume, relative misfit of G ~ a^2 S S^T with a^2 fitted by least squares)."""
    sst = s @ s.T
    a2 = float(np.sum(metric * sst) / np.sum(sst * sst))
    misfit = float(np.linalg.norm(metric - a2 * sst) / np.linalg.norm(metric))
    edge = float((np.sqrt(np.linalg.det(metric)) / abs(np.linalg.det(s))) ** (1.0 / 3.0))
    return edge, misfit


def _integer_matrix(supercell) -> np.ndarray:
    """3 integers (a diagonal) or 9 / 3x3 integers as an integer 3x3 matrix; InputError otherwise."""
    try:
        values = np.asarray(supercell, dtype=float)
        if values.size not in (3, 9) or not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise ValueError
    except (ValueError, TypeError):
        raise InputError(f"supercell {supercell!r} in run.json must be three integers or a 3x3 integer matrix; "
                         "correct it or remove cell_kind/supercell to infer the mapping") from None
    values = values.astype(int)
    return np.diag(values) if values.size == 3 else values.reshape(3, 3)


def mapping_from_supercell(metric, lattice: str, kind: str, supercell, source: str = "run.json",
                           n_sites: int | None = None) -> PseudoCubicMapping:
    """The mapping for a declared cell, checked against ``metric`` (and the number of lattice sites when given).

    ``kind``: conventional or primitive parent cell; ``supercell``: (n1, n2, n3), or a 3x3 integer matrix M
    (nine values) giving S = M B exactly.  For three values and a primitive cell the sign of each primitive
    vector is fitted (cells written elsewhere may use 120-degree primitive vectors).
    """
    if kind not in ("conventional", "primitive"):
        raise InputError(f"cell kind '{kind}' must be conventional or primitive")
    m = _integer_matrix(supercell)
    exact = np.size(supercell) == 9
    metric = np.asarray(metric, dtype=float)
    if np.linalg.det(metric) <= 0:
        raise InputError("the cell is degenerate (zero volume); cell analysis needs three independent lattice vectors")
    basis = _basis(lattice, kind)
    n_cells = int(round(np.linalg.det(m)))
    if n_cells == 0:
        raise InputError(f"supercell {_supercell_words(m)} in {source} has determinant 0; correct cell_kind/supercell "
                         "in run.json or remove them to infer the mapping")
    expected_sites = abs(n_cells) * (LATTICES[lattice][0] if kind == "conventional" else 1)
    if n_sites is not None and expected_sites != n_sites:
        raise InputError(
            f"{source} declares {_supercell_words(m)} {lattice} {kind} cells ({expected_sites} lattice sites) but the "
            f"trajectory has {n_sites} lattice sites; correct cell_kind/supercell in run.json or remove them to infer the mapping")
    best = None
    for signs in ([np.ones(3)] if exact else _row_signs(kind)):
        s = m @ (signs[:, None] * basis)
        a, misfit = _fit(metric, s)
        if best is None or misfit < best[2]:
            best = (s, a, misfit)
    s, a, misfit = best
    if misfit > MAPPING_TOLERANCE:
        raise InputError(
            f"the cell does not match a {_supercell_words(m)} {lattice} {kind} supercell (misfit {misfit:.2f} > "
            f"{MAPPING_TOLERANCE}); correct cell_kind/supercell in run.json or remove them to infer the mapping")
    return PseudoCubicMapping(lattice, kind, _supercell_tuple(m), s, a, misfit, source)


def _row_signs(kind: str):
    if kind == "conventional":
        return [np.ones(3)]
    # Flipping one row of the primitive basis changes two of its angles 60 -> 120; flipping two equals flipping the third.
    return [np.array(v, dtype=float) for v in ([1, 1, 1], [-1, 1, 1], [1, -1, 1], [1, 1, -1])]


def find_pseudo_cubic_mapping(metric, n_sites: int | None = None, lattice: str = "fcc") -> PseudoCubicMapping:
    """Infer S from a reference metric tensor (angstrom^2; e.g. the time-averaged one) and the number of lattice sites.

    ``n_sites``: atoms of the species forming the cubic lattice (La in LaH10),
    which fixes the number of cells; without it the smallest supercell
    consistent with the shape is taken (lengths then refer to that cell).
    Raises InputError when no supercell fits within MAPPING_TOLERANCE.
    """
    metric = np.asarray(metric, dtype=float)
    if metric.shape != (3, 3) or not np.all(np.isfinite(metric)) or np.linalg.det(metric) <= 0:
        raise InputError("the cell is degenerate (zero volume); cell analysis needs three independent lattice vectors")
    sites_per_cell, _ = LATTICES.get(lattice, (None, None))
    if sites_per_cell is None:
        raise InputError(f"lattice '{lattice}' is not known; use one of {', '.join(LATTICES)}")
    best = None
    kinds = ("conventional",) if lattice == "sc" else ("conventional", "primitive")
    for kind in kinds:
        n_cells = None
        if n_sites is not None:
            per_cell = sites_per_cell if kind == "conventional" else 1
            if n_sites % per_cell:
                continue
            n_cells = n_sites // per_cell
        basis = _basis(lattice, kind)
        for signs in _row_signs(kind):
            b = signs[:, None] * basis
            for n in _multiples(n_cells):
                s = np.diag(n).astype(float) @ b
                a, misfit = _fit(metric, s)
                if best is None or misfit < best[0] - 1e-12:
                    best = (misfit, kind, n, s, a)
    if best is None or best[0] > MAPPING_TOLERANCE:
        lengths, angles = cellpar_from_metric(metric)
        detail = f"best misfit {best[0]:.2f}" if best else f"{n_sites} lattice sites fit no {lattice} supercell"
        raise InputError(
            f"cell (lengths {np.round(lengths, 3).tolist()} A, angles {np.round(angles, 2).tolist()} deg) cannot be mapped to a "
            f"pseudo-cubic {lattice} cell ({detail}, limit {MAPPING_TOLERANCE}); check --lattice and that the cell is a "
            "supercell of the conventional or primitive cubic cell")
    misfit, kind, n, s, a = best
    source = "inferred from the cell" + ("" if n_sites is not None else ", smallest supercell (site count unknown)")
    return PseudoCubicMapping(lattice, kind, tuple(int(v) for v in n), s, a, misfit, source)


def mapping_for(metric, n_sites: int | None, metadata: dict | None = None, lattice: str | None = None) -> PseudoCubicMapping:
    """The mapping of a trajectory from its metric tensors (n, 3, 3) and run.json's cell record.

    run.json's ``supercell_matrix`` with ``cell_kind`` (recorded by the structure builder, see
    :func:`hydropimd.structures.describe_supercell`) gives S = M B, checked against the cell and the
    site count.  An older record (``cell_kind`` and ``supercell`` only) is checked the same way,
    except that one whose cell count contradicts the site count (the atom-count guess of earlier
    versions, e.g. 2x2x2 for a 2x2x3 cell) is ignored, as is a record that was itself inferred or
    names another lattice: the mapping is then inferred (said in ``source``).

    The reference is the time-averaged metric: orientation-free, and a shuttling
    run averages towards the cube, which keeps the fit unambiguous.  ``lattice`` None: run.json's
    ``parent_lattice``, else fcc.
    """
    reference = np.asarray(metric, dtype=float).reshape(-1, 3, 3).mean(axis=0)
    metadata = metadata or {}
    lattice = lattice or metadata.get("parent_lattice") or "fcc"  # not given: the recorded parent, else fcc
    kind, matrix, supercell = metadata.get("cell_kind"), metadata.get("supercell_matrix"), metadata.get("supercell")
    recorded_lattice = metadata.get("parent_lattice") or lattice
    note = None
    if metadata.get("supercell_inferred"):
        note = "run.json's cell record was itself inferred"
    elif kind and (matrix is not None or supercell):
        if recorded_lattice != lattice:
            note = f"run.json records a {recorded_lattice} parent cell, {lattice} was asked for"
        elif matrix is not None:
            return mapping_from_supercell(reference, lattice, kind, _integer_matrix(matrix).ravel(), "recorded in run.json",
                                          n_sites)
        else:
            declared = _integer_matrix(supercell)
            per_cell = LATTICES[lattice][0] if kind == "conventional" and lattice in LATTICES else 1
            legacy = np.size(supercell) == 3 and len(set(np.diag(declared))) == 1 and "supercell_source" not in metadata
            if legacy and n_sites is not None and abs(int(round(np.linalg.det(declared)))) * per_cell != n_sites:
                note = (f"run.json's supercell {_supercell_words(declared)} (an atom-count guess of an earlier version) "
                        f"contradicts {n_sites} lattice sites and was ignored")
            else:
                return mapping_from_supercell(reference, lattice, kind, supercell, "run.json", n_sites)
    mapping = find_pseudo_cubic_mapping(reference, n_sites, lattice)
    if note:
        mapping = PseudoCubicMapping(mapping.lattice, mapping.kind, mapping.supercell, mapping.matrix, mapping.a_angstrom,
                                     mapping.misfit, f"{mapping.source}; {note}")
    return mapping
