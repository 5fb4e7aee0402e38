"""Writing labelled structures into DeePMD npy data sets: the one writer of both labellers.

The reference labeller (:mod:`hydropimd.active.labeller`) and the DFT labeller
(:mod:`hydropimd.dft.label`) both write through this module, so the two agree on:

* **layout**: ``OUT/full/<system>/set.NNN`` for full labels and, where a pair table
  is subtracted, ``OUT/subtracted/<system>/set.NNN`` (the published data's
  ``data/full`` and ``data/subtracted``), :func:`system_dir`.  A system is one
  composition and size, named by its formula in type order (``La4H40``,
  :func:`system_name`), with ``type.raw`` and ``type_map.raw``.  A reference-labelled
  folder written before the two layouts were one (``OUT/<system>``) is still used
  where it exists, so a resumed loop never labels a frame twice.
* **atom order**: atoms are stored sorted by type, stably (:func:`sort_by_type`).
* **identity of a frame**: :func:`frame_key`, a hash of the type-ordered symbols,
  positions and cell rounded to 1e-6 A, with -0.0 counted as 0.0.
* **set numbering**: ``set.000``, ``set.001``, ... (:func:`set_name`, :func:`next_set`);
  the DeePMD-kit 1.x convention holds the last one out as the test split.
* **durability**: every file is written to a temporary sibling, flushed to disk
  (fsync) and renamed (:func:`write_set`, :func:`write_type_files`), so a kill
  leaves the old set or the new one, never a partial frame.

Units: A, eV, eV/A, eV (virial).  This module sits below ``active`` and ``dft``
and imports neither.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np
from ase import Atoms

from hydropimd.data.systems import Frames, open_system
from hydropimd.errors import InputError
from hydropimd.files import write_text_atomic

#: Smallest |det(cell)| (A^3) of a structure that can be labelled.  A degenerate cell (a zero
#: or coplanar lattice vector, ASE's default cell of zeros) has a determinant at round-off
#: level, below 1e-12 |a||b||c|, i.e. < 1e-9 A^3 for any cell a labeller could afford, while a
#: crystal has about 1 A^3 or more per atom: any threshold between the two separates them, and
#: 1e-6 A^3 sits three decades from each.
MIN_CELL_VOLUME = 1e-6
#: Decimals (A) of positions and cell in a frame's identity: far below thermal displacements
#: (0.01-0.1 A), far above the round-off of a write and read of the npy files.
KEY_DECIMALS = 6
#: The two kinds of labels and their folders in ``OUT``
LABEL_KINDS = ("full", "subtracted")


class SortedStructure(NamedTuple):
    """A structure with its atoms in type order: ``order[i]`` is the input index of stored atom ``i``."""

    symbols: list[str]
    positions: np.ndarray
    cell: np.ndarray
    order: np.ndarray

    def atoms(self) -> Atoms:
        return Atoms(symbols=self.symbols, positions=self.positions, cell=self.cell, pbc=True)


def system_name(symbols: Iterable[str], type_map) -> str:
    """Formula in type order (``La4H40``): the name of a composition's system folder."""
    symbols = list(symbols)
    return "".join(f"{e}{symbols.count(e)}" for e in type_map if e in symbols)


def check_crystal(atoms: Atoms, index: int) -> None:
    """Refuse a structure that is not periodic in three dimensions with a cell of volume (:data:`MIN_CELL_VOLUME`)."""
    if not all(atoms.pbc) or abs(atoms.cell.volume) < MIN_CELL_VOLUME:
        raise InputError(f"structure {index} is not periodic in three dimensions; labelling needs a crystal cell")


def sort_by_type(atoms: Atoms, type_map, fix: str = "add them to the type map") -> SortedStructure:
    """The atoms in type order (stable), as DeePMD systems store them; ``fix`` ends the error for unknown elements."""
    type_map = list(type_map)
    symbols = atoms.get_chemical_symbols()
    unknown = sorted(set(symbols) - set(type_map))
    if unknown:
        raise InputError(f"element(s) {', '.join(unknown)} are not in the type map {type_map}; {fix}")
    order = np.argsort([type_map.index(s) for s in symbols], kind="stable")
    return SortedStructure([symbols[i] for i in order], np.asarray(atoms.positions, dtype=float)[order],
                           np.asarray(atoms.cell.array, dtype=float), order)


def frame_key(symbols: Iterable[str], positions, cell, salt: str = "") -> str:
    """Identity of a stored frame: type-ordered symbols, positions and cell rounded to :data:`KEY_DECIMALS`.

    -0.0 and 0.0 give the same key (their bytes differ; a coordinate of -4e-7 rounds to
    -0.0).  ``salt`` is hashed after them (the DFT labeller adds its settings' digest: the
    same frame at other settings is another label).
    """
    h = hashlib.sha256()
    h.update(" ".join(symbols).encode())
    # + 0.0 turns -0.0 into 0.0
    h.update((np.round(np.asarray(positions, dtype=float), KEY_DECIMALS) + 0.0).tobytes())
    h.update((np.round(np.asarray(cell, dtype=float), KEY_DECIMALS) + 0.0).tobytes())
    if salt:
        h.update(salt.encode())
    return h.hexdigest()[:20]


