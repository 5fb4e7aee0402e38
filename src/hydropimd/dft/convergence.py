"""How far the labels' DFT settings are from converged: the same frames labelled with tighter settings.

A Deep Potential can be no better than its labels, so a new system's settings
(cutoffs, k-point spacing) are checked on a few representative frames before a
campaign labels thousands, as the study did for LaH10 (the docstring of
:mod:`hydropimd.dft.settings`).  One axis is tightened at a time from the base
settings: the wavefunction cutoff (the charge-density cutoff scaled with it,
keeping the base ratio) and the k-point spacing.  Each setting's labels are an
ordinary data set under ``OUT/<setting>`` (:func:`hydropimd.dft.label.label_structures`:
resumable, one record per SCF), so an interrupted check continues where it stopped.

What a potential learns are energy *differences* between configurations, forces
and the virial, so the report gives, for each setting against the tightest one of
its axis (eV/atom, eV/A, GPa):

* ``energy_shift_ev_per_atom``: the mean change of the total energy per atom (a
  constant offset: harmless to a potential trained and used at one setting);
* ``relative_energy_ev_per_atom``: the largest change of the energy per atom
  *relative between frames* (max minus min of the shifts): what the potential sees;
* ``max_force_ev_per_angstrom`` and ``rms_force_ev_per_angstrom``: force changes;
* ``max_pressure_gpa``: pressure changes (the virial's trace).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hydropimd.data.systems import find_systems
from hydropimd.dft.settings import DFTSettings, load_settings
from hydropimd.errors import InputError, RunFailed
from hydropimd.files import write_json_atomic
from hydropimd.structures import read_structures

#: eV/A^3 in GPa
EV_PER_A3_IN_GPA = 160.21766208
#: the file the check's results are written to, in its folder
RESULTS = "convergence.json"


def setting_variants(base: DFTSettings, ecutwfc_ry: Sequence[float] = (),
                     kspacing_per_angstrom: Sequence[float] = ()) -> dict[str, tuple[str, DFTSettings]]:
    """The settings to compare, by name: ``base``, then ``ecutwfc-<Ry>`` (ecutrho scaled by the base ratio) and
    ``kspacing-<1/A>`` variants; each with its axis ("cutoff", "kpoints"; the base belongs to both)."""
    variants = {"base": ("base", base)}
    ratio = base.ecutrho_ry / base.ecutwfc_ry
    for cut in ecutwfc_ry:
        if cut <= 0:
            raise InputError(f"--ecutwfc-ry {cut:g} must be positive")
        variants[f"ecutwfc-{cut:g}"] = ("cutoff", dataclasses.replace(base, ecutwfc_ry=cut, ecutrho_ry=ratio * cut))
    for spacing in kspacing_per_angstrom:
        if spacing <= 0:
            raise InputError(f"--kspacing {spacing:g} must be positive")
        variants[f"kspacing-{spacing:g}"] = ("kpoints", dataclasses.replace(base, kspacing_per_angstrom=spacing))
    if len(variants) == 1:
        raise InputError("nothing to compare: give tighter settings with --ecutwfc-ry and/or --kspacing")
    return variants


def check_convergence(structures, out: str | os.PathLike, config=None, ecutwfc_ry: Sequence[float] = (),
                      kspacing_per_angstrom: Sequence[float] = (), frames: int | None = None,
                      pseudo_dir: str | os.PathLike | None = None, mpi: int = 1,
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """Label the first ``frames`` structures of ``structures`` with the base settings (``config``; default the
    study's) and each tightened one (:func:`setting_variants`) under ``out``, and compare them
    (:func:`compare_settings`).  Returns the JSON-ready report, also written to ``out/convergence.json``."""
    from hydropimd.dft.label import label_structures

    base = config if isinstance(config, DFTSettings) else load_settings(config)
    variants = setting_variants(base, ecutwfc_ry, kspacing_per_angstrom)
    if frames is not None and frames < 1:
        raise InputError(f"--frames {frames} must be at least 1")
    chosen = read_structures(structures)[:frames]
    out = Path(out)
    total = len(chosen) * len(variants)
    for k, (name, (_, settings)) in enumerate(variants.items()):
        step = (lambda done, _n, k=k: progress(k * len(chosen) + done, total)) if progress else None
        summary = label_structures(chosen, out / name, config=settings, pseudo_dir=pseudo_dir, mpi=mpi,
                                   progress=step)
        if summary["failed"]:
            raise RunFailed(f"{summary['failed']} of {len(chosen)} SCFs failed with the {name} settings; see "
                            f"{out / name}; the comparison needs every frame labelled")
    report = compare_settings(out, variants)
    report.update(frames=len(chosen), structures=str(structures) if isinstance(structures, (str, Path)) else None)
    write_json_atomic(out / RESULTS, report, indent=2)
    return report


def compare_settings(out: Path, variants: dict[str, tuple[str, DFTSettings]]) -> dict:
    """Each setting's labels under ``out/<name>/full`` against the tightest of its axis (the highest cutoff, the
    finest k spacing): the differences described in the module docstring."""
    labels = {name: _labels(out / name / "full") for name in variants}
    axes = {"cutoff": lambda s: s.ecutwfc_ry, "kpoints": lambda s: -s.kspacing_per_angstrom}
    rows = []
    for axis, tightness in axes.items():
        members = [name for name, (a, _) in variants.items() if a in (axis, "base")]
        if len(members) < 2:
            continue
        reference = max(members, key=lambda name: tightness(variants[name][1]))
        for name in members:
            if name != reference:
                rows.append({"setting": name, "axis": axis, "reference": reference,
                             **_differences(labels[name], labels[reference])})
    return {"settings": {name: dataclasses.asdict(s) for name, (_, s) in variants.items()}, "comparisons": rows}


def _labels(folder: Path) -> dict[str, np.ndarray]:
    """Energies per atom (eV), forces (eV/A, flattened over frames) and pressures (GPa) of a labelled data set,
    frames in the order they were labelled, system by system."""
    energy, forces, pressure = [], [], []
    for system in find_systems(folder):
        f = system.load("all")
        volume = np.abs(np.linalg.det(f.cells))
        energy.append(f.energy / f.natoms)
        forces.append(f.forces.reshape(-1))
        pressure.append(np.trace(f.virial, axis1=1, axis2=2) / (3 * volume) * EV_PER_A3_IN_GPA)
    return {key: np.concatenate(values) for key, values in
            (("energy", energy), ("forces", forces), ("pressure", pressure))}


def _differences(labels: dict, reference: dict) -> dict:
    """The label changes of one setting against the reference (module docstring), eV/atom, eV/A, GPa."""
    if labels["energy"].shape != reference["energy"].shape:
        raise InputError("the settings' data sets hold different frames; label the same structures with each")
    shift = labels["energy"] - reference["energy"]
    force = labels["forces"] - reference["forces"]
    return {"energy_shift_ev_per_atom": float(shift.mean()),
            "relative_energy_ev_per_atom": float(shift.max() - shift.min()),
            "max_force_ev_per_angstrom": float(np.abs(force).max()),
            "rms_force_ev_per_angstrom": float(np.sqrt(np.mean(force**2))),
            "max_pressure_gpa": float(np.abs(labels["pressure"] - reference["pressure"]).max())}
