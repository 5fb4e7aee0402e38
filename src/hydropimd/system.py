"""A hydride system described by configuration: the ``[system]`` table of study and active-learning configs.

What makes a system, defined once: its start structure (a prototype of the library or any file ASE reads,
with supercell, start strain and isotopes: :class:`~hydropimd.structures.StructureSettings`), the element of
each model type, the pair table the models are trained against, the folder of its pseudopotentials and its DFT
settings.  A study config and an active-learning config take it as ``[system]`` and fill their own keys from it
(``[structure]``, ``potential.pair``; ``type_map``, ``explore.structure``, ``data.pair``, ``labeller.settings``,
``labeller.pseudo_dir``); giving a key both in ``[system]`` and in the stage's own table is refused (even with the
same value), so each setting has one place.  Nothing here knows an element: the elements are the structure's.
``type_map`` must name chemical elements and ``dft`` must hold DFTSettings fields, both checked when the config is
read; each stage checks the type map against what it runs (a study: its model and structure).

Example (H3S, Im-3m, near 150 GPa)::

    [system]
    name = "H3S"
    pseudopotential_dir = "pseudo"         # made by 'hydropimd dft pseudo --elements S H --out pseudo'
    [system.structure]
    prototype = "h3s"
    cell = "primitive"
    [system.dft]                           # hydropimd.dft.settings.DFTSettings fields; the study's by default
    kspacing_per_angstrom = 0.27
"""

from __future__ import annotations

from ase.data import atomic_numbers
from pydantic import field_validator

from hydropimd.config import Settings
from hydropimd.errors import InputError
from hydropimd.structures import StructureSettings


class SystemSettings(Settings):
    """One hydride: structure, types, pair table, pseudopotentials, DFT settings (see the module docstring)."""

    #: a label for reports and logs (default: the chemical formula of the start structure)
    name: str | None = None
    #: the start structure; required, because no structure is a sensible default for an unknown system
    structure: StructureSettings
    #: DeePMD type names in type order; default: the structure's elements by atomic number, H last (the rule of
    #: hydropimd.structures.default_type_map), the order labels and models of a new system are written in
    type_map: list[str] | None = None
    #: pair table (a LAMMPS table file): the models learn full - pair and run with it added (docs/theory/potential.md)
    pair: str | None = None
    #: folder of the .UPF files (default: the location rule of hydropimd.dft.pseudo)
    pseudopotential_dir: str | None = None
    #: DFT settings as a table of hydropimd.dft.settings.DFTSettings fields, or a settings file; the study's when empty
    dft: dict | str | None = None

    @field_validator("type_map")
    @classmethod
    def _element_types(cls, v):
        return check_type_map(v)

    @field_validator("dft")
    @classmethod
    def _dft_settings(cls, v):
        # a table is checked now (a file by the stage that resolves its path): a typo or a word for a number would
        # otherwise wait for the first DFT label, or, in a study, never be noticed
        if isinstance(v, dict):
            from hydropimd.dft.settings import load_settings

            try:
                load_settings(v)
            except InputError as err:
                raise ValueError(str(err)) from None
        return v


def check_type_map(type_map: list[str] | None) -> list[str] | None:
    """``type_map`` itself when every name is a chemical element (ASE's symbols), listed once; ValueError otherwise."""
    if type_map is None:
        return None
    unknown = [t for t in type_map if atomic_numbers.get(t, 0) == 0]  # 0: ASE's placeholder "X"
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a chemical element; give element symbols in type order, "
                         "e.g. [\"S\", \"H\"]")
    if len(set(type_map)) != len(type_map):
        raise ValueError(f"type_map {type_map} lists an element more than once")
    return type_map


def merge_key(section: str, own, from_system, key: str):
    """The value of a stage key that ``[system]`` may also give: one of the two, never both, even when equal (one
    place each: a value edited in one place would otherwise silently lose to, or clash with, the other)."""
    if own is not None and from_system is not None:
        raise ValueError(f"{section} and system.{key} both given; keep one (the [system] table is meant to hold it)")
    return own if own is not None else from_system
