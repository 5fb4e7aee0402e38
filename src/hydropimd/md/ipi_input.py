"""The i-PI input file of a run, generated from :class:`MDSettings`.

Physics (SPEC section 7): constant-pressure MD with every cell parameter free,
through i-PI's ``flexible`` barostat, the path-integral
Martyna-Tuckerman-Tobias-Klein barostat (Martyna, Hughes and Tuckerman,
J. Chem. Phys. 110, 3275 (1999)), with temperature controlled by the PILE
thermostat (Ceriotti, Parrinello, Markland and Manolopoulos, J. Chem. Phys.
133, 124104 (2010)).

Thermostat choices, documented here because they are ours:

* ring-polymer internal modes: PILE, critically damped (``pile_lambda`` 1,
  i-PI's default, i.e. gamma_k = 2 omega_k), which is optimal for sampling
  static properties such as the cell shape;
* centroid: PILE-L, a local Langevin thermostat with time constant
  ``thermostat_tau_fs`` (default 100 fs): strong enough to equilibrate a
  2816-atom cell in a few ps, weak against the ~10-100 fs vibrations of H;
* cell: its own Langevin thermostat (``cell_thermostat_tau_fs``, default
  100 fs) on the barostat momenta, which is how i-PI keeps the cell
  fluctuations canonical; barostat time constant ``barostat_tau_fs``
  (default 200 fs) sets the cell mass.

Values carry units in the XML (i-PI converts them to atomic units on reading):
temperatures in kelvin, pressures in gigapascal, times in femtoseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from hydropimd.errors import InputError

ENSEMBLES = ("npt", "nvt", "nve")
FORCEFIELD_NAME = "hydropimd"


@dataclass
class MDSettings:
    """Everything that defines a run apart from the starting structure.

    Units: kelvin, gigapascal, femtoseconds; ``steps`` and strides in MD steps.
    """

    model: str
    temperature_k: float
    pressure_gpa: float | None = None
    steps: int = 1000
    beads: int = 1
    timestep_fs: float = 0.5
    ensemble: str = "npt"
    seed: int = 12345
    stride: int = 10
    checkpoint_stride: int = 100
    thermostat_tau_fs: float = 100.0
    barostat_tau_fs: float = 200.0
    cell_thermostat_tau_fs: float = 100.0
    pair: str | None = None
    committee: list[str] = field(default_factory=list)
    monitor_stride: int = 0
    dev_warn: float | None = None
    engine: str = "inprocess"
    drivers: int = 2
    threads_per_driver: int = 1
    #: MPI ranks of each LAMMPS client (domain decomposition of large cells)
    ranks_per_driver: int = 1
    #: 0: a unix socket (clients on this machine); > 0: an inet socket on this port, so that LAMMPS
    #: clients on other machines can serve the run (they use lammps/client-remote.in of the run directory)
    port: int = 0
    save_beads: bool = False
    #: bead groups evaluated concurrently in-process (0: one per core available)
    bead_groups: int = 0
    #: reference potential instead of the model: an Einstein crystal of this frequency (THz); NVE/NVT only
    einstein_frequency_thz: float | None = None

    def validate(self) -> None:
        """One-line errors for impossible settings (before anything runs)."""
        if self.ensemble not in ENSEMBLES:
            raise InputError(f"ensemble '{self.ensemble}' must be one of {', '.join(ENSEMBLES)}")
        if not self.temperature_k > 0:
            raise InputError(f"temperature {self.temperature_k} K must be positive")
        if not self.timestep_fs > 0:
            raise InputError(f"timestep {self.timestep_fs} fs must be positive")
        if self.steps < 1:
            raise InputError(f"number of steps {self.steps} must be positive")
        if self.beads < 1:
            raise InputError(f"number of beads {self.beads} must be positive")
        if self.ensemble == "npt" and self.pressure_gpa is None:
            raise InputError("an NPT run needs --pressure-gpa")
        for name in ("stride", "checkpoint_stride"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be a positive number of steps")
        if self.checkpoint_stride % self.stride:
            raise InputError(f"checkpoint stride {self.checkpoint_stride} must be a multiple of the output stride {self.stride}")
        if self.monitor_stride and self.monitor_stride % self.stride:
            raise InputError(f"monitor stride {self.monitor_stride} must be a multiple of the output stride {self.stride}")
        if self.engine not in ("inprocess", "lammps"):
            raise InputError(f"engine '{self.engine}' must be inprocess or lammps")
        if self.einstein_frequency_thz is not None and (self.ensemble == "npt" or self.engine != "inprocess"):
            raise InputError("the Einstein reference potential runs only in-process at constant volume (nve or nvt)")
        if self.engine == "lammps" and (self.drivers < 0 or (self.drivers == 0 and not self.port)):
            raise InputError("--drivers must be at least 1 (0 only with --port, when remote clients serve the run)")
        if self.ranks_per_driver < 1 or self.threads_per_driver < 1:
            raise InputError("--ranks-per-driver and --threads must be at least 1")
        if not 0 <= self.port < 65536:
            raise InputError(f"port {self.port} must lie between 1 and 65535 (0: unix socket)")
        for tau in ("thermostat_tau_fs", "barostat_tau_fs", "cell_thermostat_tau_fs"):
            if not getattr(self, tau) > 0:
                raise InputError(f"{tau} must be positive")


def _forcefield_xml(settings: MDSettings, template: Path, driver_path: Path, socket_address: str | None) -> str:
    if settings.einstein_frequency_thz is not None:
        return (f"  <ffdirect name='{FORCEFIELD_NAME}' pbc='false'>\n"
                f"    <pes>custom</pes>\n    <pes_path>{escape(str(driver_path.with_name('einstein_pes.py')))}</pes_path>\n"
                f"    <parameters>{{template: {escape(str(template))}, frequency_thz: {settings.einstein_frequency_thz!r}}}</parameters>\n"
                f"  </ffdirect>\n")
    if settings.engine == "lammps" and settings.port:
        return (f"  <ffsocket name='{FORCEFIELD_NAME}' mode='inet' pbc='false'>\n"
                f"    <address>0.0.0.0</address>\n    <port>{settings.port}</port>\n    <latency>1e-4</latency>\n"
                f"  </ffsocket>\n")
    if settings.engine == "lammps":
        return (f"  <ffsocket name='{FORCEFIELD_NAME}' mode='unix' pbc='false'>\n"
                f"    <address>{escape(socket_address)}</address>\n    <latency>1e-4</latency>\n"
                f"  </ffsocket>\n")
    params = {
        "model": str(Path(settings.model).resolve()),
        "template": str(template),
        "pair": str(Path(settings.pair).resolve()) if settings.pair else "",
        "committee": ";".join(str(Path(c).resolve()) for c in settings.committee),
        "groups": str(settings.bead_groups) if settings.bead_groups else "",
    }
    # i-PI reads <parameters> as a {key: value, ...} dictionary split on commas
    if any("," in v for v in params.values()):
        raise InputError(f"file paths given to i-PI may not contain commas: {params}")
    body = ", ".join(f"{k}: {v}" for k, v in params.items() if v)
    return (f"  <ffdirect name='{FORCEFIELD_NAME}' pbc='false'>\n"
            f"    <pes>custom</pes>\n    <pes_path>{escape(str(driver_path))}</pes_path>\n"
            f"    <batch_size>{settings.beads}</batch_size>\n"
            f"    <parameters>{{{escape(body)}}}</parameters>\n"
            f"  </ffdirect>\n")


def _dynamics_xml(s: MDSettings) -> str:
    step = f"      <timestep units='femtosecond'>{s.timestep_fs!r}</timestep>\n"
    thermostat = (f"      <thermostat mode='pile_l'>\n        <tau units='femtosecond'>{s.thermostat_tau_fs!r}</tau>\n"
                  f"      </thermostat>\n")
    if s.ensemble == "nve":
        return f"    <dynamics mode='nve'>\n{step}    </dynamics>\n"
    if s.ensemble == "nvt":
        return f"    <dynamics mode='nvt'>\n{thermostat}{step}    </dynamics>\n"
    barostat = (f"      <barostat mode='flexible'>\n        <tau units='femtosecond'>{s.barostat_tau_fs!r}</tau>\n"
                f"        <thermostat mode='langevin'>\n          <tau units='femtosecond'>{s.cell_thermostat_tau_fs!r}</tau>\n"
                f"        </thermostat>\n      </barostat>\n")
    return f"    <dynamics mode='npt'>\n{barostat}{thermostat}{step}    </dynamics>\n"


def ipi_input_xml(
    settings: MDSettings,
    structure_file: Path,
    driver_path: Path,
    socket_address: str | None = None,
) -> str:
    """The complete i-PI input.  Runnable by hand with ``i-pi input.xml``: its
    ``<output>`` section writes i-PI's own property file, centroid trajectory and
    checkpoints (hydropimd's runner replaces these with its own, resumable outputs)."""
    s = settings
    pressure = (f"    <pressure units='gigapascal'>{s.pressure_gpa!r}</pressure>\n" if s.ensemble == "npt" else "")
    return (
        "<simulation verbosity='quiet' safe_stride='1'>\n"
        "  <output prefix='ipi'>\n"
        f"    <properties stride='{s.stride}' filename='out'> [ step, time{{picosecond}}, conserved{{electronvolt}}, "
        "temperature{kelvin}, kinetic_cv{electronvolt}, potential{electronvolt}, pressure_cv{gigapascal}, "
        "volume{angstrom3}, cell_abcABC ] </properties>\n"
        f"    <trajectory filename='xc' stride='{s.stride}' format='ase'> x_centroid </trajectory>\n"
        f"    <checkpoint stride='{s.checkpoint_stride}' overwrite='true'/>\n"
        "  </output>\n"
        f"  <total_steps>{s.steps}</total_steps>\n"
        f"  <prng><seed>{s.seed}</seed></prng>\n"
        # relative to the run directory, from which i-PI is loaded: runs stay relocatable (clusters resume elsewhere)
        f"{_forcefield_xml(s, Path(structure_file.name), driver_path, socket_address)}"
        "  <system>\n"
        f"    <initialize nbeads='{s.beads}'>\n"
        f"      <file mode='ase' units='angstrom' cell_units='angstrom'> {escape(structure_file.name)} </file>\n"
        f"      <velocities mode='thermal' units='kelvin'> {s.temperature_k!r} </velocities>\n"
        "    </initialize>\n"
        f"    <forces><force forcefield='{FORCEFIELD_NAME}'/></forces>\n"
        "    <motion mode='dynamics'>\n"
        f"{_dynamics_xml(s)}"
        "    </motion>\n"
        "    <ensemble>\n"
        f"      <temperature units='kelvin'>{s.temperature_k!r}</temperature>\n"
        f"{pressure}"
        "    </ensemble>\n"
        "  </system>\n"
        "</simulation>\n"
    )
