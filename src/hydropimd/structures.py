"""Crystal structures: prototypes from their Wyckoff positions, structure files, supercells, distortions, isotopes.

The prototypes are data: ``prototypes.toml`` (space group, Wyckoff sites, default lattice constant and free
parameters, parent lattice of the heavy sublattice), built by :func:`build_structure` with
``ase.spacegroup.crystal``; shipped: lah10, h3s, cah6, yh6, labeh8.  The original one,
fcc LaH10, space group Fm-3m (No. 225), conventional cell (docs/guide/structures.md):
La at 4a (0, 0, 0); H at 8c (1/4, 1/4, 1/4) and at 32f (x, x, x) with x ~ 0.38
(x ~ 0.12 is the same structure with La placed at 4b instead).  4 La + 40 H =
44 atoms per conventional cell, 11 per primitive cell.  Lengths in angstrom,
angles in degrees, masses in atomic mass units.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
import warnings
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from ase import Atoms
from ase.build import make_supercell
from ase.io import read
from ase.data import atomic_masses, atomic_numbers, covalent_radii
from ase.geometry import cellpar_to_cell
from ase.spacegroup import crystal
from pydantic import AliasChoices, Field, model_serializer, model_validator

from hydropimd.config import Settings
from hydropimd.errors import InputError
from hydropimd.lattice import LATTICES

#: hydrogen, the element every hydride shares: its one literal outside the published data set's module (isotopes below)
HYDROGEN = "H"
#: symbols a hydrogen atom may carry in a structure file (the potential always sees H)
HYDROGEN_SYMBOLS = (HYDROGEN, "D", "T")
#: Deuterium mass (u), CODATA 2018.
DEUTERIUM_MASS = 2.01410177812
ISOTOPE_MASSES = {HYDROGEN: float(atomic_masses[atomic_numbers[HYDROGEN]]), "D": DEUTERIUM_MASS}
#: the hydrogen isotopes a run may carry by name
HYDROGEN_ISOTOPES = tuple(ISOTOPE_MASSES)
#: Atom counts of the simulation cells used in the study and how each is built.
STUDY_CELLS = {
    11: ("primitive", (1, 1, 1)),
    44: ("conventional", (1, 1, 1)),
    297: ("primitive", (3, 3, 3)),
    352: ("conventional", (2, 2, 2)),
    2816: ("conventional", (4, 4, 4)),
}


def default_type_map(elements) -> tuple[str, ...]:
    """The type map of structures made of ``elements``: by atomic number, H last (LaH10: La, H; H3S: S, H)."""
    unknown = sorted(e for e in set(elements) if e not in atomic_numbers)
    if unknown:
        raise InputError(f"unknown element(s) {', '.join(unknown)}; give type_map in the configuration")
    return tuple(sorted(set(elements), key=lambda e: (e == HYDROGEN, atomic_numbers[e])))


#: the closest two atoms may be, as a fraction of the sum of their covalent radii (ASE's, Cordero et al., Dalton
#: Trans. 2832 (2008)): H-H 0.31 A, S-H 0.67 A, La-H 1.19 A.  Far below any bond of a compressed hydride (H2: 0.74 A;
#: LaH10's H-H at 300 GPa: ~1.0 A) and above the distances at which a structure is broken (an H pair 0.1 A apart
#: gave pw.x -159 eV/atom and 1414 eV/A; a pair-table baseline starts near 0.4-0.5 A for H-H).
MIN_DISTANCE_FRACTION = 0.5
#: the largest volume per atom (A^3) of a structure that is built: solids at ambient pressure have 5-50 A^3/atom,
#: compressed hydrides 2-10 (LaH10 at 5.1 A: 3.0); 1000 A^3/atom is an ideal gas at ~40 bar and 0 C, no crystal.
#: A lattice constant in the wrong unit or with a wrong exponent lands far beyond it (a = 1e6 A built, and md run then
#: died with a signal).  Lengths are not bounded on their own: a long thin supercell of a dense crystal is one.
MAX_VOLUME_PER_ATOM = 1000.0
#: the most atoms a built structure may have: 10 million, >3000x the study's largest cell (2816 atoms, which PIMD
#: already multiplies by its beads); a supercell beyond it is a typo, and it is refused before anything is allocated
MAX_ATOMS = 10_000_000
#: bytes per atom of the arrays every Atoms holds (positions 24, numbers 8, masses 8): the least memory a cell takes
ATOM_BYTES = 40


def structure_problem(atoms: Atoms, fraction: float = MIN_DISTANCE_FRACTION,
                      max_volume_per_atom: float | None = None) -> str | None:
    """What makes ``atoms`` unphysical, in words, or None: non-finite positions or cell, a volume per atom above
    ``max_volume_per_atom`` (A^3; None: not checked), or two atoms closer than ``fraction`` x the sum of their
    covalent radii (:data:`MIN_DISTANCE_FRACTION`; periodic images included)."""
    from ase.neighborlist import neighbor_list

    if not np.all(np.isfinite(atoms.positions)) or not np.all(np.isfinite(atoms.cell.array)):
        return "it has non-finite (NaN or infinite) positions or cell vectors"
    if len(atoms) == 0 or (atoms.pbc.any() and atoms.cell.rank < 3):
        return None  # nothing to measure; the callers' own checks name a missing cell
    if max_volume_per_atom is not None:  # before the neighbour search, which bins the cell
        per_atom = abs(atoms.get_volume()) / len(atoms)
        if per_atom > max_volume_per_atom:
            lengths = ", ".join(f"{v:.4g}" for v in atoms.cell.lengths())
            return (f"its volume per atom is {per_atom:.3g} A^3 (cell lengths {lengths} A), above the "
                    f"{max_volume_per_atom:g} A^3 of any crystal (that is a gas)")
    radii = covalent_radii[atoms.numbers]
    i, j, d = neighbor_list("ijd", atoms, float(fraction * 2 * radii.max()))
    limit = fraction * (radii[i] + radii[j])
    close = np.flatnonzero(d < limit)
    if close.size == 0:
        return None
    k = close[np.argmin(d[close] / limit[close])]
    symbols = atoms.get_chemical_symbols()
    return (f"atoms {i[k]} ({symbols[i[k]]}) and {j[k]} ({symbols[j[k]]}) are {d[k]:.3f} A apart, closer than "
            f"{limit[k]:.2f} A ({fraction:g} x the sum of their covalent radii)")


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
    isotope: str = HYDROGEN,
) -> Atoms:
    """fcc LaH10 (Fm-3m) with lattice constant ``a`` (angstrom) and 32f parameter ``x``: the ``lah10``
    prototype of :func:`build_structure` (see there for ``cell``, ``supercell``, ``angles``).

    ``cell``: ``conventional`` (44 atoms) or ``primitive`` (11 atoms).  ``isotope``: ``H`` or ``D``; masses
    are set on the Atoms (written to extxyz as the ``masses`` column) and recorded in ``atoms.info["isotope"]``.
    Atoms are ordered La first, then H.
    """
    if isotope not in ISOTOPE_MASSES:
        raise InputError(f"isotope '{isotope}' must be H or D")
    return build_structure("lah10", a=a, parameters={"x": x}, cell=cell, supercell=supercell, angles=angles,
                           isotopes={HYDROGEN: isotope})


#: The prototype library (package data, one table per prototype; the file's header says the keys).
PROTOTYPE_FILE = Path(__file__).with_name("prototypes.toml")
#: Rhombohedral, tetragonal and monoclinic start strains (each at fixed volume) and their parameter.
STRAIN_KINDS = {"rhombohedral": "angle_deg", "tetragonal": "c_over_a", "monoclinic": "beta_deg", "matrix": "matrix"}


@functools.cache
def prototypes() -> dict[str, dict]:
    """The prototype library, by name, in the order of ``prototypes.toml``."""
    with open(PROTOTYPE_FILE, "rb") as handle:
        return tomllib.load(handle)


def prototype(name: str) -> dict:
    """One prototype's table; InputError listing the known names for an unknown one."""
    library = prototypes()
    if name not in library:
        raise InputError(f"unknown prototype '{name}'; known prototypes: {', '.join(library)} "
                         f"(add one to {PROTOTYPE_FILE.name}, or give a structure file)")
    return library[name]


