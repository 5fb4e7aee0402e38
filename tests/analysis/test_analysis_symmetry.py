"""Space group of the time-averaged structure: ideal and distorted LaH10 and H3S, with thermal noise averaged out."""

import json

import numpy as np
import pytest
from ase.io import write
from ase.spacegroup import crystal

from hydropimd.analysis import analyze_symmetry
from hydropimd.analysis.symmetry import average_structure, headline, symmetry_of_frames
from hydropimd.errors import InputError
from hydropimd.structures import build_lah10

TOLERANCES = (0.01, 0.03, 0.1, 0.2, 0.3)


def h3s(shift: float = 0.0, a: float = 3.09):
    """Im-3m H3S (S 2a, H 6b); ``shift`` (fraction of a) moves every H along its S-H-S bond towards -x, -y or -z,
    so each S keeps three short bonds along +x, +y, +z: the polar R3m phase (160), asymmetric bonds."""
    atoms = crystal(["S", "H"], basis=[(0, 0, 0), (0.5, 0, 0)], spacegroup=229, cellpar=[a, a, a, 90, 90, 90])
    frac = atoms.get_scaled_positions()
    for i, s in enumerate(atoms.get_chemical_symbols()):
        if s == "H":
            axis = _bond_axis(frac[i], frac[atoms.numbers == 16])
            frac[i, axis] -= shift
    atoms.set_scaled_positions(frac)
    return atoms


def _bond_axis(f, sulfur):
    """Axis of the S-H-S bond an H of 6b sits on: the one along which its two S neighbours (a/2 away) lie."""
    for axis in range(3):
        other = [k for k in range(3) if k != axis]
        if any(np.allclose((f[other] - s[other] + 0.5) % 1 - 0.5, 0) for s in sulfur):
            return axis
    raise AssertionError(f"H at {f} is not on an S-H-S bond")


def noisy_frames(atoms, rng, n_frames=300, sigma=0.15, cell_sigma=0.005):
    """n_frames copies with Gaussian noise (angstrom per component), a small random strain per frame, wrapped into the cell."""
    positions, cells = [], []
    frac0 = atoms.get_scaled_positions()
    for _ in range(n_frames):
        strain = np.eye(3) + cell_sigma * rng.normal(size=(3, 3))
        strain = 0.5 * (strain + strain.T)  # symmetric: no rotation
        cell = atoms.cell.array @ strain
        frac = frac0 + rng.normal(scale=sigma, size=frac0.shape) @ np.linalg.inv(cell)
        positions.append((frac % 1.0) @ cell)  # wrapped: atoms on the cell faces cross the boundary back and forth
        cells.append(cell)
    return np.array(positions), np.array(cells)


