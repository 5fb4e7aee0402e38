"""A study: a grid of MD runs plus its analysis, described by one TOML file.

Example (the demo shipped as ``hydropimd/study/demo.toml``)::

    [potential]
    model = "published:models/subtracted/graph.pb"   # "published:" = the data-location rule
    pair = "published:tables/full.table"
    compress = "published:models/subtracted/input.json"  # training script for dp compress (optional)

    [structure]
    prototype = "lah10"     # the prototype library's fcc LaH10 (prototypes.toml), or file = "..."
    a = 5.1
    cell = "conventional"
    supercell = 2
    start_angles_deg = [90.5, 90.5, 90.5]          # slightly rhombohedral start

    [grid]
    temperatures_k = [300]
    pressures_gpa = [80, 115, 150, 185, 220]
    isotopes = ["H"]
    beads = [1]

    [md]                    # hydropimd.md.settings.MDOptions: any option of 'hydropimd md run'
    time_ps = 2.0
    timestep_fs = 0.5
    stride = 20

    [analysis]
    discard_ps = 0.5
    wavelengths_angstrom = [0.3344, 0.2952]

    [execution]
    mode = "local"          # or "dpdispatcher" with a [execution.cluster] profile
    workers = 2

The configuration is validated before anything runs (pydantic, unknown keys
rejected; the start structure built, the model, its type map, pair table and
compression script read); problems come back as one-line :class:`InputError`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, field_validator, model_validator

from hydropimd.config import Settings as _Strict
from hydropimd.data.location import config_path
from hydropimd.errors import InputError
from hydropimd.md.grid import BeadList, PressureList, TemperatureList
from hydropimd.md.settings import MDOptions
from hydropimd.structures import HYDROGEN, HYDROGEN_ISOTOPES, StructureSettings
from hydropimd.system import SystemSettings, merge_key

#: ``model = "active:DIR"``: the newest committee of the active-learning loop in work directory DIR
ACTIVE_PREFIX = "active:"
#: [md] options that say where the forces are evaluated, not what is simulated: not part of a study's digest
EXECUTION_ONLY_MD = ("lammps_clients", "threads_per_client", "ranks_per_client", "port", "bead_groups", "gle_library")
#: [md] keys that only PIGLET and eco runs read: left out of a PILE study's digest, which stays the one earlier versions wrote
PIGLET_ONLY_MD = ("sampling", "max_frequency_cm1", "piglet_range")


class PotentialConfig(_Strict):
    """``[potential]``: the model the runs use, its pair baseline and the committee that monitors it."""

    #: a DeePMD-kit model file (``published:REL`` by the data-location rule), or ``active:DIR``: member 0 of the
    #: newest committee of the loop in DIR, its other members as ``committee`` and its pair table as ``pair``
    model: str
    #: the pair table (LAMMPS format) the model was trained against: its energy is added to the model's; none for a
    #: model trained on full labels
    pair: str | None = None
    #: training script of the model: when given, runs use its ``dp compress`` version (cached)
    compress: str | None = None
    #: further models trained like ``model``: their force deviation from it is recorded per row (the
    #: model deviation of docs/theory/potential.md, eV/A), with a warning once it exceeds md.dev_warn
    committee: list[str] = Field(default_factory=list)


class GridBlock(_Strict):
    """Every combination of these temperatures, pressures, isotopes and bead counts."""

    #: thermostat temperatures, K
    temperatures_k: TemperatureList
    #: barostat pressures, GPa
    pressures_gpa: PressureList
    #: hydrogen isotopes (H or D): each run's hydrogen mass; default H
    isotopes: list[Literal[HYDROGEN_ISOTOPES]] = Field(default_factory=lambda: [HYDROGEN], min_length=1)
    #: path-integral bead counts; 1 is classical nuclei (default)
    beads: BeadList = Field(default_factory=lambda: [1])

    @field_validator("isotopes")
    @classmethod
    def _distinct_isotopes(cls, v):
        # like the other lists (hydropimd.md.grid): a repeat would send two runs into one directory
        if len(set(v)) != len(v):
            raise ValueError(f"isotopes {', '.join(sorted({i for i in v if v.count(i) > 1}))} listed more than once")
        return v

    def points(self) -> list[tuple[float, float, str, int]]:
        return list(itertools.product(self.temperatures_k, self.pressures_gpa, self.isotopes, self.beads))


class GridConfig(GridBlock):
    """The grid's own block plus any ``[[grid.also]]`` blocks: a study's figures are rarely one product (classical
    scans at two temperatures, path integrals at one, a single low-temperature point)."""

    #: further blocks (``[[grid.also]]``) whose points join the grid's, each point run once
    also: list[GridBlock] = Field(default_factory=list)

    def points(self) -> list[tuple[float, float, str, int]]:
        """Every point of every block, in order, each once."""
        return list(dict.fromkeys(super().points() + [p for block in self.also for p in block.points()]))

    def all_isotopes(self) -> list[str]:
        return list(dict.fromkeys(iso for _, _, iso, _ in self.points()))

    def fingerprint(self) -> dict:
        """The grid as digests see it: without ``also`` when there is none (the digest earlier versions wrote)."""
        return self.model_dump(exclude=set() if self.also else {"also"})


class Expectation(_Strict):
    """A published statement about the cell's class at some points of the grid, put beside the study's result in
    the report: ``expected`` holds at every run of ``temperature_k`` and ``isotope`` with ``pressures_gpa`` in
    [low, high] and either ``beads`` (when given) or any path integral (``quantum = true``) or classical nuclei."""

    #: the statement in words, as the report quotes it
    statement: str
    #: where it was published (a figure or table), for the report
    source: str = ""
    #: the temperature of the runs it is about, K
    temperature_k: float = Field(gt=0)
    #: the hydrogen isotope of those runs
    isotope: Literal[HYDROGEN_ISOTOPES] = HYDROGEN
    #: path-integral (true) or classical (false) nuclei
    quantum: bool = False
    #: the bead count of those runs, when the statement is about one
    beads: int | None = Field(None, ge=1)
    #: the pressure range it covers, GPa, [low, high]
    pressures_gpa: tuple[float, float]
    #: the cell's class there
    expected: Literal["cubic", "not cubic"]

    @model_validator(mode="after")
    def _consistent(self):
        low, high = self.pressures_gpa
        if low > high:
            raise ValueError(f"pressures_gpa [{low:g}, {high:g}]: give [low, high]")
        if self.beads is not None and (self.beads > 1) != self.quantum:
            raise ValueError(f"beads {self.beads} contradicts quantum = {str(self.quantum).lower()}")
        return self

    def covers(self, run: dict) -> bool:
        """Whether a run's row (temperature_k, isotope, beads, pressure_gpa) is one this statement is about."""
        low, high = self.pressures_gpa
        beads_match = run["beads"] == self.beads if self.beads else (run["beads"] > 1) == self.quantum
        return (abs(run["temperature_k"] - self.temperature_k) < 1e-6 and run["isotope"] == self.isotope
                and beads_match and low - 1e-6 <= run["pressure_gpa"] <= high + 1e-6)


