"""DFT labels for a list of structures, appended to a DeePMD npy data set (docs/theory/potential.md).

Each structure gets one pw.x SCF (:mod:`hydropimd.dft.pwx`) at the study's settings
(:class:`~hydropimd.dft.settings.DFTSettings`); its energy (eV), forces (eV/A) and
virial (eV, -stress x volume) go to ``OUT/full/<system>/set.NNN`` and, with a pair
table, full minus the pair term to ``OUT/subtracted/<system>/set.NNN`` (the layout of
the published data, shared with the reference labeller through
:mod:`hydropimd.data.writer`).  A system is one composition and size, named by its formula
(``La4H40``); atoms are stored in type order (``type_map``; by default the structures'
elements by atomic number, H last: La = 0, H = 1 for LaH10).

Bookkeeping, all inside ``OUT``:

* ``records/<key>.json``: one file per structure, written atomically when its run
  ends, keyed by a hash of the structure and the settings: ``done`` (with its
  labels), ``unconverged``, ``crashed`` or ``killed`` (with the reason and pw.x's
  output file).  This is the durable record; everything else is rebuilt from it.
  One call reads each record once (:class:`LabelStore` keeps them in memory and
  updates them as it writes).
* ``set.NNN`` folders are rewritten atomically from the ``done`` records after every
  structure, so a killed labeller or a killed pw.x never leaves a partial frame.
  One call of :func:`label_structures` (a *batch*: its list of structures) fills one new
  set per system; a relaunch of the same list continues that set.
* ``labels.json``: every record without arrays (status, reason, energy per atom,
  pressure), for people and scripts.
* ``scratch/<key>/``: the pw.x run; deleted after a success, kept after a failure.

A relaunch skips ``done`` structures and, unless ``retry_failed``, unconverged ones
(they fail again with the same settings); crashed and killed runs are retried.  When
a call labelled nothing and skipped nothing, and one of its structures failed otherwise
than by not converging (a crash or a kill; with ``fail_when_none_labelled``, also pw.x's
own error), the call raises :class:`~hydropimd.errors.RunFailed` with the first such
failure (retryable for crashes and kills).
``settings.json`` fixes the settings (and pair table) of ``OUT``: labels made with
different settings never share a data set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from ase import Atoms

from hydropimd.data import writer
from hydropimd.data.systems import Frames
from hydropimd.dft.memory import MemoryEstimate, plan_parallel, read_species
from hydropimd.dft.pseudo import check_pseudopotentials, pseudo_dir as locate_pseudo_dir
from hydropimd.dft.pwx import PWFailure, find_pw, launcher, run_pw
from hydropimd.dft.settings import DFTSettings, load_settings
from hydropimd.errors import InputError, RunFailed
from hydropimd.files import lock_directory, write_json_atomic
from hydropimd.structures import read_structures, structure_problem

#: failures retried by a relaunch (a crash or a kill of unknown cause, not pw.x's verdict on the structure)
RETRIED = ("crashed", "killed")
#: the end of the error for an element outside the type map
TYPE_MAP_FIX = "add them to type_map in the --config file"


def structure_key(atoms: Atoms, settings: DFTSettings) -> str:
    """The identity of a label: :func:`hydropimd.data.writer.frame_key` of the (type-ordered) structure and the settings."""
    return writer.frame_key(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array, salt=settings.digest())


def earlier_structure_key(atoms: Atoms, settings: DFTSettings) -> str:
    """The identity versions before :mod:`hydropimd.data.writer` gave a label (-0.0 and 0.0 hashed apart), so that
    labels they made are found again instead of being computed twice."""
    h = hashlib.sha256()
    h.update(" ".join(atoms.get_chemical_symbols()).encode())
    h.update(np.round(np.asarray(atoms.positions, dtype=float), writer.KEY_DECIMALS).tobytes())
    h.update(np.round(np.asarray(atoms.cell.array, dtype=float), writer.KEY_DECIMALS).tobytes())
    h.update(settings.digest().encode())
    return h.hexdigest()[:20]


def _known_key(store: "LabelStore", job: "_Job", settings: DFTSettings) -> "_Job":
    """``job`` under the key its label already has in ``store``: today's, else an earlier version's."""
    if store.record(job.key) is None:
        earlier = earlier_structure_key(job.atoms, settings)
        if earlier != job.key and store.record(earlier) is not None:
            return dataclasses.replace(job, key=earlier)
    return job


class LabelStore:
    """The ``OUT`` folder: records, settings, sets.

    Records are read from disk once, on first use, and kept in memory; :meth:`save_record`
    writes a record and updates that copy (the folder is locked while a call labels).
    """

    def __init__(self, out: Path):
        self.out = Path(out).resolve()
        self.records_dir = self.out / "records"
        self.scratch_dir = self.out / "scratch"
        self._records: dict[str, dict] | None = None

    def lock(self):
        return lock_directory(self.out, f"{self.out} is being labelled by another process; wait for it or use another --out")

    def check_settings(self, settings: DFTSettings, pair_info: dict | None) -> None:
        path = self.out / "settings.json"
        current = {"settings": settings.as_dict(), "digest": settings.digest(), "pair": pair_info}
        if path.exists():
            previous = json.loads(path.read_text())
            if previous.get("digest") != current["digest"]:
                raise InputError(f"{self.out} holds labels made with other DFT settings ({path}); use another --out")
            old_pair = previous.get("pair")
            if old_pair and pair_info and old_pair["sha256"] != pair_info["sha256"]:
                raise InputError(f"{self.out} was labelled with another pair table ({old_pair['path']}); use another --out")
            if old_pair and not pair_info:
                raise InputError(f"{self.out} keeps a subtracted twin made with {old_pair['path']}; give --pair with it")
            if list(previous["settings"].get("type_map", [])) != list(settings.type_map):
                raise InputError(f"{self.out} uses type_map {previous['settings']['type_map']}; keep it")
            if pair_info and not old_pair:
                write_json_atomic(path, current)
            return
        self.records_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, current)

    # ------------------------------------------------------------ records
    def _cache(self) -> dict[str, dict]:
        if self._records is None:
            self._records = {}
            for path in sorted(self.records_dir.glob("*.json")):
                try:
                    self._records[path.stem] = json.loads(path.read_text())
                except ValueError:  # cannot happen with atomic writes; treat as not done
                    continue
        return self._records

    def record(self, key: str) -> dict | None:
        return self._cache().get(key)

    def save_record(self, record: dict) -> None:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.records_dir / f"{record['key']}.json", record)
        # the cache holds what a reader of the file would get
        self._cache()[record["key"]] = json.loads(json.dumps(record, default=str))

    def all_records(self) -> list[dict]:
        return sorted(self._cache().values(), key=lambda r: (r.get("finished", 0), r["key"]))

    # ------------------------------------------------------------ sets
    def system_dir(self, system: str, kind: str = "full") -> Path:
        return writer.system_dir(self.out, system, kind)

    def next_set(self, system: str) -> str:
        """A new set of ``system``: after those on disk and those the records were assigned (written or not)."""
        recorded = [writer.set_index(r["set"]) for r in self._cache().values() if r.get("system") == system and r.get("set")]
        return writer.next_set(self.system_dir(system), used=[i for i in recorded if i is not None])

    def rebuild_set(self, system: str, set_name: str, type_map: tuple, pair=None) -> int:
        """Rewrite ``full`` (and ``subtracted``) ``system/set_name`` from the done records; returns its frame count."""
        done = [r for r in self.all_records() if r["status"] == "done" and r["system"] == system and r["set"] == set_name]
        if not done:
            return 0
        frames = Frames(
            list(done[0]["symbols"]),
            np.array([r["coords_angstrom"] for r in done]),
            np.array([r["cell_angstrom"] for r in done]),
            np.array([r["energy_ev"] for r in done]),
            np.array([r["forces_ev_per_angstrom"] for r in done]),
            np.array([r["virial_ev"] for r in done]),
        )
        writer.write_system_set(self.system_dir(system, "full"), set_name, frames, type_map)
        if pair is not None:
            term = pair.compute_batch(frames.coords, frames.cells, frames.symbols)
            subtracted = Frames(frames.symbols, frames.coords, frames.cells, frames.energy - term.energy,
                                frames.forces - term.forces, frames.virial - term.virial)
            writer.write_system_set(self.system_dir(system, "subtracted"), set_name, subtracted, type_map)
        return len(done)

    def set_missing(self, system: str, set_name: str, with_pair: bool) -> bool:
        """Whether a recorded set is absent on disk (its full folder, or its subtracted twin when a pair is given)."""
        kinds = ("full", "subtracted") if with_pair else ("full",)
        return not all((self.system_dir(system, kind) / set_name).is_dir() for kind in kinds)

    def write_log(self) -> None:
        arrays = ("coords_angstrom", "cell_angstrom", "forces_ev_per_angstrom", "virial_ev", "symbols", "input_order")
        write_json_atomic(self.out / "labels.json", [{k: v for k, v in r.items() if k not in arrays} for r in self.all_records()])


def _pair_info(pair: str | os.PathLike | None, elements: list[str]):
    """The pair baseline and its identity (path, sha256), checked to cover ``elements``; (None, None) without one."""
    if pair is None:
        return None, None
    from hydropimd.pair.baseline import PairBaseline

    baseline = PairBaseline.from_file(pair)
    missing = sorted(set(elements) - baseline.elements)
    if missing:
        raise InputError(f"pair table {pair} has no terms for {', '.join(missing)}")
    digest = hashlib.sha256(Path(pair).read_bytes()).hexdigest()
    return baseline, {"path": str(Path(pair).resolve()), "sha256": digest}


# ---------------------------------------------------------------- one call
@dataclass
class _Job:
    """One structure of a call, type-ordered, with its identity, system and pw.x parallel plan."""

    index: int
    atoms: Atoms
    order: np.ndarray
    key: str
    system: str
    plan: MemoryEstimate


@dataclass
class _Run:
    """What one call of :func:`label_structures` labels with, and where."""

    store: LabelStore
    settings: DFTSettings
    pseudo_folder: Path
    baseline: object | None  # hydropimd.pair.baseline.PairBaseline
    mpi: int
    retry_failed: bool
    fail_when_none_labelled: bool
    progress: Callable[[int, int], None] | None


@dataclass
class _Tally:
    """The outcome of a call so far: counts, one row per structure, sets to bring up to date, the first crash."""

    counts: dict = field(default_factory=lambda: {"done": 0, "skipped": 0, "failed": 0})
    rows: list = field(default_factory=list)
    touched: set = field(default_factory=set)
    first_crash: PWFailure | None = None


def label_structures(
    structures: str | os.PathLike | Iterable[Atoms],
    out: str | os.PathLike,
    config: str | os.PathLike | dict | DFTSettings | None = None,
    pair: str | os.PathLike | None = None,
    mpi: int = 1,
    pools: int | None = None,
    pseudo_dir: str | os.PathLike | None = None,
    retry_failed: bool = False,
    max_memory_gb: float | None = None,
    fail_when_none_labelled: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Label ``structures`` (a file or Atoms) with pw.x into the data set ``out``; returns a JSON-ready summary.

    ``config``: DFT settings (file, dict or :class:`DFTSettings`; default the study's).
    ``pair``: a LAMMPS pair table with the published sections; adds the subtracted twin.
    ``mpi``: pw.x MPI ranks; ``pools``: k-point pools (default: the most that fit in memory).
    ``max_memory_gb``: the memory pw.x may use (default: what the machine has available now);
    a structure whose estimate exceeds it is refused before anything runs.
    ``fail_when_none_labelled``: raise :class:`RunFailed` when pw.x failed on every structure
    of the call (default, for the command line); without it only unexplained crashes and
    kills raise (the active-learning loop: a near-unphysical frame that pw.x rejects is a
    recorded failure, not a reason to stop the loop).

    Everything that can be checked is checked before the first pw.x starts: pw.x, the
    pseudopotentials of every element, the type map, the pair table, the memory.
    """
    settings = config if isinstance(config, DFTSettings) else load_settings(config)
    frames = read_structures(structures)
    if not frames:
        raise InputError("no structures to label")
    for k, atoms in enumerate(frames):
        writer.check_crystal(atoms, k)
    refused = _refused_structures(frames, fail_when_none_labelled)
    kept = [k for k in range(len(frames)) if k not in refused]  # rows keep the input's indices
    frames = [frames[k] for k in kept]
    if not frames:
        return _nothing_labelled(out, settings, refused)
    find_pw()
    folder = locate_pseudo_dir(pseudo_dir)
    elements = sorted({s for a in frames for s in a.get_chemical_symbols()})
    # no type map in the settings: the one OUT was written with, else the structures' (DFTSettings.with_type_map)
    settings = settings.with_type_map(elements, types=_written_type_map(Path(out)))
    files = check_pseudopotentials(folder, {e: settings.pseudopotential(e, folder) for e in elements}, settings.functional)
    species = {e: read_species(p) for e, p in files.items()}
    ordered = [writer.sort_by_type(a, settings.type_map, fix=TYPE_MAP_FIX) for a in frames]
    baseline, pair_info = _pair_info(pair, elements)
    jobs = []
    for k, structure in zip(kept, ordered):
        atoms = structure.atoms()
        jobs.append(_Job(k, atoms, structure.order, structure_key(atoms, settings),
                         writer.system_name(structure.symbols, settings.type_map),
                         plan_parallel(atoms, settings, species, mpi, pools, max_memory_gb)))
    store = LabelStore(Path(out))
    lock = store.lock()
    try:
        store.check_settings(settings, pair_info)
        jobs = [_known_key(store, job, settings) for job in jobs]
        run = _Run(store, settings, folder, baseline, mpi, retry_failed, fail_when_none_labelled, progress)
        return _with_refused(_label(run, jobs), refused)
    finally:
        lock.close()


