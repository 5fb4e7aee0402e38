from pathlib import Path

import numpy as np
import pytest
import spglib
from ase import Atoms
from ase.io import read, write
from ase.neighborlist import neighbor_list

from hydropimd.analysis.trajectory import read_cells
from hydropimd.errors import InputError
from hydropimd.structures import (
    DEUTERIUM_MASS, STUDY_CELLS, StructureSettings, build_lah10, build_structure, describe_supercell, hydrogen_isotope,
    prototypes, read_structure, read_structures, strain_matrix, structure_from_file, structure_problem,
)
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
        (dict(a=0.5), r"a = 0.5 A: atoms \d+ \(\w+\) and \d+ \(\w+\) are 0.\d+ A apart"),
    ],
)
@pytest.mark.filterwarnings("error")  # one line, no warning printed before it
def test_bad_structure_input(kwargs, words):
    with pytest.raises(InputError, match=words):
        build_lah10(**kwargs)


def test_structure_problems_name_the_closest_pair():
    """The minimum-distance rule: half the covalent-radii sum (H-H 0.31 A), periodic images included; NaN found."""
    assert structure_problem(build_lah10(a=4.6)) is None  # LaH10 near 300 GPa: H-H ~1.0 A
    hh = Atoms("H2", positions=[(0, 0, 0), (0.3, 0, 0)], cell=np.eye(3) * 5, pbc=True)
    assert "atoms 0 (H) and 1 (H) are 0.300 A apart, closer than 0.31 A" in structure_problem(hh)
    assert structure_problem(Atoms("H2", positions=[(0, 0, 0), (0.32, 0, 0)], cell=np.eye(3) * 5, pbc=True)) is None
    image = Atoms("H2", positions=[(0.05, 0, 0), (4.8, 0, 0)], cell=np.eye(3) * 5, pbc=True)  # 0.25 A across the face
    assert "0.250 A apart" in structure_problem(image)
    broken = build_lah10()
    broken.positions[3, 2] = np.inf
    assert "non-finite" in structure_problem(broken)


def test_structure_files_pass_the_checks_of_a_built_structure(tmp_path):
    """A file is checked like a prototype: atoms too close (also when only a CIF's symmetry copies are), NaN, the
    cell of a gas, a file of several frames; each refused naming the file, the fault and the fix."""
    write(tmp_path / "POSCAR", Atoms("SH", positions=[(0, 0, 0), (0.1, 0, 0)], cell=np.eye(3) * 3, pbc=True),
          format="vasp")
    with pytest.raises(InputError, match=r"POSCAR: atoms 0 \(S\) and 1 \(H\) are 0.100 A apart.*correct the file"):
        structure_from_file(tmp_path / "POSCAR")
    write(tmp_path / "nan.vasp", Atoms("SH", positions=[(0, 0, 0), (np.nan, 0, 0)], cell=np.eye(3) * 3, pbc=True),
          format="vasp")
    with pytest.raises(InputError, match="nan.vasp: it has non-finite"):
        structure_from_file(tmp_path / "nan.vasp")
    cell = "".join(f"_cell_length_{k} 4.4\n" for k in "abc") + "".join(f"_cell_angle_{k} 90\n"
                                                                         for k in ("alpha", "beta", "gamma"))
    (tmp_path / "copies.cif").write_text(  # H off the cube corner by 0.022 A: Pm-3m's copies of it 0.031 A apart
        f"data_copies\n{cell}_symmetry_space_group_name_H-M 'P m -3 m'\n_symmetry_Int_Tables_number 221\n"
        "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
        "S1 S 0.5 0.5 0.5\nH1 H 0.005 0 0\n")
    with pytest.raises(InputError, match=r"copies.cif: atoms \d+ \(H\) and \d+ \(H\) are 0.031 A apart"):
        structure_from_file(tmp_path / "copies.cif")
    huge = build_structure("h3s")
    huge.set_cell(np.eye(3) * 1e6, scale_atoms=True)
    write(tmp_path / "huge.cif", huge)
    with pytest.raises(InputError, match=r"huge.cif: its volume per atom is 1.25e\+17 A\^3 \(cell lengths 1e\+06"):
        structure_from_file(tmp_path / "huge.cif")
    write(tmp_path / "h3s.vasp", build_structure("h3s"), format="vasp")
    # the file is fine, the strain is not
    with pytest.raises(InputError, match=r"0.\d+ A apart.*use a smaller distortion"):
        structure_from_file(tmp_path / "h3s.vasp", strain={"kind": "tetragonal", "c_over_a": 50})
    write(tmp_path / "two.extxyz", [build_structure("h3s"), build_structure("h3s", a=3.0)])
    with pytest.raises(InputError, match=r"two.extxyz holds several structures.*ase convert -n -1"):
        structure_from_file(tmp_path / "two.extxyz")