# ---------------------------------------------------------------- folders and sets
def system_dir(out: str | os.PathLike, name: str, kind: str = "full") -> Path:
    """The folder of system ``name`` for labels of ``kind`` (``full`` or ``subtracted``) in the data set ``out``.

    ``OUT/<kind>/<name>``; for full labels, ``OUT/<name>`` where a system already lies there
    (written by the reference labeller before the layouts were unified).
    """
    if kind not in LABEL_KINDS:
        raise ValueError(f"label kind {kind!r} is not one of {LABEL_KINDS}")
    out = Path(out)
    legacy = out / name
    if kind == "full" and (legacy / "type.raw").is_file():
        return legacy
    return out / kind / name


def set_name(index: int) -> str:
    """``set.000`` for 0: DeePMD-kit sorts the sets by name, so the number has three digits."""
    return f"set.{index:03d}"


def set_index(name: str) -> int | None:
    """The number of a set folder's name (``set.012`` -> 12); None for anything else (``set.000.partial``)."""
    prefix, _, number = name.partition(".")
    return int(number) if prefix == "set" and number.isdigit() else None


def set_dirs(system: Path) -> list[Path]:
    """The finished ``set.NNN`` folders of a system, in number order (a set being written is not one)."""
    found = [(set_index(p.name), p) for p in Path(system).glob("set.*") if p.is_dir()]
    return [p for i, p in sorted((i, p) for i, p in found if i is not None)]


def next_set(system: Path, used: Iterable[int] = ()) -> str:
    """The name of the set after the last one on disk and after every number in ``used`` (sets not written yet)."""
    numbers = [set_index(p.name) for p in set_dirs(system)] + list(used)
    return set_name(max(numbers) + 1 if numbers else 0)


def stored_keys(system: Path, type_map=None) -> set[str]:
    """:func:`frame_key` of every frame stored in a system folder (all sets)."""
    if not (Path(system) / "type.raw").exists() or not set_dirs(system):
        return set()  # a folder whose first set was never finished holds no labels
    frames = open_system(system, type_map=type_map).load("all")
    return {frame_key(frames.symbols, c, b) for c, b in zip(frames.coords, frames.cells)}


# ---------------------------------------------------------------- writing
def write_type_files(system: Path, symbols: list[str], type_map) -> None:
    """``type.raw`` and ``type_map.raw`` of a system (written once, atomically); an existing ``type.raw`` must agree.

    A system's atoms are in one order for all its sets: frames whose type-ordered atoms
    differ from those already stored would be mislabelled, so they are refused.
    """
    system = Path(system)
    type_map = list(type_map)
    types = [type_map.index(s) for s in symbols]
    type_file = system / "type.raw"
    if type_file.exists():
        stored = [int(t) for t in type_file.read_text().split()]
        if stored != types:
            raise InputError(f"{type_file} stores other atom types than the structures labelled into it "
                             f"({len(stored)} vs {len(types)} atoms); label into another folder")
    else:
        # type_map.raw first: a type.raw without its names would be read with the default La, H
        write_text_atomic(system / "type_map.raw", "\n".join(type_map) + "\n")
        write_text_atomic(type_file, "\n".join(str(t) for t in types) + "\n")


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_set(set_dir: Path, frames: Frames) -> None:
    """Write ``frames`` as the folder ``set_dir`` atomically: built beside it (every file on disk), then renamed.

    An existing set of that name is replaced (moved aside, not deleted first: a kill in
    between leaves the old set, not none).
    """
    set_dir = Path(set_dir)
    tmp = set_dir.with_name(set_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    nf = len(frames)
    _save(tmp / "box.npy", np.asarray(frames.cells).reshape(nf, 9))
    _save(tmp / "coord.npy", np.asarray(frames.coords).reshape(nf, -1))
    for name, arr, shape in (("energy", frames.energy, (nf,)), ("force", frames.forces, (nf, -1)),
                             ("virial", frames.virial, (nf, 9))):
        if arr is not None:
            _save(tmp / f"{name}.npy", np.asarray(arr).reshape(shape))
    _fsync_dir(tmp)
    if set_dir.exists():
        old = set_dir.with_name(set_dir.name + ".replaced")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(set_dir, old)
        os.replace(tmp, set_dir)
        shutil.rmtree(old)
    else:
        os.replace(tmp, set_dir)
    _fsync_dir(set_dir.parent)


def write_system_set(system: Path, name: str, frames: Frames, type_map) -> Path:
    """Set ``name`` of ``system`` (created with its type files if new): the one call both labellers make per set."""
    system = Path(system)
    system.mkdir(parents=True, exist_ok=True)
    write_type_files(system, frames.symbols, type_map)
    write_set(system / name, frames)
    return system / name