def _coordinate(value, parameters: dict, name: str) -> float:
    """A fractional coordinate: a number, or ``[+-]p`` / ``1-p`` for a free parameter ``p``."""
    if not isinstance(value, str):
        return float(value)
    match = re.fullmatch(r"\s*(1\s*-|-|\+)?\s*([A-Za-z_]\w*)\s*", value)
    if not match or match.group(2) not in parameters:
        raise InputError(f"prototype '{name}': coordinate '{value}' names no parameter of it ({', '.join(parameters) or 'none'})")
    p, sign = parameters[match.group(2)], (match.group(1) or "").replace(" ", "")
    return 1.0 - p if sign == "1-" else (-p if sign == "-" else p)


def _multiplicity(wyckoff: str) -> int | None:
    match = re.match(r"\s*(\d+)", str(wyckoff))
    return int(match.group(1)) if match else None


def build_structure(
    prototype_name: str,
    a: float | None = None,
    parameters: dict | None = None,
    cell: str = "conventional",
    supercell=1,
    strain=None,
    isotopes=None,
    angles=None,
) -> Atoms:
    """A crystal of the prototype library (``prototypes.toml``) as ASE Atoms, built with ``ase.spacegroup.crystal``.

    ``a``: cubic lattice constant of the conventional cell (angstrom; default: the prototype's).
    ``parameters``: free Wyckoff parameters by name (default: the prototype's), e.g. ``{"x": 0.38}``.
    ``cell``: ``conventional`` or ``primitive`` (the primitive cell of the parent lattice), repeated by
    ``supercell``: N, (N1, N2, N3) or a 3x3 integer matrix (rows: new cell vectors in units of the parent
    cell vectors; built with ``ase.build.make_supercell``; determinant > 0; at most :data:`MAX_ATOMS` atoms).
    What was built is recorded in ``atoms.info`` (see :func:`supercell_record`).  ``angles``: target (alpha,
    beta, gamma) in degrees of the *conventional* cell, imposed at fixed volume by the same linear map on
    whatever cell is built (so a primitive-cell supercell is the corresponding piece of the distorted
    lattice).  ``strain``: a start distortion at fixed volume applied the same way (:func:`strain_matrix`).
    ``isotopes``: element -> isotope name (H: ``H`` or ``D``) or mass (u); a plain ``"D"`` means
    ``{"H": "D"}``.  Atoms are ordered by element in the order of the prototype's sites (LaH10: La first,
    then H).  InputError for a cell that is no crystal (:func:`_refuse_unphysical`, which names the cause).
    """
    table = prototype(prototype_name)
    a = float(table["a"]) if a is None else a
    if not (a > 0 and np.isfinite(a)):
        raise InputError(f"lattice constant a = {a} A must be a positive number")
    if cell not in ("conventional", "primitive"):
        raise InputError(f"cell '{cell}' must be conventional or primitive")
    values = _parameter_values(table, prototype_name, parameters)
    unit = _unit_cell(table, prototype_name, a, values, cell)
    _refuse_unphysical(table, prototype_name, a, values, cell, angles, strain, unit)
    matrix = parse_supercell(supercell)
    _refuse_oversized(len(unit), matrix, f"prototype '{prototype_name}' ({cell} cell, {len(unit)} atoms)")
    diagonal = np.diag(matrix)
    if np.array_equal(matrix, np.diag(diagonal)) and np.all(diagonal > 0):
        atoms = unit.repeat(tuple(int(n) for n in diagonal))
    else:
        atoms = make_supercell(unit, matrix)
    atoms = atoms[np.argsort(_element_rank(table, atoms), kind="stable")]
    _distort(atoms, angles, strain)
    set_isotopes(atoms, isotopes)
    atoms.info.update({"prototype": prototype_name, "a_angstrom": float(a)})
    sites = table["sites"]
    for key, value in values.items():  # x_32f: the parameter and the site it places
        wyckoff = next((s.get("wyckoff", "") for s in sites if any(c in (key, f"-{key}", f"1-{key}")
                                                                   for c in s["position"] if isinstance(c, str))), "")
        atoms.info[f"{key}_{wyckoff}" if wyckoff else key] = float(value)
    atoms.info.update(supercell_record(table["parent_lattice"], cell, matrix))
    if table.get("lattice_species"):
        atoms.info["lattice_species"] = ",".join(table["lattice_species"])
    return atoms


