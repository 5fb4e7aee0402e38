"""Crystal structures: fcc LaH10 from its Wyckoff positions, supercells, distortions, isotopes.

fcc LaH10, space group Fm-3m (No. 225), conventional cell (SPEC section 1):
La at 4a (0, 0, 0); H at 8c (1/4, 1/4, 1/4) and at 32f (x, x, x) with x ~ 0.38
(x ~ 0.12 is the same structure with La placed at 4b instead).  4 La + 40 H =
44 atoms per conventional cell, 11 per primitive cell.  Lengths in angstrom,
angles in degrees, masses in atomic mass units.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from ase import Atoms
from ase.build import make_supercell
from ase.io import read
from ase.data import atomic_masses, atomic_numbers
from ase.geometry import cellpar_to_cell
from ase.spacegroup import crystal
from pydantic import AliasChoices, Field

from hydropimd.config import Settings
from hydropimd.errors import InputError

#: Deuterium mass (u), CODATA 2018.
DEUTERIUM_MASS = 2.01410177812
ISOTOPE_MASSES = {"H": float(atomic_masses[atomic_numbers["H"]]), "D": DEUTERIUM_MASS}
#: Atom counts of the simulation cells used in the study and how each is built.
STUDY_CELLS = {
    11: ("primitive", (1, 1, 1)),
    44: ("conventional", (1, 1, 1)),
    297: ("primitive", (3, 3, 3)),
    352: ("conventional", (2, 2, 2)),
    2816: ("conventional", (4, 4, 4)),
}


def parse_supercell(spec) -> np.ndarray:
    """Integer supercell matrix (3, 3), rows = new cell vectors in units of the parent cell vectors.

    ``2`` or ``"2"`` -> 2 x identity; ``"2,2,3"`` or (2, 2, 3) -> diag(2, 2, 3); nine integers
    (``"1,1,0,0,1,1,1,0,1"``, a flat or nested sequence) -> that matrix.  Its determinant (the
    number of parent cells) must be positive.
    """
    original = spec
    if isinstance(spec, str):
        try:
            spec = [int(v) for v in re.split(r"[\s,]+", spec.strip()) if v]
        except ValueError:
            raise InputError(f"supercell '{original}' must be one, three or nine comma-separated integers") from None
    try:
        values = np.asarray(spec)
        if values.dtype == bool or not np.issubdtype(values.dtype, np.number) or values.size not in (1, 3, 9) \
                or not np.all(values == np.round(values)):
            raise ValueError
        values = values.astype(int).ravel()
    except (ValueError, TypeError, OverflowError):
        raise InputError(f"supercell {original!r} must be one, three or nine integers "
                         "(N, N1,N2,N3 or a 3x3 matrix row by row)") from None
    matrix = np.diag(np.repeat(values, 3 // len(values))) if len(values) in (1, 3) else values.reshape(3, 3)
    det = int(round(np.linalg.det(matrix)))
    if det <= 0:
        shown = original.strip() if isinstance(original, str) else _supercell_text(matrix)
        raise InputError(f"supercell {shown} has determinant {det}; it must be positive "
                         "(a right-handed repetition of at least one cell)")
    return matrix


def _supercell_text(matrix) -> str:
    """``2,2,3`` for a diagonal matrix, else the nine entries row by row."""
    matrix = np.asarray(matrix, dtype=int)
    values = np.diag(matrix) if np.count_nonzero(matrix - np.diag(np.diag(matrix))) == 0 else matrix.ravel()
    return ",".join(str(int(v)) for v in values)


def distortion_matrix(angles_deg, volume_factor: float = 1.0) -> np.ndarray:
    """Deformation F (rows: v' = v @ F) taking a cube with unit edges to equal edges with the given angles.

    The edge length is chosen so that det F = ``volume_factor`` (1: volume kept).
    The result is in ASE's standard orientation (first vector along x).
    """
    angles = np.asarray(angles_deg, dtype=float)
    if angles.shape != (3,):
        raise InputError(f"give three angles (alpha, beta, gamma), not {angles_deg}")
    if np.any(angles <= 0) or np.any(angles >= 180):
        raise InputError(f"angles {tuple(angles)} must lie strictly between 0 and 180 degrees")
    c = np.cos(np.radians(angles))
    shape = 1 - np.sum(c**2) + 2 * np.prod(c)
    if shape <= 1e-12:
        raise InputError(f"angles {tuple(angles)} make no cell (each angle must be less than the sum of the other two, and their sum less than 360)")
    edge = (volume_factor / np.sqrt(shape)) ** (1.0 / 3.0)
    return cellpar_to_cell([edge, edge, edge, *angles])


def build_lah10(
    a: float = 5.1,
    x: float = 0.38,
    cell: str = "conventional",
    supercell=1,
    angles=None,
    isotope: str = "H",
) -> Atoms:
    """fcc LaH10 (Fm-3m) with lattice constant ``a`` (angstrom) and 32f parameter ``x``.

    ``cell``: ``conventional`` (44 atoms) or ``primitive`` (11 atoms), repeated by
    ``supercell``: N, (N1, N2, N3) or a 3x3 integer matrix (rows: new cell vectors in
    units of the parent cell vectors; built with ``ase.build.make_supercell``).  What
    was built is recorded in ``atoms.info`` (see :func:`supercell_record`).  ``angles``: target (alpha, beta, gamma) in degrees of the
    *conventional* cell, imposed at fixed volume by the same linear map on
    whatever cell is built (so a primitive-cell supercell is the corresponding
    piece of the distorted lattice).  ``isotope``: ``H`` or ``D``; masses are set
    on the Atoms (written to extxyz as the ``masses`` column) and recorded in
    ``atoms.info["isotope"]``.  Atoms are ordered La first, then H.
    """
    if not a > 0:
        raise InputError(f"lattice constant a = {a} A must be positive")
    if not 0.25 < x < 0.75:
        # x and 1 - x are the same structure; below 0.25 (above 0.75) the 32f hydrogens close in on the La
        # atoms (x = 0.1: 0.88 A at a = 5.1 A), a cage no LaH10 calculation means
        raise InputError(f"Wyckoff parameter x = {x} must lie between 0.25 and 0.75 with La at 4a "
                         "(LaH10: 0.38; x and 1 - x give the same structure)")
    if cell not in ("conventional", "primitive"):
        raise InputError(f"cell '{cell}' must be conventional or primitive")
    if isotope not in ISOTOPE_MASSES:
        raise InputError(f"isotope '{isotope}' must be H or D")
    with warnings.catch_warnings():  # ASE warns of equivalent sites at special x; the check below says it in one line
        warnings.simplefilter("ignore", UserWarning)
        atoms = crystal(
            ["La", "H", "H"],
            basis=[(0, 0, 0), (0.25, 0.25, 0.25), (x, x, x)],
            spacegroup=225,
            cellpar=[a, a, a, 90, 90, 90],
            primitive_cell=(cell == "primitive"),
        )
    if len(atoms) != (11 if cell == "primitive" else 44):
        raise InputError(f"x = {x} puts hydrogens on special positions ({len(atoms)} atoms instead of 44); use x near 0.38")
    matrix = parse_supercell(supercell)
    diagonal = np.diag(matrix)
    if np.array_equal(matrix, np.diag(diagonal)) and np.all(diagonal > 0):
        atoms = atoms.repeat(tuple(int(n) for n in diagonal))
    else:
        atoms = make_supercell(atoms, matrix)
    order = np.argsort(np.array(atoms.get_chemical_symbols()) != "La", kind="stable")
    atoms = atoms[order]
    if angles is not None:
        strain = distortion_matrix(angles)  # maps the unit cube to the distorted conventional cell
        atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        atoms.info["conventional_angles_deg"] = [float(v) for v in angles]
    set_isotope(atoms, isotope)
    atoms.info.update({"prototype": "LaH10 Fm-3m", "a_angstrom": float(a), "x_32f": float(x)})
    atoms.info.update(supercell_record("fcc", cell, matrix))
    return atoms


def supercell_record(parent_lattice: str, cell_kind: str, matrix) -> dict:
    """``atoms.info`` keys saying what a cell is: ``parent_lattice`` (fcc), ``cell_kind`` (conventional or
    primitive parent cell) and ``supercell_matrix`` (3x3 nested list of ints, rows = cell vectors in units
    of the parent cell vectors; written to extxyz as JSON and read back as an integer array)."""
    return {"parent_lattice": parent_lattice, "cell_kind": cell_kind,
            "supercell_matrix": np.asarray(matrix, dtype=int).tolist()}


def describe_supercell(atoms: Atoms) -> dict:
    """The cell record for run.json: ``parent_lattice``, ``cell_kind``, ``supercell`` (N1, N2, N3 for a diagonal
    matrix, else the 3x3 matrix), ``supercell_matrix`` (3x3), ``supercell_inferred`` and ``supercell_source``.

    Read from ``atoms.info`` (written by :func:`build_lah10`) when present and consistent with the
    number of lattice sites (non-hydrogen atoms); otherwise inferred from the cell shape and that number
    (``supercell_inferred`` true, the reason in ``supercell_source``).  When nothing fits, the cell
    keys are None and the analysis infers the mapping from the trajectory.
    """
    from hydropimd.lattice import LATTICES, find_pseudo_cubic_mapping, metric_from_cells

    n_sites = int(np.sum(~np.isin(atoms.get_chemical_symbols(), ["H", "D", "T"])))
    info = atoms.info
    reason = "the structure carries no supercell record"
    if info.get("supercell_matrix") is not None and info.get("cell_kind") and info.get("parent_lattice"):
        lattice, kind = str(info["parent_lattice"]), str(info["cell_kind"])
        try:
            matrix = np.asarray(info["supercell_matrix"]).reshape(3, 3)
            if not np.all(matrix == np.round(matrix)):
                raise ValueError
            matrix = matrix.astype(int)
        except (ValueError, TypeError):
            matrix = None
            reason = f"its supercell_matrix {info['supercell_matrix']!r} is not a 3x3 integer matrix"
        if matrix is not None:
            if lattice not in LATTICES or kind not in ("conventional", "primitive"):
                reason = f"its record ({lattice} {kind}) names no known lattice and cell kind"
            else:
                cells = int(round(np.linalg.det(matrix)))
                expected = cells * (LATTICES[lattice][0] if kind == "conventional" else 1)
                if expected == n_sites:
                    return _cell_record(lattice, kind, matrix, False, "recorded with the structure (atoms.info)")
                reason = (f"its record ({_supercell_text(matrix)} {lattice} {kind}: {expected} lattice sites) "
                          f"disagrees with its {n_sites} (changed after it was built)")
    try:
        mapping = find_pseudo_cubic_mapping(metric_from_cells(atoms.cell.array), n_sites or None, "fcc")
    except InputError:
        return {"parent_lattice": None, "cell_kind": None, "supercell": None, "supercell_matrix": None,
                "supercell_inferred": True,
                "supercell_source": f"unknown: {reason} and the cell shape fits no diagonal fcc supercell of "
                                    f"{n_sites} lattice sites; the analysis infers the mapping from the trajectory"}
    return _cell_record(mapping.lattice, mapping.kind, mapping.supercell_matrix, True,
                        f"inferred from the cell shape and {n_sites} lattice sites: {reason}")


def _cell_record(lattice: str, kind: str, matrix, inferred: bool, source: str) -> dict:
    matrix = np.asarray(matrix, dtype=int)
    diagonal = np.array_equal(matrix, np.diag(np.diag(matrix)))
    return {"parent_lattice": lattice, "cell_kind": kind,
            "supercell": [int(v) for v in np.diag(matrix)] if diagonal else matrix.tolist(),
            "supercell_matrix": matrix.tolist(), "supercell_inferred": inferred, "supercell_source": source}


def set_isotope(atoms: Atoms, isotope: str) -> Atoms:
    """Give every hydrogen the mass of ``H`` or ``D`` (the symbol stays H: the potential is mass-independent)."""
    if isotope not in ISOTOPE_MASSES:
        raise InputError(f"isotope '{isotope}' must be H or D")
    masses = atoms.get_masses()
    masses[np.array(atoms.get_chemical_symbols()) == "H"] = ISOTOPE_MASSES[isotope]
    atoms.set_masses(masses)
    atoms.info["isotope"] = isotope
    return atoms


def hydrogen_isotope(atoms: Atoms) -> str:
    """``H`` or ``D`` from the masses carried by a structure."""
    h = np.array(atoms.get_chemical_symbols()) == "H"
    if not h.any():
        return "H"
    mass = float(np.mean(atoms.get_masses()[h]))
    return min(ISOTOPE_MASSES, key=lambda k: abs(ISOTOPE_MASSES[k] - mass))


def read_structures(source: str | os.PathLike | Atoms | Sequence[Atoms], index=":") -> list[Atoms]:
    """Structures from a file (every frame by default; any ASE format: extxyz, pw.x input, CIF, ...),
    or the given Atoms (one or a list).  One-line errors for a missing, unreadable or empty file."""
    if isinstance(source, Atoms):
        return [source]
    if not isinstance(source, (str, os.PathLike)):
        return list(source)
    path = Path(source)
    if not path.is_file():
        raise InputError(f"structure file {path} does not exist")
    try:
        frames = read(path, index=index)
    except Exception as err:  # ASE raises many types for unreadable files
        reason = str(err).splitlines()[0] if str(err) else repr(err)
        raise InputError(f"cannot read structures from {path}: {reason}") from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise InputError(f"{path} holds no structure")
    return frames


def read_structure(source: str | os.PathLike | Atoms) -> Atoms:
    """One structure: the given Atoms, or the last frame of a file (as ``ase.io.read``)."""
    return read_structures(source, index=-1)[0]


class StructureSettings(Settings):
    """A start structure built from its prototype (the ``[structure]`` of a study, ``[explore.structure]`` of
    the active-learning loop): lattice constant (A), Wyckoff parameter, cell, supercell, start angles (degrees)."""

    prototype: Literal["lah10"] = "lah10"
    #: 5.1 A: fcc LaH10 near 150 GPa, the middle of the study's pressure range (SPEC section 2)
    a: float = Field(5.1, gt=0)
    #: 0.38: the 32f parameter of the relaxed structure (SPEC section 2); its range is build_lah10's rule
    x: float = 0.38
    cell: Literal["conventional", "primitive"] = "conventional"
    #: N, [N1, N2, N3] or a 3x3 matrix; 1: the 44-atom conventional cell, the cheapest that has every
    #: cell-shape degree of freedom of the cubic lattice (a study asks for larger cells explicitly)
    supercell: int | list[int] | list[list[int]] = 1
    #: conventional-cell angles imposed at fixed volume (a slightly rhombohedral start lets a distortion grow)
    start_angles_deg: list[float] | None = Field(None, validation_alias=AliasChoices("start_angles_deg", "angles"))
    isotope: Literal["H", "D"] = "H"

    def build(self, isotope: str | None = None) -> Atoms:
        """The structure (ASE Atoms), with ``isotope`` instead of the configured one when given; InputError for
        impossible parameters."""
        return build_lah10(a=self.a, x=self.x, cell=self.cell, supercell=self.supercell, angles=self.start_angles_deg,
                           isotope=isotope or self.isotope)
