"""A tiny active-learning loop shared by test_loop.py and test_report.py.

44-atom LaH10 throughout: the initial data are rattled conventional cells labelled by
the reference labeller (published subtracted model plus table), the committee has two
members of a tiny network trained for 10 steps, the exploration is 20 classical MD
steps.  The loop is resumable, so whichever test module comes second finds it finished
in the session's temporary folder and only reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hydropimd.active.labeller import ReferenceLabeller
from hydropimd.structures import build_lah10

TINY_NETWORK = {"model": {"descriptor": {"neuron": [4, 8, 16], "axis_neuron": 4}, "fitting_net": {"neuron": [16, 16]}}}


def initial_data(folder: Path, model: Path, table: Path) -> Path:
    """Six rattled 44-atom frames in three sets (two training sets, one test set), full labels."""
    if not (folder / "full" / "La4H40" / "set.002").exists():  # the labellers' layout: full/<system>/set.NNN
        rng = np.random.default_rng(7)
        base = build_lah10(a=5.1, cell="conventional", angles=(90.5, 90.5, 90.5))
        frames = []
        for _ in range(6):
            atoms = base.copy()
            atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
            frames.append(atoms)
        labeller = ReferenceLabeller(model, pair=table)
        for k in range(3):
            labeller.label(frames[2 * k:2 * k + 2], folder)
    return folder


def loop_config(root: Path, model: Path, table: Path, **select) -> dict:
    data = initial_data(root / "initial", model, table)
    return {
        "work_dir": str(root / "work"),
        "data": {"initial": [str(data)], "pair": str(table)},
        "training": {"committee": 2, "steps": 10, "overrides": TINY_NETWORK},
        "explore": {"structure": {"prototype": "lah10", "cell": "conventional", "angles": [90.5, 90.5, 90.5]},
                    "grid": {"temperatures_k": [300], "pressures_gpa": [150], "steps": 20, "stride": 5}},
        # lo tiny and hi huge: every candidate of an untrained committee is kept, so each generation labels n
        "select": {"lo": 1e-4, "hi": 1e3, "n": 3, "mode": "auto", **select},
        "labeller": {"kind": "reference", "model": str(model), "pair": str(table), "sets_per_generation": 3},
        "stop": {"max_generations": 2, "accurate_ratio": 0.95},
    }


def loop_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.getbasetemp() / "active-loop"
    root.mkdir(exist_ok=True)
    return root


def toml_text(config: dict) -> str:
    """The loop config as TOML (tables for the sections, inline tables below them)."""
    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)  # strings and numbers: JSON's spelling is TOML's

    lines = [f"{k} = {value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    for section, table in config.items():
        if isinstance(table, dict):
            lines += [f"[{section}]"] + [f"{k} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
