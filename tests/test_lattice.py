"""Cell shape from the metric tensor and the pseudo-cubic mapping of the study's simulation cells."""

import json

import numpy as np
import pytest
from ase.cell import Cell
from ase.io import write
from scipy.spatial.transform import Rotation

from hydropimd.lattice import (
    cellpar_from_metric,
    find_pseudo_cubic_mapping,
    mapping_for,
    metric_from_cellpar,
    metric_from_cells,
)
from hydropimd.errors import InputError
from hydropimd.analysis.cellshape import analyze_cell, cell_shape
from hydropimd.structures import build_lah10, describe_supercell


@pytest.fixture
def rng():
    return np.random.default_rng(20240601)


def lah10_metric(**kw):
    atoms = build_lah10(**kw)
    return metric_from_cells(atoms.cell.array), int(np.sum(np.array(atoms.get_chemical_symbols()) == "La"))


def test_cellpar_from_metric_equals_ase_and_ignores_rotation(rng):
    cells = rng.normal(size=(50, 3, 3)) + 4 * np.eye(3)
    lengths, angles = cellpar_from_metric(metric_from_cells(cells))
    expected = np.array([Cell(c).cellpar() for c in cells])
    np.testing.assert_allclose(np.column_stack([lengths, angles]), expected, atol=1e-10)
    rotated = cells @ np.swapaxes(Rotation.random(50, random_state=1).as_matrix(), 1, 2)
    np.testing.assert_allclose(np.column_stack(cellpar_from_metric(metric_from_cells(rotated))), expected, atol=1e-9)
    np.testing.assert_allclose(metric_from_cellpar(expected[:, :3], expected[:, 3:]), metric_from_cells(cells), atol=1e-9)


@pytest.mark.parametrize("natoms, cell, supercell", [
    (44, "conventional", 1), (352, "conventional", 2), (2816, "conventional", 4),
    (11, "primitive", 1), (297, "primitive", 3), (528, "conventional", (2, 2, 3)),
])
def test_study_cells_map_to_the_conventional_cube(natoms, cell, supercell):
    metric, n_la = lah10_metric(cell=cell, supercell=supercell, a=5.05)
    mapping = find_pseudo_cubic_mapping(metric, n_la)
    assert len(build_lah10(cell=cell, supercell=supercell)) == natoms
    assert mapping.kind == cell
    assert mapping.supercell == ((supercell,) * 3 if isinstance(supercell, int) else supercell)
    assert mapping.a_angstrom == pytest.approx(5.05)
    lengths, angles = cellpar_from_metric(mapping.conventional_metric(metric))
    np.testing.assert_allclose(lengths, 5.05, atol=1e-9)
    np.testing.assert_allclose(angles, 90.0, atol=1e-9)


@pytest.mark.parametrize("cell, supercell", [("primitive", 3), ("conventional", 2), ("conventional", 4)])
def test_distorted_cells_recover_conventional_angles(cell, supercell):
    metric, n_la = lah10_metric(cell=cell, supercell=supercell, angles=(94, 86, 86))
    mapping = find_pseudo_cubic_mapping(metric, n_la)
    _, angles = cellpar_from_metric(mapping.conventional_metric(metric))
    np.testing.assert_allclose(angles, [94, 86, 86], atol=1e-9)


def test_primitive_mapping_is_described():
    metric, n_la = lah10_metric(cell="primitive", supercell=3)
    text = find_pseudo_cubic_mapping(metric, n_la).describe()
    assert "3x3x3 fcc primitive" in text and "c1 = (-h1 + h2 + h3)/3" in text


def test_declared_supercell_is_checked():
    metric, n_la = lah10_metric(supercell=2)
    mapping = mapping_for(metric[None], n_la, {"cell_kind": "conventional", "supercell": [2, 2, 2]})
    assert mapping.source == "run.json" and mapping.supercell == (2, 2, 2)
    with pytest.raises(InputError, match="does not match"):
        mapping_for(metric[None], n_la, {"cell_kind": "conventional", "supercell": [1, 2, 4]})
    with pytest.raises(InputError, match="48 lattice sites.*has 32"):  # a declared record contradicting the site count
        mapping_for(metric[None], n_la, {"cell_kind": "conventional", "supercell": [2, 2, 3]})
    record = describe_supercell(build_lah10(supercell=2))
    with pytest.raises(InputError, match="does not match"):
        mapping_for(metric[None], n_la, {**record, "supercell_matrix": [[1, 0, 0], [0, 2, 0], [0, 0, 4]]})


