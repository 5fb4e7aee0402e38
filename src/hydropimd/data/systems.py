"""DeePMD-kit npy systems: discovery, the DeePMD-kit 1.x test split, loading, writing.

A *system* is a directory with ``type.raw`` (one integer type per atom),
optionally ``type_map.raw``, and ``set.NNN/`` folders holding ``box.npy``
(nframes, 9), ``coord.npy`` (nframes, 3N), and labels ``energy.npy`` (nframes,),
``force.npy`` (nframes, 3N), ``virial.npy`` (nframes, 9).  Units: angstrom, eV,
eV/angstrom, eV.  A *data set* is any directory tree holding systems, nested or
not (the published data nest ``ensemble3/150GPa``).

The DeePMD-kit 1.x convention, which the published study used, holds out the
*last* ``set.NNN`` of every system as the test split.  dpdata merges a system's
sets into one frame list and rewrites them with its own set size, which loses
that partition; this module therefore reads and writes set by set with NumPy
(the format is plain ``.npy`` arrays) and keeps the layout exactly.
"""

from __future__ import annotations

import os
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hydropimd.errors import InputError

#: where a DeePMD-kit 1.x data set without type_map.raw (the published one) records its type names: the training
#: scripts of the models made from it, ``<root>/models/<name>/input.json`` beside ``<root>/data``
TRAINING_SCRIPTS = "models/*/input.json"
SPLITS = ("test", "train", "all")
LABELS = ("energy", "force", "virial")


