"""Training a committee of Deep Potentials with DeePMD-kit's own entry points.

Each member differs only in its seeds (SPEC section 6).  For each one this
module writes the training script (:mod:`hydropimd.training.config`), runs
``dp train`` (``--restart`` from the member's checkpoint when a previous attempt
was killed), ``dp freeze`` and optionally ``dp compress``, then records the
member's errors on the held-out DeePMD-kit 1.x test split with
:func:`hydropimd.potential.testing.test_model`.  Nothing of the training loop is
re-implemented.  Given full labels and a pair table, the members learn the
subtracted targets (full - pair, SPEC section 3) and are tested with the table
added back.

Output folder::

    data/train, data/test    the DeePMD-kit 1.x split as symbolic links (data/subtracted first, with --pair)
    member-K/input.json      the member's training script
    member-K/graph.pb        frozen model (graph-compressed.pb with compression)
    member-K/errors.json     test-split errors
    committee.json           summary
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from hydropimd.data.systems import find_systems, link_split
from hydropimd.errors import InputError
from hydropimd.files import write_json_atomic
from hydropimd.training.config import load_overrides, training_script

BASE_SEED = 20220815


def _dp(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("dp")), *args]


def _last_step(lcurve: Path) -> int:
    """The last step in DeePMD-kit's learning curve file (0 when absent)."""
    if not lcurve.exists():
        return 0
    rows = [ln.split() for ln in lcurve.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return int(float(rows[-1][0])) if rows else 0


def _run(command: list[str], cwd: Path, log: Path, what: str, steps: int | None = None,
         progress: Callable[[dict], None] | None = None, member: int | None = None) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with open(log, "a") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        while process.poll() is None:
            time.sleep(1.0)
            if progress and steps:
                progress({"member": member, "step": _last_step(cwd / "lcurve.out"), "steps": steps})
    if process.returncode != 0:
        raise InputError(f"{what} failed (exit status {process.returncode}); read {log}")


def _prepare_data(data: list[str], out: Path, pair) -> tuple[list[str], list[str], list[str]]:
    """Training and test systems (symbolic-link splits) and the test systems with full labels (for testing with a pair)."""
    sources = [Path(d) for d in data]
    for d in sources:
        find_systems(d)  # a missing or malformed data set fails here, before any training
    targets = sources
    if pair is not None:
        from hydropimd.pair.convert import convert_dataset

        targets = []
        for k, d in enumerate(sources):
            subtracted = out / "data" / f"subtracted-{k}"
            if not subtracted.exists():
                convert_dataset(d, subtracted, pair, "remove")
            targets.append(subtracted)
    train, test, full_test = [], [], []
    for k, (target, source) in enumerate(zip(targets, sources)):
        train += [str(p) for p in link_split(target, "train", out / "data" / "train" / str(k))]
        test += [str(p) for p in link_split(target, "test", out / "data" / "test" / str(k))]
        full_test += [str(p) for p in link_split(source, "test", out / "data" / "test-full" / str(k))]
    if not train:
        raise InputError("the data hold no training frames (every system has a single set); add data")
    return train, test, full_test


def train_committee(
    data: list[str],
    out: str | os.PathLike,
    committee: int = 3,
    steps: int | None = None,
    config: str | os.PathLike | None = None,
    pair: str | os.PathLike | None = None,
    compress: bool = False,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Train (or finish training) ``committee`` models on the training split of ``data``; returns a JSON-ready summary."""
    if committee < 1:
        raise InputError(f"--committee {committee} must be at least 1")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    overrides = load_overrides(config)
    pair_model = None
    if pair is not None:
        from hydropimd.pair.baseline import PairBaseline

        pair_model = PairBaseline.from_file(pair)
    train, test, full_test = _prepare_data(data, out, pair_model)
    members = []
    for k in range(committee):
        d = out / f"member-{k}"
        d.mkdir(exist_ok=True)
        script = training_script(train, seed=BASE_SEED + 1000 * k, steps=steps, overrides=overrides)
        total = script["training"]["numb_steps"]
        # DeePMD-kit 3.2's TF trainer saves checkpoints only on display steps (its save test sits inside the
        # display branch) and skips the final save when the last step is a multiple of save_freq: keep
        # save_freq a multiple of disp_freq, both small enough for short runs to leave a checkpoint
        disp = min(script["training"]["disp_freq"], max(total // 10, 1))
        script["training"]["disp_freq"] = disp
        script["training"]["save_freq"] = max(disp, min(script["training"]["save_freq"], max(total // 10, 1)) // disp * disp)
        (d / "input.json").write_text(json.dumps(script, indent=1))
        graph = d / "graph.pb"
        if not graph.exists():
            restart = ["--restart", "model.ckpt"] if (d / "checkpoint").exists() else []
            _run(_dp("train", "input.json", *restart), d, d / "train.log", f"training member {k}", total, progress, k)
            _run(_dp("freeze", "-o", "graph.partial.pb"), d, d / "train.log", f"freezing member {k}")
            os.replace(d / "graph.partial.pb", graph)
        model = graph
        if compress:
            from hydropimd.potential.models import compress_model

            model = d / "graph-compressed.pb"
            if not model.exists():
                compress_model(graph, model, script)
        errors_file = d / "errors.json"
        if not errors_file.exists():
            from hydropimd.potential.calculator import HydridePotential
            from hydropimd.potential.testing import test_model

            potential = HydridePotential(model, pair=pair_model)
            report = test_model(potential, [s for p in (full_test if pair_model else test) for s in find_systems(p)])
            write_json_atomic(errors_file, report)
        report = json.loads(errors_file.read_text())
        members.append({"member": k, "model": str(model), "seed": BASE_SEED + 1000 * k, "steps": _last_step(d / "lcurve.out"),
                        **{key: report[key] for key in ("energy_rmse_per_atom_ev", "force_rmse_ev_per_angstrom",
                                                        "virial_rmse_per_atom_ev", "n_frames")}})
    summary = {"out": str(out), "pair": str(pair) if pair else None, "train_systems": len(train),
               "test_systems": len(test), "members": members}
    (out / "committee.json").write_text(json.dumps(summary, indent=1))
    return summary
