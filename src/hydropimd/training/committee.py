"""Training a committee of Deep Potentials with DeePMD-kit's own entry points.

Each member differs only in its seeds (docs/theory/active-learning.md).  For each one this
module writes the training script (:mod:`hydropimd.training.config`), runs
``dp train`` (``--restart`` from the member's checkpoint when a previous attempt
was killed), ``dp freeze`` and optionally ``dp compress``, then records the
member's errors on the held-out DeePMD-kit 1.x test split with
:func:`hydropimd.potential.testing.model_test_errors`.  Nothing of the training loop is
re-implemented.  Given full labels and a pair table, the members learn the
subtracted targets (full - pair, docs/theory/potential.md) and are tested with the table
added back.  A published root given as data (a folder holding data/full and
data/subtracted) means its data/full.

Every argument is checked before anything is written.  ``work.json`` records what
defines the work (data, the pair table's digest, the DeePMD-kit overrides, committee
size, seeds) and the steps asked for: a call with other inputs is refused, the same
call again trains nothing, and a larger ``steps`` continues every member from its last
checkpoint (the learning rate then follows the longer schedule).

Output folder::

    work.json                what defines the work, and the steps trained to
    data/train, data/test    the DeePMD-kit 1.x split as symbolic links (of data/subtracted-K, full - pair, with a pair table)
    member-K/input.json      the member's training script
    member-K/graph.pb        frozen model (graph-compressed.pb with compression)
    member-K/errors.json     test-split errors
    committee.json           summary
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from hydropimd.data.systems import find_systems, link_split, verify_systems
from hydropimd.errors import InputError, RunFailed
from hydropimd.files import error_line, write_json_atomic
from hydropimd.training.config import load_overrides, training_script

BASE_SEED = 20220815
WORK_FILE = "work.json"


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
    if process.returncode < 0:  # killed by a signal (out of memory, a walltime, a user): the same run may succeed
        raise RunFailed(f"{what} was killed by signal {-process.returncode}; read {log}", retryable=True)
    if process.returncode != 0:  # DeePMD-kit stopped on its own: it would stop again on the same input
        raise RunFailed(f"{what} failed: {error_line(Path(log).read_text(errors='replace'))} (exit status "
                        f"{process.returncode}; read {log})")


def data_folder(path: str | os.PathLike) -> Path:
    """``path``, or its ``data/full`` when it is a published root (a folder holding data/full and data/subtracted).

    A root's two label kinds together would mix full and subtracted targets.  Full labels are what a
    pair table expects (the targets become full - pair here) and what a model without a table learns.
    """
    path = Path(path)
    if (path / "data" / "full").is_dir() and (path / "data" / "subtracted").is_dir():
        return path / "data" / "full"
    return path


def _last_checkpoint(member: Path) -> tuple[str, int] | None:
    """The member's newest whole checkpoint, as (prefix, step), or None.

    TensorFlow's saver writes the variables, then the ``checkpoint`` list, then the ``.meta`` graph; DeePMD-kit
    then re-points the ``model.ckpt.*`` links one by one.  A kill between those steps leaves a listed checkpoint
    without its graph, or links into two steps: restarting from ``model.ckpt`` then fails ("File does not exist
    ...model.ckpt.meta", met by a kill right after the first save).  So the restart names the newest listed
    prefix whose files are all there.  The list's paths are taken relative to the member (it may have moved).
    """
    try:
        text = (member / "checkpoint").read_text()
    except FileNotFoundError:
        return None
    listed = re.findall(r'^all_model_checkpoint_paths: "(?:.*/)?([^/"]*-(\d+))"', text, re.M)
    for prefix, step in reversed(listed):
        if (member / f"{prefix}.meta").exists() and (member / f"{prefix}.index").exists():
            return prefix, int(step)
    return None


def _trained_steps(member: Path) -> int:
    """The step of the member's last whole checkpoint (0 when there is none)."""
    last = _last_checkpoint(member)
    return last[1] if last else 0


def _check_work(out: Path, identity: dict, total: int) -> None:
    """Refuse an ``out`` holding other work, or asked for fewer steps than it trained; then record this work."""
    record = out / WORK_FILE
    identity = json.loads(json.dumps(identity, default=str))
    if record.exists():
        try:
            stored = json.loads(record.read_text())
        except ValueError:
            raise InputError(f"{record} is not readable JSON; use another --out") from None
        changed = [key for key in identity if stored.get("identity", {}).get(key) != identity[key]]
        if changed:
            raise InputError(f"{out} holds a committee trained with other {', '.join(changed)}; use another --out")
        if total < stored["steps"]:
            raise InputError(f"{out} holds a committee trained for {stored['steps']} steps, more than {total}; "
                             f"give --steps {stored['steps']} or more (a larger number continues it), or another --out")
    elif out.is_dir() and any(out.iterdir()):
        raise InputError(f"{out} is not empty but holds no {WORK_FILE} of a 'train' run; use a new or empty --out")
    write_json_atomic(record, {"identity": identity, "steps": total})


def _member_script(train: list[str], seed: int, steps: int | None, overrides: dict) -> dict:
    script = training_script(train, seed=seed, steps=steps, overrides=overrides)
    total = script["training"]["numb_steps"]
    # DeePMD-kit 3.2's TF trainer saves checkpoints only on display steps (its save test sits inside the
    # display branch) and skips the final save when the last step is a multiple of save_freq: keep
    # save_freq a multiple of disp_freq, both small enough for short runs to leave a checkpoint
    disp = min(script["training"]["disp_freq"], max(total // 10, 1))
    script["training"]["disp_freq"] = disp
    script["training"]["save_freq"] = max(disp, min(script["training"]["save_freq"], max(total // 10, 1)) // disp * disp)
    return script


def _prepare_data(sources: list[Path], whole: list[Path], out: Path, pair) -> tuple[list[str], list[str], list[str]]:
    """Training and test systems (symbolic-link splits) and the test systems with full labels (for testing with a pair).

    ``whole``: data sets trained on with all their sets (no held-out split).
    """
    originals = [*sources, *whole]
    targets = originals
    if pair is not None:
        from hydropimd.pair.convert import convert_dataset

        targets = []
        for k, d in enumerate(originals):
            subtracted = out / "data" / f"subtracted-{k}"
            if not subtracted.exists():  # converted whole or not at all; the table is part of work.json
                convert_dataset(d, subtracted, pair, "remove")
            targets.append(subtracted)
    train, test, full_test = [], [], []
    for k, (target, source) in enumerate(zip(targets, originals)):
        held_out = k < len(sources)
        train += [str(p) for p in link_split(target, "train" if held_out else "all", out / "data" / "train" / str(k))]
        if held_out:
            test += [str(p) for p in link_split(target, "test", out / "data" / "test" / str(k))]
            full_test += [str(p) for p in link_split(source, "test", out / "data" / "test-full" / str(k))]
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
    train_only: Sequence[str | os.PathLike] = (),
) -> dict:
    """Train (or finish, or continue to more ``steps``) ``committee`` models on the training split of ``data``.

    ``train_only``: more data sets trained on whole (every set, none held out).  Every
    argument is checked before anything is written; an ``out`` made with other data, table,
    configuration or committee is refused (:class:`InputError`).  A ``dp train`` or ``dp freeze``
    that fails raises :class:`RunFailed`, retryable when the process was killed (the next call
    continues from the member's checkpoint).  Returns a JSON-ready summary.
    """
    if committee < 1:
        raise InputError(f"--committee {committee} must be at least 1")
    if steps is not None and steps < 1:
        raise InputError(f"--steps {steps} must be positive")
    overrides = load_overrides(config)
    sources, whole = [data_folder(d) for d in data], [data_folder(d) for d in train_only]
    # a missing, malformed or NaN-holding data set fails here, before anything is written
    training_frames = sum(s.split_frames("train") for d in sources for s in verify_systems(d))
    training_frames += sum(s.split_frames("all") for d in whole for s in verify_systems(d))
    if not training_frames:  # checked before work.json is written: a refusal leaves no record that blocks the retry
        raise InputError("the data hold no training frames (every system has a single set, which is held out for "
                         "testing); add frames so that each system has two sets or more")
    pair_model = None
    if pair is not None:
        from hydropimd.pair.baseline import PairBaseline

        pair_model = PairBaseline.from_file(pair)
    # the configuration is checked by DeePMD-kit now (with the source paths); numb_steps after --steps
    total = training_script([str(d) for d in sources], BASE_SEED, steps, overrides)["training"]["numb_steps"]
    seeds = [BASE_SEED + 1000 * k for k in range(committee)]
    out = Path(out).resolve()
    _check_work(out, {"data": [str(d.resolve()) for d in sources], "train-only data": [str(d.resolve()) for d in whole],
                      "pair table": hashlib.sha256(Path(pair).read_bytes()).hexdigest() if pair else None,
                      "training config": overrides, "committee size": committee, "seeds": seeds}, total)
    train, test, full_test = _prepare_data(sources, whole, out, pair_model)
    members = []
    for k, seed in enumerate(seeds):
        d = out / f"member-{k}"
        script = _member_script(train, seed, steps, overrides)
        graph = d / "graph.pb"
        if graph.exists() and _trained_steps(d) < total:  # a longer run: continued from the last checkpoint
            for stale in (d / "errors.json", d / "graph-compressed.pb", graph):  # the graph last: a kill here repeats this
                stale.unlink(missing_ok=True)
        if not graph.exists():
            d.mkdir(exist_ok=True)
            write_json_atomic(d / "input.json", script)
            last = _last_checkpoint(d)
            restart = ["--restart", last[0]] if last else []
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
            from hydropimd.potential.testing import model_test_errors

            potential = HydridePotential(model, pair=pair_model)
            report = model_test_errors(potential, [s for p in (full_test if pair_model else test) for s in find_systems(p)])
            write_json_atomic(errors_file, report)
        report = json.loads(errors_file.read_text())
        members.append({"member": k, "model": str(model), "seed": seed, "steps": _trained_steps(d),
                        **{key: report[key] for key in ("energy_rmse_per_atom_ev", "force_rmse_ev_per_angstrom",
                                                        "virial_rmse_per_atom_ev", "n_frames")}})
    summary = {"out": str(out), "pair": str(pair) if pair else None, "train_systems": len(train),
               "test_systems": len(test), "members": members}
    write_json_atomic(out / "committee.json", summary)
    return summary
