"""Harmonic phonons (phonopy) with an ASE calculator: an exactly solvable crystal, the acoustic sum rule of the
published potential, where that potential puts the harmonic stability of fcc LaH10, and the command's refusals."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from ase.units import fs

from hydropimd.analysis.phonons import analyze_phonons, harmonic_phonons, relax_at_pressure, standard_cells
from hydropimd.errors import InputError, RunFailed
from hydropimd.structures import build_structure
from tests.conftest import assert_one_line_error, run_cli

#: argon-like Lennard-Jones parameters (eV, angstrom); only nearest neighbours interact (cutoff between shells)
EPSILON, SIGMA = 0.0104, 3.4
R0 = 2 ** (1 / 6) * SIGMA  # the pair minimum: a nearest-neighbour crystal there has no forces and no stress


def _nn_spring_frequencies_thz(q_reduced, primitive_cell, mass_amu) -> np.ndarray:
    """Exact harmonic frequencies (THz) of a monatomic crystal whose nearest neighbours (at R0) are joined by central
    springs K = phi''(R0) = 72 epsilon / R0^2 (no first-derivative term: phi'(R0) = 0):
    D(q) = (K / m) sum_delta (1 - cos q.delta) delta_hat delta_hat^T."""
    cell = np.asarray(primitive_cell)
    n = np.array(np.meshgrid(*[range(-2, 3)] * 3)).reshape(3, -1).T
    vectors = n @ cell
    delta = vectors[np.isclose(np.linalg.norm(vectors, axis=1), R0, rtol=1e-6)]
    assert len(delta) == 12  # fcc
    spring = 72 * EPSILON / R0**2
    q_cart = 2 * np.pi * np.asarray(q_reduced) @ np.linalg.inv(cell).T
    unit = delta / np.linalg.norm(delta, axis=1)[:, None]
    out = []
    for q in q_cart:
        d = spring / mass_amu * np.einsum("k,ki,kj->ij", 1 - np.cos(delta @ q), unit, unit)
        omega = np.sqrt(np.clip(np.linalg.eigvalsh(d), 0, None)) * fs * 1e3  # rad/ps
        out.append(omega / (2 * np.pi))
    return np.array(out)


def test_nearest_neighbour_crystal_matches_the_analytic_dispersion():
    a = np.sqrt(2) * R0
    crystal = bulk("Ar", "fcc", a=a, cubic=True)
    calc = LennardJones(sigma=SIGMA, epsilon=EPSILON, rc=0.85 * a)  # first shell a/sqrt2 = 0.707 a, second a
    result = harmonic_phonons(crystal, calc, supercell=2, mesh=6)
    assert result["n_atoms_primitive"] == 1 and result["space_group"].startswith("Fm-3m")
    q = np.concatenate(result["band_structure"]["qpoints"])
    expected = _nn_spring_frequencies_thz(q, result["primitive_cell_angstrom"], crystal.get_masses()[0])
    computed = np.sort(np.concatenate(result["band_structure"]["frequencies_thz"]), axis=1)
    assert np.abs(computed - expected).max() < 2e-3 * expected.max()
    # X: omega_L^2 = 8 K / m, omega_T^2 = 4 K / m (the textbook fcc result), and no imaginary mode anywhere
    x = np.array(result["band_structure"]["special_points"]["X"])
    nu_x = _nn_spring_frequencies_thz([x], result["primitive_cell_angstrom"], crystal.get_masses()[0])[0]
    assert nu_x[2] / nu_x[0] == pytest.approx(np.sqrt(2), rel=1e-9)
    assert result["imaginary_modes"] == [] and result["max_frequency_thz"] == pytest.approx(expected.max(), rel=2e-3)
    # theta_D(2): on a mesh commensurate with the lattice sum_q cos(q.delta) = 0, so <omega^2> = tr D / 3 = 4 K / m
    omega2 = 4 * (72 * EPSILON / R0**2) / crystal.get_masses()[0] * (fs * 1e3) ** 2  # (rad/ps)^2
    theta = 47.9924 * np.sqrt(5 / 3 * omega2) / (2 * np.pi)  # h nu / k_B, nu in THz
    assert result["debye_temperature_k"] == pytest.approx(theta, rel=1e-2)  # Gamma's three zero modes: 1/216

@pytest.fixture(scope="module")
def potential(subtracted_graph, full_table):
    from hydropimd.potential.calculator import HydridePotential

    return HydridePotential(subtracted_graph, full_table)


@pytest.fixture(scope="module")
def lah10_primitive():
    return standard_cells(build_structure("lah10"))["primitive"]


def _phonons_at(potential, primitive, pressure_gpa):
    relaxed, record = relax_at_pressure(primitive, potential, pressure_gpa)
    assert abs(record["pressure_reached_gpa"] - pressure_gpa) < 0.5
    return harmonic_phonons(relaxed, potential, mesh=8)


def test_published_potential_obeys_the_acoustic_sum_rule_and_is_harmonically_unstable_at_150_gpa(potential, lah10_primitive):
    result = _phonons_at(potential, lah10_primitive, 150.0)
    assert result["space_group"] == "Fm-3m (225)" and result["n_atoms_primitive"] == 11
    assert max(result["gamma_acoustic_thz"]) < 0.1  # force constants not symmetrised: the model's own invariance
    assert result["imaginary_modes"] and result["lowest_frequency_thz"] < -1.0
    # hydrogen modes: the highest frequency is far above k_B T / h (6.25 THz at 300 K), and so is theta_D(2)
    assert 30 < result["max_frequency_thz"] < 120 and result["debye_temperature_k"] > 300


def test_published_potential_stabilises_fcc_lah10_at_200_gpa(potential, lah10_primitive):
    # the model's harmonic boundary lies between 190 GPa (imaginary modes near Gamma) and 200 GPa, below the
    # ~250 GPa of the study's DFT; no 300 GPa check: the model's Fm-3m branch ends below it (next test)
    result = _phonons_at(potential, standard_cells(build_structure("lah10", a=4.95))["primitive"], 200.0)
    assert result["imaginary_modes"] == [], result["lowest_frequency_thz"]
    assert result["lowest_frequency_thz"] > -0.05


def test_the_fcc_branch_of_the_published_potential_ends_below_300_gpa(potential, lah10_primitive):
    # the model's P(V) of Fm-3m LaH10 has a maximum (~265 GPa, outside its 80-220 GPa training range): beyond it
    # the relaxation would fall onto a collapsed state; it must say so instead of returning that state's phonons
    compressed = standard_cells(build_structure("lah10", a=4.85))["primitive"]  # ~250 GPa: a short ramp
    with pytest.raises(RunFailed, match="branch ends"):
        relax_at_pressure(compressed, potential, 300.0)


@pytest.mark.parametrize("option, value, words", [
    ("--structure", "missing.extxyz", ("missing.extxyz", "does not exist")),
    ("--supercell", "-2", ("supercell", "determinant")),
    # a model that fails to load: one line, without the CUDA-probe and TensorFlow start-up lines printed meanwhile
    ("--model", "bad.pb", ("cannot load model", "bad.pb")),
])
def test_bad_input_is_refused_in_one_line(tmp_path, subtracted_graph, full_table, option, value, words):
    structure = tmp_path / "lah10.extxyz"
    build_structure("lah10").write(structure)
    (tmp_path / "bad.pb").write_bytes(b"descrpt_attr/rcut model_attr/model_version: not a graph")
    args = {"--structure": str(structure), "--model": str(subtracted_graph), "--pair": str(full_table),
            "--pressure-gpa": "150", option: value}
    result = run_cli("analyze", "phonons", *[x for kv in args.items() for x in kv], "--quiet", cwd=tmp_path)
    assert_one_line_error(result, *words)


@pytest.mark.parametrize("option, words", [({"mesh": "0"}, "mesh '0'"), ({"pressure_gpa": 1e6}, "1e+06 GPa"),
                                           ({"plot": "figure.jpg"}, ".png or .pdf")])
def test_bad_options_are_refused_before_the_model_loads(tmp_path, option, words):
    structure = tmp_path / "lah10.extxyz"
    build_structure("lah10").write(structure)
    with pytest.raises(InputError, match=re.escape(words)):
        analyze_phonons(structure, tmp_path / "no-model.pb", **{"pressure_gpa": 150.0, **option})


def test_command_reports_json(tmp_path, potential, subtracted_graph, full_table, capsys):
    from hydropimd.cli.main import main  # in this process: TensorFlow is loaded already (the potential fixture)

    structure = tmp_path / "lah10.extxyz"
    build_structure("lah10", a=4.95).write(structure)  # ~200 GPa: one relaxation stage
    status = main(["analyze", "phonons", "--structure", str(structure), "--model", str(subtracted_graph), "--pair",
                   str(full_table), "--pressure-gpa", "200", "--supercell", "1", "--mesh", "4", "--json", "--quiet",
                   "--plot", str(tmp_path / "phonons.png")])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["relaxation"]["pressure_reached_gpa"] == pytest.approx(200, abs=0.5)
    assert report["n_atoms_supercell"] == 44 and report["max_frequency_cm1"] > 1000
    assert (tmp_path / "phonons.png").stat().st_size > 0
