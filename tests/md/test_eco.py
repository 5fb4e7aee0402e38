"""Economised path integrals (i-PI's ``eco`` normal modes; Zeng and Manolopoulos, arXiv:2607.06414): spring
frequencies refitted so that P beads reproduce the exact harmonic radii of gyration up to max_frequency_cm1."""

import numpy as np
import pytest
from pydantic import ValidationError

from hydropimd.md.beads import kinetic_energy_ratio
from hydropimd.md.api import run_md
from hydropimd.md.settings import MDSettings
from hydropimd.structures import build_lah10
from tests.md.conftest import mean_and_error, read_table

KB_EV = 8.617333262e-5
HBAR_EV_PS = 6.582119569e-4
FREQUENCY_THZ = 40.0  # 1334 cm^-1: hbar omega / kT = 6.4 at 300 K, 19.2 at 100 K
FREQUENCY_CM1 = FREQUENCY_THZ * 33.35640952


@pytest.mark.parametrize("temperature_k", [300.0, 100.0])
def test_eco_gives_its_springs_harmonic_kinetic_energy(tmp_path, temperature_k):
    """An Einstein crystal under eco with 8 beads: the centroid-virial kinetic energy is the one its economised
    springs give analytically (0.990 of the exact quantum value at 300 K, 0.701 at 100 K; measured 0.999 +- 0.003
    and 0.708 +- 0.003), at 300 K the exact value within 1.5 % where Trotter springs are 7 % low, and at 100 K,
    beyond what 8 beads can fit, still closer to it than Trotter's (0.640)."""
    atoms, beads = build_lah10(), 8
    settings = MDSettings(model="", einstein_frequency_thz=FREQUENCY_THZ, temperature_k=temperature_k,
                          ensemble="nvt", beads=beads, steps=1500, stride=10, thermostat_tau_fs=20, sampling="eco",
                          max_frequency_cm1=1340.0)
    run_md(atoms, settings, tmp_path / "eco")
    table = read_table(tmp_path / "eco")
    mean, error = mean_and_error(table["kinetic_cv_ev"][20:])
    ndof, kt = 3 * len(atoms), KB_EV * temperature_k
    x = HBAR_EV_PS * 2 * np.pi * FREQUENCY_THZ / kt
    quantum = ndof * kt * x / 4 / np.tanh(x / 2)
    eco, trotter = (quantum * kinetic_energy_ratio(scheme, beads, temperature_k, FREQUENCY_CM1, 1340.0)[0]
                    for scheme in ("eco", "pile"))
    assert abs(mean / eco - 1) < 0.015 and error / eco < 0.006
    assert abs(mean - quantum) < abs(trotter - quantum) - 0.05 * quantum and trotter / quantum < 0.93
    if temperature_k == 300.0:
        assert abs(mean / quantum - 1) < 0.015
    # the thermostat is PILE's: the bead temperature is the physical one
    temperature, temperature_error = mean_and_error(table["temperature_k"][20:])
    assert abs(temperature - temperature_k) < 4 * temperature_error + 0.01 * temperature_k


def test_eco_needs_a_ring_polymer():
    with pytest.raises(ValidationError, match="sampling eco is a path-integral scheme"):
        MDSettings(model="m.pb", temperature_k=300, pressure_gpa=150, sampling="eco")