class AnalysisConfig(_Strict):
    """``[analysis]``: what the report analyses and how; may change between calls without rerunning any MD."""

    #: equilibration dropped from the start of each run, ps; "auto": each run's own end of transient, found from its
    #: volume and cell angles (Chodera's maximum of effective samples: hydropimd.analysis.equilibration)
    discard_ps: float | Literal["auto"] = 0.0
    #: false: run the MD only (no report, and no check that the runs are long enough for one; 'study report'
    #: analyses them later), e.g. short runs that only test the set-up
    report: bool = True
    #: X-ray wavelengths of the powder patterns, A (default: the study's two, 0.3344 and 0.2952)
    wavelengths_angstrom: list[float] = Field(default_factory=lambda: [0.3344, 0.2952])
    #: published statements the report checks the runs against (a reproduction's "paper versus us" table)
    expectations: list[Expectation] = Field(default_factory=list)

    @field_validator("wavelengths_angstrom")
    @classmethod
    def _positive_wavelength(cls, v):
        if any(w <= 0 for w in v):
            raise ValueError("wavelengths must be positive")
        return v


class ClusterConfig(_Strict):
    """A dpdispatcher machine and resources (https://docs.deepmodeling.com/projects/dpdispatcher)."""

    #: the scheduler: dpdispatcher's batch type (Slurm, PBS, LSF, Shell, ...)
    batch_type: str = "Slurm"
    #: how files reach the machine: LocalContext (a shared file system) or SSHContext (then remote_profile)
    context_type: str = "LocalContext"
    #: the folder on the machine where the jobs run
    remote_root: str
    #: dpdispatcher's remote profile (host, username, ... for SSHContext)
    remote_profile: dict = Field(default_factory=dict)
    #: the queue (partition) the jobs go to; empty: the scheduler's default
    queue_name: str = ""
    #: cores per job, given to the run as its bead groups
    cpu_per_node: int = Field(1, ge=1)
    #: runs per job (dpdispatcher's group size)
    group_size: int = Field(1, ge=1)
    #: extra scheduler lines (e.g. "#SBATCH --time=24:00:00")
    custom_flags: list[str] = Field(default_factory=list)
    #: shell lines run before each job (e.g. activating the environment holding hydropimd)
    source_list: list[str] = Field(default_factory=list)
    #: environment variables of each job
    envs: dict = Field(default_factory=dict)
    #: the Python that runs hydropimd on the machine
    python: str = "python3"