# (cell, supercell): non-cubic diagonal, primitive, non-diagonal primitive (the conventional cube) and conventional
SUPERCELLS = [("conventional", (2, 2, 3)), ("conventional", (1, 1, 2)), ("primitive", 3), ("primitive", (2, 3, 1)),
              ("primitive", [[-1, 1, 1], [1, -1, 1], [1, 1, -1]]), ("conventional", [[1, 1, 0], [0, 1, 0], [0, 0, 2]])]


@pytest.mark.parametrize("cell, supercell", SUPERCELLS)
def test_recorded_supercell_maps_to_the_cube(cell, supercell):
    atoms = build_lah10(cell=cell, supercell=supercell, a=5.05)
    record = describe_supercell(atoms)
    assert record["supercell_inferred"] is False
    metric, n_la = metric_from_cells(atoms.cell.array), int(np.sum(np.array(atoms.get_chemical_symbols()) == "La"))
    mapping = mapping_for(metric[None], n_la, record)
    assert mapping.source == "recorded in run.json" and mapping.kind == cell
    np.testing.assert_array_equal(mapping.supercell_matrix, record["supercell_matrix"])
    assert mapping.a_angstrom == pytest.approx(5.05) and mapping.misfit == pytest.approx(0, abs=1e-12)
    lengths, angles = cellpar_from_metric(mapping.conventional_metric(metric))
    np.testing.assert_allclose(lengths, 5.05, atol=1e-9)
    np.testing.assert_allclose(angles, 90.0, atol=1e-9)
    # a distorted cell: the conventional angles come back, in the builder's axes
    distorted = build_lah10(cell=cell, supercell=supercell, angles=(94, 86, 86))
    _, angles = cellpar_from_metric(mapping_for(metric_from_cells(distorted.cell.array)[None], n_la, record)
                                    .conventional_metric(metric_from_cells(distorted.cell.array)))
    np.testing.assert_allclose(angles, [94, 86, 86], atol=1e-9)


def noisy_metrics(atoms, rng, n_frames=200, sigma=0.004, rotate=True):
    """Metric tensors of the cell with independent strain noise per frame (and a random rotation, which G ignores)."""
    strain = np.eye(3) + rng.normal(scale=sigma, size=(n_frames, 3, 3))
    cells = atoms.cell.array @ (strain + np.swapaxes(strain, 1, 2)) / 2
    if rotate:
        cells = cells @ np.swapaxes(Rotation.random(n_frames, random_state=2).as_matrix(), 1, 2)
    return metric_from_cells(cells)


@pytest.mark.parametrize("cell, supercell", SUPERCELLS[:3])
def test_cubic_supercells_classify_cubic(rng, cell, supercell):
    atoms = build_lah10(cell=cell, supercell=supercell, a=5.1)
    n_la = int(np.sum(np.array(atoms.get_chemical_symbols()) == "La"))
    report = cell_shape(noisy_metrics(atoms, rng), np.arange(200) * 0.01, n_la, metadata=describe_supercell(atoms))
    assert report["classification"] == "cubic"
    assert report["mapping"]["supercell_matrix"] == describe_supercell(atoms)["supercell_matrix"]
    np.testing.assert_allclose(report["lengths_angstrom"], 5.1, atol=0.01)
    np.testing.assert_allclose(report["angles_deg"], 90.0, atol=0.2)


def test_2x2x3_run_directory_is_analysed(tmp_path, rng):
    """run.json as md run writes it for a built 2x2x3 cell (528 atoms), centroid frames with a noisy rhombohedral cell."""
    atoms = build_lah10(supercell="2,2,3", angles=(91.5, 91.5, 91.5))
    strain = np.eye(3) + rng.normal(scale=0.003, size=(200, 3, 3))
    cells = atoms.cell.array @ (strain + np.swapaxes(strain, 1, 2)) / 2
    frames = []
    for i, cell in enumerate(cells):
        frame = atoms.copy()
        frame.set_cell(cell, scale_atoms=True)
        frame.info = {"time_ps": 0.01 * i, "step": 20 * i}
        frames.append(frame)
    write(tmp_path / "centroid.extxyz", frames, format="extxyz")
    meta = {"natoms": 528, "timestep_fs": 0.5, "stride": 20, "isotope": "H", **describe_supercell(atoms)}
    (tmp_path / "run.json").write_text(json.dumps(meta))
    report = analyze_cell(tmp_path)
    assert report["mapping"]["supercell"] == [2, 2, 3] and report["mapping"]["source"] == "recorded in run.json"
    assert report["classification"] == "rhombohedral"
    np.testing.assert_allclose(report["angles_deg"], 91.5, atol=0.2)
    # a run.json of an earlier version guessed 2x2x2 from the atom count: ignored (said), the mapping is inferred
    (tmp_path / "run.json").write_text(json.dumps({**{k: meta[k] for k in ("natoms", "timestep_fs", "stride")},
                                                   "cell_kind": "conventional", "supercell": [2, 2, 2]}))
    report = analyze_cell(tmp_path)
    assert report["mapping"]["supercell"] == [2, 2, 3] and "ignored" in report["mapping"]["source"]
    np.testing.assert_allclose(report["angles_deg"], 91.5, atol=0.2)


