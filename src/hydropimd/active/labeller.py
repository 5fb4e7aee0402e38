"""The one labeller interface of the active-learning loop, and a reference potential standing in for DFT.

The loop (:mod:`hydropimd.active.loop`) only calls ``label(structures, out)``
(:class:`Labeller`).  Two implementations exist:

* :class:`ReferenceLabeller` (here): labels from a reference potential, the
  published full model or the published subtracted model plus its pair table
  (:class:`hydropimd.potential.calculator.HydridePotential`).  It costs a model
  evaluation per frame instead of a DFT run, for tests and cheap rehearsals of
  a loop's settings.  Its labels are of course only as good as the reference.
* ``hydropimd.dft.label.DFTLabeller``: pw.x at the study's settings (docs/theory/potential.md).  The DFT
  stage is not imported here; the loop builds it from its ``[labeller]`` table with
  :func:`hydropimd.dft.label.loop_labeller` when the configuration says ``kind = "dft"``.

Contract of ``label(structures, out)``: the labels go to the DeePMD npy data
set at ``out``, laid out as :mod:`hydropimd.data.writer` writes it for both
labellers: ``out/full/<system>/set.NNN`` (one system folder per composition
and size, named by formula in type order, e.g. ``La4H40``, with ``type.raw``
and ``type_map.raw``; units A, eV, eV/A, eV virial), every set written
atomically.  One call appends at most one new ``set.NNN`` per system, holding
the structures not labelled before; structures already in ``out`` are skipped,
so relabelling the same list is a no-op and a call interrupted at any point is
completed by calling it again.  The loop uses this to control the DeePMD-kit
1.x split: it labels a generation in several calls, and the last set of each
system is the held-out test split.  The result is a JSON-ready dict with at
least ``labelled``, ``failed``, ``skipped`` (ints) and ``systems`` (the
full-label system folders holding the structures' labels).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from ase import Atoms

from hydropimd.data import writer
from hydropimd.data.systems import Frames
from hydropimd.errors import InputError


@runtime_checkable
class Labeller(Protocol):
    """Anything that labels structures into a DeePMD npy data set (see the module docstring for the contract)."""

    def label(self, structures: list[Atoms], out: Path) -> dict:
        ...


class ReferenceLabeller:
    """Labels from a reference potential, in place of DFT (energies eV, forces eV/A, virials eV).

    ``model``: a DeePMD-kit model (DeePMD-kit 1.x graphs are upgraded), e.g. the
    published ``models/full/graph.pb``, or ``models/subtracted/graph.pb`` with
    ``pair`` = the published ``tables/full.table`` (then the labels are model plus
    table, i.e. full labels, like DFT's).  The model is loaded on first use.
    """

    def __init__(self, model: str | os.PathLike, pair: str | os.PathLike | None = None, type_map=None):
        self.model = Path(model)
        self.pair = Path(pair) if pair is not None else None
        self._type_map = tuple(type_map) if type_map else None
        if not self.model.is_file():
            raise InputError(f"reference model {self.model} does not exist; give the labeller's model file")
        if self.pair is not None and not self.pair.is_file():
            raise InputError(f"pair table {self.pair} does not exist; give the labeller's pair table")
        self._potential = None

    @property
    def type_map(self) -> tuple[str, ...]:
        """The element of each atom type of the sets written: as given, else the reference model's."""
        return self._type_map or tuple(self.potential.type_map)

    @property
    def potential(self):
        if self._potential is None:
            from hydropimd.potential.calculator import HydridePotential

            self._potential = HydridePotential(self.model, pair=self.pair)
        return self._potential

    def describe(self) -> dict:
        return {"kind": "reference", "model": str(self.model), "pair": str(self.pair) if self.pair else None}

    def label(self, structures: list[Atoms], out: Path) -> dict:
        """Label ``structures`` into ``out``: one new set per system for those not labelled yet (module docstring)."""
        out = Path(out)
        groups: dict[str, list[writer.SortedStructure]] = {}
        for k, atoms in enumerate(structures):
            writer.check_crystal(atoms, k)
            item = writer.sort_by_type(atoms, self.type_map, fix="label with a reference model that knows them")
            groups.setdefault(writer.system_name(item.symbols, self.type_map), []).append(item)
        labelled = skipped = 0
        systems, sets = [], {}
        for name, items in groups.items():
            folder = writer.system_dir(out, name)
            new = self._new_frames(folder, items)
            skipped += len(items) - len(new)
            systems.append(str(folder.resolve()))
            if not new:
                continue
            coords = np.array([item.positions for item in new])
            cells = np.array([item.cell for item in new])
            symbols = new[0].symbols
            ev = self.potential.evaluate(coords, cells, symbols)
            target = writer.write_system_set(folder, writer.next_set(folder), Frames(
                list(symbols), coords, cells, ev.energy, ev.forces, ev.virial), self.type_map)
            sets[name] = target.name
            labelled += len(new)
        return {"out": str(out.resolve()), "labeller": self.describe(), "n_structures": len(structures),
                "labelled": labelled, "skipped": skipped, "failed": 0, "systems": systems, "sets": sets}

    def _new_frames(self, folder: Path, items: list[writer.SortedStructure]) -> list[writer.SortedStructure]:
        """The structures of one system not stored in ``folder`` yet, each once."""
        seen = writer.stored_keys(folder, self.type_map)
        new = []
        for item in items:
            key = writer.frame_key(item.symbols, item.positions, item.cell)
            if key not in seen:
                seen.add(key)
                new.append(item)
        return new
