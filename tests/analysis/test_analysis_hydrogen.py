"""Hydrogen sublattice: RDF peaks of LaH10, unwrapping, MSD, and diffusion coefficients of known random walks."""

import numpy as np
import pytest
from ase.io import write

from hydropimd.analysis import analyze_hydrogen
from hydropimd.analysis.hydrogen import mean_square_displacement, unwrapped_positions
from hydropimd.errors import InputError
from hydropimd.structures import build_lah10

DT_PS = 0.01


def write_frames(path, atoms, positions):
    frames = []
    for t, pos in enumerate(positions):
        frame = atoms.copy()
        frame.positions = pos
        frame.info["time_ps"] = t * DT_PS
        frames.append(frame)
    write(path, frames, format="extxyz")
    return path


def test_unwrapping_and_msd_of_a_random_walk(rng):
    cell = np.diag([5.1, 5.3, 5.0])
    true = np.cumsum(rng.normal(scale=0.2, size=(500, 10, 3)), axis=0)
    wrapped = true - np.floor(true @ np.linalg.inv(cell)) @ cell
    unwrapped = unwrapped_positions(wrapped, np.repeat(cell[None], 500, axis=0))
    np.testing.assert_allclose(unwrapped - unwrapped[0], true - true[0], atol=1e-9)
    msd = mean_square_displacement(unwrapped)
    for lag in (1, 17, 200):
        brute = np.mean(np.sum((unwrapped[lag:] - unwrapped[:-lag]) ** 2, axis=2))
        assert msd[lag] == pytest.approx(brute, rel=1e-9)


def test_diffusing_hydrogen_gives_the_known_coefficient(tmp_path, rng):
    atoms = build_lah10(a=5.1)
    hydrogen = np.array(atoms.get_chemical_symbols()) == "H"
    coefficient = 0.5  # angstrom^2/ps
    steps = rng.normal(scale=np.sqrt(2 * coefficient * DT_PS), size=(1500, hydrogen.sum(), 3))
    positions = np.repeat(atoms.positions[None], 1500, axis=0)
    positions[:, hydrogen] += np.cumsum(steps, axis=0)
    positions = positions - np.floor(positions @ np.linalg.inv(atoms.cell.array)) @ atoms.cell.array  # wrapped
    result = analyze_hydrogen(write_frames(tmp_path / "hot.extxyz", atoms, positions), plot=tmp_path / "h.png")
    d = result["diffusion"]
    assert abs(d["coefficient_angstrom2_per_ps"] - coefficient) < max(3 * d["stderr_angstrom2_per_ps"], 0.05)
    assert d["coefficient_cm2_per_s"] == pytest.approx(d["coefficient_angstrom2_per_ps"] * 1e-4)
    assert result["verdict"] == "diffusing"
    assert (tmp_path / "h.png").stat().st_size > 0


def test_vibrating_hydrogen_is_solid_and_rdfs_peak_at_the_lattice_distances(tmp_path, rng):
    atoms = build_lah10(a=5.1, supercell=2)
    positions = atoms.positions[None] + rng.normal(scale=0.08, size=(300, len(atoms), 3))
    result = analyze_hydrogen(write_frames(tmp_path / "cold.extxyz", atoms, positions), rdf_frames=10)
    assert result["verdict"] == "solid"
    d = result["diffusion"]
    assert abs(d["coefficient_angstrom2_per_ps"]) < 0.01
    peaks = result["rdf"]["first_peak_angstrom"]
    assert peaks["La-La"] == pytest.approx(5.1 / np.sqrt(2), abs=0.05)  # fcc nearest neighbours
    assert 1.0 < peaks["H-H"] < 1.25 and 2.0 < peaks["La-H"] < 2.3  # SPEC section 1: H-H ~1.1, La-H ~2.1 A
    g = np.array(result["rdf"]["La-La"])
    assert g[np.array(result["rdf"]["r_angstrom"]) < 3.0].max() == 0.0  # no La closer than the lattice allows


def test_bad_input(tmp_path):
    atoms = build_lah10(a=5.1)
    short = write_frames(tmp_path / "short.extxyz", atoms, np.repeat(atoms.positions[None], 5, axis=0))
    with pytest.raises(InputError, match="at least 32 frames"):
        analyze_hydrogen(short)
    la_only = atoms[[s == "La" for s in atoms.get_chemical_symbols()]]
    path = write_frames(tmp_path / "la.extxyz", la_only, np.repeat(la_only.positions[None], 40, axis=0))
    with pytest.raises(InputError, match="no hydrogen"):
        analyze_hydrogen(path)