# 94/86/86 is truly rhombohedral: flipping a to -a turns it into 94/94/94 (equal angles), and the fcc positions are
# invariant under x -> -x, so its 3-fold axis is the body diagonal [1, -1, -1] (the unique (111) reflection of the XRD tests).
CASES = {
    "LaH10 fcc": (lambda: build_lah10(a=5.1), 225, "Fm-3m"),
    "LaH10 94/86/86": (lambda: build_lah10(a=5.1, angles=(94, 86, 86)), 166, "R-3m"),
    "LaH10 94/94/94": (lambda: build_lah10(a=5.1, angles=(94, 94, 94)), 166, "R-3m"),
    "H3S Im-3m": (lambda: h3s(), 229, "Im-3m"),
    "H3S R3m": (lambda: h3s(shift=0.06), 160, "R3m"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_ideal_structures_give_their_group_at_every_tolerance_up_to_the_distortion(name):
    build, number, symbol = CASES[name]
    atoms = build()
    result = symmetry_of_frames(atoms.positions[None], atoms.cell.array[None], atoms.get_chemical_symbols(), TOLERANCES)
    assert result["ladder"][0]["number"] == number and result["ladder"][0]["symbol"] == symbol
    assert result["headline"] == {"symbol": symbol, "number": number, "symprec_angstrom": 0.01, "stable": True}


@pytest.mark.parametrize("name", list(CASES))
def test_noisy_frames_averaged_give_the_right_headline_group(name, rng):
    build, number, symbol = CASES[name]
    atoms = build()
    positions, cells = noisy_frames(atoms, rng, n_frames=300, sigma=0.15)
    result = symmetry_of_frames(positions, cells, atoms.get_chemical_symbols(), TOLERANCES)
    assert result["headline"]["number"] == number, result["ladder"]
    assert result["headline"]["stable"] and result["headline"]["symprec_angstrom"] <= 0.1
    # 0.15 A over 300 independent frames: standard error 0.0087 A, floor 7.3 x that
    assert result["noise_floor_angstrom"] == pytest.approx(3 * np.sqrt(6) * 0.15 / np.sqrt(300), rel=0.35)
    assert result["ladder"][0]["number"] != number  # the noise the floor keeps out of the headline
    json.dumps(result)


def test_a_single_noisy_frame_is_not_the_ideal_group(rng):
    atoms = build_lah10(a=5.1)
    positions, cells = noisy_frames(atoms, rng, n_frames=1, sigma=0.15)
    ladder = symmetry_of_frames(positions, cells, atoms.get_chemical_symbols(), TOLERANCES)["ladder"]
    assert ladder[0]["number"] != 225  # the averaging is what recovers the group


def test_average_unwraps_across_the_cell_boundary_and_averages_the_cell():
    cell = np.diag([4.0, 4.0, 4.0])
    positions = np.array([[[0.1, 2.0, 2.0]], [[3.9, 2.0, 2.0]], [[0.2, 2.0, 2.0]], [[3.8, 2.0, 2.0]]])
    cells = np.array([cell, cell * 1.01, cell, cell * 0.99])
    average_cell, frac = average_structure(positions, cells)
    np.testing.assert_allclose(np.diag(average_cell), 4.0 * np.sqrt(1 + 0.01 * 0.01 / 2), rtol=1e-3)  # <G> = <a^2>
    # unwrapped: 0.025, -0.0975 (3.9/4.04 - 1), 0.05, -0.0404 ... mean near 0, not near 0.5
    assert min(frac[0, 0], 1 - frac[0, 0]) < 0.02 and frac[0, 1] == pytest.approx(0.5, abs=0.01)


def test_average_follows_a_drift_longer_than_half_the_cell():
    cell = np.diag([4.0, 4.0, 4.0])
    atoms = build_lah10(a=4.0)
    drift = np.linspace(0, 6.0, 61)[:, None, None] * np.array([1.0, 0.0, 0.0])  # 1.5 cells along x, 0.1 A a frame
    positions = atoms.positions[None] + drift
    result = symmetry_of_frames(positions, np.repeat(cell[None], len(drift), axis=0), atoms.get_chemical_symbols(), TOLERANCES)
    assert result["headline"]["number"] == 225


def test_headline_rule():
    rung = lambda s, n, t: {"symbol": s, "number": n, "symprec_angstrom": t}  # noqa: E731
    assert headline([rung("P1", 1, 0.01), rung("R-3m", 166, 0.03), rung("R-3m", 166, 0.1), rung("Fm-3m", 225, 0.3)]) == {
        "symbol": "R-3m", "number": 166, "symprec_angstrom": 0.03, "stable": True}
    noisy = [rung("P1", 1, 0.01), rung("P1", 1, 0.03), rung("Fm-3m", 225, 0.1), rung("Fm-3m", 225, 0.2)]
    assert headline(noisy)["number"] == 1  # a plateau of noise ...
    assert headline(noisy, noise_floor_angstrom=0.05)["number"] == 225  # ... below the noise floor is skipped
    assert headline([rung("P1", 1, 0.01), rung("C2/m", 12, 0.03), rung("R-3m", 166, 0.1)])["stable"] is False


def test_analyze_symmetry_of_a_trajectory_file_and_bad_input(tmp_path, rng):
    atoms = h3s(shift=0.06)
    positions, cells = noisy_frames(atoms, rng, n_frames=200, sigma=0.1)
    frames = []
    for k, (p, c) in enumerate(zip(positions, cells)):
        frame = atoms.copy()
        frame.set_cell(c)
        frame.positions = p
        frame.info["time_ps"] = 0.01 * k
        frames.append(frame)
    path = tmp_path / "traj.extxyz"
    write(path, frames)
    result = analyze_symmetry(path, discard_ps=0.5)
    assert result["n_frames"] == 150 and result["headline"]["symbol"] == "R3m" and result["formula"] == "H6S2"
    assert [r["symprec_angstrom"] for r in result["ladder"]] == list(TOLERANCES)
    with pytest.raises(InputError, match="must be positive"):
        analyze_symmetry(path, tolerances=[0.1, 0])
    with pytest.raises(InputError, match="longer than"):
        analyze_symmetry(path, discard_ps=10)


def test_cli_symmetry_json_and_table(tmp_path, cli, capsys):
    path = tmp_path / "lah10.extxyz"
    write(path, build_lah10(a=5.1, angles=(94, 86, 86)))
    cli("symmetry", path, "--json", "--tolerances", "0.01,0.1")
    result = json.loads(capsys.readouterr().out)
    assert result["headline"]["number"] == 166 and len(result["ladder"]) == 2
    cli("symmetry", path, "--quiet")
    text = capsys.readouterr().out
    assert "R-3m" in text and "166" in text