def test_absurd_lattice_and_supercell_are_refused_before_building(tmp_path):
    """A lattice constant that makes a gas and a supercell beyond MAX_ATOMS are refused naming the value (the
    supercell before its memory is asked for: 1000^3 cells of LaH10 are 44e9 atoms)."""
    with pytest.raises(InputError, match=r"a = 1e\+06 A: its volume per atom is 2.27e\+16 A\^3 .*above the 1000 A\^3"
                                         r".*--a near the prototype's 5.1 A"):
        build_structure("lah10", a=1e6)
    with pytest.raises(InputError, match=r"supercell 1000,1000,1000 would hold 44,000,000,000 atoms, at least 1,639 GiB"
                                         r".*10,000,000 atoms"):
        build_structure("lah10", supercell=1000)
    write(tmp_path / "h3s.vasp", build_structure("h3s"), format="vasp")
    with pytest.raises(InputError, match="would hold 8,000,000,000 atoms"):
        structure_from_file(tmp_path / "h3s.vasp", supercell=1000)
    assert len(build_structure("lah10", a=9.0)) == 44  # 18 A^3 per atom: a solid at ambient pressure is accepted


def test_too_close_atoms_name_their_cause():
    """Atoms too close because of a free Wyckoff parameter name it, not the lattice constant (x = 0.26 puts 32f next
    to 8c at any a); because of a small a, the lattice constant; because of a strain, the distortion."""
    with pytest.raises(InputError, match=r"0.088 A apart.*the cause is x = 0.26.*x nearer the prototype's 0.38") as err:
        build_structure("lah10", parameters={"x": 0.26})
    assert "--a" not in str(err.value)
    with pytest.raises(InputError, match=r"the cause is x = 0.26"):
        build_structure("lah10", a=3.0, parameters={"x": 0.26})
    with pytest.raises(InputError, match=r"use a larger --a \(the prototype's is 5.1 A\)"):
        build_structure("lah10", a=2.0)
    with pytest.raises(InputError, match="use a smaller distortion"):
        build_structure("h3s", strain={"kind": "tetragonal", "c_over_a": 50})


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


# ---------------------------------------------------------------- the prototype library
#: space group, atoms in the conventional and primitive cells, parent lattice
PROTOTYPES = {
    "lah10": (225, 44, 11, "fcc"),
    "h3s": (229, 8, 4, "bcc"),
    "cah6": (229, 14, 7, "bcc"),
    "yh6": (229, 14, 7, "bcc"),
    "labeh8": (225, 40, 10, "fcc"),
}


def space_group(atoms) -> str:
    return spglib.get_spacegroup((atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers), symprec=1e-3)


def test_every_shipped_prototype_is_tested():
    assert list(prototypes()) == list(PROTOTYPES)


@pytest.mark.parametrize("name", sorted(PROTOTYPES))
@pytest.mark.parametrize("cell", ["conventional", "primitive"])
def test_prototype_space_group_and_counts(name, cell):
    number, n_conv, n_prim, parent = PROTOTYPES[name]
    atoms = build_structure(name, cell=cell)
    assert len(atoms) == (n_conv if cell == "conventional" else n_prim)
    assert space_group(atoms).endswith(f"({number})")
    assert atoms.info["parent_lattice"] == parent and atoms.info["cell_kind"] == cell
    record = describe_supercell(atoms)
    assert record["supercell_inferred"] is False and record["parent_lattice"] == parent
    # no two atoms closer than a hydrogen molecule's bond is long
    assert neighbor_list("d", atoms, 0.9).size == 0


