"""Physics of the MD runs: conservation, canonical temperature, pressure, free cell, quantum kinetic energy."""

import numpy as np

from hydropimd.md.settings import MDSettings
from hydropimd.md.api import run_md
from hydropimd.structures import build_lah10, set_isotope
from tests.md.conftest import mean_and_error, read_table

KB_EV = 8.617333262e-5
HBAR_EV_PS = 6.582119569e-4


def test_nve_conserves_energy(tmp_path, lah10_settings, lah10_44):
    run_md(lah10_44, lah10_settings(ensemble="nve", steps=800, stride=10, checkpoint_stride=400), tmp_path / "nve")
    t = read_table(tmp_path / "nve")
    drift_ev_per_ps = np.polyfit(t["time_ps"], t["conserved_ev"], 1)[0]
    # below 1 meV/atom/ps at 0.5 fs, while the potential energy itself swings by far more
    assert abs(drift_ev_per_ps) / 44 < 1e-3
    assert np.ptp(t["potential_ev"]) > 20 * np.ptp(t["conserved_ev"])


def test_nvt_samples_the_target_temperature(tmp_path, lah10_settings, lah10_44):
    run_md(lah10_44, lah10_settings(ensemble="nvt", steps=1000, stride=5, checkpoint_stride=500, thermostat_tau_fs=25),
           tmp_path / "nvt")
    t = read_table(tmp_path / "nvt")
    mean, error = mean_and_error(t["temperature_k"][40:])
    assert abs(mean - 300.0) < 3.5 * error + 3.0
    assert error < 15


def test_npt_reaches_the_pressure_with_a_free_cell(tmp_path, lah10_settings, lah10_44):
    run_md(lah10_44, lah10_settings(steps=1200, stride=5, checkpoint_stride=600, barostat_tau_fs=100), tmp_path / "npt")
    t = read_table(tmp_path / "npt")
    keep = slice(len(t["step"]) // 4, None)
    mean, error = mean_and_error(t["pressure_gpa"][keep])
    assert abs(mean - 150.0) < 3.5 * error + 2.0
    for k in ("a", "b", "c", "alpha", "beta", "gamma"):
        assert np.std(t[k][keep]) > (1e-3 if k in "abc" else 0.05), k  # nothing keeps the cell cubic
    assert not np.allclose(t["a"][keep], t["b"][keep])


def test_path_integral_kinetic_energy_of_a_harmonic_crystal(tmp_path):
    """Centroid-virial kinetic energy with 16 beads against the exact finite-P and quantum results."""
    atoms = build_lah10()
    temperature, frequency_thz, beads = 300.0, 20.0, 16
    settings = MDSettings(model="", einstein_frequency_thz=frequency_thz, temperature_k=temperature, ensemble="nvt",
                          steps=3000, beads=beads, stride=10, checkpoint_stride=1500, thermostat_tau_fs=20)
    run_md(atoms, settings, tmp_path / "ho")
    t = read_table(tmp_path / "ho")
    mean, error = mean_and_error(t["kinetic_cv_ev"][20:])
    ndof = 3 * len(atoms)
    omega = 2 * np.pi * frequency_thz
    kt = KB_EV * temperature
    omega_k = 2 * beads * kt / HBAR_EV_PS * np.sin(np.arange(1, beads) * np.pi / beads)
    finite_p = ndof * kt / 2 * (1 + np.sum(omega**2 / (omega**2 + omega_k**2)))
    quantum = ndof * HBAR_EV_PS * omega / 4 / np.tanh(HBAR_EV_PS * omega / (2 * kt))
    assert abs(mean - finite_p) < 3.5 * error
    assert abs(mean - quantum) / quantum < 0.01  # 16 beads converge this oscillator to 0.5 %
    assert quantum > 1.5 * ndof * kt / 2  # far from classical: the test has teeth
    assert error / mean < 0.01


def test_deuterium_has_less_kinetic_energy(tmp_path, lah10_settings):
    kinetic = {}
    for isotope in ("H", "D"):
        atoms = set_isotope(build_lah10(a=5.05), isotope)
        run_md(atoms, lah10_settings(ensemble="nvt", beads=4, steps=200, stride=5, checkpoint_stride=100,
                                     thermostat_tau_fs=20), tmp_path / isotope)
        t = read_table(tmp_path / isotope)
        kinetic[isotope] = mean_and_error(t["kinetic_cv_ev"][10:])
    (kh, eh), (kd, ed) = kinetic["H"], kinetic["D"]
    classical = 3 / 2 * KB_EV * 300 * 44
    assert kh > kd + 4 * np.hypot(eh, ed)
    assert kd > classical  # both are quantum: zero-point motion
