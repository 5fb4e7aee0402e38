"""Check a data set's full - subtracted labels against the pair term, frame by frame.

This is how one verifies that a pair table (and its LAMMPS settings) is the one
a subtracted data set was made with.  On the published LaH10 data every system
agrees to better than 1e-4 eV in energy per frame, 1e-4 eV/A in force components
and 1e-3 eV in virial components (the data are stored to about that precision),
except the forces and virials of ``r3m`` (see docs/validation/pair-baseline.md: a quirk of the
published data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from hydropimd.data.systems import find_systems, open_system, read_set
from hydropimd.errors import InputError
from hydropimd.pair.baseline import PairBaseline


def compare_with_dataset(
    pair: PairBaseline, full: str, subtracted: str, progress: Callable[[int, int], None] | None = None
) -> dict:
    """Largest |(full - subtracted) - pair| per system: energy per frame (eV), force components (eV/A), virial components (eV)."""
    systems = find_systems(full)
    report = {}
    for k, system in enumerate(systems):
        twin_system = open_system(Path(subtracted) / system.path.relative_to(full))
        if twin_system.symbols != system.symbols:
            raise InputError(f"{twin_system.path} holds other atoms than {system.path}; give the subtracted twin of {full}")
        errors = {"n_frames": 0, "max_energy_error_ev": 0.0, "max_force_error_ev_per_angstrom": 0.0, "max_virial_error_ev": 0.0}
        for set_dir in system.set_dirs:
            # the same place under the subtracted root (a single-system folder mirrors onto itself)
            twin = Path(subtracted) / system.path.relative_to(full) / set_dir.name
            if not twin.is_dir():
                raise InputError(f"{twin} is missing: the subtracted data set does not mirror {full}")
            a, b = read_set(set_dir, system.symbols), read_set(twin, system.symbols)
            _check_same_frames(set_dir, twin, a, b)
            term = pair.compute_batch(a.coords, a.cells, a.symbols)
            errors["n_frames"] += len(a)
            errors["max_energy_error_ev"] = max(errors["max_energy_error_ev"], float(np.abs(a.energy - b.energy - term.energy).max()))
            errors["max_force_error_ev_per_angstrom"] = max(
                errors["max_force_error_ev_per_angstrom"], float(np.abs(a.forces - b.forces - term.forces).max()))
            if a.virial is not None and b.virial is not None:
                errors["max_virial_error_ev"] = max(errors["max_virial_error_ev"], float(np.abs(a.virial - b.virial - term.virial).max()))
        report[system.name] = errors
        if progress:
            progress(k + 1, len(systems))
    return {"table": pair.source, "full": str(full), "subtracted": str(subtracted), "systems": report}


def _check_same_frames(full_set: Path, twin_set: Path, a, b) -> None:
    """Refuse a subtracted set whose frames are not the full set's (another system, or another labelling order):
    the difference of their labels would be meaningless, not an error of the pair term."""
    same = len(a) == len(b) and np.allclose(a.coords, b.coords, atol=1e-5) and np.allclose(a.cells, b.cells, atol=1e-5)
    if not same:
        raise InputError(f"{twin_set} does not hold the frames of {full_set} (other positions or cells); "
                         f"give the subtracted twin of the full data set")
