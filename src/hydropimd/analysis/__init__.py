"""Analysis of MD runs (docs/theory/analysis.md): cell shape and its classification, powder diffraction, phase diagrams,
the hydrogen sublattice.

Public entry points, one per ``hydropimd analyze`` sub-command, each returning a
JSON-ready dict (units: angstrom, degrees, ps, GPa, K):

* :func:`analyze_cell`     conventional-cell lengths and angles, error bars, classification, shuttling
* :func:`analyze_xrd`      powder pattern and peak list of one species
* :func:`analyze_phase`    many runs -> table, transition pressures, phase diagram
* :func:`analyze_hydrogen` radial distribution functions and hydrogen diffusion
* :func:`analyze_bonds` off-centring of H on linear A-H-A bonds (H3S): symmetric or not
* :func:`analyze_symmetry` space group (spglib) of the time-averaged structure at a ladder of tolerances
* :func:`analyze_phonons`  harmonic phonons (phonopy) of a structure relaxed at a pressure with the potential
* :func:`ensemble_check`   a run's mean temperature and pressure against its thermostat's and barostat's targets

This package reads trajectories and run directories; it never imports the MD,
study or training code (:mod:`hydropimd.analysis.phonons` evaluates the potential stage's model).
"""

from hydropimd.analysis.cellshape import analyze_cell, cell_shape
from hydropimd.analysis.ensemble import ensemble_check
from hydropimd.analysis.hydrogen import analyze_hydrogen
from hydropimd.analysis.phase import analyze_phase
from hydropimd.analysis.phonons import analyze_phonons, harmonic_phonons, relax_at_pressure
from hydropimd.analysis.bonds import analyze_bonds
from hydropimd.analysis.symmetry import analyze_symmetry
from hydropimd.analysis.xrd import analyze_xrd, powder_pattern

__all__ = ["analyze_bonds", "analyze_cell", "analyze_hydrogen", "analyze_phase", "analyze_phonons", "harmonic_phonons", "relax_at_pressure", "analyze_symmetry", "analyze_xrd", "cell_shape", "ensemble_check", "powder_pattern"]
