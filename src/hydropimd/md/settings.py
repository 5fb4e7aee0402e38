"""The settings of an MD run, defined once: :class:`MDOptions` (how to integrate and record) and
:class:`MDSettings` (a whole run: options plus potential and thermodynamic point).

The study's ``[md]`` table and the exploration grid embed :class:`MDOptions`; ``hydropimd md
run`` mirrors :class:`MDSettings` (its options are generated from these fields, so a default
changes here and nowhere else).  Units are in the field names: kelvin, gigapascal,
femtoseconds, picoseconds, eV/angstrom; steps and strides count MD steps.

Physics (docs/theory/path-integrals.md): constant-pressure MD with every cell parameter free through i-PI's
``flexible`` barostat (Martyna, Hughes and Tuckerman, J. Chem. Phys. 110, 3275 (1999)),
temperature controlled by PILE (Ceriotti, Parrinello, Markland and Manolopoulos, J. Chem.
Phys. 133, 124104 (2010)).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, PrivateAttr, model_validator

from hydropimd.config import Settings

#: default number of MD steps when neither ``steps`` nor ``time_ps`` is given: 500 fs at 0.5 fs
DEFAULT_STEPS = 1000
#: checkpoints every this many output strides unless ``checkpoint_stride`` says otherwise: a kill loses at most
#: ten rows of work, and a checkpoint (an i-PI XML of every bead) stays a small fraction of the run's I/O
CHECKPOINT_EVERY_STRIDES = 10
#: with a committee, its force deviation is evaluated every this many output strides unless ``monitor_stride`` is
#: given: the committee costs one evaluation per member, so this keeps it near 1/10 of a model call per step
MONITOR_EVERY_STRIDES = 10


class MDOptions(Settings):
    """How a trajectory is integrated, thermostatted, recorded and where its forces come from."""

    # ------------------------------------------------------------------ length and integration
    steps: int | None = Field(None, ge=1, description="number of MD steps (or give time_ps)")
    time_ps: float | None = Field(None, gt=0, description="simulated time, ps (instead of steps)")
    #: 0.5 fs: the study's timestep (docs/theory/path-integrals.md); 25 steps per period of the fastest H stretch (~2700 cm^-1)
    #: at most 10 fs: a bound on typos, not on physics (H needs <= ~1 fs; heavy-atom-only systems a few fs)
    timestep_fs: float = Field(0.5, gt=0, le=10.0, validation_alias=AliasChoices("timestep_fs", "dt_fs"),
                               description="timestep, fs")
    ensemble: Literal["npt", "nvt", "nve"] = Field("npt", description="npt: every cell parameter free")
    seed: int = Field(12345, description="seed of i-PI's random numbers (thermostats, initial velocities)")
    # ------------------------------------------------------------------ thermostats and barostat
    #: PILE-L centroid: 100 fs equilibrates a 2816-atom cell in a few ps and barely perturbs the ~10-100 fs H motion
    thermostat_tau_fs: float = Field(100.0, gt=0, description="PILE-L centroid thermostat time constant, fs")
    #: sets the cell mass: 200 fs is slow against atomic motion, fast against the ps-scale cell-shape fluctuations
    barostat_tau_fs: float = Field(200.0, gt=0, description="barostat time constant, fs")
    #: Langevin thermostat on the cell momenta, i-PI's way of keeping the cell fluctuations canonical
    cell_thermostat_tau_fs: float = Field(100.0, gt=0, description="cell Langevin thermostat time constant, fs")
    #: pile: the study's PILE; piglet: PIGLET (Ceriotti & Manolopoulos 2012), colored-noise thermostats on every
    #: normal mode that converge quantum observables with a few beads (hydropimd.md.piglet); eco: i-PI's economised
    #: path integrals (Zeng & Manolopoulos 2026), PILE with spring frequencies fitted to reproduce harmonic radii
    #: of gyration up to max_frequency_cm1; piglet and eco need beads >= 2
    sampling: Literal["pile", "piglet", "eco"] = Field("pile", description="path-integral scheme: pile, piglet or eco")
    #: 4400 cm^-1: above the H2 vibron (4161 cm^-1), the stiffest vibration hydrogen has; 'analyze phonons' gives
    #: a system's own highest frequency, which allows a tighter fit
    max_frequency_cm1: float = Field(4400.0, gt=0,
                                     description="highest vibrational frequency PIGLET or eco must cover, cm^-1")
    #: X of the library's fit (hbar omega_max / kT); default: the smallest that covers max_frequency_cm1
    piglet_range: int | None = Field(None, gt=0, description="PIGLET fit range hbar*omega_max/kT (default: automatic)")
    gle_library: str | None = Field(None, description="GLE4MD library folder (default: the data-location rule)")
    # ------------------------------------------------------------------ records
    #: 10 steps = 5 fs at 0.5 fs: about one H vibration, so successive rows are not copies of each other
    stride: int = Field(10, ge=1, description="steps between table rows and frames")
    checkpoint_stride: int | None = Field(None, ge=1, description="steps between checkpoints "
                                          f"(default {CHECKPOINT_EVERY_STRIDES} output strides)")
    monitor_stride: int | None = Field(None, ge=0, description="steps between committee force deviations "
                                       f"(default {MONITOR_EVERY_STRIDES} output strides with a committee; 0: never)")
    dev_warn: float | None = Field(None, gt=0, description="warn once when the max committee force deviation "
                                   "exceeds this, eV/A")
    # ------------------------------------------------------------------ force engine (not the trajectory)
    #: in-process and i-PI + LAMMPS are at parity on CPU (bench/md.py); in-process needs no sockets
    engine: Literal["inprocess", "lammps"] = Field("inprocess", description="where forces come from")
    #: one LAMMPS client per core of the 2-core machine measured in bench/md.py ("drivers" in i-PI's words)
    lammps_clients: int = Field(2, ge=0, validation_alias=AliasChoices("lammps_clients", "drivers"),
                                description="LAMMPS clients (engine lammps; 0 only with port)")
    threads_per_client: int = Field(1, ge=1, validation_alias=AliasChoices("threads_per_client", "threads_per_driver"),
                                    description="OpenMP threads per LAMMPS client")
    ranks_per_client: int = Field(1, ge=1, validation_alias=AliasChoices("ranks_per_client", "ranks_per_driver"),
                                  description="MPI ranks of each LAMMPS client")
    port: int = Field(0, ge=0, lt=65536, description="inet socket port for LAMMPS clients on other machines "
                      "(0: a unix socket, local clients)")
    bead_groups: int = Field(0, ge=0, description="bead groups evaluated concurrently in-process (0: one per core)")

    #: the fields the user gave, before the defaults that follow from other fields were filled in
    _given: frozenset = PrivateAttr(frozenset())

    @model_validator(mode="after")
    def _resolve_defaults(self):
        """Fill in the defaults that follow from other fields, once, so that a stored run names its values."""
        self._given = frozenset(self.model_fields_set)
        if self.steps is not None and self.time_ps is not None:
            if self.steps != steps_for(self.time_ps, self.timestep_fs):
                raise ValueError("give steps or time_ps, not both")
        elif self.time_ps is not None:
            self.steps = steps_for(self.time_ps, self.timestep_fs)
        elif self.steps is None:
            self.steps = DEFAULT_STEPS
        if self.steps < 1:
            raise ValueError(f"time_ps {self.time_ps} is shorter than one timestep")
        self._check_whole_strides()
        if self.checkpoint_stride is None:
            self.checkpoint_stride = CHECKPOINT_EVERY_STRIDES * self.stride
        if self.checkpoint_stride % self.stride:
            raise ValueError(f"checkpoint_stride {self.checkpoint_stride} must be a multiple of stride {self.stride}")
        if self.monitor_stride and self.monitor_stride % self.stride:
            raise ValueError(f"monitor_stride {self.monitor_stride} must be a multiple of stride {self.stride}")
        if self.engine == "lammps" and self.lammps_clients == 0 and not self.port:
            raise ValueError("lammps_clients must be at least 1 (0 only with port, when remote clients serve the run)")
        return self

    def _check_whole_strides(self) -> None:
        """Refuse a run whose steps are not a whole number of output strides (a stride longer than the run included):
        the runner advances i-PI one stride at a time and records, and checkpoints at the end, only on whole strides,
        so such a run overshot its end, never recorded it, and every resume recomputed the same steps."""
        if self.steps % self.stride == 0:
            return
        fewer, more = self.steps // self.stride * self.stride, (self.steps // self.stride + 1) * self.stride
        length = f"time_ps {self.time_ps:g} ({self.steps} steps)" if self.time_ps is not None else f"steps {self.steps}"
        raise ValueError(f"{length} must be a multiple of stride {self.stride} (a row is written every stride steps "
                         f"and a run ends on a row): give steps {f'{fewer} or ' if fewer else ''}{more}, or a stride "
                         f"that divides {self.steps}")

    def given(self, name: str) -> bool:
        """Whether ``name`` was given (rather than filled in from a default)."""
        return name in self._given

    @property
    def recorded_ps(self) -> float:
        """Time covered by a run's rows (the first is written after one output stride), ps."""
        return (self.steps - self.stride) * self.timestep_fs / 1000