class ExecutionConfig(_Strict):
    """``[execution]``: where the runs go: this machine's cores, or a cluster through dpdispatcher."""

    #: local: a pool of worker processes here; dpdispatcher: one job per run (or group) on [execution.cluster]
    mode: Literal["local", "dpdispatcher"] = "local"
    # one run per core by default: a classical run's force call is single-threaded; the cores are shared among the
    # runs that go at once, as bead groups (Study.run_local), so a run alone gets them all
    workers: int = Field(default_factory=lambda: len(os.sched_getaffinity(0)), ge=1,
                         description="runs advanced at once on this machine")
    #: the machine and resources of mode dpdispatcher
    cluster: ClusterConfig | None = None

    @model_validator(mode="after")
    def _cluster_needed(self):
        if self.mode == "dpdispatcher" and self.cluster is None:
            raise ValueError("mode dpdispatcher needs an [execution.cluster] profile")
        return self


class StudyConfig(_Strict):
    """A study: a grid of path-integral (or classical) NPT runs of one structure with one potential, and its
    report."""

    #: the system (structure and pair table) in one table, instead of [structure] and potential.pair
    system: SystemSettings | None = None
    #: the model, its pair baseline and committee
    potential: PotentialConfig
    #: the start structure (required here or in [system]); the grid's isotopes replace its isotope
    structure: StructureSettings | None = None
    #: the (temperature, pressure, isotope, beads) points, one run each
    grid: GridConfig
    #: the MD stage's own settings model: every key of ``hydropimd md run`` but the structure, potential and point
    md: MDOptions
    #: what the report analyses
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    #: where the runs go
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)

    @model_validator(mode="after")
    def _from_the_system(self):
        """[system] fills [structure] and potential.pair (runs and digests are those of the same stage keys)."""
        if self.system is not None:
            if "structure" in self.model_fields_set:
                raise ValueError("[structure] and [system.structure] both given; keep one")
            self.structure = self.system.structure.model_copy()
            self.potential.pair = merge_key("potential.pair", self.potential.pair, self.system.pair, "pair")
        if self.structure is None:
            raise ValueError("no start structure: give [structure] (a prototype of the library, e.g. "
                             "prototype = \"lah10\", or a structure file) or [system.structure]")
        return self

    @model_validator(mode="after")
    def _isotopes_from_the_grid(self):
        # each run's hydrogen is the grid point's isotope (structure.build(isotope)): one given here would be ignored
        where = "system.structure" if self.system is not None else "structure"
        if "isotope" in self.structure.model_fields_set:
            raise ValueError(f"{where}.isotope: a study's isotopes are the grid's (grid.isotopes); remove it")
        if HYDROGEN in (self.structure.isotopes or {}):
            raise ValueError(f"{where}.isotopes.{HYDROGEN}: a study's hydrogen isotopes are the grid's (grid.isotopes, "
                             f"each of {', '.join(HYDROGEN_ISOTOPES)}); remove it (other elements take a mass in u)")
        return self

    @model_validator(mode="after")
    def _discard_leaves_data(self):
        if self.md.steps < self.md.stride:
            length = f"time_ps {self.md.time_ps}" if self.md.time_ps is not None else f"steps {self.md.steps}"
            raise ValueError(f"md.{length} is shorter than one output stride ({self.md.stride} steps); run longer")
        discard, recorded = self.analysis.discard_ps, self.md.recorded_ps
        if discard == "auto":
            discard = 0.0  # decided per run from its data; the rows check below counts every row
        if discard < 0:
            raise ValueError(f"analysis.discard_ps {discard:g} must not be negative (or \"auto\")")
        if discard > 0 and discard >= recorded:
            raise ValueError(f"analysis.discard_ps {discard:g} leaves nothing of the {recorded:g} ps each run records "
                             "(md.time_ps less one output stride); set a smaller analysis.discard_ps")
        if self.analysis.report:
            self._enough_rows_for_the_analysis()
        return self

    def _enough_rows_for_the_analysis(self) -> None:
        """Refuse, before any MD, runs whose rows left after ``discard_ps`` are fewer than the cell analysis
        needs for error bars (:data:`hydropimd.analysis.cellshape.MIN_FRAMES`); counted as the analysis counts."""
        from hydropimd.analysis.cellshape import MIN_FRAMES

        md = self.md
        discard = 0.0 if self.analysis.discard_ps == "auto" else self.analysis.discard_ps
        row_ps = md.stride * md.timestep_fs / 1000
        rows = md.steps // md.stride
        times = np.arange(1, rows + 1) * row_ps
        kept = rows - int(np.searchsorted(times - times[0], discard, side="left")) if discard > 0 else rows
        if kept < MIN_FRAMES:
            needed_ps = (MIN_FRAMES + 1) * row_ps + discard
            raise ValueError(f"each run writes {rows} rows, {kept} after analysis.discard_ps {discard:g}; the cell "
                             f"analysis needs at least {MIN_FRAMES}: set md.time_ps to at least {needed_ps:.3g} or a "
                             f"smaller md.stride")

    def digest(self) -> str:
        """Content hash of what defines the MD runs: potential, start structure, grid and MD settings.

        Where the runs execute ([execution], and the [md] options that only place the force evaluations)
        and how they are analysed ([analysis]) may change between calls without touching finished runs
        (the report is recomputed), so they are left out.
        """
        # [system]'s keys are copied in
        return _hash(self._md_payload(self.model_dump(exclude={"execution", "analysis", "system"})))

    def _md_payload(self, payload: dict) -> dict:
        """The digest's payload from a model_dump: the grid's fingerprint, without the [md] keys that only place
        the force evaluations (and PIGLET's, under another sampling)."""
        payload["grid"] = self.grid.fingerprint()
        for key in EXECUTION_ONLY_MD + (PIGLET_ONLY_MD if self.md.sampling == "pile" else ()):
            payload["md"].pop(key)
        return payload

    def earlier_digests(self) -> tuple[str, ...]:
        """The digests earlier versions wrote to study.json for this same configuration, so that their runs stay
        valid: before the shared settings models ([md] and [structure] of the study's own), without and with
        [analysis] (the oldest)."""
        md, structure = self.md, self.structure
        payload = {
            "potential": self.potential.model_dump(), "grid": self.grid.fingerprint(),
            "structure": {k: getattr(structure, k) for k in ("prototype", "a", "x", "cell", "supercell", "start_angles_deg")},
            "md": {"time_ps": md.time_ps, "timestep_fs": md.timestep_fs, "stride": md.stride,
                   "checkpoint_stride": md.checkpoint_stride if md.given("checkpoint_stride") else None,
                   "seed": md.seed, "thermostat_tau_fs": md.thermostat_tau_fs, "barostat_tau_fs": md.barostat_tau_fs,
                   "engine": md.engine, "drivers": md.lammps_clients},
        }
        earlier = (_hash(payload), _hash({**payload, "analysis": self.analysis.model_dump(exclude={"report", "expectations"})}))
        if structure.file is not None:
            # before a [structure] had to name its prototype, a structure file's settings still dumped the old
            # default one
            current = self.model_dump(exclude={"execution", "analysis", "system"})
            current["structure"] = {"prototype": "lah10", **current["structure"]}
            earlier += (_hash(self._md_payload(current)),)
        return earlier

    def runs(self) -> list["RunSpec"]:
        """Every point of the grid, in a stable order."""
        return [RunSpec(t, p, iso, nb) for t, p, iso, nb in self.grid.points()]


