"""DeePMD-kit training scripts with the study's defaults (docs/theory/potential.md).

Descriptor se_e2_a (se_a in DeePMD-kit 1.x), rcut 4.0 A, rcut_smth 2.0 A,
sel and type_map those of the published models (:mod:`hydropimd.data.published`; another
type map takes its type map from its data and ``sel`` from DeePMD-kit's neighbour statistics), embedding
net (25, 50, 100), fitting net (240, 240, 240); loss with energy, force and virial terms
whose prefactors follow the learning rate (energy 0.02 -> 1, force 1000 -> 10,
virial 0.001 -> 0.1); exponential learning rate 1e-3 -> 3.51e-8 decaying every
5000 steps over 1,000,000 steps with batch size 1.  These are the published
``input.json`` values (Ly and Ceperley, PRB 106, 054106) in DeePMD-kit 3 key
names; a user TOML/JSON file overrides any of them (nested keys merge).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from hydropimd.data.published import DESCRIPTOR_SEL, TYPE_MAP
from hydropimd.errors import InputError

#: the study's type map, for which its neighbour counts ``sel`` were chosen (docs/theory/potential.md)
STUDY_TYPE_MAP = list(TYPE_MAP)
STUDY_DEFAULTS: dict = {
    "model": {
        "type_map": STUDY_TYPE_MAP,
        "descriptor": {"type": "se_e2_a", "rcut": 4.0, "rcut_smth": 2.0, "sel": list(DESCRIPTOR_SEL),
                       "neuron": [25, 50, 100], "axis_neuron": 16},
        "fitting_net": {"neuron": [240, 240, 240]},
    },
    "learning_rate": {"type": "exp", "start_lr": 1.0e-3, "stop_lr": 3.51e-8, "decay_steps": 5000},
    "loss": {"type": "ener", "start_pref_e": 0.02, "limit_pref_e": 1.0, "start_pref_f": 1000.0, "limit_pref_f": 10.0,
             "start_pref_v": 0.001, "limit_pref_v": 0.1},
    "training": {"numb_steps": 1_000_000, "disp_freq": 100, "save_freq": 1000, "training_data": {"batch_size": 1}},
}


def _types_from_data(script: dict, systems: list[str], given: dict) -> None:
    """The type map from the training data unless the overrides name one; the study's neighbour counts ``sel`` are
    for its type map, so another type map gets DeePMD-kit's own count from the data ("auto", x 1.1) unless one is given."""
    if "type_map" not in given:
        script["model"]["type_map"] = data_type_map(systems)
    if script["model"]["type_map"] != STUDY_TYPE_MAP and "sel" not in given.get("descriptor", {}):
        script["model"]["descriptor"]["sel"] = "auto:1.1"


def data_type_map(systems: list[str]) -> list[str]:
    """The element of each atom type, from the training data (each system's type_map.raw, or the data set's own
    record of it: :func:`hydropimd.data.systems.system_type_map`), in order of first appearance."""
    from hydropimd.data.systems import find_systems

    names: list[str] = []
    for path in systems:
        for system in find_systems(path):
            names += [name for name in system.type_map if name not in names]
    return names


def _merge(base: dict, extra: dict, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(out.get(key), dict):
            if not isinstance(value, dict):
                raise InputError(f"training config: '{where}{key}' must be a table of DeePMD-kit keys, not {value!r}; "
                                 "fix the training config")
            value = _merge(out[key], value, f"{where}{key}.")
        out[key] = value
    return out


def training_script(systems: list[str], seed: int, steps: int | None = None, overrides: dict | None = None,
                    validation: list[str] | None = None) -> dict:
    """A complete DeePMD-kit 3 input for one committee member.

    ``systems``: training system folders; ``seed``: the member's seed (descriptor,
    fitting net and batch order all derive from it: docs/theory/active-learning.md's committees
    differ only in seeds); ``steps``: overrides numb_steps and scales decay_steps so
    that the learning rate still ends at stop_lr; ``validation``: systems for the
    learning curve's validation columns.
    """
    if steps is not None and steps < 1:
        raise InputError(f"--steps {steps} must be positive")
    script = _merge(STUDY_DEFAULTS, overrides or {})
    script["model"]["descriptor"]["seed"] = seed
    script["model"]["fitting_net"]["seed"] = seed + 1
    script["training"]["seed"] = seed + 2
    script["training"]["training_data"]["systems"] = [str(Path(s).resolve()) for s in systems]
    if validation:
        script["training"]["validation_data"] = {"systems": [str(Path(s).resolve()) for s in validation],
                                                 "batch_size": 1, "numb_btch": 1}
    from deepmd.utils.argcheck import normalize

    try:
        script = normalize(script)  # DeePMD-kit's own validation: unknown keys and bad values fail here
    except Exception as err:
        raise InputError(f"the training configuration is not valid for DeePMD-kit: {str(err).splitlines()[0]}") from None
    full = script["training"]["numb_steps"]
    if full < 1:
        raise InputError(f"training.numb_steps {full} must be positive; fix the training config")
    if steps is not None:  # after normalize: its values are checked, and aliases (stop_batch) are numb_steps
        script["training"]["numb_steps"] = steps
        lr = script["learning_rate"]
        if lr.get("decay_steps"):
            lr["decay_steps"] = max(1, min(lr["decay_steps"], round(lr["decay_steps"] * steps / full)))
    _types_from_data(script, systems, (overrides or {}).get("model", {}))
    return script


def load_overrides(path: str | os.PathLike | None) -> dict:
    """User overrides from a TOML or JSON file (DeePMD-kit key names)."""
    if path is None:
        return {}
    from hydropimd.config import read_settings_file

    overrides = read_settings_file(path, "training config")
    return overrides
