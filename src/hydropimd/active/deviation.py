"""Committee force deviation of candidate frames (docs/theory/potential.md, the committee).

    E = max_i sqrt( < |F_i - <F_i>|^2 > )

the standard deviation over the committee of the force on atom i (eV/Angstrom),
maximised over the atoms of the frame.  This is DeePMD-kit's ``max_devi_f``
(the fifth column of ``dp model-devi``), and it is computed by DeePMD-kit's own
``calc_model_devi_f`` inside :meth:`HydridePotential.evaluate`; this module only
groups the frames by composition so that every model call is a batch.

Used by DP-GEN's exploration step: Zhang, Wang, Chen, Car and E, Phys. Rev.
Materials 3, 023804 (2019); Zhang et al., Comput. Phys. Commun. 253, 107206 (2020).
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Callable, Sequence

import numpy as np
from ase import Atoms

from hydropimd.errors import InputError

#: frames per model call (the progress callback is called after each)
CHUNK_FRAMES = 64


def check_committee(committee: Sequence[str | os.PathLike]) -> list[str]:
    """At least two model files that exist; returns them as strings."""
    committee = [str(m) for m in committee]
    if len(committee) < 2:
        raise InputError(f"a committee needs at least two models to have a deviation, got {len(committee)}; "
                         "give --committee M1 M2 [M3 ...]")
    return committee


def load_committee(committee: Sequence[str | os.PathLike]):
    """A :class:`HydridePotential` holding every member (the first is the main model).

    Models with different type maps are refused (one-line :class:`InputError`).
    """
    from hydropimd.potential.calculator import HydridePotential

    committee = check_committee(committee)
    return HydridePotential(committee[0], pair=None, committee=committee[1:])


def force_deviation(
    frames: Sequence[Atoms],
    committee: Sequence[str | os.PathLike] | object,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Maximal committee force deviation of each frame, eV/Angstrom, shape (len(frames),).

    ``committee``: two or more model files (or an already loaded
    :class:`HydridePotential` with a committee, to reuse its sessions).

    No pair baseline is needed: it adds the same force to every member's
    prediction, so it cancels exactly in F_i - <F_i>, and evaluating it would
    only cost time.  The models must therefore all be trained on the same
    targets (all subtracted, or all full).

    Frames are grouped by their sequence of chemical symbols and evaluated in
    batches of :data:`CHUNK_FRAMES`; ``progress(done, total)`` is called
    after each batch.
    """
    from hydropimd.potential.calculator import HydridePotential

    potential = committee if isinstance(committee, HydridePotential) else load_committee(committee)
    if len(potential.models) < 2:
        raise InputError("a committee needs at least two models to have a deviation")
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for k, atoms in enumerate(frames):
        if not atoms.pbc.all():
            raise InputError(f"candidate frame {k} is not periodic in all three directions; give frames with a cell")
        groups[tuple(atoms.get_chemical_symbols())].append(k)
    present = set().union(*groups) if groups else set()
    unknown = sorted(present - set(potential.type_map))
    if unknown:  # before any model runs
        raise InputError(f"candidate frames contain {', '.join(unknown)}, which the committee's type map "
                         f"{potential.type_map} does not know; remove those frames or use models trained on them")
    result = np.empty(len(frames))
    done = 0
    for symbols, indices in groups.items():
        for start in range(0, len(indices), CHUNK_FRAMES):
            chunk = indices[start:start + CHUNK_FRAMES]
            coords = np.stack([frames[k].positions for k in chunk])
            cells = np.stack([frames[k].cell.array for k in chunk])
            result[chunk] = potential.evaluate(coords, cells, symbols, committee=True).max_force_dev
            done += len(chunk)
            if progress:
                progress(done, len(frames))
    return result