class RunSpec(BaseModel):
    """One MD run of the grid: temperature (K), pressure (GPa), isotope, beads."""

    temperature_k: float
    pressure_gpa: float
    isotope: str
    beads: int

    def __init__(self, temperature_k, pressure_gpa, isotope, beads):
        super().__init__(temperature_k=temperature_k, pressure_gpa=pressure_gpa, isotope=isotope, beads=beads)

    @property
    def name(self) -> str:
        """The run's directory name; distinct grid points always get distinct names."""
        return f"T{_label(self.temperature_k)}K-P{_label(self.pressure_gpa)}GPa-{self.isotope}-{self.beads}beads"


def _label(value: float) -> str:
    """``value`` as ``:g`` writes it (120, 0.5) when that is exact, else in full (150.0001 and 150.0002 differ)."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def _hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def resolve_path(value: str, base: Path) -> Path:
    """A file named in the config (:func:`hydropimd.data.location.config_path`)."""
    return config_path(value, base, "the file", "fix the study config")


#: studies shipped with the package, by name (``hydropimd study run lah10-paper``)
SHIPPED_STUDIES = {"demo": "demo.toml", "lah10-paper": "lah10-paper.toml"}


def config_file(path: str | os.PathLike | None) -> Path:
    """The study file: ``path`` if it exists, a shipped study by name (:data:`SHIPPED_STUDIES`), None: the demo."""
    if path is None:
        return Path(__file__).with_name(SHIPPED_STUDIES["demo"])
    if not Path(path).exists():
        if str(path) in SHIPPED_STUDIES:
            return Path(__file__).with_name(SHIPPED_STUDIES[str(path)])
        raise InputError(f"study file {path} does not exist; give a TOML file or a shipped study "
                         f"({', '.join(SHIPPED_STUDIES)})")
    return Path(path)


def load_config(path: str | os.PathLike | None, base: Path | None = None) -> tuple[StudyConfig, Path]:
    """Read and validate a study file (``None``: the shipped demo).  Returns the config and its folder.

    ``base``: the folder its relative paths refer to, when not the file's own (the copy a study
    directory keeps refers to the folder of the file it was made from).
    """
    from hydropimd.config import read_settings_file, validate_settings

    path = config_file(path)
    config = validate_settings(StudyConfig, read_settings_file(path, "study file"), str(path), "fix the study file")
    base = Path(base) if base else path.parent.resolve()
    if config.potential.model.startswith(ACTIVE_PREFIX):
        _from_active_loop(config.potential, base, path)
    if config.structure.file:  # relative to the study file, like every other path in it
        config.structure.file = str(resolve_path(config.structure.file, base))
    _check_inputs(config, base, path)
    return config, base


def _from_active_loop(potential: PotentialConfig, base: Path, path: Path) -> None:
    """``active:DIR`` replaced by the loop's newest committee (absolute paths) and its pair table."""
    from hydropimd.active.loop import trained_committee

    work = Path(potential.model[len(ACTIVE_PREFIX):]).expanduser()
    try:
        found = trained_committee(work if work.is_absolute() else base / work)
    except InputError as err:
        raise InputError(f"{path}: potential.model: {err}") from None
    potential.model = found["models"][0]
    potential.committee = potential.committee or found["models"][1:]
    if potential.pair is None:
        potential.pair = found["pair"]
    elif found["pair"] is None or Path(resolve_path(potential.pair, base)).resolve() != Path(found["pair"]):
        raise InputError(f"{path}: potential.pair differs from the table the loop's models learnt against "
                         f"({found['pair']}); leave potential.pair out")


