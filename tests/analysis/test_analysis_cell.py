"""Cell shape from the metric tensor and the pseudo-cubic mapping of the study's simulation cells."""

import numpy as np
import pytest
from ase.cell import Cell
from scipy.spatial.transform import Rotation

from hydropimd.analysis.cell import (
    cellpar_from_metric,
    find_pseudo_cubic_mapping,
    mapping_for,
    metric_from_cellpar,
    metric_from_cells,
)
from hydropimd.errors import InputError
from hydropimd.structures import build_lah10


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
        mapping_for(metric[None], n_la, {"cell_kind": "primitive", "supercell": [2, 2, 2]})


def test_non_cubic_cell_cannot_be_mapped():
    metric = metric_from_cellpar([5.0, 7.0, 11.0], [90.0, 90.0, 90.0])
    with pytest.raises(InputError, match="cannot be mapped to a pseudo-cubic fcc cell"):
        find_pseudo_cubic_mapping(metric, 4)
    with pytest.raises(InputError, match="degenerate"):
        find_pseudo_cubic_mapping(np.zeros((3, 3)), 4)
