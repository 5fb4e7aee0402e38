"""Test errors of a potential on a labelled data set, as DeePMD-kit's ``dp test`` reports them.

Per system (DeePMD-kit ``deepmd/entrypoints/test.py``): energy RMSE divided by
the number of atoms, force RMSE over all components, virial RMSE divided by the
number of atoms.  Overall figures are DeePMD-kit's own ``weighted_average`` of
the per-system ones (squared errors weighted by the number of frames for
energy, of force components for forces, of virial components for virials), so
the numbers are directly comparable with ``dp test`` on the same systems.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from hydropimd.data.systems import DeepmdSystem, find_systems
from hydropimd.potential.calculator import HydridePotential


def _rmse(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def model_test_errors(
    potential: HydridePotential,
    data: str | os.PathLike | list[DeepmdSystem],
    split: str = "test",
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Energy, force and virial errors of ``potential`` on the ``split`` of every system in ``data``.

    ``data``: a data set folder or its systems from :func:`find_systems`.  Units:
    eV/atom, eV/angstrom, eV/atom.  Returns a JSON-ready dict with the overall
    figures and a ``systems`` mapping with the per-system ones.
    """
    from deepmd.utils.weight_avg import weighted_average

    if isinstance(data, (str, os.PathLike)):
        data = find_systems(data, type_map=potential.type_map)
    systems = [s for s in data if s.split_frames(split) > 0]
    per_system = {}
    collected = []
    for k, system in enumerate(systems):
        frames = system.load(split)
        ev = potential.evaluate(frames.coords, frames.cells, frames.symbols)
        n = system.natoms
        row = {"n_frames": len(frames), "natoms": n}
        errors = {}
        if frames.energy is not None:
            rmse_e = _rmse(ev.energy - frames.energy)
            row["energy_rmse_per_atom_ev"] = rmse_e / n
            errors["rmse_ea"] = (rmse_e / n, len(frames))
        if frames.forces is not None:
            diff = ev.forces - frames.forces
            row["force_rmse_ev_per_angstrom"] = _rmse(diff)
            row["force_max_error_ev_per_angstrom"] = float(np.abs(diff).max())
            errors["rmse_f"] = (row["force_rmse_ev_per_angstrom"], diff.size)
        if frames.virial is not None:
            rmse_v = _rmse(ev.virial - frames.virial)
            row["virial_rmse_per_atom_ev"] = rmse_v / n
            errors["rmse_va"] = (rmse_v / n, ev.virial.size)
        per_system[system.name] = row
        collected.append(errors)
        if progress:
            progress(k + 1, len(systems))
    overall = weighted_average(collected)
    return {
        "model": str(potential.model_path),
        "pair": potential.pair.source if potential.pair is not None else None,
        "data": sorted({str(s.path.parent) for s in systems}) if len(systems) != 1 else str(systems[0].path),
        "split": split,
        "n_frames": sum(r["n_frames"] for r in per_system.values()),
        "energy_rmse_per_atom_ev": overall.get("rmse_ea"),
        "force_rmse_ev_per_angstrom": overall.get("rmse_f"),
        "virial_rmse_per_atom_ev": overall.get("rmse_va"),
        "systems": per_system,
    }
