"""Regenerate reference_labels.json and pw_11atoms.out.gz (run once by hand; minutes on 2 cores).

    .venv/bin/python tests/dft/data/make_reference.py --pseudo-dir ../shared/pseudopotentials

Each reference is one pw.x SCF (Quantum ESPRESSO 6.7 from Debian 12, OpenBLAS, one MPI
rank) run through :func:`hydropimd.dft.pwx.run_pw`, i.e. ASE's writer and reader:

* ``perfect_11``: the 11-atom primitive cell of fcc LaH10 (a = 5.1 A, x = 0.38) at the
  study's settings (PBE, 50/400 Ry, MV smearing 0.02 Ry, shifted 8x8x8 grid);
* ``rattled_11``: the same cell with every atom displaced (normal, sigma 0.04 A, seed 11),
  k-point spacing 0.75 1/A (shifted 3x3x3, 14 k-points without symmetry);
* ``rattled_44``: the 44-atom conventional cell displaced (sigma 0.05 A, seed 44),
  k-point spacing 0.62 1/A (shifted 2x2x2, 4 k-points without symmetry): one SCF fits in a
  CI test; at the study's 5x5x5 it takes ~20 min on 2 cores.

Positions are stored, so the tests do not depend on a random generator.  The pw.x output
of ``rattled_11`` (gzipped) feeds the stand-in pw.x of the fast tests.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hydropimd.dft.pwx import run_pw
from hydropimd.dft.settings import DFTSettings
from hydropimd.structures import build_lah10

HERE = Path(__file__).resolve().parent


def cases():
    perfect = build_lah10(a=5.1, cell="primitive")
    rattled_11 = perfect.copy()
    rattled_11.positions += np.random.default_rng(11).normal(scale=0.04, size=rattled_11.positions.shape)
    rattled_44 = build_lah10(a=5.1)
    rattled_44.positions += np.random.default_rng(44).normal(scale=0.05, size=rattled_44.positions.shape)
    return {
        "perfect_11": (perfect, {}),
        "rattled_11": (rattled_11, {"kspacing_per_angstrom": 0.75}),
        "rattled_44": (rattled_44, {"kspacing_per_angstrom": 0.62}),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pseudo-dir", required=True)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    path = HERE / "reference_labels.json"
    reference = json.loads(path.read_text()) if path.exists() else {}
    for name, (atoms, overrides) in cases().items():
        if args.only and name not in args.only:
            continue
        settings = DFTSettings(**overrides)
        with tempfile.TemporaryDirectory() as work:
            start = time.perf_counter()
            result = run_pw(atoms, settings, work, args.pseudo_dir)
            if name == "rattled_11":
                with open(result.output, "rb") as f, gzip.open(HERE / "pw_11atoms.out.gz", "wb", compresslevel=9) as g:
                    shutil.copyfileobj(f, g)
        reference[name] = {
            "how": "pw.x 6.7 (Debian 12, OpenBLAS), 1 MPI rank, via hydropimd.dft.pwx.run_pw; see make_reference.py",
            "settings": settings.as_dict(),
            "symbols": atoms.get_chemical_symbols(),
            "cell_angstrom": atoms.cell.array.round(10).tolist(),
            "positions_angstrom": atoms.positions.round(10).tolist(),
            "kpoint_grid": list(result.kpoint_grid),
            "n_kpoints": result.n_kpoints,
            "energy_per_atom_ev": result.energy_ev / len(atoms),
            "pressure_gpa": result.pressure_gpa,
            "forces_ev_per_angstrom": result.forces_ev_per_angstrom.round(6).tolist(),
            "virial_ev": result.virial_ev.round(5).tolist(),
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(name, reference[name]["energy_per_atom_ev"], reference[name]["pressure_gpa"], reference[name]["seconds"], flush=True)
        path.write_text(json.dumps(reference, indent=1) + "\n")


if __name__ == "__main__":
    main()