def test_bcc_primitive_cell_is_the_bcc_basis():
    prim = build_structure("cah6", cell="primitive")
    np.testing.assert_allclose(prim.cell.array, 3.5 * np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]]),
                               atol=1e-12)
    conv = build_structure("cah6")
    for pair in (("H", "H"), ("Ca", "H")):
        assert shortest(prim, *pair) == pytest.approx(shortest(conv, *pair), abs=1e-9)
    assert prim.get_volume() * 2 == pytest.approx(conv.get_volume())


def test_labeh8_distances():
    atoms = build_structure("labeh8")
    assert atoms.get_chemical_symbols()[:8] == ["La"] * 4 + ["Be"] * 4
    assert shortest(atoms, "H", "H") > 0.9
    # between neighbouring H8 cubes (x, x, x) - (x, 1/2 - x, 1/2 - x): sqrt(2) (2x - 1/2) a = 1.53 A; within one 1.62 A
    assert shortest(atoms, "H", "H") == pytest.approx(np.sqrt(2) * 0.2 * 5.4, abs=1e-9)
    assert shortest(atoms, "Be", "H") == pytest.approx(np.sqrt(3) * 0.15 * 5.4, abs=1e-9)
    assert shortest(atoms, "La", "H") > 2.0
    # the fcc lattice is La's (4 sites per conventional cell), not La and Be together
    record = describe_supercell(build_structure("labeh8", supercell=2))
    assert record["supercell_inferred"] is False and record["supercell"] == [2, 2, 2]


#: build_lah10's output before the prototype library (commit 3f80730) for the cases below: numbers, positions,
#: cells and masses, stored once (tests/lah10_builds.npz)
OLD_BUILDS = Path(__file__).with_name("lah10_builds.npz")


def _old_build(k: int) -> dict:
    with np.load(OLD_BUILDS) as stored:
        return {key: stored[f"{k}_{key}"] for key in ("numbers", "positions", "cell", "masses")}


CASES = [
    dict(), dict(cell="primitive"), dict(cell="primitive", supercell=3), dict(supercell="2,2,3", a=5.2, x=0.37),
    dict(supercell="1,1,0,0,1,0,0,0,2", angles=(91.0, 89.5, 89.5)), dict(isotope="D"),
]