def _refused_structures(frames: list[Atoms], fail: bool) -> dict[int, str]:
    """Structures no DFT label should be made of (NaN, atoms closer than :func:`structure_problem` allows), by
    index: an error for the command line (``fail``), a recorded refusal for the active-learning loop (an
    exploration frame gone bad is not a reason to stop the loop)."""
    refused = {k: problem for k, atoms in enumerate(frames) if (problem := structure_problem(atoms))}
    if refused and fail:
        k = min(refused)
        raise InputError(f"structure {k}: {refused[k]}; its DFT label would be unphysical: remove it "
                         f"({len(refused)} of {len(frames)} structures are refused)")
    return refused


def _with_refused(summary: dict, refused: dict[int, str]) -> dict:
    """The summary with refused structures counted as failed and listed (status ``refused``, with the reason)."""
    summary["failed"] += len(refused)
    summary["refused"] = len(refused)
    summary["structures"] += [_row(k, {"status": "refused", "reason": reason}) for k, reason in sorted(refused.items())]
    return summary


def _nothing_labelled(out, settings: DFTSettings, refused: dict[int, str]) -> dict:
    """The summary of a call whose every structure was refused (the loop's case; the command line raised)."""
    summary = {"out": str(Path(out).resolve()), "n_structures": 0, "labelled": 0, "skipped": 0, "failed": 0,
               "systems": [], "subtracted_systems": [], "sets": {}, "settings": settings.as_dict(), "structures": []}
    return _with_refused(summary, refused)


