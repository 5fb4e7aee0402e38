import numpy as np
import pytest
from ase.io import read, write
from ase.neighborlist import neighbor_list

from hydropimd.errors import InputError
from hydropimd.structures import DEUTERIUM_MASS, STUDY_CELLS, build_lah10, describe_supercell, hydrogen_isotope
from tests.conftest import run_cli


def shortest(atoms, a, b, cutoff=4.0):
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    s = np.array(atoms.get_chemical_symbols())
    return d[(s[i] == a) & (s[j] == b)].min()


@pytest.mark.parametrize("natoms", sorted(STUDY_CELLS))
def test_study_cell_sizes(natoms):
    cell, reps = STUDY_CELLS[natoms]
    atoms = build_lah10(cell=cell, supercell=reps)
    assert len(atoms) == natoms
    assert atoms.get_chemical_symbols().count("La") * 10 == atoms.get_chemical_symbols().count("H")
    # La first, then H (one LAMMPS type block each)
    symbols = atoms.get_chemical_symbols()
    assert symbols == sorted(symbols, key=lambda s: s != "La")
    # every cell has the volume of its formula units at a = 5.1 A
    assert atoms.get_volume() / (natoms / 11) == pytest.approx(5.1**3 / 4)


def test_distances_at_a_5_1():
    atoms = build_lah10(a=5.1, x=0.38)
    # H(8c)-H(32f) = sqrt(3) (x - 1/4) a
    assert shortest(atoms, "H", "H") == pytest.approx(np.sqrt(3) * 0.13 * 5.1, abs=1e-9)
    assert shortest(atoms, "H", "H") == pytest.approx(1.15, abs=0.01)
    assert shortest(atoms, "La", "H") == pytest.approx(2.12, abs=0.03)
    assert shortest(atoms, "La", "La") == pytest.approx(5.1 / np.sqrt(2), abs=1e-9)


def test_hh_distance_depends_on_x():
    d = [shortest(build_lah10(x=x), "H", "H") for x in (0.37, 0.38)]
    assert d[0] == pytest.approx(np.sqrt(3) * 0.12 * 5.1, abs=1e-9)
    assert d[1] > d[0]


def test_primitive_and_conventional_are_the_same_crystal():
    conv = build_lah10(supercell=1)
    prim = build_lah10(cell="primitive", supercell=3)
    assert prim.cell.cellpar()[3:] == pytest.approx([60, 60, 60])
    for pair in (("H", "H"), ("La", "H"), ("La", "La")):
        assert shortest(prim, *pair) == pytest.approx(shortest(conv, *pair), abs=1e-9)


@pytest.mark.parametrize("angles", [(91.0, 89.5, 89.5), (94.0, 94.0, 94.0), (90.0, 92.0, 90.0)])
def test_distortion_keeps_volume_and_is_read_back(tmp_path, angles):
    path = tmp_path / "s.xyz"
    result = run_cli("structure", "build", "lah10", "--a", "5.1", "--supercell", "2", "--angles", ",".join(map(str, angles)),
                     "-o", path, "--json")
    assert result.returncode == 0, result.stderr
    atoms = read(path)
    assert len(atoms) == 352
    assert atoms.cell.cellpar()[3:] == pytest.approx(angles, abs=1e-9)
    a, b, c = atoms.cell.cellpar()[:3]
    assert a == pytest.approx(b) and b == pytest.approx(c)
    assert atoms.get_volume() == pytest.approx(8 * 5.1**3, rel=1e-12)


def test_primitive_cell_follows_the_conventional_distortion():
    angles = (91.0, 89.5, 89.5)
    prim = build_lah10(cell="primitive", angles=angles)
    conv = build_lah10(angles=angles)
    # fcc primitive vectors are (b+c)/2, (a+c)/2, (a+b)/2 of the conventional cell
    a, b, c = conv.cell.array
    expected = np.array([b + c, a + c, a + b]) / 2
    gram = lambda m: m @ m.T  # orientation-free comparison through the metric tensor
    assert np.allclose(gram(prim.cell.array), gram(expected), atol=1e-9)
    assert prim.get_volume() * 4 == pytest.approx(conv.get_volume())


def test_deuterium_masses_survive_the_file(tmp_path):
    path = tmp_path / "d.xyz"
    assert run_cli("structure", "build", "lah10", "--isotope", "D", "-o", path).returncode == 0
    atoms = read(path)
    h = np.array(atoms.get_chemical_symbols()) == "H"
    assert np.allclose(atoms.get_masses()[h], DEUTERIUM_MASS)
    assert atoms.get_masses()[~h] == pytest.approx(138.90547)
    assert hydrogen_isotope(atoms) == "D"
    assert hydrogen_isotope(build_lah10()) == "H"


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(a=0.0), "lattice constant"),
        (dict(a=-5.1), "lattice constant"),
        (dict(angles=(120, 120, 120)), "make no cell"),
        (dict(angles=(10, 10, 100)), "make no cell"),
        (dict(angles=(90, 90)), "three angles"),
        (dict(isotope="T"), "isotope"),
        (dict(supercell="2,x"), "supercell"),
        (dict(supercell="2,2"), "one, three or nine"),
        (dict(supercell=0), "determinant 0"),
        (dict(supercell="2,2,-3"), "supercell 2,2,-3 has determinant -12"),
        (dict(supercell=[[1, 1, 0], [1, 1, 0], [0, 0, 1]]), "determinant 0"),
        (dict(supercell=[0, 1, 0, 1, 0, 0, 0, 0, 1]), "determinant -1"),
        (dict(supercell=(2, 2, 2.5)), "integers"),
        (dict(x=0.25), "between 0.25 and 0.75"),
        (dict(x=0.9), "between 0.25 and 0.75"),
        (dict(x=0.5), "special positions"),
    ],
)
@pytest.mark.filterwarnings("error")  # one line, no warning printed before it
def test_bad_structure_input(kwargs, words):
    with pytest.raises(InputError, match=words):
        build_lah10(**kwargs)


