"""The i-PI input file of a run, generated from :class:`MDSettings`.

Physics (docs/theory/path-integrals.md): constant-pressure MD with every cell parameter free,
through i-PI's ``flexible`` barostat, the path-integral
Martyna-Tuckerman-Tobias-Klein barostat (Martyna, Hughes and Tuckerman,
J. Chem. Phys. 110, 3275 (1999)), with temperature controlled by the PILE
thermostat (Ceriotti, Parrinello, Markland and Manolopoulos, J. Chem. Phys.
133, 124104 (2010)).

Thermostat choices (their defaults and the reasons for them are in
:mod:`hydropimd.md.settings`):

* ring-polymer internal modes: PILE, critically damped (``pile_lambda`` 1,
  i-PI's default, i.e. gamma_k = 2 omega_k), which is optimal for sampling
  static properties such as the cell shape;
* centroid: PILE-L, a local Langevin thermostat with time constant
  ``thermostat_tau_fs``;
* cell: its own Langevin thermostat (``cell_thermostat_tau_fs``) on the
  barostat momenta, which is how i-PI keeps the cell fluctuations canonical;
  the barostat time constant ``barostat_tau_fs`` sets the cell mass.

Values carry units in the XML (i-PI converts them to atomic units on reading):
temperatures in kelvin, pressures in gigapascal, times in femtoseconds.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from hydropimd.errors import InputError
from hydropimd.md.settings import MDSettings

FORCEFIELD_NAME = "hydropimd"


def _forcefield_xml(settings: MDSettings, template: Path, driver_path: Path, socket_address: str | None,
                    reference_volume_a3: float | None) -> str:
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
        "groups": str(settings.bead_groups) if settings.bead_groups else "",
        "reference_volume_a3": repr(float(reference_volume_a3)) if reference_volume_a3 else "",
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


def _thermostat_xml(s: MDSettings) -> str:
    """PILE-L (centroid time constant thermostat_tau_fs), or PIGLET's matrices (:mod:`hydropimd.md.piglet`) for
    the temperature, bead count and frequency range of the run (the library is read now: the input is complete)."""
    if s.sampling in ("pile", "eco"):
        return (f"      <thermostat mode='pile_l'>\n        <tau units='femtosecond'>{s.thermostat_tau_fs!r}</tau>\n"
                f"      </thermostat>\n")
    from hydropimd.data.location import gle4md_root
    from hydropimd.md.piglet import choose_range, nm_gle_xml, piglet_matrices

    library = gle4md_root(s.gle_library, fetch=True)
    fitted = choose_range(library, s.beads, s.temperature_k, s.max_frequency_cm1, s.piglet_range)
    return nm_gle_xml(*piglet_matrices(library, s.beads, s.temperature_k, fitted), indent="      ")


def _normal_modes_xml(s: MDSettings) -> str:
    """Economised springs (i-PI's ``eco`` normal-mode frequencies, Zeng & Manolopoulos, arXiv:2607.06414): the ring
    polymer's spring frequencies refitted so that P beads reproduce the exact harmonic radii of gyration up to
    ``max_frequency_cm1``; the masses and the centroid-virial estimators stay those of the Trotter path integral."""
    if s.sampling != "eco":
        return ""
    return (f"    <normal_modes>\n      <frequencies style='eco' units='inversecm'> [ {s.max_frequency_cm1!r} ] "
            "</frequencies>\n    </normal_modes>\n")


def _dynamics_xml(s: MDSettings) -> str:
    step = f"      <timestep units='femtosecond'>{s.timestep_fs!r}</timestep>\n"
    thermostat = _thermostat_xml(s)
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
    reference_volume_a3: float | None = None,
) -> str:
    """The complete i-PI input.  Runnable by hand with ``i-pi input.xml``: its
    ``<output>`` section writes i-PI's own property file, centroid trajectory and
    checkpoints (hydropimd's runner replaces these with its own, resumable outputs)."""
    s = settings
    pressure = (f"    <pressure units='gigapascal'>{s.pressure_gpa!r}</pressure>\n" if s.ensemble == "npt" else "")
    return (
        # floatformat: i-PI writes checkpoints (positions, momenta, cell momenta, thermostat states) with this
        # format; its default %16.8e (9 digits) made resumed runs drift from uninterrupted ones (1e-5 K after
        # 400 steps); 17 significant digits round-trip a double exactly
        "<simulation verbosity='quiet' safe_stride='1' floatformat='%25.16e'>\n"
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
        f"{_forcefield_xml(s, Path(structure_file.name), driver_path, socket_address, reference_volume_a3)}"
        "  <system>\n"
        f"    <initialize nbeads='{s.beads}'>\n"
        f"      <file mode='ase' units='angstrom' cell_units='angstrom'> {escape(structure_file.name)} </file>\n"
        f"      <velocities mode='thermal' units='kelvin'> {s.temperature_k!r} </velocities>\n"
        "    </initialize>\n"
        f"    <forces><force forcefield='{FORCEFIELD_NAME}'/></forces>\n"
        f"{_normal_modes_xml(s)}"
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
