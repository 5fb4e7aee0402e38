"""DFT labels with Quantum ESPRESSO pw.x (docs/theory/potential.md): settings, pseudopotentials, runs, the labeller."""

from hydropimd.dft.label import DFTLabeller, label_structures
from hydropimd.dft.memory import estimate_memory, plan_parallel
from hydropimd.dft.pseudo import generate_pseudopotentials, pseudo_dir, rewrap_upf
from hydropimd.dft.pwx import PWFailure, PWResult, run_pw
from hydropimd.dft.settings import DFTSettings, kpoint_grid, load_settings

__all__ = [
    "DFTLabeller", "DFTSettings", "PWFailure", "PWResult", "estimate_memory", "generate_pseudopotentials", "kpoint_grid",
    "label_structures", "load_settings", "plan_parallel", "pseudo_dir", "rewrap_upf", "run_pw",
]
