"""Full <-> subtracted data sets: add or remove the pair baseline from DFT labels.

``subtracted = full - f(R)`` frame by frame for energy, forces and virial
(docs/theory/potential.md); the folder layout, set partition and coordinates are kept.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from hydropimd.data.systems import Frames, find_systems, read_set
from hydropimd.data.writer import write_set
from hydropimd.errors import InputError
from hydropimd.pair.baseline import PairBaseline


def convert_dataset(
    source: str | os.PathLike,
    target: str | os.PathLike,
    pair: PairBaseline,
    mode: str,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write ``target`` = ``source`` with the pair term added (``mode='add'``) or removed (``'remove'``).

    Every system and set of ``source`` is reproduced under ``target`` with the
    same relative path.  The target is built in a sibling ``.partial`` folder
    and renamed when complete, so an interrupted conversion leaves nothing
    half-written.  Returns counts for reporting.
    """
    if mode not in ("add", "remove"):
        raise InputError(f"unknown conversion mode '{mode}'; use add or remove")
    source, target = Path(source), Path(target)
    if target.exists():
        raise InputError(f"{target} already exists; choose a new --to directory")
    systems = find_systems(source)
    sign = 1.0 if mode == "add" else -1.0
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    total_sets = sum(len(s.set_dirs) for s in systems)
    done = 0
    nframes = 0
    for system in systems:
        out = work / system.path.relative_to(source)  # a single-system source becomes the target itself
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(system.path / "type.raw", out / "type.raw")
        # the type names travel with the data (the source may have had them from elsewhere: its training scripts)
        (out / "type_map.raw").write_text("\n".join(system.type_map) + "\n")
        for set_dir in system.set_dirs:
            frames = read_set(set_dir, system.symbols)
            if frames.energy is None or frames.forces is None:
                raise InputError(f"{set_dir} has no energy.npy/force.npy labels to convert")
            term = pair.compute_batch(frames.coords, frames.cells, frames.symbols)
            converted = Frames(
                frames.symbols,
                frames.coords,
                frames.cells,
                frames.energy + sign * term.energy,
                frames.forces + sign * term.forces,
                None if frames.virial is None else frames.virial + sign * term.virial,
            )
            write_set(out / set_dir.name, converted)
            nframes += len(frames)
            done += 1
            if progress:
                progress(done, total_sets)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(work, target)
    return {"from": str(source), "to": str(target), "mode": mode, "table": pair.source,
            "n_systems": len(systems), "n_frames": nframes}