def _written_type_map(out: Path) -> list[str]:
    """The type map of the labels already in ``out`` (its settings.json), or []."""
    try:
        return list(json.loads((out / "settings.json").read_text())["settings"].get("type_map") or [])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def _label(run: _Run, jobs: list[_Job]) -> dict:
    """Run pw.x on every job not labelled before, rebuild the sets, return the summary (or raise :class:`RunFailed`)."""
    store = run.store
    # the batch: this list of structures; a relaunch of it continues its sets
    batch = hashlib.sha256(" ".join(job.key for job in jobs).encode()).hexdigest()[:16]
    set_of = _batch_sets(store, batch, [job.system for job in jobs])
    tally = _Tally(touched=_rebuild_missing(run))
    for done, job in enumerate(jobs):
        if run.progress:
            run.progress(done, len(jobs))
        _label_one(run, job, batch, set_of[job.system], tally)
    for system, set_name in tally.touched:  # idempotent: brings a set up to date after an interrupted rebuild
        store.rebuild_set(system, set_name, run.settings.type_map, run.baseline)
    store.write_log()
    if run.progress:
        run.progress(len(jobs), len(jobs))
    crash = tally.first_crash
    if crash is not None and tally.counts["done"] == 0 and tally.counts["skipped"] == 0:
        raise RunFailed(str(crash), retryable=crash.outcome in RETRIED) from None
    return _summary(run, jobs, set_of, tally)