class MDSettings(MDOptions):
    """Everything that defines a run apart from the starting structure (stored in its ``run.json``)."""

    model: str | None = Field(None, description="DeePMD-kit model (1.x graphs are upgraded automatically)")
    pair: str | None = Field(None, description="pair table added to the model")
    committee: list[str] = Field(default_factory=list, description="extra models for the force deviation")
    temperature_k: float = Field(gt=0, description="temperature, K")
    #: |P| <= 10 000 GPa: a bound on typos (Jupiter's core is ~4 000 GPa; the hydrides of interest, 50-500 GPa)
    pressure_gpa: float | None = Field(None, ge=-10000.0, le=10000.0, description="pressure, GPa (npt)")
    beads: int = Field(1, ge=1, description="path-integral beads (1: classical nuclei)")
    save_beads: bool = Field(False, description="also write every bead (for active learning)")
    #: a reference potential instead of the model: an Einstein crystal of this frequency, THz (nve and nvt only)
    einstein_frequency_thz: float | None = Field(None, gt=0, description="Einstein crystal reference potential, THz")

    @model_validator(mode="after")
    def _complete(self):
        if self.ensemble == "npt" and self.pressure_gpa is None:
            raise ValueError("an NPT run needs pressure_gpa")
        if self.einstein_frequency_thz is not None and (self.ensemble == "npt" or self.engine != "inprocess"):
            raise ValueError("the Einstein reference potential runs only in-process at constant volume (nve or nvt)")
        if self.einstein_frequency_thz is None and not self.model:
            raise ValueError("a run needs a model")
        if self.sampling != "pile" and (self.beads < 2 or self.ensemble == "nve"):
            raise ValueError(f"sampling {self.sampling} is a path-integral scheme: give beads >= 2 and ensemble nvt "
                             "or npt")
        if self.monitor_stride is None:
            self.monitor_stride = MONITOR_EVERY_STRIDES * self.stride if self.committee else 0
        return self

    @classmethod
    def at_point(cls, options: MDOptions, **point) -> "MDSettings":
        """The settings of one run: ``options`` (a study's or an exploration's) at a point (model, temperature_k, ...).
        A grid's classical points (one bead) run with the plain Langevin thermostat whatever path-integral scheme
        the grid's other points use: PIGLET and eco act on ring-polymer modes a single bead does not have."""
        values = {**options.model_dump(include=set(MDOptions.model_fields)), **point}
        if values.get("beads", 1) == 1:
            values["sampling"] = "pile"
        return cls(**values)


def steps_for(time_ps: float, timestep_fs: float) -> int:
    """The number of steps that simulates ``time_ps`` at ``timestep_fs`` (rounded to the nearest step)."""
    return round(time_ps * 1000 / timestep_fs)
