"""The one labeller interface of the active-learning loop, and a reference potential standing in for DFT.

The loop (:mod:`hydropimd.active.loop`) only calls ``label(structures, out)``
(:class:`Labeller`).  Two implementations exist:

* :class:`ReferenceLabeller` (here): labels from a reference potential, the
  published full model or the published subtracted model plus its pair table
  (:class:`hydropimd.potential.calculator.HydridePotential`).  It costs a model
  evaluation per frame instead of a DFT run, for tests and cheap rehearsals of
  a loop's settings.  Its labels are of course only as good as the reference.
* ``hydropimd.dft.label.DFTLabeller``: pw.x at the study's settings (SPEC
  section 2).  The DFT stage sits above this one, so it is not imported here;
  the command line builds it when the loop's configuration says
  ``labeller = "dft"``.

Contract of ``label(structures, out)``: the labels go to the DeePMD npy data
set at ``out`` (one system folder per composition and size, named by formula
in type order, e.g. ``La4H40``, with ``type.raw``, ``type_map.raw`` and
``set.NNN``; units A, eV, eV/A, eV virial), every set written atomically
(:func:`hydropimd.data.systems.write_set`).  One call appends at most one new
``set.NNN`` per system, holding the structures not labelled before; structures
already in ``out`` are skipped, so relabelling the same list is a no-op and a
call interrupted at any point is completed by calling it again.  The loop uses
this to control the DeePMD-kit 1.x split: it labels a generation in several
calls, and the last set of each system is the held-out test split.  The
result is a JSON-ready dict with at least ``labelled``, ``failed``,
``skipped`` (ints) and ``systems`` (the full-label system folders holding the
structures' labels).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from ase import Atoms

from hydropimd.data.systems import DEFAULT_TYPE_MAP, Frames, open_system, write_set
from hydropimd.errors import InputError
from hydropimd.files import write_text_atomic


@runtime_checkable
class Labeller(Protocol):
    """Anything that labels structures into a DeePMD npy data set (see the module docstring for the contract)."""

    def label(self, structures: list[Atoms], out: Path) -> dict:
        ...


def system_name(symbols, type_map) -> str:
    """Formula in type order (``La4H40``): the name of a composition's system folder."""
    symbols = list(symbols)
    return "".join(f"{e}{symbols.count(e)}" for e in type_map if e in symbols)


def frame_key(symbols, positions, cell) -> str:
    """Identity of a structure: symbols, positions and cell rounded to 1e-6 A.

    Computed from what a set stores (type-ordered atoms), so the sets themselves
    are the record of what is labelled: no separate index can disagree with them.
    """
    h = hashlib.sha256()
    h.update(" ".join(symbols).encode())
    # + 0.0 turns -0.0 into 0.0, whose bytes differ
    h.update((np.round(np.asarray(positions, dtype=float), 6) + 0.0).tobytes())
    h.update((np.round(np.asarray(cell, dtype=float), 6) + 0.0).tobytes())
    return h.hexdigest()[:20]


def sort_by_type(atoms: Atoms, type_map) -> tuple[list[str], np.ndarray]:
    """Symbols and positions with the atoms in type order (stable), as DeePMD systems store them."""
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(type_map))
    if unknown:
        raise InputError(f"element(s) {', '.join(unknown)} are not in the type map {list(type_map)}; "
                         "label with a reference model that knows them")
    order = np.argsort([list(type_map).index(s) for s in symbols], kind="stable")
    return [symbols[i] for i in order], np.asarray(atoms.positions, dtype=float)[order]


def labelled_keys(system_dir: Path, type_map) -> set[str]:
    """Keys of every frame already stored in a system folder (all sets)."""
    if not (system_dir / "type.raw").exists() or not _set_dirs(system_dir):
        return set()  # a folder whose first set was never finished holds no labels
    system = open_system(system_dir, type_map=type_map)
    frames = system.load("all")
    return {frame_key(frames.symbols, c, b) for c, b in zip(frames.coords, frames.cells)}


def _set_dirs(system_dir: Path) -> list[Path]:
    return [p for p in system_dir.glob("set.*") if p.is_dir() and p.name.split(".")[1].isdigit() and p.suffix != ".partial"]


def _next_set(system_dir: Path) -> Path:
    used = [int(p.name.split(".")[1]) for p in _set_dirs(system_dir)]
    return system_dir / f"set.{(max(used) + 1) if used else 0:03d}"


class ReferenceLabeller:
    """Labels from a reference potential, in place of DFT (energies eV, forces eV/A, virials eV).

    ``model``: a DeePMD-kit model (DeePMD-kit 1.x graphs are upgraded), e.g. the
    published ``models/full/graph.pb``, or ``models/subtracted/graph.pb`` with
    ``pair`` = the published ``tables/full.table`` (then the labels are model plus
    table, i.e. full labels, like DFT's).  The model is loaded on first use.
    """

    def __init__(self, model: str | os.PathLike, pair: str | os.PathLike | None = None,
                 type_map=DEFAULT_TYPE_MAP):
        self.model = Path(model)
        self.pair = Path(pair) if pair is not None else None
        self.type_map = tuple(type_map)
        if not self.model.is_file():
            raise InputError(f"reference model {self.model} does not exist; give the labeller's model file")
        if self.pair is not None and not self.pair.is_file():
            raise InputError(f"pair table {self.pair} does not exist; give the labeller's pair table")
        self._potential = None

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
        groups: dict[str, list[tuple[list[str], np.ndarray, np.ndarray]]] = {}
        for k, atoms in enumerate(structures):
            if not atoms.pbc.all() or abs(atoms.get_volume()) < 1e-9:
                raise InputError(f"structure {k} is not periodic in three dimensions; labelling needs a crystal cell")
            symbols, positions = sort_by_type(atoms, self.type_map)
            groups.setdefault(system_name(symbols, self.type_map), []).append(
                (symbols, positions, np.asarray(atoms.cell.array, dtype=float)))
        labelled = skipped = 0
        systems, sets = [], {}
        for name, items in groups.items():
            folder = out / name
            done = labelled_keys(folder, self.type_map)
            new, seen = [], set()
            for symbols, positions, cell in items:
                key = frame_key(symbols, positions, cell)
                if key in done or key in seen:
                    skipped += 1
                    continue
                seen.add(key)
                new.append((symbols, positions, cell))
            systems.append(str(folder.resolve()))
            if not new:
                continue
            symbols = new[0][0]
            if any(s != symbols for s, _, _ in new) or (folder / "type.raw").exists() and \
                    open_system(folder, type_map=self.type_map).symbols != symbols:
                raise InputError(f"structures of system {name} order their atoms differently; this cannot happen "
                                 "after sorting by type, report it")
            coords = np.array([p for _, p, _ in new])
            cells = np.array([c for _, _, c in new])
            ev = self.potential.evaluate(coords, cells, symbols)
            folder.mkdir(parents=True, exist_ok=True)
            if not (folder / "type.raw").exists():
                write_text_atomic(folder / "type_map.raw", "\n".join(self.type_map) + "\n")
                write_text_atomic(folder / "type.raw", "\n".join(str(self.type_map.index(s)) for s in symbols) + "\n")
            target = _next_set(folder)
            write_set(target, Frames(list(symbols), coords, cells, ev.energy, ev.forces, ev.virial))
            sets[name] = target.name
            labelled += len(new)
        return {"out": str(out.resolve()), "labeller": self.describe(), "n_structures": len(structures),
                "labelled": labelled, "skipped": skipped, "failed": 0, "systems": systems, "sets": sets}
