"""The LAMMPS table emulation: file I/O, interpolation against analytic tables, periodic sums."""

import numpy as np
import pytest
from ase import Atoms

from hydropimd.errors import InputError
from hydropimd.pair.baseline import PairBaseline
from hydropimd.pair.table import LinearTable, TableSection, read_table, write_table
from hydropimd.structures import build_lah10

A, RHO = 50.0, 0.3  # an exponential repulsion E = A exp(-r / rho): energy and force columns consistent


def exponential_section(name, r_lo, r_hi, n=400):
    r = np.linspace(r_lo, r_hi, n)
    return TableSection(name, r, A * np.exp(-r / RHO), A / RHO * np.exp(-r / RHO))


@pytest.fixture
def analytic_pair():
    # a fine r^2 grid: linear interpolation in r^2 then differentiates to ~1e-4 relative
    tables = {
        ("La", "La"): LinearTable(exponential_section("La_La", 1.5, 3.0), 100000, 2.9),
        ("La", "H"): LinearTable(exponential_section("La_H", 0.5, 2.5), 100000, 2.4),
        ("H", "H"): LinearTable(exponential_section("H_H", 0.3, 1.5), 100000, 1.4),
    }
    return PairBaseline(tables)


def test_round_trip(tmp_path, full_table):
    sections = read_table(full_table)
    assert {k: len(s.r) for k, s in sections.items()} == {"H_H": 1000, "La_H": 152, "La_La": 92}
    write_table(tmp_path / "copy.table", list(sections.values()), comment="copy")
    again = read_table(tmp_path / "copy.table")
    for k, s in sections.items():
        assert np.allclose(again[k].r, s.r, rtol=1e-11) and np.allclose(again[k].energy, s.energy, rtol=1e-11)
        assert np.allclose(again[k].force, s.force, rtol=1e-11)


def test_interpolation_reproduces_a_smooth_function():
    table = LinearTable(exponential_section("X", 0.5, 2.5), 1194, 2.4)
    r = np.linspace(0.55, 2.39, 777)
    e, f_over_r = table.evaluate(r * r)
    assert np.allclose(e, A * np.exp(-r / RHO), rtol=2e-4, atol=1e-7)
    assert np.allclose(f_over_r * r, A / RHO * np.exp(-r / RHO), rtol=2e-4, atol=1e-7)


def test_grid_is_even_in_r_squared_between_first_radius_and_cutoff():
    table = LinearTable(exponential_section("X", 0.5, 2.5), 11, 2.0)
    assert np.allclose(np.diff(table.rsq), (4.0 - 0.25) / 10)
    assert table.rsq[0] == pytest.approx(0.25) and table.rsq[-1] == pytest.approx(4.0)


def test_periodic_images_and_cell_choice(analytic_pair):
    # an 11-atom primitive cell is small against the 2.9 A cutoff: images must be summed
    rng = np.random.default_rng(1)
    prim = build_lah10(a=4.6, cell="primitive")
    prim.positions += rng.normal(scale=0.05, size=prim.positions.shape)
    e1, f1, w1 = analytic_pair.compute(prim)
    big = prim.repeat((3, 3, 3))
    e27, f27, w27 = analytic_pair.compute(big)
    assert e27 == pytest.approx(27 * e1, rel=1e-10)
    assert np.allclose(w27, 27 * w1, rtol=1e-9, atol=1e-9)
    assert np.allclose(f27[: len(prim)], f1, atol=1e-9)
    # a rotated copy with unwrapped positions: same energy, rotated forces
    rot = prim.copy()
    rot.rotate(37, (1, 2, 3), rotate_cell=True)
    rot.positions += rot.cell.array[0]  # outside the cell
    e2, f2, _ = analytic_pair.compute(rot)
    assert e2 == pytest.approx(e1, rel=1e-10)
    assert np.allclose(np.linalg.norm(f2, axis=1), np.linalg.norm(f1, axis=1), atol=1e-9)


