"""The virial the i-PI driver returns is the strain derivative of the energy it returns.

i-PI's barostat (the study's NPT runs) uses the driver's virial for the pressure and the cell's equation of
motion; a virial in the wrong convention (sign, units, a lattice-vector matrix read by rows instead of
columns) gives a wrong pressure and a wrong cell shape while the energies and forces stay right.  Here the
driver is built and called exactly as i-PI does (parameters as strings, ``check_parameters()``, then
``compute(cell, positions)`` in bohr with the lattice vectors as the cell's columns) and its virial, in
hartree, is compared with central differences of its energy under a homogeneous deformation: every vector
(positions and lattice vectors) v -> (1 + eps) v, and W_ab = -dE/d(eps_ab) for all nine components.

A rotation-invariant energy has a symmetric virial (an antisymmetric eps is a rotation), so the full 3x3
comparison cannot tell a virial from its transpose; what it does catch is a strain applied to the wrong
index of the cell: with the cell's rows taken as lattice vectors, the energy is no longer rotation
invariant in eps, its strain derivative is non-symmetric and disagrees with the virial (by tenths of a
hartree here, measured, as do a virial of the wrong sign or in eV).  The cell is triclinic (three different angles) so that its matrix is not
symmetric, and the positions are rattled so that the pair baseline contributes about a tenth of the virial.
"""

import numpy as np
import pytest
from ase.io import write
from ipi.utils.units import unit_to_internal

from hydropimd.md.ipi_driver import HydropimdDriver
from hydropimd.structures import build_lah10

BOHR_PER_ANGSTROM = unit_to_internal("length", "angstrom", 1.0)  # i-PI's own constant, as the driver's
#: strain step of the central differences: the truncation error (~eps^2) and the round-off of the
#: ~-270 hartree energy (~1e-12 relative, divided by 2 eps) both stay below 1e-7 of the virial
STRAIN_STEP = 1e-5


@pytest.fixture(scope="module")
def structure(tmp_path_factory):
    """The 44-atom LaH10 cell, triclinic and rattled by 0.1 A, written as the driver's template (extxyz)."""
    atoms = build_lah10(a=5.05, angles=(91.0, 89.4, 90.5))
    atoms.positions += np.random.default_rng(1).normal(scale=0.1, size=atoms.positions.shape)
    template = tmp_path_factory.mktemp("driver") / "template.extxyz"
    write(template, atoms)
    return atoms, template


def driver(model, template, pair=None) -> HydropimdDriver:
    """The driver as i-PI builds it from ``<parameters>`` (strings)."""
    made = HydropimdDriver(model=str(model), template=str(template), pair=str(pair) if pair else "", groups="1")
    made.check_parameters()
    return made


def deformed_call(d: HydropimdDriver, atoms, strain: np.ndarray):
    """``d.compute`` of ``atoms`` deformed by v -> (1 + strain) v: energy (hartree), forces, virial (hartree)."""
    deformation = np.eye(3) + strain
    rows = atoms.cell.array @ deformation.T  # lattice vectors as rows, each deformed
    positions = atoms.positions @ deformation.T
    energy, forces, virial, _ = d.compute(rows.T * BOHR_PER_ANGSTROM, (positions * BOHR_PER_ANGSTROM).reshape(-1))
    return energy, forces, virial


def virials(d: HydropimdDriver, atoms) -> tuple[np.ndarray, np.ndarray]:
    """The driver's virial and -dE/d(eps_ab) by central differences, both 3x3 in hartree."""
    virial = np.asarray(deformed_call(d, atoms, np.zeros((3, 3)))[2])
    derivative = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            step = np.zeros((3, 3))
            step[a, b] = STRAIN_STEP
            plus, minus = deformed_call(d, atoms, step)[0], deformed_call(d, atoms, -step)[0]
            derivative[a, b] = -(plus - minus) / (2 * STRAIN_STEP)
    return virial, derivative


def test_virial_is_the_strain_derivative_of_the_energy(structure, subtracted_graph, full_table):
    atoms, template = structure
    model_virial, model_derivative = virials(driver(subtracted_graph, template), atoms)
    full_virial, full_derivative = virials(driver(subtracted_graph, template, full_table), atoms)
    scale = np.abs(full_virial).max()
    assert scale > 1.0  # ~5 hartree: LaH10 near 150 GPa

    # the network alone: its virial is its exact strain derivative (measured 1.4e-9 relative), all nine components
    assert np.abs(model_virial - model_derivative).max() < 1e-7 * np.abs(model_virial).max(), model_virial - model_derivative
    # the energy is rotation invariant: the antisymmetric part of its strain derivative vanishes, as the virial's does
    for derivative in (model_derivative, full_derivative):
        assert np.abs(derivative - derivative.T).max() < 1e-7 * scale, derivative - derivative.T
    assert np.abs(full_virial - full_virial.T).max() < 1e-10 * scale

    # the pair baseline's share (~0.6 hartree here): its forces are the table's force column, consistent with
    # its energy column to the accuracy of LAMMPS' linear interpolation in r^2 (measured 0.14 % here)
    pair_virial, pair_derivative = full_virial - model_virial, full_derivative - model_derivative
    assert np.abs(pair_virial).max() > 0.05 * scale  # the test means something for the pair term
    assert np.abs(pair_virial - pair_derivative).max() < 0.01 * np.abs(pair_virial).max(), pair_virial - pair_derivative
    # model + pair, the study's force field, all nine components (measured 1.5e-4 relative)
    assert np.abs(full_virial - full_derivative).max() < 1e-3 * scale, full_virial - full_derivative
    # compressed LaH10: W = -dE/d(eps) is positive on the diagonal (the pressure times the volume)
    assert np.all(np.diag(full_virial) > 0)
