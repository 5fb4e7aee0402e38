"""Write starts.extxyz, the start structures of the H3S campaign (examples/h3s/active.toml).

Im-3m and R3m, H and D, in the 8-atom conventional cell and the 32-atom bcc 2x2x2 primitive supercell:
* Im-3m at a = 3.00 A (about 190 GPa with PBE), every H on its S-H-S bond centre;
* R3m at a = 3.15 A (its perturbed copies: 100-135 GPa with PBE), every H moved 0.10 A along its bond towards the S at lower x, y or z
  (the polar zone-centre pattern of R3m: each S keeps three short bonds, D. Duan et al., Sci. Rep. 4, 6968 (2014)).
Run from anywhere: ``python examples/h3s/starts.py``; the file lands beside this script.
"""

from pathlib import Path

import numpy as np
from ase.io import write

from hydropimd.structures import build_structure

SHIFT_ANGSTROM = 0.10


def off_centred(atoms, shift: float):
    """Every H moved ``shift`` A along its bond towards lower x, y or z: the bond axis is the one whose
    conventional fractional coordinate is unlike the other two (H at (1/2, 0, 0) or (0, 1/2, 1/2) bonds along x)."""
    atoms = atoms.copy()
    conventional = atoms.cell.array[0, 0] if atoms.info.get("cell_kind") == "conventional" else None
    a = conventional or float(np.cbrt(2 * atoms.get_volume() / atoms.get_global_number_of_atoms() * 4))
    frac = atoms.positions / a
    half = np.abs(frac - np.round(frac)) > 0.25
    odd = np.argmax(half != (half.sum(axis=1, keepdims=True) >= 2), axis=1)
    hydrogen = np.array(atoms.get_chemical_symbols()) == "H"
    atoms.positions[hydrogen, odd[hydrogen]] -= shift
    return atoms


def starts() -> list:
    frames = []
    for isotope in ("H", "D"):
        for cell, supercell in (("conventional", 1), ("primitive", 2)):
            frames.append(build_structure("h3s", a=3.00, cell=cell, supercell=supercell, isotopes=isotope))
            frames.append(off_centred(build_structure("h3s", a=3.15, cell=cell, supercell=supercell, isotopes=isotope),
                                      SHIFT_ANGSTROM))
    return frames


if __name__ == "__main__":
    write(Path(__file__).with_name("starts.extxyz"), starts(), format="extxyz")