def _batch_sets(store: LabelStore, batch: str, systems: list[str]) -> dict[str, str]:
    """The set each system's structures of this batch go to: the one they went to before (a relaunch), else a new one."""
    set_of: dict[str, str] = {}
    for record in store.all_records():
        if record.get("batch") == batch:
            set_of.setdefault(record["system"], record["set"])
    for system in systems:
        if system not in set_of:
            set_of[system] = store.next_set(system)
    return set_of


def _rebuild_missing(run: _Run) -> set[tuple[str, str]]:
    """Rebuild every recorded set whose folder is missing: a kill while a set was rewritten, or a pair table given
    now for labels made without one (their subtracted twin).  Returns the sets rebuilt."""
    store = run.store
    missing = {(r["system"], r["set"]) for r in store.all_records()
               if r["status"] == "done" and store.set_missing(r["system"], r["set"], run.baseline is not None)}
    for system, set_name in missing:
        store.rebuild_set(system, set_name, run.settings.type_map, run.baseline)
    return missing


def _label_one(run: _Run, job: _Job, batch: str, set_name: str, tally: _Tally) -> None:
    """Skip a structure labelled (or failed for good) before, or run pw.x on it and record the outcome."""
    store = run.store
    previous = store.record(job.key)
    if previous and (previous["status"] == "done" or (previous["status"] not in RETRIED and not run.retry_failed)):
        # a structure that failed before (and is not retried) is still a failure of this data set
        done = previous["status"] == "done"
        tally.counts["skipped" if done else "failed"] += 1
        tally.rows.append(_row(job.index, previous, skipped=True))
        if done:
            tally.touched.add((previous["system"], previous["set"]))
        return
    scratch = store.scratch_dir / job.key
    shutil.rmtree(scratch, ignore_errors=True)
    record = {"key": job.key, "batch": batch, "index": job.index, "system": job.system, "set": set_name,
              "natoms": len(job.atoms), "mpi": run.mpi, "pools": job.plan.pools,
              "memory_estimate_gb": round(job.plan.total_gb, 3)}
    try:
        result = run_pw(job.atoms, run.settings, scratch, run.pseudo_folder, mpi=run.mpi, pools=job.plan.pools)
    except PWFailure as failure:
        record.update(status=failure.outcome, reason=str(failure), output=str(failure.output), finished=time.time())
        store.save_record(record)
        tally.counts["failed"] += 1
        # pw.x's own errors belong to the structure; unexplained crashes may mean pw.x itself is broken
        if (run.fail_when_none_labelled or failure.outcome in RETRIED) and failure.outcome != "unconverged" \
                and tally.first_crash is None:
            tally.first_crash = failure
    else:
        record.update(_done_fields(job, result))
        store.save_record(record)
        shutil.rmtree(scratch, ignore_errors=True)
        store.rebuild_set(job.system, set_name, run.settings.type_map, run.baseline)
        tally.touched.add((job.system, set_name))
        tally.counts["done"] += 1
    store.write_log()
    tally.rows.append(_row(job.index, record))