@pytest.mark.parametrize("cell, supercell, matrix, natoms", [
    ("conventional", 2, np.diag([2, 2, 2]), 352),
    ("conventional", "2,2,3", np.diag([2, 2, 3]), 528),
    ("conventional", [1, 1, 2], np.diag([1, 1, 2]), 88),
    ("primitive", 3, np.diag([3, 3, 3]), 297),
    ("primitive", "-1,1,1,1,-1,1,1,1,-1", [[-1, 1, 1], [1, -1, 1], [1, 1, -1]], 44),
    ("conventional", [[1, 1, 0], [0, 1, 0], [0, 0, 2]], [[1, 1, 0], [0, 1, 0], [0, 0, 2]], 88),
])
def test_builder_records_the_supercell_and_extxyz_keeps_it(tmp_path, cell, supercell, matrix, natoms):
    atoms = build_lah10(cell=cell, supercell=supercell, a=5.1)
    assert len(atoms) == natoms
    assert atoms.info["parent_lattice"] == "fcc" and atoms.info["cell_kind"] == cell
    assert atoms.info["supercell_matrix"] == np.asarray(matrix).tolist()
    # the cell is M times the parent cell (a x identity or a x the fcc primitive basis)
    parent = 5.1 * (np.eye(3) if cell == "conventional" else np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]))
    np.testing.assert_allclose(atoms.cell.array, np.asarray(matrix) @ parent, atol=1e-9)
    path = tmp_path / "s.extxyz"
    write(path, atoms, format="extxyz")
    back = read(path)
    assert back.info["parent_lattice"] == "fcc" and back.info["cell_kind"] == cell
    np.testing.assert_array_equal(np.reshape(back.info["supercell_matrix"], (3, 3)), matrix)
    record = describe_supercell(back)
    assert record == describe_supercell(atoms)
    assert record["supercell_matrix"] == np.asarray(matrix).tolist() and record["supercell_inferred"] is False
    assert record["cell_kind"] == cell and record["parent_lattice"] == "fcc"


def test_non_diagonal_supercell_is_the_same_crystal():
    conv = build_lah10()
    sheared = build_lah10(supercell="1,1,0,0,1,0,0,0,2")
    assert sheared.get_volume() == pytest.approx(2 * conv.get_volume())
    for pair in (("H", "H"), ("La", "H"), ("La", "La")):
        assert shortest(sheared, *pair) == pytest.approx(shortest(conv, *pair), abs=1e-9)


def test_record_is_inferred_when_the_file_lacks_it(tmp_path):
    atoms = build_lah10(supercell=(2, 2, 3))
    write(tmp_path / "POSCAR", atoms, format="vasp")  # keeps no info
    record = describe_supercell(read(tmp_path / "POSCAR"))
    assert record["supercell_inferred"] is True and "inferred" in record["supercell_source"]
    assert record["cell_kind"] == "conventional" and record["supercell"] == [2, 2, 3]
    # a structure repeated after it was built carries a stale record: inferred, and said why
    record = describe_supercell(build_lah10(cell="primitive", supercell=3).repeat((1, 1, 2)))
    assert record["supercell_inferred"] is True and "disagrees" in record["supercell_source"]
    assert record["cell_kind"] == "primitive" and record["supercell"] == [3, 3, 6]
    # no fcc supercell fits: nothing declared, the analysis infers from the trajectory
    atoms = build_lah10()
    atoms.info.clear()
    atoms.set_cell(atoms.cell.array * [1.0, 1.6, 2.3], scale_atoms=True)
    record = describe_supercell(atoms)
    assert record["cell_kind"] is None and record["supercell_matrix"] is None and record["supercell_inferred"] is True


def test_cli_builds_a_2x2x3_cell_and_refuses_a_left_handed_one(tmp_path):
    path = tmp_path / "s.xyz"
    result = run_cli("structure", "build", "lah10", "--supercell", "2,2,3", "-o", path, "--json")
    assert result.returncode == 0, result.stderr
    atoms = read(path)
    assert len(atoms) == 528 and atoms.info["supercell_matrix"].tolist() == [[2, 0, 0], [0, 2, 0], [0, 0, 3]]
    result = run_cli("structure", "build", "lah10", "--supercell", "1,0,0,0,1,0,0,0,-1", "-o", tmp_path / "bad.xyz")
    assert result.returncode == 2 and "determinant -1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad.xyz").exists()
