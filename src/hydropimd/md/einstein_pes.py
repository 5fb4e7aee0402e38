"""An Einstein crystal as an i-PI ``custom`` PES: the reference with an exact quantum answer.

Every atom is tied to its starting position by an isotropic spring of angular
frequency omega (force constant m_i omega^2), so each Cartesian degree of
freedom is an independent harmonic oscillator.  Its quantum kinetic energy is
(hbar omega / 4) coth(beta hbar omega / 2) per degree of freedom, and with P
beads the centroid-virial estimator averages to

    <K_cv> = (k_B T / 2) [1 + sum_{k=1}^{P-1} omega^2 / (omega^2 + omega_k^2)],
    omega_k = 2 (P k_B T / hbar) sin(k pi / P)

(ring-polymer normal modes; Ceriotti et al., J. Chem. Phys. 133, 124104 (2010)),
which tends to the quantum value as P grows.  Used to validate path-integral runs.
Displacements use the minimum image of the current cell.  For NVE/NVT only: the
tether has no meaningful stress (the virial returned is sum_i d_i (x) f_i).
"""

from __future__ import annotations

import json

import numpy as np
from ase.io import read
from ipi.pes.dummy import Dummy_driver
from ipi.utils.units import Constants, unit_to_internal

__DRIVER_NAME__ = "hydropimd-einstein"
__DRIVER_CLASS__ = "EinsteinDriver"


class EinsteinDriver(Dummy_driver):
    """Parameters: ``template`` (structure with masses: spring origins), ``frequency_thz`` (omega / 2 pi)."""

    def __init__(self, template, frequency_thz, verbose=False, **kwargs):
        atoms = read(template)
        bohr_per_angstrom = unit_to_internal("length", "angstrom", 1.0)
        self.origin = atoms.positions * bohr_per_angstrom
        omega = 2 * np.pi * float(frequency_thz) / unit_to_internal("time", "picosecond", 1.0)  # rad per atomic time unit
        self.k = (atoms.get_masses() * Constants.amu * omega**2)[:, None]
        super().__init__(verbose=verbose)

    def compute_structure(self, cell, pos):
        d = pos.reshape(-1, 3) - self.origin
        frac = np.linalg.solve(cell, d.T)  # i-PI cell: lattice vectors are columns
        d = (cell @ (frac - np.round(frac))).T
        energy = 0.5 * float(np.sum(self.k * d * d))
        forces = -self.k * d
        virial = d.T @ forces
        return energy, forces.reshape(-1), virial, json.dumps({})
