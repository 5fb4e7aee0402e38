"""H3S by configuration only: pseudopotentials from pslibrary's collection, pw.x labels of the Im-3m cell.

Nothing here names S in hydropimd's code paths: the elements come from the prototype library and the
structures, the pseudopotential files from the collection, the type map from the structures.
"""

import numpy as np
import pytest

from hydropimd.data.systems import find_systems
from hydropimd.dft.label import label_structures
from hydropimd.dft.pseudo import generate_pseudopotentials
from hydropimd.structures import build_structure

EV_PER_A3_IN_GPA = 160.21766208


@pytest.fixture(scope="module")
def h3s_labels(tmp_path_factory, pslibrary, ld1x, pwx):
    """The 8-atom conventional Im-3m cell at a = 3.09 and 3.00 A, at the study's DFT settings (50/400 Ry,
    Marzari-Vanderbilt 0.02 Ry, shifted k-point grid from 0.27 1/A: 8x8x8 here)."""
    root = tmp_path_factory.mktemp("h3s")
    generate_pseudopotentials(out=root / "pseudo", elements=["S", "H"], pslibrary=pslibrary, ld1=ld1x)
    cells = [build_structure("h3s", a=a) for a in (3.09, 3.00)]
    summary = label_structures(cells, root / "labels", pseudo_dir=root / "pseudo", mpi=1)
    [system] = find_systems(root / "labels" / "full")
    return summary, system.load("all"), cells


def test_h3s_is_labelled_with_its_own_type_map(h3s_labels):
    summary, frames, _ = h3s_labels
    assert summary["labelled"] == 2 and summary["failed"] == 0
    assert list(summary["settings"]["type_map"]) == ["S", "H"] and frames.symbols.count("S") == 2


def test_h3s_pressure_is_minus_the_energy_derivative(h3s_labels):
    """Im-3m H3S near 140 GPa at a = 3.09 A; zero forces by symmetry; P = -dE/dV between the two cells."""
    _, frames, cells = h3s_labels
    volumes = np.array([c.get_volume() for c in cells])
    pressures = np.array([np.trace(w) / 3 / v for w, v in zip(frames.virial.reshape(-1, 3, 3), volumes)])
    assert np.abs(frames.forces).max() < 1e-3  # every atom on a centre of inversion
    assert 100 < pressures[0] * EV_PER_A3_IN_GPA < 180 and pressures[1] > pressures[0]
    finite_difference = -(frames.energy[1] - frames.energy[0]) / (volumes[1] - volumes[0])
    assert finite_difference == pytest.approx(pressures.mean(), rel=0.03)