@pytest.mark.parametrize("kwargs", CASES)
def test_lah10_prototype_is_the_old_builder(kwargs):
    old = _old_build(CASES.index(kwargs))
    for new in (build_lah10(**kwargs), build_structure(
            "lah10", a=kwargs.get("a"), parameters={"x": kwargs["x"]} if "x" in kwargs else None,
            cell=kwargs.get("cell", "conventional"), supercell=kwargs.get("supercell", 1), angles=kwargs.get("angles"),
            isotopes=kwargs.get("isotope"))):
        np.testing.assert_array_equal(new.numbers, old["numbers"])
        # to 1e-12 A, not bitwise: the strained cell's matrix products do not round reproducibly (seen: 1 ulp in 32
        # of 264 coordinates in a clean clone's environment, on the machine where this checkout's passed)
        np.testing.assert_allclose(new.positions, old["positions"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(new.cell.array, old["cell"], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(new.get_masses(), old["masses"])
        assert (new.info["parent_lattice"], new.info["cell_kind"]) == ("fcc", kwargs.get("cell", "conventional"))


def test_unknown_prototype_lists_the_known_ones(tmp_path):
    with pytest.raises(InputError, match="unknown prototype 'nah17'; known prototypes: lah10, h3s, cah6, yh6, labeh8"):
        build_structure("nah17")
    with pytest.raises(ValueError, match="known prototypes: lah10, h3s"):
        StructureSettings(prototype="nah17")
    result = run_cli("structure", "build", "nah17", "-o", tmp_path / "s.xyz")
    assert result.returncode == 2 and "known prototypes: lah10, h3s, cah6, yh6, labeh8" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_h3s_2x2x3_records_its_matrix_and_bcc_parent(tmp_path):
    atoms = build_structure("h3s", supercell="2,2,3")
    assert len(atoms) == 8 * 12
    assert atoms.info["parent_lattice"] == "bcc" and atoms.info["supercell_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 3]]
    write(tmp_path / "s.extxyz", atoms, format="extxyz")
    record = describe_supercell(read(tmp_path / "s.extxyz"))
    assert record["parent_lattice"] == "bcc" and record["supercell"] == [2, 2, 3] and record["supercell_inferred"] is False
    prim = build_structure("h3s", cell="primitive", supercell=[[1, 1, 0], [0, 1, 0], [0, 0, 2]])
    assert len(prim) == 8 and describe_supercell(prim)["supercell_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 2]]
    # a record-less copy is inferred on the recorded lattice when one is left
    bare = atoms.copy()
    del bare.info["supercell_matrix"]
    assert describe_supercell(bare)["parent_lattice"] == "bcc"


@pytest.mark.parametrize("fmt, name", [("cif", "s.cif"), ("vasp", "POSCAR"), ("extxyz", "s.extxyz")])
@pytest.mark.parametrize("proto", ["lah10", "cah6"])
def test_structure_file_round_trip(tmp_path, fmt, name, proto):
    atoms = build_structure(proto)
    write(tmp_path / name, atoms, format=fmt)
    back = StructureSettings(file=str(tmp_path / name)).build()
    assert len(back) == len(atoms) and sorted(back.get_chemical_symbols()) == sorted(atoms.get_chemical_symbols())
    assert back.cell.cellpar() == pytest.approx(atoms.cell.cellpar(), abs=1e-5)
    assert space_group(back) == space_group(atoms)
    # the same atoms (in any order) at the same fractional positions
    key = lambda a: sorted(zip(a.get_chemical_symbols(), *np.round(a.get_scaled_positions(wrap=True) % 1.0 % 0.99999, 4).T))
    assert key(back) == key(atoms)
    deuterated = StructureSettings(file=str(tmp_path / name), supercell=2).build("D")
    assert len(deuterated) == 8 * len(atoms) and hydrogen_isotope(deuterated) == "D"


def test_cli_builds_from_a_file_and_any_prototype(tmp_path):
    write(tmp_path / "POSCAR", build_structure("h3s"), format="vasp")
    result = run_cli("structure", "build", "--file", tmp_path / "POSCAR", "--supercell", "2", "-o", tmp_path / "a.xyz", "--json")
    assert result.returncode == 0, result.stderr
    assert len(read(tmp_path / "a.xyz")) == 64
    result = run_cli("structure", "build", "cah6", "--cell", "primitive", "--strain", "tetragonal,1.03",
                     "--isotopes", "H=D", "-o", tmp_path / "b.xyz")
    assert result.returncode == 0, result.stderr
    atoms = read(tmp_path / "b.xyz")
    assert len(atoms) == 7 and hydrogen_isotope(atoms) == "D"
    assert atoms.get_volume() == pytest.approx(3.5**3 / 2, rel=1e-12)
    result = run_cli("structure", "build", "h3s", "--file", tmp_path / "POSCAR", "-o", tmp_path / "c.xyz")
    assert result.returncode == 2 and "remove PROTOTYPE" in result.stderr


def test_partial_occupancy_cif_is_refused(tmp_path):
    path = tmp_path / "disordered.cif"
    path.write_text("""data_test
_cell_length_a 5.1
_cell_length_b 5.1
_cell_length_c 5.1
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
La1 La 0 0 0 0.5
Y1 Y 0 0 0 0.5
H1 H 0.25 0.25 0.25 1
""")
    with pytest.raises(InputError) as err:
        read_structure(path)
    message = str(err.value)
    assert str(path) in message and "site La1" in message and "partially occupied" in message
    assert len(message.splitlines()) == 1


def test_file_without_a_cell_is_refused(tmp_path):
    path = tmp_path / "molecule.xyz"
    write(path, Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.74)]), format="xyz")
    with pytest.raises(InputError, match=f"{path} holds no cell"):
        read_structure(path)
    with pytest.raises(InputError, match="no cell"):
        StructureSettings(file=str(path)).build()


@pytest.mark.parametrize("strain", [
    {"kind": "tetragonal", "c_over_a": 1.02},
    {"kind": "tetragonal", "c_over_a": 0.97},
    {"kind": "rhombohedral", "angle_deg": 89.0},
    {"kind": "monoclinic", "beta_deg": 92.0},
    {"kind": "matrix", "matrix": [[0.01, 0.002, 0], [0.002, -0.01, 0.003], [0, 0.003, 0.02]]},
    [[0.02, 0, 0], [0, 0, 0], [0, 0, 0]],
])
@pytest.mark.parametrize("proto, cell", [("lah10", "conventional"), ("h3s", "primitive"), ("labeh8", "conventional")])
def test_strain_conserves_volume(strain, proto, cell):
    plain = build_structure(proto, cell=cell, supercell=2)
    strained = build_structure(proto, cell=cell, supercell=2, strain=strain)
    assert strained.get_volume() == pytest.approx(plain.get_volume(), rel=1e-12)
    assert not np.allclose(strained.cell.cellpar(), plain.cell.cellpar())
    np.testing.assert_allclose(strained.get_scaled_positions(wrap=False), plain.get_scaled_positions(wrap=False), atol=1e-12)
    assert np.linalg.det(strain_matrix(strain)) == pytest.approx(1.0, abs=1e-12)


def test_strain_kinds_give_their_shape():
    conv = build_structure("h3s", strain={"kind": "tetragonal", "c_over_a": 1.05})
    a, b, c = conv.cell.cellpar()[:3]
    assert c / a == pytest.approx(1.05) and a == pytest.approx(b)
    assert build_structure("h3s", strain={"kind": "monoclinic", "beta_deg": 93}).cell.cellpar()[3:] == pytest.approx([90, 93, 90])
    assert build_structure("h3s", strain={"kind": "rhombohedral", "angle_deg": 88}).cell.cellpar()[3:] == pytest.approx([88] * 3)


@pytest.mark.parametrize("strain, words", [
    ({"kind": "shear", "value": 1}, "kind = rhombohedral"),
    ({"kind": "tetragonal"}, "exactly one value, c_over_a"),
    ({"kind": "tetragonal", "c_over_a": -1}, "positive"),
    ({"kind": "matrix", "matrix": [[0, 0.1, 0], [0, 0, 0], [0, 0, 0]]}, "symmetric"),
    ([[-1, 0, 0], [0, 0, 0], [0, 0, 0]], "collapses"),
])
def test_bad_strain(strain, words):
    with pytest.raises(InputError, match=words):
        build_structure("lah10", strain=strain)


def test_isotopes_per_element():
    atoms = build_structure("labeh8", isotopes={"H": "D", "Be": 10.0135})
    symbols = np.array(atoms.get_chemical_symbols())
    assert np.allclose(atoms.get_masses()[symbols == "H"], DEUTERIUM_MASS)
    assert np.allclose(atoms.get_masses()[symbols == "Be"], 10.0135)
    assert atoms.info["isotope"] == "D"
    assert hydrogen_isotope(build_structure("h3s", isotopes="D")) == "D"
    with pytest.raises(InputError, match="has no Ca"):
        build_structure("h3s", isotopes={"Ca": 40.0})
    with pytest.raises(InputError, match="must be H or D"):
        build_structure("h3s", isotopes={"H": "T"})


def test_structure_settings_any_prototype():
    # the prototype's own a and x fill in, and the settings of earlier configurations are unchanged (the study
    # digest reads model_dump)
    assert StructureSettings(prototype="lah10").model_dump() == {
        "prototype": "lah10", "a": 5.1, "x": 0.38, "cell": "conventional", "supercell": 1, "start_angles_deg": None,
        "isotope": "H"}
    settings = StructureSettings(prototype="cah6", cell="primitive", supercell=2)
    assert settings.a == 3.5 and settings.x is None and "a" not in settings.model_fields_set
    assert len(settings.build()) == 56 and settings.build().info["parent_lattice"] == "bcc"
    labeh8 = StructureSettings(prototype="labeh8", parameters={"x": 0.36}, strain={"kind": "tetragonal", "c_over_a": 1.01},
                               isotopes={"H": "D"})
    atoms = labeh8.build()
    assert atoms.info["x_32f"] == 0.36 and hydrogen_isotope(atoms) == "D" and hydrogen_isotope(labeh8.build("H")) == "H"
    assert StructureSettings(prototype="lah10", x=0.37).build().info["x_32f"] == 0.37
    for kwargs, words in [
        (dict(prototype="h3s", x=0.3), "no parameter x"),
        (dict(prototype="lah10", parameters={"y": 0.1}), "no free parameter y"),
        (dict(), "no structure: give a prototype"),
        (dict(a=5.1, cell="primitive"), "prototype"),
        (dict(prototype="lah10", x=0.37, parameters={"x": 0.38}), "once"),
        (dict(file="s.cif", a=5.0), "remove a"),
        (dict(prototype="lah10", isotope="D", isotopes={"H": "D"}), "twice"),
        (dict(prototype="lah10", strain={"kind": "tetragonal"}), "c_over_a"),
        (dict(prototype="lah10", start_angles_deg=[91, 91, 91], strain={"kind": "tetragonal", "c_over_a": 1.01}),
         "give one of them"),
    ]:
        with pytest.raises(ValueError, match=words):
            StructureSettings(**kwargs)


def test_a_failed_write_leaves_the_existing_file_as_it_was(tmp_path):
    """A write that fails part-way (a full disk; here the file-size limit, which fails the same way) keeps the old
    file whole and leaves no partial file: the command exits 3 naming the path."""
    import resource
    import signal
    import subprocess
    import sys

    target = tmp_path / "s.extxyz"
    first = run_cli("structure", "build", "lah10", "--cell", "primitive", "-o", target, "--quiet")
    assert first.returncode == 0, first.stderr
    before = target.read_bytes()

    def small_files():  # a 4 kB limit: the 352-atom supercell does not fit, the 11-atom cell did
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    failed = subprocess.run([sys.executable, "-m", "hydropimd", "structure", "build", "lah10", "--supercell", "2",
                             "-o", str(target), "--quiet"], capture_output=True, text=True, preexec_fn=small_files)
    assert failed.returncode == 3 and str(target) in failed.stderr and "Traceback" not in failed.stderr, failed.stderr
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["s.extxyz"]


BROKEN_FILES = {  # name: (text, words of the refusal)
    "xx.extxyz": ('3\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3 pbc="T T T"\nXx 0 0 0\nH 1 1 1\n'
                  'H 2 2 2\n', ("'Xx'", "not a chemical element")),
    "short.extxyz": ('10\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3 pbc="T T T"\nS 0 0 0\n',
                     ("expected 10", "complete extxyz file")),
    "bad.POSCAR": ("title\n1.0\n3 0 0\n0 3 0\n", ("inconsistent numbers of values", "complete vasp file")),
}


@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_a_broken_file_is_refused_in_words(tmp_path, name):
    """ASE's readers raise KeyError('Xx'), StopIteration() or numpy's shape errors for broken files: the refusal
    names the file, says what is wrong in words, and the format it was read as (before: "'Xx'" alone)."""
    text, words = BROKEN_FILES[name]
    (tmp_path / name).write_text(text)
    for reader in (read_structures, read_cells):
        with pytest.raises(InputError) as refused:
            reader(tmp_path / name)
        message = str(refused.value)
        assert name in message and "\n" not in message
        if reader is read_structures:
            assert all(w in message for w in words), message
