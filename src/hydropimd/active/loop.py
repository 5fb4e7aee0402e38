"""The active-learning loop (docs/theory/active-learning.md; the DP-GEN protocol, Zhang et al., Comput. Phys.
Commun. 253, 107206 (2020) and Phys. Rev. Materials 3, 023804 (2019)).

Initial data are given (``data.initial``, DeePMD npy sets) or made from scratch
(``[data.bootstrap]``, DP-GEN's ``init_bulk``): before generation 0 the start
structures are perturbed (:func:`bootstrap_structures`, dpdata's ``System.perturb``)
and labelled by the loop's own labeller into ``data/bootstrap``, split into sets like
a generation's labels.  A ``[system]`` table (:mod:`hydropimd.system`) gives the
system's structure, types, pair table, pseudopotentials and DFT settings in one place.

Generation g runs four stages, each a call into this package's own stages:

1. ``train``: a committee of identical Deep Potentials differing only in seeds,
   trained with DeePMD-kit (:func:`hydropimd.training.committee.train_committee`)
   on all data so far: the initial data plus the frames labelled by generations
   0..g-1 (with a pair table, on the subtracted targets full - pair);
2. ``explore``: MD with member 0 (plus the pair table) over the configured grid
   (:func:`hydropimd.active.explore.explore`); every sampled frame, every bead of
   path-integral runs, is a candidate;
3. ``select``: committee deviation E of every candidate (docs/theory/potential.md, eV/A) and N
   frames with lo <= E < hi by the largest E or by SOAP diversity (the diversity objective of docs/theory/active-learning.md)
   (:func:`hydropimd.active.select.select_frames`);
4. ``label``: the labeller (:mod:`hydropimd.active.labeller`: DFT or a reference
   potential) writes them into ``data/gen-NNN``, this generation's own DeePMD npy
   data set (one system per composition, like the published ``ensembleN``), in
   ``sets_per_generation`` (at least 2) sets so that the last set is a held-out test
   split of about 1/``sets_per_generation`` of the frames (the DeePMD-kit 1.x
   convention); a system of a single set (one frame of its composition) has no test
   split and is trained on whole.

Stopping (checked after every select stage, from what is on disk, so changing
the thresholds and re-running continues a stopped loop):

* ``converged``: DP-GEN's accurate ratio, the fraction of candidates with E < lo,
  reaches ``stop.accurate_ratio``: the committee agrees on almost everything the
  MD visits.  Nothing is labelled in that generation.
* ``nothing to label``: no candidate lies in [lo, hi).
* ``generation cap``: ``stop.max_generations`` generations have labelled data.

Selection mode ``auto`` (the study switched to diversity "when E no longer
separates structures"); decided per generation by :func:`choose_mode`:
diversity when a previous generation already chose it (the switch is one-way,
as in the study), or when more than N candidates are kept and the spread of
their E, the 90th minus the 10th percentile, is below ``spread_fraction`` (default
0.1) of the window hi - lo.  Then ranking by E picks frames whose E differ by
less than the models' own noise, i.e. arbitrarily, while diversity still adds
information.  With N or fewer kept candidates all are taken and the mode does
not matter (recorded as deviation).

State on disk (``work_dir``)::

    config.json                       the validated configuration (paths resolved)
    start.extxyz                      start structures of the exploration
    gen-NNN/committee/                train_committee's folder (resumes a killed training)
    gen-NNN/explore/                  explore's folder (resumes killed MD runs)
    gen-NNN/selected.extxyz           the selected frames
    gen-NNN/state/<stage>.json        written atomically when the stage finishes
    gen-NNN/state/error.json          the last error of an unfinished stage
    data/bootstrap/                   the bootstrap labels (like a generation's) and their state.json
    data/gen-NNN/full/<system>/set.NNN  the labels (each set written atomically; subtracted/ beside it with a table)

A finished stage (its state file exists) is never repeated; an unfinished one is
re-entered, and each stage's own resumption (DeePMD-kit checkpoints, MD
checkpoints, labels skipped when present in ``data/gen-NNN``) means a kill at
any point loses at most the work since the last checkpoint and never a label.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from hydropimd.config import Settings
from hydropimd.data.location import config_path
from hydropimd.data.writer import frame_key
from hydropimd.errors import InputError, RunFailed
from hydropimd.files import lock_directory, write_json_atomic
from hydropimd.structures import StructureSettings, default_type_map
from hydropimd.system import SystemSettings, check_type_map, merge_key
from hydropimd.training.committee import data_folder

STAGES = ("train", "explore", "select", "label")
#: labeller settings outside the loop's identity (how labels are computed, not what they are)
RUN_ONLY = ("pseudo_dir", "mpi")
#: generation g explores with seed + GENERATION_SEED_STEP * g: generations do not repeat each other's thermostat
#: noise, and no two runs of a generation's grid (seed + k, k < 1000 grid points) share a seed with another's
GENERATION_SEED_STEP = 1000


_Strict = Settings


class BootstrapConfig(_Strict):
    """Initial data from scratch (DP-GEN's ``init_bulk``, Zhang et al. 2020): the exploration's start structures,
    each perturbed ``frames`` times with dpdata's ``System.perturb`` and labelled by the loop's labeller."""

    #: perturbed copies per start structure (DP-GEN's pert_numb is 30; a handful trains a first committee of a
    #: small cell, and the generations then add what the MD visits)
    frames: int = Field(30, ge=2)
    #: each cell vector deformed by a random symmetric strain up to this fraction (DP-GEN's pert_box: 0.03)
    cell_perturbation_fraction: float = Field(0.03, ge=0, lt=0.3)
    #: RMS displacement of each atom, A.  DP-GEN's init_bulk uses 0.01 A and then ab initio MD; here the loop's
    #: first exploration replaces that MD, so the rattle itself spans thermal amplitudes (hydrogen at 300 K: ~0.1 A)
    atom_displacement_angstrom: float = Field(0.05, ge=0, lt=0.5)
    #: seed of the perturbations (numpy's global generator, which dpdata draws from, is restored afterwards)
    seed: int = 0


class DataConfig(_Strict):
    """``[data]``: what the first committee trains on, and the pair baseline of every model."""

    #: DeePMD npy data sets to start from (full labels when ``pair`` is given); may be empty with ``bootstrap``
    initial: list[str] = Field(default_factory=list)
    #: initial data made by the loop itself, labelled into ``work_dir/data/bootstrap`` before generation 0
    bootstrap: BootstrapConfig | None = None
    #: pair table: the models learn full - pair and run MD with the table added (docs/theory/potential.md)
    pair: str | None = None

    @model_validator(mode="after")
    def _some_data(self):
        if not self.initial and self.bootstrap is None:
            raise ValueError("no initial data: give data.initial (DeePMD data sets) or a [data.bootstrap] table "
                             "(perturbed start structures labelled by the loop's labeller)")
        return self


class TrainingConfig(_Strict):
    """``[training]``: each generation's committee (hydropimd.training.committee)."""

    #: models per committee, differing only in their seeds (the study's 3): their force deviation drives selection
    committee: int = 3
    #: DeePMD-kit training steps per member (default: the study's 1,000,000)
    steps: int | None = Field(None, ge=1)
    #: TOML/JSON file overriding the study's DeePMD-kit settings (DeePMD-kit key names)
    config: str | None = None
    #: the same inline (a table of DeePMD-kit keys); not together with ``config``
    overrides: dict = Field(default_factory=dict)

    @field_validator("committee")
    @classmethod
    def _two_or_more(cls, v):
        if v < 2:
            raise ValueError(f"a committee of {v} has no deviation; use committee = 2 or more (the study used 3)")
        return v

    @model_validator(mode="after")
    def _one_source(self):
        if self.config and self.overrides:
            raise ValueError("give either config (a file) or overrides (inline), not both")
        return self


class ExploreConfig(_Strict):
    """``[explore]``: where each generation's exploration MD starts and over which conditions it runs."""

    #: start structures (any ASE format, every frame); else ``structure`` is built
    structures: str | None = None
    #: the start structure built from a prototype or a file (hydropimd.structures.StructureSettings)
    structure: StructureSettings | None = None
    #: the exploration grid (hydropimd.active.explore.ExploreGrid: temperatures_k, pressures_gpa, beads and the MD
    #: stage's options); generation g uses seed + GENERATION_SEED_STEP g
    grid: dict = Field(default_factory=dict)

    @model_validator(mode="after")
    def _start(self):
        if self.structures and self.structure:
            raise ValueError("give either structures (a file) or [explore.structure], not both")
        return self


class SelectConfig(_Strict):
    """``[select]``: which candidates of an exploration are labelled (hydropimd.active.select)."""

    #: deviation window, eV/A: E < lo is accurate, lo <= E < hi kept, E >= hi dropped
    lo: float = Field(ge=0)
    #: the window's upper end, eV/A (the study's 0.35): above it a frame is most likely unphysical
    hi: float
    #: frames labelled per generation
    n: int = Field(ge=1)
    #: deviation: the n largest E; diversity: the n most spread in SOAP space; auto: deviation until the kept E
    #: bunch together (spread_fraction), then diversity, as the study did in its last generations
    mode: Literal["deviation", "diversity", "auto"] = "deviation"
    #: auto mode: diversity when the kept E spread (P90 - P10) < spread_fraction (hi - lo)
    spread_fraction: float = Field(0.1, gt=0, lt=1)
    #: dscribe SOAP settings for diversity (hydropimd.active.soap.SOAPSettings fields)
    soap: dict | None = None

    @model_validator(mode="after")
    def _window(self):
        if self.lo >= self.hi:
            raise ValueError(f"lo {self.lo} must be smaller than hi {self.hi} (eV/A)")
        return self


class LabellerConfig(_Strict):
    """``[labeller]``: what labels the selected frames: pw.x, or a reference potential standing in for it."""

    #: dft: pw.x (hydropimd.dft.label); reference: a potential standing in for DFT (tests, rehearsals of settings)
    kind: Literal["reference", "dft"] = "reference"
    #: reference: the potential standing in for DFT
    model: str | None = None
    #: reference: the pair table added to that potential (a model trained on full - pair)
    pair: str | None = None
    #: dft: DFT settings (a file, or a table of DFTSettings fields; default: the study's)
    settings: str | dict | None = None
    #: dft: the folder of the UPF files (default: $ESPRESSO_PSEUDO, else the cache of 'hydropimd dft pseudo')
    pseudo_dir: str | None = None
    #: dft: pw.x MPI ranks
    mpi: int = Field(1, ge=1)
    #: sets per generation; the last one is the generation's test split
    sets_per_generation: int = 10

    @field_validator("sets_per_generation")
    @classmethod
    def _two_sets(cls, v):
        if v < 2:
            raise ValueError(f"{v} set(s) leave no training set (the last set is the test split); use 2 or more "
                             "(default 10)")
        return v

    @model_validator(mode="after")
    def _model(self):
        if self.kind == "reference" and not self.model:
            raise ValueError("the reference labeller needs model (e.g. published:models/full/graph.pb)")
        return self


class StopConfig(_Strict):
    """``[stop]``: when the loop ends (it also ends when a generation keeps no candidate)."""

    #: stop when this fraction of the candidates has E < lo (DP-GEN's accurate ratio)
    accurate_ratio: float = Field(0.95, gt=0, le=1)
    #: at most this many labelling generations
    max_generations: int = Field(5, ge=1)


class ActiveConfig(_Strict):
    """An active-learning loop: train a committee, explore with it, select and label, repeat (DP-GEN's protocol)."""

    #: the loop's folder: labels, committees, explorations and each stage's state; resumable from any stop
    work_dir: str
    #: the system in one table: fills type_map, the exploration's start structure (unless explore.structures names a
    #: file; never with [explore.structure]), data.pair, labeller.settings and labeller.pseudo_dir (hydropimd.system)
    system: SystemSettings | None = None
    #: the element of each atom type; default: the initial data's (hydropimd.data.systems.system_type_map), else
    #: the start structures' elements (by atomic number, H last)
    type_map: list[str] | None = None
    #: the initial data and the pair baseline
    data: DataConfig
    #: each generation's committee
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    #: the exploration MD
    explore: ExploreConfig = Field(default_factory=ExploreConfig)
    #: which candidates are labelled
    select: SelectConfig
    #: what labels them
    labeller: LabellerConfig
    #: when the loop ends
    stop: StopConfig = Field(default_factory=StopConfig)

    @field_validator("type_map")
    @classmethod
    def _element_types(cls, v):
        return check_type_map(v)

    @model_validator(mode="after")
    def _from_the_system(self):
        system, lab = self.system, self.labeller
        if system is not None:
            if self.explore.structure is not None:  # one would silently win over the other
                raise ValueError("[explore.structure] and [system.structure] both given; give the structure in one "
                                 "place ([system.structure])")
            if not self.explore.structures:
                self.explore.structure = system.structure.model_copy()
            self.type_map = merge_key("type_map", self.type_map, system.type_map, "type_map")
            self.data.pair = merge_key("data.pair", self.data.pair, system.pair, "pair")
            lab.settings = merge_key("labeller.settings", lab.settings, system.dft, "dft")
            lab.pseudo_dir = merge_key("labeller.pseudo_dir", lab.pseudo_dir, system.pseudopotential_dir,
                                       "pseudopotential_dir")
        if not self.explore.structures and self.explore.structure is None:
            raise ValueError("no start structure: give [system.structure], [explore.structure] or explore.structures")
        return self

    def identity(self) -> dict:
        """What defines finished work: data, training and labeller (explore, select, stop may change between runs).

        Not where the labeller finds its pseudopotentials or how many MPI ranks it runs: they do not change labels.
        """
        return self.model_dump(include={"type_map", "data", "training", "labeller"},
                               exclude={"labeller": set(RUN_ONLY)})


# ---------------------------------------------------------------- configuration
def _resolve(value: str | None, base: Path, what: str) -> str | None:
    if value is None:
        return None
    return str(config_path(value, base, what, "fix the active-learning config").resolve())


def load_config(config: str | os.PathLike | dict | ActiveConfig, base: str | os.PathLike | None = None) -> ActiveConfig:
    """Read and validate a loop configuration (TOML file, dict or ActiveConfig); paths come back absolute.

    Relative paths are taken from the config file's folder (for a dict: ``base``,
    default the current folder); ``published:REL`` names a file of the published
    data by the data-location rule.
    """
    if isinstance(config, ActiveConfig):
        return config
    from hydropimd.config import read_settings_file, validate_settings

    where = "config"
    if isinstance(config, dict):
        raw, base = config, Path(base or ".").resolve()
    else:
        path = Path(config)
        where, raw, base = str(path), read_settings_file(path, "active-learning config"), path.resolve().parent
    cfg = validate_settings(ActiveConfig, raw, where, "fix the active-learning config")
    cfg.work_dir = str((base / Path(cfg.work_dir).expanduser()).resolve())
    cfg.data.initial = [str(data_folder(_resolve(d, base, "initial data"))) for d in cfg.data.initial]
    cfg.data.pair = _resolve(cfg.data.pair, base, "pair table")
    if cfg.type_map is None and cfg.data.initial:
        from hydropimd.data.systems import find_systems

        try:
            cfg.type_map = list(find_systems(cfg.data.initial[0])[0].type_map)
        except InputError:  # no usable initial data (training will say so): the start structures' elements, below
            pass
    cfg.training.config = _resolve(cfg.training.config, base, "training config")
    cfg.explore.structures = _resolve(cfg.explore.structures, base, "start structures")
    if cfg.explore.structure is not None and cfg.explore.structure.file:
        cfg.explore.structure.file = _resolve(cfg.explore.structure.file, base, "start structure file")
    lab = cfg.labeller
    lab.model, lab.pair = _resolve(lab.model, base, "labeller model"), _resolve(lab.pair, base, "labeller pair table")
    if isinstance(lab.settings, str):
        lab.settings = _resolve(lab.settings, base, "DFT settings")
    lab.pseudo_dir = _resolve(lab.pseudo_dir, base, "pseudopotentials")
    from hydropimd.active.explore import load_grid

    load_grid(cfg.explore.grid)  # a bad grid fails now, not after the first training
    starts = _start_atoms(cfg)  # so does a bad start structure
    elements = {s for atoms in starts for s in atoms.get_chemical_symbols()}
    if cfg.type_map is None:  # no initial data to read it from: the elements the loop will explore and label
        cfg.type_map = list(default_type_map(elements))
    missing = sorted(elements - set(cfg.type_map))
    if missing:
        raise InputError(f"the start structures hold {', '.join(missing)}, which type_map {cfg.type_map} lacks "
                         "(from the initial data or the config); add them to type_map or use data that has them")
    return cfg


# ---------------------------------------------------------------- selection mode
def choose_mode(deviations, lo: float, hi: float, n: int, mode: str, previous: list[str] = (),
                spread_fraction: float = 0.1) -> tuple[str, str]:
    """The selection mode for one generation and why (see the module docstring for ``auto``).

    ``deviations``: E of every candidate (eV/A); ``previous``: modes chosen by
    earlier generations.  Returns (``deviation`` or ``diversity``, reason).
    """
    if mode != "auto":
        return mode, "configured"
    if "diversity" in previous:
        return "diversity", "an earlier generation switched to diversity (the switch is one-way)"
    e = np.asarray(deviations, dtype=float)
    kept = e[(e >= lo) & (e < hi)]
    if len(kept) <= n:
        return "deviation", f"{len(kept)} candidates in [lo, hi) <= n = {n}: all are taken"
    p10, p90 = np.percentile(kept, [10, 90])
    spread = float(p90 - p10)
    limit = spread_fraction * (hi - lo)
    if spread < limit:
        return "diversity", f"E spread of the kept candidates (P90 - P10) {spread:.3g} < {limit:.3g} eV/A"
    return "deviation", f"E spread of the kept candidates (P90 - P10) {spread:.3g} >= {limit:.3g} eV/A"


# ---------------------------------------------------------------- state


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None


#: stands for the work directory in the state files, so that a loop's states and labels can be committed and
#: continued from another checkout or machine (their paths are inside the work directory)
WORK_DIR_TOKEN = "${work_dir}"


def _read_state(path: Path, work: Path) -> dict | None:
    """A state file with :data:`WORK_DIR_TOKEN` replaced by this work directory."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text.replace(WORK_DIR_TOKEN, json.dumps(str(work))[1:-1]))
    except ValueError:
        return None


def _write_state(path: Path, state: dict, work: Path) -> None:
    """Write a state file atomically with every path inside ``work`` written relative to :data:`WORK_DIR_TOKEN`."""
    def portable(value):
        if isinstance(value, str) and (value == str(work) or value.startswith(str(work) + os.sep)):
            return WORK_DIR_TOKEN + value[len(str(work)):]
        if isinstance(value, dict):
            return {k: portable(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [portable(v) for v in value]
        return value

    write_json_atomic(path, portable(json.loads(json.dumps(state, default=str))))


def gen_dir(work: Path, g: int) -> Path:
    return work / f"gen-{g:03d}"


def data_dir(work: Path, g: int) -> Path:
    return work / "data" / f"gen-{g:03d}"


def stage_state(work: Path, g: int, stage: str) -> dict | None:
    return _read_state(gen_dir(work, g) / "state" / f"{stage}.json", work)


def _select_stop(cfg: ActiveConfig, select: dict | None) -> str | None:
    """Why the loop stops after this select stage (converged, or nothing to label), else None."""
    if select is None:
        return None
    if select["accurate_fraction"] >= cfg.stop.accurate_ratio:
        return (f"converged: accurate ratio {select['accurate_fraction']:.3f} >= {cfg.stop.accurate_ratio} "
                f"(generation {select['generation']})")
    if select["counts"]["selected"] == 0:
        return f"nothing to label: no candidate of generation {select['generation']} lies in [lo, hi)"
    return None


def _cap_reason(cfg: ActiveConfig, labelled: int) -> str:
    return f"generation cap: {labelled} generations labelled (max_generations {cfg.stop.max_generations})"


# ---------------------------------------------------------------- stages
def _start_atoms(cfg: ActiveConfig) -> list:
    """The exploration's start structures: read from ``explore.structures`` or built from ``[explore.structure]``."""
    from hydropimd.structures import read_structures

    if cfg.explore.structures:
        return read_structures(cfg.explore.structures)
    try:
        return [cfg.explore.structure.build()]
    except InputError as err:
        raise InputError(f"[explore.structure]: {err} (fix the active-learning config)") from None


def _start_structures(cfg: ActiveConfig, work: Path) -> Path:
    if cfg.explore.structures:
        return Path(cfg.explore.structures)
    from ase.io import write

    # written from the current [explore.structure] at every exploration: explore settings may change between
    # calls, and the next generation starts from what the config says now
    target = work / "start.extxyz"
    tmp = target.with_name("start.partial.extxyz")
    write(tmp, _start_atoms(cfg), format="extxyz")
    os.replace(tmp, target)
    return target


def _training_data(cfg: ActiveConfig, work: Path, g: int) -> tuple[list[str], list[str]]:
    """Data sets split into training and test, and those trained on whole (systems of a single set)."""
    data, whole = list(cfg.data.initial), []
    labels = [bootstrap_state(work) or {}] + [stage_state(work, k, "label") or {} for k in range(g)]
    for label in labels:
        whole += label.get("train_only", [])
        data += [s for s in label.get("systems", []) if s not in whole]
    return data, whole


def _stage_train(cfg, work, g, progress) -> dict:
    from hydropimd.training.committee import train_committee

    overrides = cfg.training.config
    if cfg.training.overrides:
        overrides = str(work / "training-overrides.json")
        write_json_atomic(Path(overrides), cfg.training.overrides)
    data, whole = _training_data(cfg, work, g)
    summary = train_committee(data, gen_dir(work, g) / "committee", committee=cfg.training.committee,
                              steps=cfg.training.steps, config=overrides, pair=cfg.data.pair, progress=progress,
                              train_only=whole)
    return {"data": data + whole, "train_only": whole, "models": [m["model"] for m in summary["members"]],
            "members": summary["members"], "train_systems": summary["train_systems"]}


def _stage_explore(cfg, work, g, progress) -> dict:
    from hydropimd.active.explore import explore, load_grid

    train = stage_state(work, g, "train")
    grid = load_grid(cfg.explore.grid).model_copy()
    grid.seed = grid.seed + GENERATION_SEED_STEP * g
    summary = explore(train["models"][0], _start_structures(cfg, work), grid, gen_dir(work, g) / "explore",
                      pair=cfg.data.pair, progress=progress)
    return {"candidates": summary["candidates"], "frames": summary["frames"], "model": train["models"][0],
            "runs": [{k: r[k] for k in ("name", "temperature_k", "pressure_gpa", "beads", "frames")} for r in summary["runs"]]}


def _stage_select(cfg, work, g, progress) -> dict:
    from hydropimd.active.deviation import force_deviation, load_committee
    from hydropimd.active.select import read_candidates, select_frames, write_selection

    models = stage_state(work, g, "train")["models"]
    candidates = stage_state(work, g, "explore")["candidates"]
    frames = read_candidates(candidates)
    s = cfg.select
    committee = load_committee(models)  # loaded once: the deviation and the selection share it
    deviations = force_deviation(frames, committee,
                                 progress=(lambda done, total: progress({"frames": done, "of": total})) if progress else None)
    previous = [state["mode"] for state in (stage_state(work, k, "select") for k in range(g)) if state]
    mode, reason = choose_mode(deviations, s.lo, s.hi, s.n, s.mode, previous, s.spread_fraction)
    result = select_frames(frames, committee, s.lo, s.hi, s.n, mode=mode, pair=cfg.data.pair, soap_settings=s.soap,
                           deviations=deviations)
    selected = write_selection(frames, result, gen_dir(work, g) / "selected.extxyz")
    kept = deviations[(deviations >= s.lo) & (deviations < s.hi)]
    return {**{k: result[k] for k in ("mode", "lo", "hi", "n", "counts", "accurate_fraction", "dropped_range",
                                      "deviation_range", "note", "selected")},
            "configured_mode": s.mode, "mode_reason": reason, "candidates": candidates, "selected_file": str(selected),
            "kept_spread": [float(v) for v in np.percentile(kept, [10, 90])] if len(kept) else None}


def _stage_label(cfg, work, g, labeller, progress) -> dict:
    from hydropimd.active.select import read_candidates

    select = stage_state(work, g, "select")
    return _label_in_sets(cfg, read_candidates(select["selected_file"]), data_dir(work, g), labeller, progress)


def distinct_geometries(structures: list) -> list:
    """The structures with those that differ from an earlier one only in their masses left out (isotopes: a label
    does not depend on the masses, so an H and a D start need one set of labels)."""
    seen, kept = set(), []
    for atoms in structures:
        key = frame_key(atoms.get_chemical_symbols(), atoms.positions, atoms.cell.array)
        if key not in seen:
            seen.add(key)
            kept.append(atoms)
    return kept


def bootstrap_structures(starts: list, settings: BootstrapConfig) -> list:
    """``settings.frames`` perturbed copies of each distinct start geometry (:func:`distinct_geometries`; dpdata's
    ``System.perturb``: each cell vector strained by up to ``cell_perturbation_fraction``, atoms displaced with RMS
    ``atom_displacement_angstrom``, A).

    dpdata draws from numpy's global generator: it is seeded with ``settings.seed`` and restored afterwards, so the
    structures are reproducible and nothing else's random stream changes.
    """
    import dpdata

    state = np.random.get_state()
    np.random.seed(settings.seed)
    try:
        frames = []
        for atoms in distinct_geometries(starts):
            perturbed = dpdata.System(atoms, fmt="ase/structure").perturb(
                pert_num=settings.frames, cell_pert_fraction=settings.cell_perturbation_fraction,
                atom_pert_distance=settings.atom_displacement_angstrom, atom_pert_style="normal")
            frames += perturbed.to("ase/structure")
    finally:
        np.random.set_state(state)
    return frames


def bootstrap_state(work: Path) -> dict | None:
    return _read_state(work / "data" / "bootstrap" / "state.json", work)


def _bootstrap(cfg: ActiveConfig, work: Path, labeller, progress) -> None:
    """Label the perturbed start structures into ``data/bootstrap`` once, before generation 0 (resumable: the
    labeller skips what it labelled before a kill)."""
    if cfg.data.bootstrap is None or bootstrap_state(work) is not None:
        return
    _report(progress, None, "bootstrap", "start")
    t0 = time.time()
    out = work / "data" / "bootstrap"
    structures = bootstrap_structures(_start_atoms(cfg), cfg.data.bootstrap)
    inner = (lambda info: progress({**info, "generation": None, "stage": "bootstrap"})) if progress else None
    result = _label_in_sets(cfg, structures, out, labeller, inner)
    if result["frames"] == 0:
        raise RunFailed(f"no bootstrap structure could be labelled ({result['failed']} failed); read {out}")
    _write_state(out / "state.json", {"stage": "bootstrap", "started": t0, "wall_s": time.time() - t0, **result}, work)
    _report(progress, None, "bootstrap", "done")


def _label_in_sets(cfg: ActiveConfig, structures: list, out: Path, labeller, progress) -> dict:
    """Label ``structures`` into the data set ``out`` in ``labeller.sets_per_generation`` sets per system."""
    # several calls, one set per system each: the last set of a system is its held-out test split.
    # The selection is ordered (by E, or by grid point), so the sets interleave each composition's
    # frames: every set, the test split included, spans the whole range of the selection.
    groups: dict[tuple, list[int]] = {}
    for i, atoms in enumerate(structures):
        groups.setdefault(tuple(sorted(Counter(atoms.get_chemical_symbols()).items())), []).append(i)
    chunks: list[list[int]] = []
    for members in groups.values():
        n_sets = min(cfg.labeller.sets_per_generation, len(members))
        chunks += [[] for _ in range(n_sets - len(chunks))]
        for k in range(n_sets):
            chunks[k] += members[k::n_sets]
    totals = {"labelled": 0, "skipped": 0, "failed": 0}
    systems: list[str] = []
    for k, chunk in enumerate(chunks):
        if progress:
            progress({"set": k, "sets": len(chunks)})
        result = labeller.label([structures[i] for i in chunk], out)
        for key in totals:
            totals[key] += int(result.get(key, 0))
        systems += [s for s in result.get("systems", []) if s not in systems]
    from hydropimd.data.systems import find_systems

    frames = sum(system.nframes for path in systems for system in find_systems(path))
    # a system of one set (a lone frame of its composition) would be all test split: it is trained on instead
    single = [path for path in systems if all(len(system.set_dirs) == 1 for system in find_systems(path))]
    note = (f"{len(single)} system(s) with a single set (too few frames to split) go whole into training, "
            "without a test split" if single else None)
    return {**totals, "structures": len(structures), "sets": len(chunks), "systems": systems, "frames": frames,
            "train_only": single, "note": note, "out": str(out)}


# ---------------------------------------------------------------- the loop
def _make_labeller(cfg: ActiveConfig):
    """The labeller of the ``[labeller]`` table: the reference potential, or pw.x with pw.x, mpirun and the
    pseudopotentials checked now (:func:`hydropimd.dft.label.loop_labeller`), before the first stage."""
    if cfg.labeller.kind == "reference":
        from hydropimd.active.labeller import ReferenceLabeller

        return ReferenceLabeller(cfg.labeller.model, pair=cfg.labeller.pair, type_map=cfg.type_map)
    from hydropimd.dft.label import loop_labeller

    return loop_labeller(cfg.labeller, pair=cfg.data.pair, type_map=cfg.type_map)


def _report(progress, g: int | None, stage: str, event: str) -> None:
    if progress:
        progress({"generation": g, "stage": stage, "event": event})


def _holds_results(work: Path) -> bool:
    """Whether the loop in ``work`` computed anything (a label, a record of a DFT call, a generation): a loop refused
    before that (a pair table without an element, a wrong type map) is taken over by its corrected config."""
    data = work / "data"
    return any(work.glob("gen-*")) or any(data.rglob("*.npy")) or any(data.rglob("records/*.json"))


def _check_identity(cfg: ActiveConfig, work: Path) -> None:
    stored = _read_json(work / "config.json")
    current = json.loads(json.dumps(cfg.identity(), default=str))
    for key in RUN_ONLY:  # kept in the identity of loops started before they were left out
        ((stored or {}).get("identity") or {}).get("labeller", {}).pop(key, None)
    if stored is not None and stored.get("identity") != current and _holds_results(work):
        changed = sorted(k for k in current if stored.get("identity", {}).get(k) != current[k])
        raise InputError(f"{work} holds a loop made with other {', '.join(changed)} settings; "
                         "use another work_dir (explore, select and stop settings may change between runs)")
    write_json_atomic(work / "config.json", {"identity": current, "config": cfg.model_dump()})


def run_active(config, progress: Callable[[dict], None] | None = None, labeller=None,
               stop_after: tuple[int, str] | None = None) -> dict:
    """Run (or resume) the loop until a stop criterion holds; returns :func:`active_status`'s summary.

    ``config``: TOML file, dict or :class:`ActiveConfig`.  ``labeller``: any
    :class:`~hydropimd.active.labeller.Labeller` (default: the configured one, the
    reference potential or pw.x, built and checked by :func:`_make_labeller`).
    ``progress`` receives ``{"generation", "stage", "event"}`` dicts (event
    ``start``, ``done``, ``skip`` or ``stop``) and, in between, each stage's own
    progress dicts with ``generation`` and ``stage`` added.  ``stop_after``:
    (generation, stage) after which to return, as if killed there (for tests and
    for stepping through a loop by hand).
    """
    cfg = load_config(config)
    if labeller is None:
        labeller = _make_labeller(cfg)
    work = Path(cfg.work_dir)
    fresh = not work.exists() or not any(work.iterdir())
    lock = lock_directory(work, f"{work} is used by another 'active run'; wait for it or use another work_dir")
    try:
        _check_identity(cfg, work)
        try:
            _bootstrap(cfg, work, labeller, progress)
        except InputError:
            if fresh and not _holds_results(work):  # refused before computing anything: leave no loop behind
                shutil.rmtree(work, ignore_errors=True)
            raise
        runners = {"train": lambda g, p: _stage_train(cfg, work, g, p),
                   "explore": lambda g, p: _stage_explore(cfg, work, g, p),
                   "select": lambda g, p: _stage_select(cfg, work, g, p),
                   "label": lambda g, p: _stage_label(cfg, work, g, labeller, p)}
        g, reason = 0, None
        while reason is None:
            if g >= cfg.stop.max_generations:
                reason = _cap_reason(cfg, g)
                break
            for stage in STAGES:
                state_file = gen_dir(work, g) / "state" / f"{stage}.json"
                if state_file.exists():
                    _report(progress, g, stage, "skip")
                else:
                    _report(progress, g, stage, "start")
                    inner = (lambda info, _g=g, _s=stage: progress({**info, "generation": _g, "stage": _s})) \
                        if progress else None
                    t0 = time.time()
                    try:
                        result = runners[stage](g, inner)
                    except BaseException as err:  # recorded for 'active status', then raised as it was
                        write_json_atomic(gen_dir(work, g) / "state" / "error.json",
                                    {"stage": stage, "time": time.time(), "error": f"{type(err).__name__}: {err}",
                                     "traceback": traceback.format_exc(limit=5)})
                        raise
                    _write_state(state_file, {"generation": g, "stage": stage, "started": t0, "finished": time.time(),
                                              "wall_s": time.time() - t0, **result}, work)
                    (gen_dir(work, g) / "state" / "error.json").unlink(missing_ok=True)
                    _report(progress, g, stage, "done")
                    if stop_after == (g, stage):
                        return active_status(cfg)
                if stage == "select":
                    reason = _select_stop(cfg, stage_state(work, g, "select"))
                    if reason:
                        break
            g += 1
        if progress:
            progress({"generation": g, "stage": None, "event": "stop", "reason": reason})
    finally:
        lock.close()
    return active_status(cfg)


# ---------------------------------------------------------------- results
def trained_committee(work_dir: str | os.PathLike) -> dict:
    """The newest finished committee of a loop: ``models`` (member 0 first, the one its exploration ran), the
    ``pair`` table they were trained against (None without one), and its ``generation``."""
    work = Path(work_dir).expanduser().resolve()
    stored = _read_json(work / "config.json")
    if stored is None:
        raise InputError(f"{work} is not an active-learning work directory (no config.json); give the work_dir of "
                         "an 'active run'")
    g, newest = 0, None
    while gen_dir(work, g).is_dir():
        train = stage_state(work, g, "train")
        newest = (g, train) if train else newest
        g += 1
    if newest is None:
        raise InputError(f"{work} has no trained committee yet; run 'hydropimd active run' on its config first")
    return {"generation": newest[0], "models": newest[1]["models"], "pair": stored["config"]["data"].get("pair")}


# ---------------------------------------------------------------- status
def active_status(config_or_dir) -> dict:
    """Per generation: stage reached, counts, accurate ratio, selection mode, errors; and why the loop stopped.

    ``config_or_dir``: the loop's config (file, dict, ActiveConfig) or its work directory.
    """
    if isinstance(config_or_dir, (str, os.PathLike)) and Path(config_or_dir).is_dir():
        work = Path(config_or_dir).resolve()
        stored = _read_json(work / "config.json")
        if stored is None:
            raise InputError(f"{work} is not an active-learning work directory (no config.json); give the config or "
                             "the work_dir of an 'active run'")
        # without [system]: its keys were copied into the stage tables and resolved there
        cfg = ActiveConfig.model_validate({k: v for k, v in stored["config"].items() if k != "system"})
    else:
        cfg = load_config(config_or_dir)
        work = Path(cfg.work_dir)
    rows = []
    g = 0
    while gen_dir(work, g).is_dir():
        states = {s: stage_state(work, g, s) for s in STAGES}
        done = [s for s in STAGES if states[s] is not None]
        error = _read_json(gen_dir(work, g) / "state" / "error.json")
        sel, lab, train, exp = states["select"], states["label"], states["train"], states["explore"]
        rows.append({
            "generation": g,
            "stage": done[-1] if done else None,
            "stages_done": done,
            "training_data_sets": len(train["data"]) if train else None,
            "force_rmse_ev_per_angstrom": (float(np.mean([m["force_rmse_ev_per_angstrom"] for m in train["members"]]))
                                           if train else None),
            "candidates": exp["frames"] if exp else None,
            "counts": sel["counts"] if sel else None,
            "accurate_ratio": sel["accurate_fraction"] if sel else None,
            "mode": sel["mode"] if sel else None,
            "mode_reason": sel["mode_reason"] if sel else None,
            # frames in the generation's data set (a resumed label stage skips those labelled before the kill)
            "labelled": lab["frames"] if lab else None,
            "failed": lab["failed"] if lab else None,
            "error": (error or {}).get("error"),
            "error_stage": (error or {}).get("stage"),
        })
        g += 1
    labelled_gens = sum(1 for r in rows if "label" in r["stages_done"])
    stopped = None
    if rows:
        last = rows[-1]
        stopped = _select_stop(cfg, stage_state(work, last["generation"], "select"))
        if stopped is None and "label" in last["stages_done"] and labelled_gens >= cfg.stop.max_generations:
            stopped = _cap_reason(cfg, labelled_gens)
    return {"work_dir": str(work), "generations": rows, "labelled_generations": labelled_gens,
            "labelled_frames": sum(r["labelled"] or 0 for r in rows), "stopped": stopped,
            # the labelled systems (a DFT labeller with a pair table also writes their subtracted twins)
            "data": [str(d) for d in cfg.data.initial] + (bootstrap_state(work) or {}).get("systems", [])
                    + [s for r in rows if "label" in r["stages_done"]
                                                          for s in stage_state(work, r["generation"], "label")["systems"]]}
