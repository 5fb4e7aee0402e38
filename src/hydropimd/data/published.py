"""What the published LaH10 study fixed, in one place (Ly and Ceperley, Phys. Rev. B 106, 054106 (2022); its data:
github.com/kkly1995/Data-for-fcc-LaH, docs/theory/potential.md).

These are facts of that study's files, not defaults for other systems: every stage reads its elements, type map,
lattice and pair terms from the data, the model or the configuration, and uses the values below only where it
meets the study's own files (its table's sections, its models' type map) or reproduces its settings.  Another
hydride gets its own values from its data (pair cutoffs from its table or its dimer curves, neighbour counts
from its data by DeePMD-kit's ``sel = "auto"``).
"""

from __future__ import annotations

#: the type map of the published models and data (DeePMD-kit 1.x data carry none: their input.json says this)
TYPE_MAP = ("La", "H")

#: the neighbour counts ``sel`` of the published models' se_a descriptor, one per type of TYPE_MAP (their
#: input.json); chosen for LaH10's densities, so they apply to this type map only
DESCRIPTOR_SEL = (15, 150)

#: the published LAMMPS input's ``pair_coeff ... table full.table KEYWORD CUTOFF`` lines: section keyword of
#: tables/full.table -> cutoff in angstrom (each pair's dimer bond length: H2 0.741 A, LaH 2.03 A)
PAIR_CUTOFFS_ANGSTROM = {"La_La": 2.72, "La_H": 2.02, "H_H": 0.74}

#: ``pair_style table linear 1194``: the published input's interpolation table length (rows LAMMPS spreads
#: each section over; also the length at which the in-process baseline reproduces LAMMPS bit for bit)
TABLE_LENGTH = 1194

BOHR_ANGSTROM = 0.529177210903  # CODATA 2018

#: the study's dimer calculations behind tables/full.table, by section keyword: (elements, method, basis,
#: effective core potential, first and last distance in angstrom, CCSD points, rows of the written section).
#: Distance ranges and row counts are those of the published table; method and bases those the study names.
DIMER_CALCULATIONS = {
    "H_H": (("H", "H"), "CCSD", "cc-pV5Z", None, 0.1 * BOHR_ANGSTROM, 1.4 * BOHR_ANGSTROM, 30, 1000),
    "La_H": (("La", "H"), "CCSD", "def2-QZVPPD", "def2-QZVPPD", 0.51, 2.02, 26, 152),
    "La_La": (("La", "La"), "CCSD", "def2-QZVPPD", "def2-QZVPPD", 1.81, 2.72, 14, 92),
}