def _done_fields(job: _Job, result) -> dict:
    """The record of a finished SCF: its labels (type-ordered atoms) and what pw.x reported."""
    atoms = job.atoms
    return dict(
        status="done", finished=time.time(), energy_ev=result.energy_ev,
        energy_per_atom_ev=result.energy_ev / len(atoms), pressure_gpa=result.pressure_gpa,
        max_force_ev_per_angstrom=float(np.abs(result.forces_ev_per_angstrom).max()),
        iterations=result.iterations, n_kpoints=result.n_kpoints, kpoint_grid=list(result.kpoint_grid),
        wall_seconds=result.wall_seconds, pw_version=result.version, **result.extra, symbols=atoms.get_chemical_symbols(),
        input_order=job.order.tolist(), coords_angstrom=atoms.positions.tolist(), cell_angstrom=atoms.cell.array.tolist(),
        forces_ev_per_angstrom=result.forces_ev_per_angstrom.tolist(), virial_ev=result.virial_ev.tolist(),
    )


def _summary(run: _Run, jobs: list[_Job], set_of: dict[str, str], tally: _Tally) -> dict:
    store = run.store
    written = sorted({system for system, _ in tally.touched})
    return {
        "out": str(store.out),
        "n_structures": len(jobs),
        "labelled": tally.counts["done"],
        "skipped": tally.counts["skipped"],
        "failed": tally.counts["failed"],
        # system folders holding this batch's labels (the active-learning loop trains on these)
        "systems": [str(store.system_dir(s, "full")) for s in written],
        "subtracted_systems": [str(store.system_dir(s, "subtracted")) for s in written] if run.baseline is not None else [],
        "sets": {s: {"set": set_of[s], "frames": sum(1 for r in tally.rows if r["system"] == s and r["status"] == "done")}
                 for s in sorted({job.system for job in jobs})},
        "settings": run.settings.as_dict(),
        "structures": tally.rows,
    }


