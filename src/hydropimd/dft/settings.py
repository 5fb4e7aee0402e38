"""DFT settings of the labels (docs/theory/potential.md) and the k-point grid they imply.

The study's settings are the defaults: Quantum ESPRESSO pw.x, PBE, pslibrary 1.0.0
ultrasoft pseudopotentials, 50 Ry wavefunction cutoff, metallic smearing, forces and
stress, and a shifted Monkhorst-Pack grid.  The study states the grid only for its
297- and 352-atom cells (3x3x3, shifted); here the grid follows from a k-point
*spacing* so that every cell gets the same sampling density:
``n_i = ceil(|b_i| / spacing)`` with ``b_i`` the reciprocal lattice vectors including
2 pi (ASE's and VASP's KSPACING convention).  The default 0.27 1/angstrom gives
3x3x3 to both the 352-atom (2x2x2 conventional) and the 297-atom (3x3x3 primitive)
cells for lattice constants 4.8-5.4 angstrom (about 80-300 GPa), 8x8x8 to the 11-atom
primitive cell and 5x5x5 to the 44-atom conventional cell.

Choices the study does not state, made here and documented:

* ``ecutrho_ry = 400`` (8 x ecutwfc, the usual choice for ultrasoft potentials; pw.x's
  default is 4 x).  Measured on the 11-atom cell (a = 5.1 A): from 200 to 800 Ry the
  energy moves by 0.13 meV/atom and the pressure by 0.02 GPa, so either choice
  reproduces the study.
* ``smearing = "mv"`` (Marzari-Vanderbilt cold smearing), ``degauss_ry = 0.02``:
  the smearing term -TS is 0.4 meV/atom for LaH10 at 150 GPa.
* ``conv_thr_ry_per_atom = 1e-8``: pw.x's ``conv_thr`` = this x natoms, tight enough
  that forces are converged far below the study's 20 meV/A.
* k-points: the 11-atom cell's energy changes by 0.2 meV/atom from 8x8x8 to 12x12x12
  (1.1 meV/atom from 6x6x6), well inside the study's 5 meV/atom.

Pseudopotentials and types, for any element:

* ``pseudopotentials`` maps an element to its UPF file name; an element not listed gets the
  pslibrary 1.0.0 ultrasoft file that ``hydropimd dft pseudo`` makes for it, named as ld1.x
  names it from the element's entry in pslibrary's collection
  (:func:`hydropimd.dft.pseudo.pslibrary_file`: La.pbe-spfn-rrkjus_psl.1.0.0.UPF,
  H.pbe-rrkjus_psl.1.0.0.UPF, S.pbe-nl-rrkjus_psl.1.0.0.UPF; ``pz`` for LDA).
* ``type_map`` (DeePMD type names in type order): as given; empty (the default) means
  "from the structures being labelled" (:func:`default_type_map`: the elements by atomic
  number, H last: LaH10 -> ["La", "H"], H3S -> ["S", "H"]); a data set that already has
  labels keeps the type map it was written with.

A settings file (``--config``) is TOML or JSON with any of the field names below,
at top level or under a ``[dft]`` table; unknown keys are refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from hydropimd.errors import InputError
from hydropimd.structures import default_type_map  # noqa: F401  (the rule lives with the structures)

#: pw.x's ``input_dft`` for each supported functional name (aliases accepted on input).
FUNCTIONALS = {"PBE": "PBE", "LDA": "PZ"}
_ALIASES = {"PBE": "PBE", "LDA": "LDA", "PZ": "LDA"}
SMEARINGS = ("mv", "cold", "m-v", "marzari-vanderbilt", "gaussian", "mp", "methfessel-paxton", "fd", "fermi-dirac")


@dataclass(frozen=True)
class DFTSettings:
    """Everything that defines a label, with the study's values as defaults (energies in Ry as pw.x takes them)."""

    functional: str = "PBE"
    ecutwfc_ry: float = 50.0
    ecutrho_ry: float = 400.0
    smearing: str = "mv"
    degauss_ry: float = 0.02
    kspacing_per_angstrom: float = 0.27
    kpoint_shift: bool = True
    conv_thr_ry_per_atom: float = 1e-8
    mixing_beta: float = 0.3
    electron_maxstep: int = 100
    #: element -> UPF file name inside the pseudopotential folder (default: pslibrary's file for the functional)
    pseudopotentials: dict = field(default_factory=dict)
    #: DeePMD type names in type order (type.raw indices); every labelled element must be listed;
    #: empty: from the structures being labelled (default_type_map)
    type_map: tuple = ()

    def __post_init__(self):
        name = _ALIASES.get(str(self.functional).upper())
        if name is None:
            raise InputError(f"functional '{self.functional}' is not supported; use PBE or LDA (Perdew-Zunger)")
        object.__setattr__(self, "functional", name)
        if not isinstance(self.kpoint_shift, bool):
            raise InputError(f"kpoint_shift = {self.kpoint_shift!r} must be true or false")
        if not isinstance(self.pseudopotentials, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.pseudopotentials.items()):
            raise InputError(f"pseudopotentials = {self.pseudopotentials!r} must map elements to UPF file names, "
                             'e.g. {H = "H.pbe-rrkjus_psl.1.0.0.UPF"}')
        if isinstance(self.type_map, str) or not all(isinstance(t, str) for t in self.type_map):
            raise InputError(f"type_map = {self.type_map!r} must be a list of element names")
        object.__setattr__(self, "type_map", tuple(self.type_map))
        object.__setattr__(self, "pseudopotentials", dict(self.pseudopotentials))
        for key in ("ecutwfc_ry", "ecutrho_ry", "degauss_ry", "kspacing_per_angstrom", "conv_thr_ry_per_atom", "mixing_beta"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
                raise InputError(f"DFT setting {key} = {value!r} must be a positive number")
        if self.ecutrho_ry < 4 * self.ecutwfc_ry:
            raise InputError(f"ecutrho_ry = {self.ecutrho_ry} must be at least 4 x ecutwfc_ry = {4 * self.ecutwfc_ry}")
        if self.mixing_beta > 1:
            raise InputError(f"mixing_beta = {self.mixing_beta} must lie in (0, 1]")
        if self.smearing not in SMEARINGS:
            raise InputError(f"smearing '{self.smearing}' is not a pw.x smearing; use one of {', '.join(SMEARINGS)}")
        if not isinstance(self.electron_maxstep, int) or self.electron_maxstep < 1:
            raise InputError(f"electron_maxstep = {self.electron_maxstep!r} must be a positive integer")
        if len(set(self.type_map)) != len(self.type_map):
            raise InputError(f"type_map {list(self.type_map)} must list distinct element names")

    @property
    def input_dft(self) -> str:
        return FUNCTIONALS[self.functional]

    def pseudopotential(self, element: str, folder: str | os.PathLike | None = None) -> str:
        """The UPF file name used for ``element``: the settings' own, else pslibrary's (its collection names it),
        else the one file of ``folder`` made for this element and functional (a folder of 'hydropimd dft pseudo'
        is enough without the collection at hand)."""
        if element in self.pseudopotentials:
            return self.pseudopotentials[element]
        from hydropimd.dft.pseudo import folder_upf, pslibrary_file

        try:
            return pslibrary_file(element, self.functional)
        except InputError as err:
            found = folder_upf(folder, element, self.functional) if folder is not None else None
            if found:
                return found
            raise InputError(f"no pseudopotential name for {element} with {self.functional} ({err}); add "
                             f'pseudopotentials = {{{element} = "FILE.UPF"}} to the --config file') from None

    def with_type_map(self, elements=(), types=None) -> "DFTSettings":
        """These settings with their own type map; when it is empty, ``types`` as given (a data set's, a
        loop's), else :func:`default_type_map` of ``elements``."""
        if self.type_map:
            return self
        return dataclasses.replace(self, type_map=tuple(types) if types else default_type_map(elements))

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["type_map"] = list(self.type_map)
        return d

    def digest(self) -> str:
        """Short hash of every setting that changes a label (a relaunch with other settings labels again)."""
        d = self.as_dict()
        d.pop("type_map")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def load_settings(config: str | os.PathLike | dict | None = None, **overrides) -> DFTSettings:
    """Settings from a TOML/JSON file or dict (top level or a ``dft`` table), then ``overrides`` (None values ignored)."""
    raw: dict = {}
    if isinstance(config, dict):
        raw = dict(config)
    elif config is not None:
        from hydropimd.config import read_settings_file

        raw = read_settings_file(config, "DFT settings")
        if isinstance(raw.get("dft"), dict):
            raw = raw["dft"]
    raw.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(DFTSettings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"unknown DFT setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return DFTSettings(**raw)


def kpoint_grid(cell, spacing_per_angstrom: float) -> tuple[int, int, int]:
    """Monkhorst-Pack divisions n_i = ceil(|b_i| / spacing), b_i reciprocal vectors with 2 pi, cell rows in angstrom."""
    cell = np.asarray(cell, dtype=float).reshape(3, 3)
    if abs(np.linalg.det(cell)) < 1e-9:
        raise InputError("the structure's cell has no volume; labelling needs a periodic cell with three lattice vectors")
    reciprocal = 2 * np.pi * np.linalg.inv(cell).T
    lengths = np.linalg.norm(reciprocal, axis=1)
    # a tiny tolerance keeps exact multiples (a cubic cell at a round lattice constant) from rounding up
    return tuple(max(1, int(math.ceil(v / spacing_per_angstrom - 1e-6))) for v in lengths)