def _check_inputs(config: StudyConfig, base: Path, path: Path) -> None:
    """Build the start structure and read the models (with their type maps: :func:`_check_types`), pair table,
    compression script and a ``[system] dft`` file: their problems are one-line errors now, before a study
    directory is written or a run started."""
    from hydropimd.dft.settings import load_settings
    from hydropimd.pair.baseline import PairBaseline
    from hydropimd.potential.models import graph_type_map, is_legacy_graph, is_pytorch_model, training_script_from_legacy

    p = config.potential
    for value in (p.model, p.pair, p.compress, *p.committee):
        if value:
            resolve_path(value, base)  # missing files fail here, before anything runs
    key = "structure"
    try:
        elements = sorted(set(config.structure.build(config.grid.isotopes[0]).get_chemical_symbols()))
        types = []
        for key, model in [("potential.model", p.model), *(("potential.committee", m) for m in p.committee)]:
            is_legacy_graph(resolve_path(model, base))  # reads the file: InputError unless a DeePMD-kit graph
            types.append(graph_type_map(resolve_path(model, base)))
        if p.pair:
            key = "potential.pair"
            PairBaseline.from_file(resolve_path(p.pair, base)).check_elements(elements)
        if p.compress:
            key = "potential.compress"
            if is_pytorch_model(resolve_path(p.model, base)):
                raise InputError("a PyTorch model is compressed when it is made (hydropimd model import --backend pt "
                                 "--compress); leave potential.compress out")
            training_script_from_legacy(resolve_path(p.compress, base), data_root())
        if config.system is not None and isinstance(config.system.dft, str):  # a table was checked with [system]
            key = "system.dft"
            load_settings(resolve_path(config.system.dft, base))
    except InputError as err:
        raise InputError(f"{path}: {key}: {err}") from None
    try:
        _check_types(config, types, elements)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None


