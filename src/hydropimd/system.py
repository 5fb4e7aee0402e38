"""A hydride system described by configuration: the ``[system]`` table of study and active-learning configs.

What makes a system, defined once: its start structure (a prototype of the library or any file ASE reads,
with supercell, start strain and isotopes: :class:`~hydropimd.structures.StructureSettings`), the element of
each model type, the pair table the models are trained against, the folder of its pseudopotentials and its DFT
settings.  A study config and an active-learning config take it as ``[system]`` and fill their own keys from it
(``[structure]``, ``potential.pair``; ``type_map``, ``explore.structure``, ``data.pair``, ``labeller.settings``,
``labeller.pseudo_dir``); giving a key both in ``[system]`` and in the stage's own table is refused, so each
setting has one place.  Nothing here knows an element: the elements are the structure's.

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

from pydantic import field_validator

from hydropimd.config import Settings
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
    #: pair table (a LAMMPS table file): the models learn full - pair and run with it added (SPEC section 3)
    pair: str | None = None
    #: folder of the .UPF files (default: the location rule of hydropimd.dft.pseudo)
    pseudopotential_dir: str | None = None
    #: DFT settings as a table of hydropimd.dft.settings.DFTSettings fields, or a settings file; the study's when empty
    dft: dict | str | None = None

    @field_validator("type_map")
    @classmethod
    def _distinct_types(cls, v):
        if v is not None and len(set(v)) != len(v):
            raise ValueError(f"type_map {v} lists an element more than once")
        return v


def merge_key(section: str, own, from_system, key: str):
    """The value of a stage key that ``[system]`` may also give: one of the two, never both (one place each)."""
    if own is not None and from_system is not None and own != from_system:
        raise ValueError(f"{section} and system.{key} both given; keep one (the [system] table is meant to hold it)")
    return own if own is not None else from_system