def _natural_key(text: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


@dataclass
class Frames:
    """Frames of one composition.  coords (nf, N, 3) A; cells (nf, 3, 3) A, rows are lattice vectors;
    energy (nf,) eV; forces (nf, N, 3) eV/A; virial (nf, 3, 3) eV.  Labels may be None."""

    symbols: list[str]
    coords: np.ndarray
    cells: np.ndarray
    energy: np.ndarray | None = None
    forces: np.ndarray | None = None
    virial: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def natoms(self) -> int:
        return len(self.symbols)


@dataclass(frozen=True)
class DeepmdSystem:
    """One DeePMD npy system on disk."""

    path: Path
    name: str
    types: np.ndarray = field(repr=False)
    type_map: tuple[str, ...]
    set_dirs: tuple[Path, ...]
    frames_per_set: tuple[int, ...]

    @property
    def natoms(self) -> int:
        return len(self.types)

    @property
    def nframes(self) -> int:
        return sum(self.frames_per_set)

    @property
    def symbols(self) -> list[str]:
        return [self.type_map[t] for t in self.types]

    def split_sets(self, split: str) -> tuple[Path, ...]:
        """Set folders of a split: ``test`` = the last set, ``train`` = the others, ``all``."""
        if split not in SPLITS:
            raise InputError(f"unknown split '{split}'; choose one of {', '.join(SPLITS)}")
        if split == "test":
            return self.set_dirs[-1:]
        if split == "train":
            return self.set_dirs[:-1]
        return self.set_dirs

    def split_frames(self, split: str) -> int:
        n = dict(zip(self.set_dirs, self.frames_per_set))
        return sum(n[s] for s in self.split_sets(split))

    def load(self, split: str = "all") -> Frames:
        """Read the frames of a split, labels included where present."""
        return concatenate([read_set(s, self.symbols) for s in self.split_sets(split)], self.symbols)


def read_set(set_dir: Path, symbols: list[str]) -> Frames:
    """Read one ``set.NNN`` folder."""
    n = len(symbols)

    def load(name, shape):
        f = set_dir / f"{name}.npy"
        if not f.exists():
            return None
        try:
            return np.load(f).reshape(shape)
        except ValueError:
            raise InputError(f"{f} does not hold {shape[1:]} per frame for {n} atoms; the data set is malformed") from None

    cells = load("box", (-1, 3, 3))
    coords = load("coord", (-1, n, 3))
    if cells is None or coords is None:
        raise InputError(f"{set_dir} lacks box.npy or coord.npy; it is not a DeePMD npy set")
    frames = Frames(list(symbols), coords, cells, load("energy", (-1,)), load("force", (-1, n, 3)),
                    load("virial", (-1, 3, 3)))
    for name, array in (("box", cells), ("coord", coords), ("energy", frames.energy), ("force", frames.forces),
                        ("virial", frames.virial)):
        if array is not None and len(array) != len(cells):
            raise InputError(f"{set_dir} has {len(array)} frames in {name}.npy and {len(cells)} in box.npy; "
                             f"the data set is malformed: relabel or remove {set_dir.name}")
        if array is not None and not np.all(np.isfinite(array)):
            raise InputError(f"{set_dir / (name + '.npy')} holds NaN or infinite values; the data set is damaged: "
                             f"relabel or remove {set_dir.name}")
    return frames


def concatenate(parts: list[Frames], symbols: list[str]) -> Frames:
    def cat(attr):
        arrays = [getattr(p, attr) for p in parts]
        return None if any(a is None for a in arrays) or not arrays else np.concatenate(arrays)

    return Frames(list(symbols), cat("coords"), cat("cells"), cat("energy"), cat("forces"), cat("virial"))


def open_system(path: str | os.PathLike, root: str | os.PathLike | None = None, type_map=None) -> DeepmdSystem:
    """Describe the system at ``path`` without reading its arrays (frame counts come from memory-mapped headers).

    Type names: :func:`system_type_map`.
    """
    path = Path(path)
    type_file = path / "type.raw"
    if not type_file.exists():
        raise InputError(f"{path} has no type.raw; it is not a DeePMD npy system")
    try:
        types = np.loadtxt(type_file, dtype=int, ndmin=1)
    except ValueError:
        raise InputError(f"{type_file} must hold one integer type per atom") from None
    set_dirs = tuple(sorted((p for p in path.glob("set.*") if p.is_dir() and p.name[4:].isdigit()),
                            key=lambda p: _natural_key(p.name)))
    if not set_dirs:
        raise InputError(f"{path} has no set.NNN folders; it is not a DeePMD npy system")
    type_map = system_type_map(path, type_map)
    if types.min() < 0 or types.max() >= len(type_map):
        raise InputError(f"{type_file} uses types up to {types.max()} but the type map has {len(type_map)} names; add a type_map.raw")
    counts = [_set_frames(s, len(types)) for s in set_dirs]
    name = str(path.relative_to(root)) if root is not None and path != Path(root) else path.name
    return DeepmdSystem(path, name, types, type_map, set_dirs, tuple(counts))


def system_type_map(path: Path, given=None) -> tuple[str, ...]:
    """The element of each atom type of the system at ``path``: its ``type_map.raw``; else ``given`` (the model's or
    the configuration's); else the type map of the training scripts that came with the data set (the published
    DeePMD-kit 1.x data have no type_map.raw, their models' input.json says La, H).  Never a guess."""
    tm_file = path / "type_map.raw"
    if tm_file.exists():
        return tuple(tm_file.read_text().split())
    if given:
        return tuple(given)
    for folder in path.parents:
        for script in sorted(folder.glob(TRAINING_SCRIPTS)):
            try:
                found = json.loads(script.read_text())["model"]["type_map"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            return tuple(found)
    raise InputError(f"{path} has no type_map.raw and no type map was given; write its element names, one per "
                     "atom type in type order, to type_map.raw")


#: the arrays of a DeePMD npy set and their shape per frame (natoms -> shape)
SET_ARRAYS = {"box": lambda n: (9,), "coord": lambda n: (3 * n,), "energy": lambda n: (),
              "force": lambda n: (3 * n,), "virial": lambda n: (9,)}


def _set_frames(set_dir: Path, natoms: int) -> int:
    """Frames of one ``set.NNN``, from the headers of its arrays (memory-mapped, not read), after checking that
    each is a readable .npy file of the right size per frame and that all hold the same number of frames."""
    frames = {}
    for name, per_frame in SET_ARRAYS.items():
        path = set_dir / f"{name}.npy"
        if not path.exists():
            if name in ("box", "coord"):
                raise InputError(f"{set_dir} lacks {name}.npy; the data set is malformed")
            continue
        try:
            array = np.load(path, mmap_mode="r")
        except (ValueError, OSError, EOFError) as err:
            raise InputError(f"{path} is not a readable .npy array ({err}); the data set is malformed: "
                             f"relabel or remove {set_dir.name}") from None
        size = int(np.prod(per_frame(natoms)))
        if array.ndim == 0 or array.size % max(size, 1) or (array.ndim > 1 and array[0].size != size):
            raise InputError(f"{path} holds shape {array.shape}, not {size} values per frame for {natoms} atoms; "
                             f"the data set is malformed")
        frames[name] = array.size // max(size, 1)
    if len(set(frames.values())) > 1:
        listed = ", ".join(f"{k}.npy {v}" for k, v in frames.items())
        raise InputError(f"{set_dir} has arrays of different lengths ({listed} frames); the data set is malformed: "
                         f"relabel or remove {set_dir.name}")
    return frames["box"]


def find_systems(root: str | os.PathLike, type_map=None) -> list[DeepmdSystem]:
    """All systems under ``root`` (``root`` itself may be one), in natural name order."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"data directory {root} does not exist; give --data DIR or set HYDROPIMD_DATA")
    paths = sorted({p.parent for p in root.rglob("type.raw")}, key=lambda p: _natural_key(str(p.relative_to(root))))
    if not paths:
        raise InputError(f"no DeePMD npy system (a folder with type.raw and set.NNN/) under {root}")
    return [open_system(p, root, type_map) for p in paths]


def verify_systems(root: str | os.PathLike, type_map=None) -> list[DeepmdSystem]:
    """:func:`find_systems` after reading every set once (:func:`read_set`: equal lengths, no NaN or infinity), for
    consumers that would otherwise learn from a damaged label without a word (training: ~1 s for the published
    2779 frames)."""
    systems = find_systems(root, type_map)
    for system in systems:
        for set_dir in system.set_dirs:
            read_set(set_dir, system.symbols)
    return systems


def dataset_info(root: str | os.PathLike) -> dict:
    """Systems, frames, atoms and the DeePMD-1.x split of a data set, as a JSON-ready dict."""
    systems = find_systems(root)
    rows = [
        {
            "name": s.name,
            "natoms": s.natoms,
            "elements": sorted(set(s.symbols), key=s.type_map.index),
            "sets": len(s.set_dirs),
            "frames": s.nframes,
            "train_frames": s.split_frames("train"),
            "test_frames": s.split_frames("test"),
        }
        for s in systems
    ]
    return {
        "path": str(Path(root)),
        "n_systems": len(rows),
        "n_frames": sum(r["frames"] for r in rows),
        "n_train_frames": sum(r["train_frames"] for r in rows),
        "n_test_frames": sum(r["test_frames"] for r in rows),
        "split": "DeePMD-kit 1.x: the last set.NNN of every system is the test split",
        "systems": rows,
    }


def link_split(root: str | os.PathLike, split: str, out: str | os.PathLike) -> list[Path]:
    """Mirror the ``split`` of every system under ``root`` into ``out`` with symbolic links to the sets.

    The result is a data set DeePMD-kit's own tools read directly (``dp train``
    on the training split, ``dp test`` on the test split) without copying data.
    Returns the system folders written.
    """
    out = Path(out)
    written = []
    for system in find_systems(root):
        sets = system.split_sets(split)
        if not sets:
            continue
        target = out / system.name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(system.path / "type.raw", target / "type.raw")
        # the type names travel with the split (the source may have had them from its training scripts)
        (target / "type_map.raw").write_text("\n".join(system.type_map) + "\n")
        for s in sets:
            link = target / s.name
            if not link.exists():
                link.symlink_to(s.resolve(), target_is_directory=True)
        written.append(target)
    return written