def _check_types(config: StudyConfig, types: list[list[str] | None], elements: list[str]) -> None:
    """``types``, the type maps of the model and its committee members (None: not read), are one type map that holds
    each element of the start structure, and ``system.type_map``, when given, covers the structure and lists types
    of the model in the model's order: the runs take their types from the model, so any other type map is one the
    study would not use."""
    p, model_types = config.potential, types[0]
    for member, other in zip(p.committee, types[1:]):
        if None not in (model_types, other) and other != model_types:
            raise InputError(f"potential.committee: {member} has the type map {other}, not the model's {model_types}; "
                             "give a committee of one type map")
    lacking = [e for e in elements if model_types is not None and e not in model_types]
    if lacking:
        raise InputError(f"potential.model: the start structure holds {', '.join(lacking)}, which the model's type "
                         f"map {model_types} lacks; give a model trained on these elements, or a structure of "
                         f"{model_types}")
    given = config.system.type_map if config.system is not None else None
    if given is None:
        return
    lacking = [e for e in elements if e not in given]
    if lacking:
        raise InputError(f"system.type_map {given} lacks {', '.join(lacking)} of the start structure; add it, or "
                         "leave type_map out (the model's type map is used)")
    if model_types is not None and [t for t in model_types if t in given] != given:
        foreign = [t for t in given if t not in model_types]
        problem = f"lists {', '.join(foreign)}, not in" if foreign else "is not in the order of"
        raise InputError(f"system.type_map {given} {problem} the model's type map {model_types}; give {model_types} "
                         "or leave type_map out")


def data_root() -> Path | None:
    """The published data root if there is one: where a compression script's training systems are looked up."""
    from hydropimd.data.location import published_root

    try:
        return published_root()
    except InputError:
        return None