def _row(index: int, record: dict, skipped: bool = False) -> dict:
    keys = ("key", "system", "set", "status", "natoms", "energy_per_atom_ev", "pressure_gpa", "max_force_ev_per_angstrom",
            "iterations", "wall_seconds", "reason", "output")
    row = {"index": index, **{k: record.get(k) for k in keys}}
    row["skipped"] = skipped
    return row


class DFTLabeller:
    """pw.x labels for the active-learning loop: ``label(structures, out)`` appends them to the data set ``out``.

    Satisfies the ``hydropimd.active.labeller.Labeller`` protocol by its method alone (this
    package does not import the active-learning one).  ``settings``: a :class:`DFTSettings`,
    a settings file or dict (default: the study's); ``pseudo_dir``: the UPF folder (default:
    the location rule of :func:`hydropimd.dft.pseudo.pseudo_dir`); ``pair``: a pair table,
    which adds the subtracted twin; ``mpi``: pw.x ranks.  The remaining keywords are those of
    :func:`label_structures`.
    """

    def __init__(self, settings: DFTSettings | str | os.PathLike | dict | None = None,
                 pseudo_dir: str | os.PathLike | None = None, pair: str | os.PathLike | None = None, mpi: int = 1, *,
                 pools: int | None = None, max_memory_gb: float | None = None, retry_failed: bool = False,
                 progress: Callable[[int, int], None] | None = None):
        # settings are checked now, so that a bad configuration fails before the loop's first exploration
        self.settings = settings if isinstance(settings, DFTSettings) else load_settings(settings)
        self.pseudo_dir = pseudo_dir
        self.pair = pair
        self.mpi = int(mpi)
        self.pools = pools
        self.max_memory_gb = max_memory_gb
        self.retry_failed = retry_failed
        self.progress = progress

    def label(self, structures: list[Atoms], out: Path) -> dict:
        """Label ``structures`` into the data set at ``out``; the summary of :func:`label_structures`.

        Keys the loop relies on: ``labelled``, ``failed``, ``skipped`` (ints) and ``systems``
        (the full-label system folders holding these structures' labels).
        """
        structures = list(structures)
        if not structures:
            return _nothing_labelled(out, self.settings, {})
        return label_structures(structures, out, config=self.settings, pair=self.pair, mpi=self.mpi, pools=self.pools,
                                pseudo_dir=self.pseudo_dir, retry_failed=self.retry_failed,
                                max_memory_gb=self.max_memory_gb, progress=self.progress, fail_when_none_labelled=False)


#: flags of 'hydropimd label' that the checks' errors name, and the loop config keys that stand for them
_LOOP_KEYS = (("--pseudo-dir", "labeller.pseudo_dir"), ("--mpi", "labeller.mpi"), ("--config", "labeller.settings"))


def loop_labeller(table, pair: str | os.PathLike | None = None, type_map=None) -> DFTLabeller:
    """The DFT labeller of an active-learning loop's ``[labeller]`` table, checked now.

    ``table``: the table (``hydropimd.active.loop.LabellerConfig``, or a dict) with
    ``settings`` (a DFT settings file; default the study's), ``pseudo_dir`` and ``mpi``;
    ``pair``: the loop's ``data.pair`` (adds the subtracted twin); ``type_map``: the loop's
    types (default: the settings').  pw.x, mpirun (more than one rank) and the
    pseudopotential of every type are checked before the loop's first stage: only the
    label stage uses them, days of training and exploration later.  Errors are
    :class:`InputError` naming the config's keys (``labeller.pseudo_dir``), not the flags
    of ``hydropimd label``.
    """
    def get(key, default=None):
        value = table.get(key) if isinstance(table, dict) else getattr(table, key, None)
        return default if value is None else value

    try:
        settings = load_settings(get("settings"))
        mpi = int(get("mpi", 1))
        find_pw()
        launcher(mpi, 1)
        folder = locate_pseudo_dir(get("pseudo_dir"))
        settings = settings.with_type_map(types=type_map)  # no type map in the settings: the loop's, in its order
        types = list(type_map or settings.type_map)
        check_pseudopotentials(folder, {e: settings.pseudopotential(e, folder) for e in types}, settings.functional)
    except InputError as err:
        message = str(err)
        for flag, key in _LOOP_KEYS:
            message = message.replace(flag, key)
        raise InputError(f"DFT labeller: {message}") from None
    return DFTLabeller(settings=settings, pseudo_dir=get("pseudo_dir"), pair=pair, mpi=mpi)
