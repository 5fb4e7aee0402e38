"""DFT labels for a list of structures, appended to a DeePMD npy data set (SPEC section 2).

Each structure gets one pw.x SCF (:mod:`hydropimd.dft.pwx`) at the study's settings
(:class:`~hydropimd.dft.settings.DFTSettings`); its energy (eV), forces (eV/A) and
virial (eV, -stress x volume) go to ``OUT/full/<system>/set.NNN`` and, with a pair
table, full minus the pair term to ``OUT/subtracted/<system>/set.NNN`` (the layout of
the published data).  A system is one composition and size, named by its formula
(``La4H40``); atoms are stored in type order (``type_map``: La = 0, H = 1 by default).

Bookkeeping, all inside ``OUT``:

* ``records/<key>.json``: one file per structure, written atomically when its run
  ends, keyed by a hash of the structure and the settings: ``done`` (with its
  labels), ``unconverged``, ``crashed`` or ``killed`` (with the reason and pw.x's
  output file).  This is the durable record; everything else is rebuilt from it.
* ``set.NNN`` folders are rewritten atomically from the ``done`` records after every
  structure, so a killed labeller or a killed pw.x never leaves a partial frame.
  One call of :func:`label_structures` (a *batch*: its list of structures) fills one new
  set per system; a relaunch of the same list continues that set.
* ``labels.json``: every record without arrays (status, reason, energy per atom,
  pressure), for people and scripts.
* ``scratch/<key>/``: the pw.x run; deleted after a success, kept after a failure.

A relaunch skips ``done`` structures and, unless ``retry_failed``, unconverged ones
(they fail again with the same settings); crashed and killed runs are retried.
``settings.json`` fixes the settings (and pair table) of ``OUT``: labels made with
different settings never share a data set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from ase import Atoms

from hydropimd.data.systems import Frames, write_set
from hydropimd.dft.memory import MemoryEstimate, plan_parallel, read_species
from hydropimd.dft.pseudo import check_pseudopotentials, pseudo_dir as locate_pseudo_dir
from hydropimd.dft.pwx import PWFailure, find_pw, run_pw
from hydropimd.dft.settings import DFTSettings, load_settings
from hydropimd.errors import InputError
from hydropimd.files import lock_directory, write_json_atomic
from hydropimd.structures import read_structures

RETRIED = ("crashed", "killed")


def structure_key(atoms: Atoms, settings: DFTSettings) -> str:
    """Hash of symbols, positions and cell (to 1e-6 A) and the settings: the identity of a label."""
    h = hashlib.sha256()
    h.update(" ".join(atoms.get_chemical_symbols()).encode())
    h.update(np.round(np.asarray(atoms.positions, dtype=float), 6).tobytes())
    h.update(np.round(np.asarray(atoms.cell.array, dtype=float), 6).tobytes())
    h.update(settings.digest().encode())
    return h.hexdigest()[:20]


def system_name(symbols: list[str], type_map: tuple) -> str:
    counts = {e: symbols.count(e) for e in type_map if e in symbols}
    return "".join(f"{e}{n}" for e, n in counts.items())


def _sorted_by_type(atoms: Atoms, type_map: tuple) -> tuple[Atoms, np.ndarray]:
    """The structure with atoms in type order (stable), and that order (input indices)."""
    symbols = atoms.get_chemical_symbols()
    missing = sorted(set(symbols) - set(type_map))
    if missing:
        raise InputError(f"element(s) {', '.join(missing)} are not in the type map {list(type_map)}; "
                         "add them to type_map in the --config file")
    order = np.argsort([type_map.index(s) for s in symbols], kind="stable")
    sorted_atoms = Atoms(symbols=[symbols[i] for i in order], positions=atoms.positions[order], cell=atoms.cell.array,
                         pbc=True)
    return sorted_atoms, order


class LabelStore:
    """The ``OUT`` folder: records, settings, sets."""

    def __init__(self, out: Path):
        self.out = Path(out).resolve()
        self.records_dir = self.out / "records"
        self.scratch_dir = self.out / "scratch"

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

    def record(self, key: str) -> dict | None:
        path = self.records_dir / f"{key}.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except ValueError:  # cannot happen with atomic writes; treat as not done
            return None

    def save_record(self, record: dict) -> None:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.records_dir / f"{record['key']}.json", record)

    def all_records(self) -> list[dict]:
        records = []
        for path in sorted(self.records_dir.glob("*.json")):
            try:
                records.append(json.loads(path.read_text()))
            except ValueError:
                continue
        return sorted(records, key=lambda r: (r.get("finished", 0), r["key"]))

    def _used_sets(self, system: str) -> list[int]:
        folder = self.out / "full" / system
        used = [int(p.name.split(".")[1]) for p in folder.glob("set.*") if p.name.split(".")[1].isdigit()]
        return used + [int(r["set"].split(".")[1]) for r in self.all_records() if r.get("system") == system and r.get("set")]

    def next_set(self, system: str) -> str:
        used = self._used_sets(system)
        return f"set.{(max(used) + 1) if used else 0:03d}"

    def rebuild_set(self, system: str, set_name: str, type_map: tuple, pair=None) -> int:
        """Rewrite ``full`` (and ``subtracted``) ``system/set_name`` from the done records; returns its frame count."""
        done = [r for r in self.all_records() if r["status"] == "done" and r["system"] == system and r["set"] == set_name]
        if not done:
            return 0
        symbols = done[0]["symbols"]
        types = np.array([type_map.index(s) for s in symbols])
        frames = Frames(
            list(symbols),
            np.array([r["coords_angstrom"] for r in done]),
            np.array([r["cell_angstrom"] for r in done]),
            np.array([r["energy_ev"] for r in done]),
            np.array([r["forces_ev_per_angstrom"] for r in done]),
            np.array([r["virial_ev"] for r in done]),
        )
        targets = [("full", frames)]
        if pair is not None:
            term = pair.compute_batch(frames.coords, frames.cells, frames.symbols)
            targets.append(("subtracted", Frames(frames.symbols, frames.coords, frames.cells, frames.energy - term.energy,
                                                 frames.forces - term.forces, frames.virial - term.virial)))
        for kind, data in targets:
            folder = self.out / kind / system
            folder.mkdir(parents=True, exist_ok=True)
            for name, text in (("type.raw", "\n".join(str(t) for t in types)), ("type_map.raw", "\n".join(type_map))):
                if not (folder / name).exists():
                    tmp = folder / f"{name}.tmp"
                    tmp.write_text(text + "\n")
                    os.replace(tmp, folder / name)
            write_set(folder / set_name, data)
        return len(done)

    def write_log(self) -> None:
        arrays = ("coords_angstrom", "cell_angstrom", "forces_ev_per_angstrom", "virial_ev", "symbols", "input_order")
        write_json_atomic(self.out / "labels.json", [{k: v for k, v in r.items() if k not in arrays} for r in self.all_records()])


def _pair_info(pair: str | os.PathLike | None):
    if pair is None:
        return None, None
    from hydropimd.pair.baseline import PairBaseline

    baseline = PairBaseline.from_file(pair)
    digest = hashlib.sha256(Path(pair).read_bytes()).hexdigest()
    return baseline, {"path": str(Path(pair).resolve()), "sha256": digest}


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
    ``fail_when_none_labelled``: raise when pw.x failed on every structure of the call
    (default, for the command line); without it only unexplained crashes and kills raise
    (the active-learning loop: a near-unphysical frame that pw.x rejects is a recorded
    failure, not a reason to stop the loop).

    Everything that can be checked is checked before the first pw.x starts: pw.x, the
    pseudopotentials of every element, the type map, the pair table, the memory.
    """
    settings = config if isinstance(config, DFTSettings) else load_settings(config)
    frames = read_structures(structures)
    if not frames:
        raise InputError("no structures to label")
    for k, atoms in enumerate(frames):
        if not all(atoms.pbc) or abs(atoms.get_volume()) < 1e-6:
            raise InputError(f"structure {k} is not periodic in three dimensions; labelling needs a crystal cell")
    find_pw()
    folder = locate_pseudo_dir(pseudo_dir)
    elements = sorted({s for a in frames for s in a.get_chemical_symbols()})
    files = check_pseudopotentials(folder, {e: settings.pseudopotential(e) for e in elements}, settings.functional)
    species = {e: read_species(p) for e, p in files.items()}
    prepared = [_sorted_by_type(a, settings.type_map) for a in frames]
    baseline, pair_info = _pair_info(pair)
    if baseline is not None:
        missing = sorted(set(elements) - baseline.elements)
        if missing:
            raise InputError(f"pair table {pair} has no terms for {', '.join(missing)}")
    plans: list[MemoryEstimate] = [plan_parallel(a, settings, species, mpi, pools, max_memory_gb) for a, _ in prepared]

    store = LabelStore(Path(out))
    lock = store.lock()
    try:
        store.check_settings(settings, pair_info)
        return _label(store, frames, prepared, plans, settings, folder, baseline, mpi, retry_failed, progress,
                      fail_when_none_labelled)
    finally:
        lock.close()


