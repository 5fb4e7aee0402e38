import numpy as np
import pytest
from ase.io import read
from ase.neighborlist import neighbor_list

from hydropimd.errors import InputError
from hydropimd.structures import DEUTERIUM_MASS, STUDY_CELLS, build_lah10, hydrogen_isotope
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
        (dict(x=0.25), "between 0.25 and 0.75"),
        (dict(x=0.9), "between 0.25 and 0.75"),
        (dict(x=0.5), "special positions"),
    ],
)
@pytest.mark.filterwarnings("error")  # one line, no warning printed before it
def test_bad_structure_input(kwargs, words):
    with pytest.raises(InputError, match=words):
        build_lah10(**kwargs)