def test_non_cubic_cell_cannot_be_mapped():
    metric = metric_from_cellpar([5.0, 7.0, 11.0], [90.0, 90.0, 90.0])
    with pytest.raises(InputError, match="cannot be mapped to a pseudo-cubic fcc cell"):
        find_pseudo_cubic_mapping(metric, 4)
    with pytest.raises(InputError, match="degenerate"):
        find_pseudo_cubic_mapping(np.zeros((3, 3)), 4)


@pytest.mark.parametrize("proto", ["h3s", "cah6"])
@pytest.mark.parametrize("cell, supercell", SUPERCELLS)
def test_bcc_recorded_supercell_maps_to_the_cube(proto, cell, supercell):
    """A bcc parent (H3S, CaH6): the builder's record gives S = M B with the bcc primitive basis, and the
    conventional cube (and a distortion of it) comes back; without the record the cell is inferred as bcc."""
    from hydropimd.structures import build_structure

    atoms = build_structure(proto, a=3.2, cell=cell, supercell=supercell)
    record = describe_supercell(atoms)
    assert record["supercell_inferred"] is False and record["parent_lattice"] == "bcc"
    symbols = np.array(atoms.get_chemical_symbols())
    metric, n_sites = metric_from_cells(atoms.cell.array), int(np.sum(symbols != "H"))
    mapping = mapping_for(metric[None], n_sites, record, lattice="bcc")
    assert mapping.source == "recorded in run.json" and mapping.kind == cell and mapping.lattice == "bcc"
    assert mapping.a_angstrom == pytest.approx(3.2) and mapping.misfit == pytest.approx(0, abs=1e-12)
    np.testing.assert_allclose(cellpar_from_metric(mapping.conventional_metric(metric))[1], 90.0, atol=1e-9)
    distorted = build_structure(proto, a=3.2, cell=cell, supercell=supercell, angles=(94, 86, 86))
    g = metric_from_cells(distorted.cell.array)
    np.testing.assert_allclose(cellpar_from_metric(mapping_for(g[None], n_sites, record, lattice="bcc")
                                                   .conventional_metric(g))[1], [94, 86, 86], atol=1e-9)
    if np.size(supercell) != 9:  # diagonal multiples of either cell are found again from the shape alone
        inferred = find_pseudo_cubic_mapping(metric, n_sites, "bcc")
        assert inferred.misfit == pytest.approx(0, abs=1e-9) and inferred.a_angstrom == pytest.approx(3.2)


def test_the_parent_lattice_comes_from_the_record_and_the_sites_from_the_heaviest_element(tmp_path):
    """Without --lattice a bcc record (H3S) maps as bcc; LaBeH8's lattice sites are its La (Be fills the other fcc
    sublattice); a run analysed from its table.csv alone names its atoms from its start structure, not from an
    assumed LaH10 stoichiometry."""
    from hydropimd.analysis.trajectory import _sites, read_cells
    from hydropimd.structures import build_structure

    h3s = build_structure("h3s", a=3.1, cell="conventional", supercell=(2, 2, 3))
    record = describe_supercell(h3s)
    g = metric_from_cells(h3s.cell.array)
    assert mapping_for(g[None], _sites(h3s.get_chemical_symbols()), record).lattice == "bcc"
    assert _sites(h3s.get_chemical_symbols()) == 24
    labeh8 = build_structure("labeh8", cell="conventional")
    assert _sites(labeh8.get_chemical_symbols()) == 4 and len(labeh8) == 40
    mapping = mapping_for(metric_from_cells(labeh8.cell.array)[None], 4, describe_supercell(labeh8))
    assert mapping.lattice == "fcc" and mapping.a_angstrom == pytest.approx(labeh8.cell.lengths()[0])
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({**record, "natoms": len(h3s)}))
    write(run / "init.extxyz", h3s)
    a, b, c, alpha, beta, gamma = h3s.cell.cellpar()
    (run / "table.csv").write_text("step,time_ps,a,b,c,alpha,beta,gamma\n"
                                   + "".join(f"{k},{k * 0.01},{a},{b},{c},{alpha},{beta},{gamma}\n" for k in range(3)))
    series = read_cells(run / "table.csv")
    assert series.n_sites == 24 and series.natoms == len(h3s)