def _parameter_values(table: dict, name: str, parameters: dict | None) -> dict[str, float]:
    """The free Wyckoff parameters of prototype ``name`` (fractional coordinates): the given ones, the table's
    defaults for the rest; InputError for an unknown one or one outside the table's ``ranges``."""
    defaults = dict(table.get("parameters", {}))
    given = dict(parameters or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise InputError(f"prototype '{name}' has no free parameter {', '.join(unknown)} "
                         f"(its parameters: {', '.join(defaults) or 'none'})")
    values = {k: float(given.get(k, v)) for k, v in defaults.items()}
    for key, (low, high) in table.get("ranges", {}).items():
        if not low < values[key] < high:
            note = table.get("range_notes", {}).get(key, "")
            raise InputError(f"Wyckoff parameter {key} = {values[key]:g} must lie between {low:g} and {high:g}"
                             + (f" {note}" if note else ""))
    return values


def _element_rank(table: dict, atoms: Atoms) -> list[int]:
    """Each atom's element as its place among the prototype's elements (site order): the key atoms are sorted by."""
    elements = list(dict.fromkeys(site["element"] for site in table["sites"]))
    return [elements.index(s) for s in atoms.get_chemical_symbols()]


def _unit_cell(table: dict, name: str, a: float, values: dict, cell: str) -> Atoms:
    """The undistorted conventional or primitive cell of prototype ``name`` at lattice constant ``a`` (angstrom) and
    Wyckoff parameters ``values``, atoms sorted by element; InputError when a parameter puts atoms on special
    positions (fewer atoms than the sites' multiplicities)."""
    sites = table["sites"]
    basis = [tuple(_coordinate(c, values, name) for c in site["position"]) for site in sites]
    with warnings.catch_warnings():  # ASE warns of equivalent sites at special x; the check below says it in one line
        warnings.simplefilter("ignore", UserWarning)
        atoms = crystal([site["element"] for site in sites], basis=basis, spacegroup=table["spacegroup"],
                        cellpar=[a, a, a, 90, 90, 90], primitive_cell=(cell == "primitive"))
    multiplicities = [_multiplicity(site.get("wyckoff", "")) for site in sites]
    if None not in multiplicities:
        expected = sum(multiplicities) // (LATTICES[table["parent_lattice"]][0] if cell == "primitive" else 1)
        if len(atoms) != expected:
            defaults = table.get("parameters", {})
            shown = ", ".join(f"{k} = {v:g}" for k, v in values.items()) or f"a = {a:g}"
            raise InputError(f"{shown} puts atoms on special positions ({len(atoms)} atoms instead of {expected}); "
                             f"use values near {', '.join(f'{k} = {v:g}' for k, v in defaults.items()) or 'the defaults'}")
    return atoms[np.argsort(_element_rank(table, atoms), kind="stable")]


def _distort(atoms: Atoms, angles=None, strain=None) -> Atoms:
    """``atoms`` (changed in place and returned) with the conventional-cell ``angles`` (degrees) and then the
    ``strain`` imposed at fixed volume, fractional coordinates kept; both recorded in ``atoms.info``.

    Both are linear maps of every vector, so distorting a cell and then repeating it gives the distorted supercell."""
    if angles is not None:
        atoms.set_cell(atoms.cell.array @ distortion_matrix(angles), scale_atoms=True)
        atoms.info["conventional_angles_deg"] = [float(v) for v in angles]
    if strain is not None:
        atoms.set_cell(atoms.cell.array @ strain_matrix(strain), scale_atoms=True)
        atoms.info["strain"] = _strain_text(strain)
    return atoms


def _refuse_unphysical(table: dict, name: str, a: float, values: dict, cell: str, angles, strain,
                       unit: Atoms) -> None:
    """InputError when ``unit`` (the cell of prototype ``name`` at lattice constant ``a``, angstrom, and Wyckoff
    parameters ``values``), distorted by ``angles`` and ``strain``, is no crystal (:func:`structure_problem` with
    :data:`MAX_VOLUME_PER_ATOM`; the cell suffices: the supercell is its repetition, periodic images included).

    The message names the cause: the lattice constant when the same parameters give a crystal at the prototype's
    own ``a``, else a free parameter given away from its default when the defaults give one (the distance it sets
    scales with ``a``, so no ``a`` mends it), else the distortion."""
    def problem(lattice_constant: float, parameters: dict) -> str | None:
        given = (lattice_constant, parameters) == (a, values)
        trial = unit.copy() if given else _unit_cell(table, name, lattice_constant, parameters, cell)
        return structure_problem(_distort(trial, angles, strain), max_volume_per_atom=MAX_VOLUME_PER_ATOM)

    found = problem(a, values)
    if found is None:
        return
    default_a = float(table["a"])
    defaults = {k: float(v) for k, v in table.get("parameters", {}).items()}
    changed = {k: v for k, v in values.items() if v != defaults[k]}
    if problem(default_a, values) is None:
        fix = (f"use a larger --a (the prototype's is {default_a:g} A)" if a < default_a
               else f"use --a near the prototype's {default_a:g} A")
    elif changed and problem(default_a, defaults) is None:
        shown = ", ".join(f"{k} = {v:g}" for k, v in changed.items())
        fix = (f"the cause is {shown}, not the lattice constant (the distance scales with a): use "
               + ", ".join(f"{k} nearer the prototype's {defaults[k]:g}" for k in changed))
    elif angles is not None or strain is not None:
        fix = "use a smaller distortion (--angles, --strain)"
    else:
        fix = f"use a larger --a (the prototype's is {default_a:g} A)"
    raise InputError(f"prototype '{name}' at a = {a:g} A: {found}; {fix}")


def _refuse_oversized(n_cell: int, matrix, what: str) -> None:
    """InputError, before anything is allocated, when ``n_cell`` atoms repeated by the supercell ``matrix`` would
    exceed :data:`MAX_ATOMS`; the message gives the atom count and the least memory (GiB) it would take."""
    natoms = n_cell * abs(int(round(np.linalg.det(matrix))))
    if natoms > MAX_ATOMS:
        gib = natoms * ATOM_BYTES / 2**30
        raise InputError(f"{what} repeated by supercell {_supercell_text(matrix)} would hold {natoms:,} atoms, "
                         f"at least {gib:,.0f} GiB of memory, beyond the {MAX_ATOMS:,} atoms a structure may have; "
                         "give a smaller supercell")


def strain_matrix(spec) -> np.ndarray:
    """Deformation F (rows: v' = v @ F, det F = 1: volume kept) of a start strain, in the conventional cubic frame.

    ``{"kind": "rhombohedral", "angle_deg": 89.5}`` (three equal angles), ``{"kind": "tetragonal",
    "c_over_a": 1.02}``, ``{"kind": "monoclinic", "beta_deg": 91}`` (the angle between a and c), or a
    generic symmetric strain ``{"kind": "matrix", "matrix": [[...], [...], [...]]}`` (or the bare 3x3
    nested list): F = (1 + e) scaled to det 1.  The first two put the cell in ASE's standard orientation.
    """
    if isinstance(spec, (list, tuple, np.ndarray)):
        spec = {"kind": "matrix", "matrix": spec}
    if not isinstance(spec, dict) or spec.get("kind") not in STRAIN_KINDS:
        raise InputError(f"strain {spec!r} must be a table with kind = {', '.join(STRAIN_KINDS)} "
                         "(or a 3x3 symmetric strain)")
    kind, key = spec["kind"], STRAIN_KINDS[spec["kind"]]
    extra = sorted(set(spec) - {"kind", key})
    if key not in spec or extra:
        raise InputError(f"a {kind} strain takes exactly one value, {key}" + (f" (not {', '.join(extra)})" if extra else ""))
    value = spec[key]
    if kind == "rhombohedral":
        return distortion_matrix((float(value),) * 3)
    if kind == "monoclinic":
        return distortion_matrix((90.0, float(value), 90.0))
    if kind == "tetragonal":
        if not float(value) > 0:
            raise InputError(f"tetragonal strain c_over_a = {value} must be positive")
        r = float(value)
        return np.diag([r ** (-1 / 3), r ** (-1 / 3), r ** (2 / 3)])
    try:
        e = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        e = np.zeros(0)
    if e.shape != (3, 3) or not np.all(np.isfinite(e)):
        raise InputError(f"strain matrix {value!r} must be 3x3 numbers")
    if not np.allclose(e, e.T, atol=1e-12):
        raise InputError(f"strain matrix {e.tolist()} must be symmetric (a rotation is no strain)")
    f = np.eye(3) + e
    det = np.linalg.det(f)
    if det <= 1e-6:
        raise InputError(f"strain matrix {e.tolist()} inverts or collapses the cell (det(1 + e) = {det:.3g})")
    return f / det ** (1 / 3)


def _strain_text(spec) -> str:
    if isinstance(spec, dict) and spec.get("kind") != "matrix":
        key = STRAIN_KINDS.get(spec.get("kind"), "")
        return f"{spec.get('kind')} {key}={spec.get(key)}"
    matrix = spec["matrix"] if isinstance(spec, dict) else spec
    return "matrix " + ",".join(f"{v:g}" for v in np.asarray(matrix, dtype=float).ravel())


def set_isotopes(atoms: Atoms, isotopes=None) -> Atoms:
    """Masses per element: ``isotopes`` maps an element to an isotope name (H: ``H`` or ``D``) or a mass (u);
    a plain string means the hydrogen isotope (``"D"``).  Hydrogen keeps the symbol H (the potential is
    mass-independent); its isotope name is recorded in ``atoms.info["isotope"]`` as before."""
    if isotopes is None:
        isotopes = {}
    elif isinstance(isotopes, str):
        isotopes = {HYDROGEN: isotopes}
    elif not isinstance(isotopes, dict):
        raise InputError(f"isotopes {isotopes!r} must map elements to isotopes, e.g. {{\"H\": \"D\"}}")
    symbols = np.array(atoms.get_chemical_symbols())
    masses = atoms.get_masses()
    for element, isotope in isotopes.items():
        if element not in symbols:
            raise InputError(f"isotopes: the structure has no {element} (its elements: {', '.join(dict.fromkeys(symbols))})")
        if element == HYDROGEN and isinstance(isotope, str):
            continue  # below, through set_isotope
        if isinstance(isotope, bool) or not isinstance(isotope, (int, float)) or not isotope > 0:
            names = "H or D, or a mass in u" if element == HYDROGEN else "a mass in u"
            raise InputError(f"isotope {isotope!r} for {element} must be {names}")
        masses[symbols == element] = float(isotope)
    atoms.set_masses(masses)
    if HYDROGEN in symbols:
        h = isotopes.get(HYDROGEN, HYDROGEN)
        if isinstance(h, str):
            set_isotope(atoms, h)
        else:
            atoms.info["isotope"] = hydrogen_isotope(atoms)
    if any(k != HYDROGEN or not isinstance(v, str) for k, v in isotopes.items()):
        atoms.info["isotope_masses"] = ",".join(f"{k}:{v}" for k, v in isotopes.items())
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

    Read from ``atoms.info`` (written by :func:`build_structure`) when present and consistent with the
    number of lattice sites (the atoms of ``info["lattice_species"]`` when recorded, else the non-hydrogen
    atoms); otherwise inferred from the cell shape and that number
    (``supercell_inferred`` true, the reason in ``supercell_source``).  When nothing fits, the cell
    keys are None and the analysis infers the mapping from the trajectory.
    """
    from hydropimd.lattice import LATTICES, find_pseudo_cubic_mapping, metric_from_cells

    info = atoms.info
    symbols = atoms.get_chemical_symbols()
    species = [e for e in str(info.get("lattice_species") or "").split(",") if e]
    # the lattice sites: the recorded species (La in LaBeH8), else every non-hydrogen atom
    n_sites = int(np.sum(np.isin(symbols, species) if species else ~np.isin(symbols, HYDROGEN_SYMBOLS)))
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
    # inferred for the recorded parent lattice when it is a known one (bcc for H3S), else fcc
    fallback = str(info.get("parent_lattice")) if info.get("parent_lattice") in LATTICES else "fcc"
    try:
        mapping = find_pseudo_cubic_mapping(metric_from_cells(atoms.cell.array), n_sites or None, fallback)
    except InputError:
        return {"parent_lattice": None, "cell_kind": None, "supercell": None, "supercell_matrix": None,
                "supercell_inferred": True,
                "supercell_source": f"unknown: {reason} and the cell shape fits no diagonal {fallback} supercell of "
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
    masses[np.array(atoms.get_chemical_symbols()) == HYDROGEN] = ISOTOPE_MASSES[isotope]
    atoms.set_masses(masses)
    atoms.info["isotope"] = isotope
    return atoms


def hydrogen_isotope(atoms: Atoms) -> str:
    """``H`` or ``D`` from the masses carried by a structure."""
    h = np.array(atoms.get_chemical_symbols()) == HYDROGEN
    if not h.any():
        return HYDROGEN
    mass = float(np.mean(atoms.get_masses()[h]))
    return min(ISOTOPE_MASSES, key=lambda k: abs(ISOTOPE_MASSES[k] - mass))


def unreadable_file(path: Path, err: Exception, what: str) -> InputError:
    """The one-line refusal of a file ASE's reader failed on: the file, what its reader met in words (ASE's readers
    raise bare ``KeyError('Xx')``, ``StopIteration()``, ``AssertionError()``...), the format tried and the fix."""
    from ase.io.formats import filetype

    try:
        fmt = filetype(str(path))
    except Exception:  # noqa: BLE001 - the format is only named in the message
        fmt = path.suffix.lstrip(".") or "unknown"
    text = (str(err).strip().splitlines() or [""])[0]
    if isinstance(err, KeyError):
        detail = f"unknown name {err.args[0]!r}: not a chemical element, or a field the format lacks"
    elif isinstance(err, (StopIteration, EOFError, IndexError)):
        detail = "it ends before its frame does: a truncated file?"
    elif isinstance(err, ValueError) and ("inhomogeneous" in text or "broadcast" in text):
        detail = "its lines hold inconsistent numbers of values: a truncated or hand-edited file?"
    elif isinstance(err, AssertionError) or not text:
        detail = f"its layout is not what the {fmt} reader expects ({type(err).__name__})"
    else:
        detail = text
    return InputError(f"cannot read {what} from {path} as {fmt} ({detail}); check that it is a complete {fmt} "
                      "file, or give it the suffix of its real format")


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
        raise unreadable_file(path, err, "structures") from None
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise InputError(f"{path} holds no structure")
    return frames


def read_structure(source: str | os.PathLike | Atoms) -> Atoms:
    """One structure: the given Atoms, or the last frame of a file (as ``ase.io.read``: CIF, POSCAR, extxyz, ...).

    A file's structure must be a crystal: InputError for one without a cell (three lattice vectors) and
    for a CIF with partial occupancies (a disordered site is no structure to simulate)."""
    atoms = read_structures(source, index=-1)[0]
    if isinstance(source, Atoms):
        return atoms
    path = Path(source)
    occupancy = atoms.info.get("occupancy") or {}
    for tag, occupants in occupancy.items():
        if any(abs(float(v) - 1.0) > 1e-6 for v in occupants.values()) or len(occupants) > 1:
            try:  # the CIF's site labels (ASE keeps them only when asked)
                labels = read(path, index=-1, store_tags=True).info.get("_atom_site_label")
            except Exception:  # noqa: BLE001 - the label is a courtesy; the site number is said instead
                labels = None
            site = str(tag)
            try:
                site = str(labels[int(tag)]) if labels is not None else f"#{int(tag) + 1}"
            except (ValueError, IndexError, TypeError):
                pass
            shown = ", ".join(f"{k} {float(v):g}" for k, v in occupants.items())
            raise InputError(f"{path}: site {site} is partially occupied ({shown}); give an ordered structure "
                             "(one element per site, occupancy 1)")
    if atoms.cell.rank < 3 or abs(atoms.get_volume()) < 1e-9:
        raise InputError(f"{path} holds no cell (three lattice vectors); give a periodic structure "
                         "(CIF, POSCAR, extxyz with Lattice=)")
    return atoms


class StructureSettings(Settings):
    """A start structure (the ``[structure]`` of a study, ``[explore.structure]`` of the active-learning loop): a
    prototype of the library (``prototypes.toml``) with its lattice constant (A), free Wyckoff parameters, cell,
    supercell, start distortion (angles in degrees, or a strain) and isotopes; or a structure ``file``."""

    #: any name of the prototype library (``prototypes.toml``); required unless ``file`` is given: no crystal is
    #: a sensible default for an unknown hydride
    prototype: str | None = None
    #: cubic lattice constant, angstrom; default: the prototype's own (prototypes.toml, with its source)
    a: float | None = Field(None, gt=0)
    #: shorthand for parameters.x, the Wyckoff parameter of a prototype that has one; default: the prototype's
    x: float | None = None
    #: free Wyckoff parameters by name (e.g. {x = 0.38}); the prototype's defaults for those not given
    parameters: dict[str, float] | None = None
    #: a structure file (CIF, POSCAR, extxyz, ...: whatever ASE reads) instead of a prototype
    file: str | None = None
    #: the cell repeated by ``supercell``: the conventional cubic cell, or the primitive one (fewer atoms)
    cell: Literal["conventional", "primitive"] = "conventional"
    #: N, [N1, N2, N3] or a 3x3 matrix; 1: the 44-atom conventional cell, the cheapest that has every
    #: cell-shape degree of freedom of the cubic lattice (a study asks for larger cells explicitly)
    supercell: int | list[int] | list[list[int]] = 1
    #: conventional-cell angles imposed at fixed volume (a slightly rhombohedral start lets a distortion grow)
    start_angles_deg: list[float] | None = Field(None, validation_alias=AliasChoices("start_angles_deg", "angles"))
    #: a start strain at fixed volume: {kind = "tetragonal", c_over_a = 1.02}, rhombohedral angle_deg,
    #: monoclinic beta_deg, or kind = "matrix" with a symmetric 3x3 matrix (strain_matrix)
    strain: dict[str, Any] | list[list[float]] | None = None
    #: the hydrogen isotope (H or D; a study takes it from its grid instead)
    isotope: Literal[HYDROGEN_ISOTOPES] = HYDROGEN
    #: masses per element: an isotope name (H: H or D) or a mass in u, e.g. {H = "D"}
    isotopes: dict[str, str | float] | None = None

    @model_validator(mode="after")
    def _consistent(self):
        given = self.model_fields_set
        if self.file is None and self.prototype is None:
            raise ValueError("no structure: give a prototype of the library (e.g. prototype = \"lah10\"; "
                             "`hydropimd structure build --help` lists them) or a structure file")
        if self.file is not None:
            clash = sorted(k for k in ("prototype", "a", "x", "parameters", "cell") if k in given)
            if clash:
                raise ValueError(f"file: a structure file replaces the prototype; remove {', '.join(clash)}")
            self._fill("a", None)
            self._fill("x", None)
        else:
            try:
                table = prototype(self.prototype)
            except InputError as err:
                raise ValueError(str(err)) from None
            defaults = table.get("parameters", {})
            unknown = sorted(set(self.parameters or {}) - set(defaults))
            if unknown:
                raise ValueError(f"parameters: prototype '{self.prototype}' has no free parameter {', '.join(unknown)} "
                                 f"(its parameters: {', '.join(defaults) or 'none'})")
            if "x" in given and self.x is not None:  # x = None (a stored model_dump's) means the default
                if "x" not in defaults:
                    raise ValueError(f"x: prototype '{self.prototype}' has no parameter x "
                                     f"(its parameters: {', '.join(defaults) or 'none'})")
                if "x" in (self.parameters or {}):
                    raise ValueError("x: give the parameter once, as x or as parameters.x")
            else:
                self._fill("x", float(defaults["x"]) if "x" in defaults else None)
            if "a" not in given:
                self._fill("a", float(table["a"]))
        if self.strain is not None:
            try:
                strain_matrix(self.strain)
            except InputError as err:
                raise ValueError(str(err)) from None
        if self.start_angles_deg is not None and self.strain is not None:  # both would be applied, one after the other
            raise ValueError("start_angles_deg and strain both distort the start cell; give one of them")
        if self.isotopes and HYDROGEN in self.isotopes and "isotope" in given:
            raise ValueError("isotopes: the hydrogen isotope is given twice (isotope and isotopes.H); keep one")
        return self

    def _fill(self, name: str, value) -> None:
        """A default that depends on the prototype, not marked as given."""
        setattr(self, name, value)
        self.model_fields_set.discard(name)

    @model_serializer(mode="wrap")
    def _without_unset_additions(self, handler):
        # the keys added with the prototype library are left out while unused, so that the study digests of
        # configurations written before it (model_dump of [structure]) stay the same
        data = handler(self)
        for key in ("prototype", "parameters", "file", "strain", "isotopes"):
            if data.get(key) is None:
                data.pop(key, None)
        return data

    def parameter_values(self) -> dict[str, float]:
        """The free Wyckoff parameters given (``x`` included)."""
        values = dict(self.parameters or {})
        if self.x is not None and self.file is None:
            values.setdefault("x", self.x)
        return values

    def build(self, isotope: str | None = None) -> Atoms:
        """The structure (ASE Atoms), with ``isotope`` (hydrogen's) instead of the configured one when given;
        InputError for impossible parameters."""
        isotopes = dict(self.isotopes or {})
        if isotope is not None or HYDROGEN not in isotopes:
            isotopes[HYDROGEN] = isotope or self.isotope
        if self.file is None:
            return build_structure(self.prototype, a=self.a, parameters=self.parameter_values(), cell=self.cell,
                                   supercell=self.supercell, strain=self.strain, isotopes=isotopes,
                                   angles=self.start_angles_deg)
        return structure_from_file(self.file, supercell=self.supercell, strain=self.strain, isotopes=isotopes,
                                   angles=self.start_angles_deg)


def structure_from_file(path, supercell=1, strain=None, isotopes=None, angles=None) -> Atoms:
    """The structure of a file (:func:`read_structure`), repeated by ``supercell`` and distorted like a built one.

    The file must hold one structure (of several frames, which one is meant is not for us to guess) and, distorted,
    pass the checks of a built one (:func:`structure_problem` with :data:`MAX_VOLUME_PER_ATOM`; at most
    :data:`MAX_ATOMS` atoms once repeated); InputError otherwise.  A file carries no parent-lattice record unless it
    was written with one (extxyz of a built structure); a repeated one loses it (the run infers its cell mapping)."""
    if len(read_structures(path, index=slice(0, 2))) > 1:  # two frames read tell that there are several
        raise InputError(f"{path} holds several structures (frames); write the one to build from to a file of its own "
                         f"(e.g. the last: ase convert -n -1 {path} start.extxyz)")
    atoms = read_structure(path)
    problem = structure_problem(_distort(atoms.copy(), angles, strain), max_volume_per_atom=MAX_VOLUME_PER_ATOM)
    if problem:
        undistorted = structure_problem(atoms, max_volume_per_atom=MAX_VOLUME_PER_ATOM)
        cause = ("use a smaller distortion (--angles, --strain)" if undistorted is None
                 else "correct the file's positions or cell (angstrom)")
        raise InputError(f"{path}: {problem}; {cause}")
    matrix = parse_supercell(supercell)
    _refuse_oversized(len(atoms), matrix, f"{path} ({len(atoms)} atoms)")
    if not np.array_equal(matrix, np.eye(3, dtype=int)):
        atoms = make_supercell(atoms, matrix)
        for key in ("parent_lattice", "cell_kind", "supercell_matrix"):
            atoms.info.pop(key, None)
    _distort(atoms, angles, strain)
    if isotopes and HYDROGEN not in atoms.get_chemical_symbols():
        isotopes = {k: v for k, v in (isotopes.items() if isinstance(isotopes, dict) else {HYDROGEN: isotopes}.items()) if k != HYDROGEN}
    set_isotopes(atoms, isotopes)
    atoms.info["structure_file"] = str(path)
    return atoms