def _label(store, frames, prepared, plans, settings, folder, baseline, mpi, retry_failed, progress,
           fail_when_none_labelled=True) -> dict:
    keys = [structure_key(a, settings) for a, _ in prepared]
    systems = [system_name(a.get_chemical_symbols(), settings.type_map) for a, _ in prepared]
    # the set this call fills, per system: the one its structures already went to (a relaunch), else a new one
    batch = hashlib.sha256(" ".join(keys).encode()).hexdigest()[:16]
    set_of: dict[str, str] = {}
    for record in store.all_records():
        if record.get("batch") == batch:
            set_of.setdefault(record["system"], record["set"])
    for system in systems:
        if system not in set_of:
            set_of[system] = store.next_set(system)
    summary_rows, counts = [], {"done": 0, "skipped": 0, "failed": 0}
    first_crash = None
    # every set the records hold is rebuilt if its folder is missing: a kill while a set was
    # rewritten, or a pair table given now for labels made without one (their subtracted twin)
    touched = {(r["system"], r["set"]) for r in store.all_records() if r["status"] == "done"
               and not ((store.out / "full" / r["system"] / r["set"]).is_dir()
                        and (baseline is None or (store.out / "subtracted" / r["system"] / r["set"]).is_dir()))}
    for system, set_name in touched:
        store.rebuild_set(system, set_name, settings.type_map, baseline)
    for k, ((atoms, order), key, system, plan) in enumerate(zip(prepared, keys, systems, plans)):
        if progress:
            progress(k, len(prepared))
        previous = store.record(key)
        skip = previous and (previous["status"] == "done" or
                             (previous["status"] not in RETRIED and not retry_failed))
        if skip:
            # a structure that failed before (and is not retried) is still a failure of this data set
            counts["skipped" if previous["status"] == "done" else "failed"] += 1
            summary_rows.append(_row(k, previous, skipped=True))
            if previous["status"] == "done":
                touched.add((previous["system"], previous["set"]))
            continue
        scratch = store.scratch_dir / key
        shutil.rmtree(scratch, ignore_errors=True)
        record = {"key": key, "batch": batch, "index": k, "system": system, "set": set_of[system], "natoms": len(atoms),
                  "mpi": mpi, "pools": plan.pools, "memory_estimate_gb": round(plan.total_gb, 3)}
        try:
            result = run_pw(atoms, settings, scratch, folder, mpi=mpi, pools=plan.pools)
        except PWFailure as failure:
            record.update(status=failure.kind, reason=str(failure), output=str(failure.output), finished=time.time())
            store.save_record(record)
            counts["failed"] += 1
            # pw.x's own errors belong to the structure; unexplained crashes may mean pw.x itself is broken
            if (fail_when_none_labelled or failure.kind in RETRIED) and failure.kind != "unconverged" \
                    and first_crash is None:
                first_crash = failure
        else:
            record.update(
                status="done", finished=time.time(), energy_ev=result.energy_ev,
                energy_per_atom_ev=result.energy_ev / len(atoms), pressure_gpa=result.pressure_gpa,
                max_force_ev_per_angstrom=float(np.abs(result.forces_ev_per_angstrom).max()),
                iterations=result.iterations, n_kpoints=result.n_kpoints, kpoint_grid=list(result.kpoint_grid),
                wall_seconds=result.wall_seconds, pw_version=result.version, **result.extra, symbols=atoms.get_chemical_symbols(),
                input_order=order.tolist(), coords_angstrom=atoms.positions.tolist(), cell_angstrom=atoms.cell.array.tolist(),
                forces_ev_per_angstrom=result.forces_ev_per_angstrom.tolist(), virial_ev=result.virial_ev.tolist(),
            )
            store.save_record(record)
            shutil.rmtree(scratch, ignore_errors=True)
            store.rebuild_set(system, set_of[system], settings.type_map, baseline)
            touched.add((system, set_of[system]))
            counts["done"] += 1
        store.write_log()
        summary_rows.append(_row(k, record))
    for system, set_name in touched:  # idempotent: brings a set up to date after an interrupted rebuild
        store.rebuild_set(system, set_name, settings.type_map, baseline)
    store.write_log()
    if progress:
        progress(len(prepared), len(prepared))
    if first_crash is not None and counts["done"] == 0 and counts["skipped"] == 0:
        raise InputError(str(first_crash))
    systems_written = sorted({system for system, _ in touched})
    return {
        "out": str(store.out),
        "n_structures": len(prepared),
        "labelled": counts["done"],
        "skipped": counts["skipped"],
        "failed": counts["failed"],
        # system folders holding this batch's labels (the active-learning loop trains on these)
        "systems": [str(store.out / "full" / s) for s in systems_written],
        "subtracted_systems": [str(store.out / "subtracted" / s) for s in systems_written] if baseline is not None else [],
        "sets": {s: {"set": set_of[s], "frames": sum(1 for r in summary_rows if r["system"] == s and r["status"] == "done")}
                 for s in sorted(set(systems))},
        "settings": settings.as_dict(),
        "structures": summary_rows,
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
            return {"out": str(Path(out).resolve()), "n_structures": 0, "labelled": 0, "skipped": 0, "failed": 0,
                    "systems": [], "subtracted_systems": [], "sets": {}, "settings": self.settings.as_dict(),
                    "structures": []}
        return label_structures(structures, out, config=self.settings, pair=self.pair, mpi=self.mpi, pools=self.pools,
                                pseudo_dir=self.pseudo_dir, retry_failed=self.retry_failed,
                                max_memory_gb=self.max_memory_gb, progress=self.progress, fail_when_none_labelled=False)
