"""A study: a grid of MD runs plus its analysis, described by one TOML file.

Example (the demo shipped as ``hydropimd/study/demo.toml``)::

    [potential]
    model = "published:models/subtracted/graph.pb"   # "published:" = the data-location rule
    pair = "published:tables/full.table"
    compress = "published:models/subtracted/input.json"  # training script for dp compress (optional)

    [structure]
    a = 5.1
    cell = "conventional"
    supercell = 2
    start_angles_deg = [90.5, 90.5, 90.5]          # slightly rhombohedral start

    [grid]
    temperatures_k = [300]
    pressures_gpa = [80, 115, 150, 185, 220]
    isotopes = ["H"]
    beads = [1]

    [md]
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
rejected); problems come back as one-line :class:`InputError`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hydropimd.errors import InputError
from hydropimd.md.grid import BeadList, TemperatureList

PUBLISHED_PREFIX = "published:"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PotentialConfig(_Strict):
    model: str
    pair: str | None = None
    #: training script of the model: when given, runs use its ``dp compress`` version (cached)
    compress: str | None = None
    committee: list[str] = Field(default_factory=list)


class StructureConfig(_Strict):
    prototype: Literal["lah10"] = "lah10"
    a: float = Field(5.1, gt=0)
    x: float = Field(0.38, gt=0, lt=1)
    cell: Literal["conventional", "primitive"] = "conventional"
    supercell: int | list[int] = 2
    start_angles_deg: list[float] | None = None


class GridConfig(_Strict):
    temperatures_k: TemperatureList
    pressures_gpa: list[float] = Field(min_length=1)
    isotopes: list[Literal["H", "D"]] = Field(default_factory=lambda: ["H"], min_length=1)
    beads: BeadList = Field(default_factory=lambda: [1])



class MDConfig(_Strict):
    time_ps: float = Field(gt=0)
    timestep_fs: float = Field(0.5, gt=0)
    stride: int = Field(20, ge=1)
    checkpoint_stride: int | None = None
    seed: int = 12345
    thermostat_tau_fs: float = Field(100.0, gt=0)
    barostat_tau_fs: float = Field(200.0, gt=0)
    engine: Literal["inprocess", "lammps"] = "inprocess"
    drivers: int = Field(2, ge=1)

    @property
    def steps(self) -> int:
        return round(self.time_ps * 1000 / self.timestep_fs)

    @model_validator(mode="after")
    def _enough_steps(self):
        if self.steps < self.stride:
            raise ValueError(f"time_ps {self.time_ps} is shorter than one output stride ({self.stride} steps)")
        return self


class AnalysisConfig(_Strict):
    discard_ps: float = Field(0.0, ge=0)
    wavelengths_angstrom: list[float] = Field(default_factory=lambda: [0.3344, 0.2952])

    @field_validator("wavelengths_angstrom")
    @classmethod
    def _positive_wavelength(cls, v):
        if any(w <= 0 for w in v):
            raise ValueError("wavelengths must be positive")
        return v


class ClusterConfig(_Strict):
    """A dpdispatcher machine and resources (https://docs.deepmodeling.com/projects/dpdispatcher)."""

    batch_type: str = "Slurm"
    context_type: str = "LocalContext"
    remote_root: str
    remote_profile: dict = Field(default_factory=dict)
    queue_name: str = ""
    cpu_per_node: int = Field(1, ge=1)
    group_size: int = Field(1, ge=1)
    custom_flags: list[str] = Field(default_factory=list)
    #: shell lines run before each job (e.g. activating the environment holding hydropimd)
    source_list: list[str] = Field(default_factory=list)
    envs: dict = Field(default_factory=dict)
    python: str = "python3"


class ExecutionConfig(_Strict):
    mode: Literal["local", "dpdispatcher"] = "local"
    workers: int = Field(default_factory=lambda: len(os.sched_getaffinity(0)), ge=1)
    cluster: ClusterConfig | None = None

    @model_validator(mode="after")
    def _cluster_needed(self):
        if self.mode == "dpdispatcher" and self.cluster is None:
            raise ValueError("mode dpdispatcher needs an [execution.cluster] profile")
        return self


class StudyConfig(_Strict):
    potential: PotentialConfig
    structure: StructureConfig = Field(default_factory=StructureConfig)
    grid: GridConfig
    md: MDConfig
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)

    def digest(self) -> str:
        """Content hash of everything that defines the runs (not where they execute)."""
        physics = self.model_dump(exclude={"execution"})
        return hashlib.sha256(json.dumps(physics, sort_keys=True).encode()).hexdigest()[:16]

    def runs(self) -> list["RunSpec"]:
        """Every point of the grid, in a stable order."""
        g = self.grid
        return [RunSpec(t, p, iso, nb) for t, p, iso, nb in
                itertools.product(g.temperatures_k, g.pressures_gpa, g.isotopes, g.beads)]


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
        return f"T{self.temperature_k:g}K-P{self.pressure_gpa:g}GPa-{self.isotope}-{self.beads}beads"


def resolve_path(value: str, base: Path) -> Path:
    """A file named in the config: ``published:REL`` by the data-location rule, else relative to the config."""
    from hydropimd.data.location import published_path

    if value.startswith(PUBLISHED_PREFIX):
        return published_path(value[len(PUBLISHED_PREFIX):])
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise InputError(f"{value} named in the study config does not exist ({path})")
    return path


def load_config(path: str | os.PathLike | None) -> tuple[StudyConfig, Path]:
    """Read and validate a study file (``None``: the shipped demo).  Returns the config and its folder."""
    path = Path(path) if path else Path(__file__).with_name("demo.toml")
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"study file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path} is not valid TOML: {err}") from None
    try:
        config = StudyConfig.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{path}: {where}: {first['msg']} (fix the study file)") from None
    base = path.parent.resolve()
    for value in (config.potential.model, config.potential.pair, config.potential.compress, *config.potential.committee):
        if value:
            resolve_path(value, base)  # missing files fail here, before anything runs
    return config, base