def test_forces_and_virial_are_derivatives_of_the_energy(analytic_pair):
    rng = np.random.default_rng(2)
    atoms = build_lah10(a=4.8, angles=(92, 89, 90))
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    e0, forces, virial = analytic_pair.compute(atoms)
    assert np.allclose(forces.sum(axis=0), 0, atol=1e-9)  # Newton's third law
    h = 1e-5
    for k in (0, 5, 30):
        for c in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[k, c] += h
            minus.positions[k, c] -= h
            numeric = -(analytic_pair.compute(plus)[0] - analytic_pair.compute(minus)[0]) / (2 * h)
            assert numeric == pytest.approx(forces[k, c], abs=2e-3)
    # virial W = -dE/d(strain) (symmetric strain applied to cell and positions)
    for a, b in ((0, 0), (1, 2)):
        eps = np.zeros((3, 3))
        eps[a, b] = eps[b, a] = h
        energies = []
        for sign in (1, -1):
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + sign * eps), scale_atoms=True)
            energies.append(analytic_pair.compute(strained)[0])
        numeric = -(energies[0] - energies[1]) / (2 * h) / (1 if a == b else 2)
        assert numeric == pytest.approx(virial[a, b], rel=2e-3, abs=2e-3)


def test_atoms_closer_than_the_table_are_named(analytic_pair):
    atoms = Atoms("La2", positions=[(0, 0, 0), (1.2, 0, 0)], cell=np.eye(3) * 10, pbc=True)
    with pytest.raises(InputError, match=r"atoms 0 \(La\) and 1 \(La\) are 1.2000 A apart.*La_La table starts \(1.5000 A\)"):
        analytic_pair.compute(atoms)


def test_table_errors(tmp_path, full_table):
    with pytest.raises(InputError, match="no section Xx_Xx"):
        PairBaseline.from_file(full_table, pairs={("La", "La"): ("Xx_Xx", 2.0)})
    with pytest.raises(InputError, match="outside its table"):
        PairBaseline.from_file(full_table, pairs={("La", "La"): ("La_La", 3.5)})
    bad = tmp_path / "bad.table"
    bad.write_text("H_H\nN 3\n\n1 0.1 1.0 1.0\n2 0.2 0.5\n")
    with pytest.raises(InputError, match="promises 3 rows"):
        read_table(bad)
    with pytest.raises(InputError, match="cannot read"):
        read_table(tmp_path / "missing.table")


def test_any_element_pairs_come_from_the_table_file(tmp_path):
    """Sections named A_B are the A-B terms, cut off where their tables end (H3S: S_H and S_S)."""
    from hydropimd.pair.table import TableSection, write_table

    r = np.linspace(0.8, 2.0, 50)
    energy = 3.0 * (2.0 - r) ** 2  # zero at the table's end, as a dimer table shifted at its cutoff
    force = 6.0 * (2.0 - r)
    write_table(tmp_path / "h3s.table", [TableSection("S_H", r, energy, force), TableSection("S_S", r + 0.5, energy, force)])
    baseline = PairBaseline.from_file(tmp_path / "h3s.table")
    assert baseline.sections == {("H", "S"): "S_H", ("S", "S"): "S_S"}
    assert {k: t.cutoff for k, t in baseline.tables.items()} == {("H", "S"): pytest.approx(2.0), ("S", "S"): pytest.approx(2.5)}
    atoms = Atoms("SH", positions=[(0, 0, 0), (1.5, 0, 0)], cell=np.eye(3) * 10, pbc=True)
    energy_ev, forces, _ = baseline.compute(atoms)
    assert energy_ev == pytest.approx(3.0 * 0.5 ** 2, rel=1e-2)  # linear interpolation as LAMMPS, to its accuracy
    with pytest.raises(InputError, match="no terms for La"):
        baseline.check_elements(["La", "H"])
    write_table(tmp_path / "bad.table", [TableSection("repulsion", r, energy, force)])
    with pytest.raises(InputError, match="does not name an element pair"):
        PairBaseline.from_file(tmp_path / "bad.table")
