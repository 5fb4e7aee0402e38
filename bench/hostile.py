"""The hostile first hour again: the bad inputs of the reliability round, each checked for its outcome.

Every case is a command a careless or hostile user types; each must end in one of the
accepted ways: a one-line refusal (exit 2, no traceback) or a one-line run failure
(exit 3), with nothing the user had damaged.  A traceback, a silent success (exit 0
where a refusal was due) or a changed file of the user's is counted as a defect.

    python bench/hostile.py [--json]      # needs ../shared (the published data) beside the checkout

Prints one line per case and the counts; exit status 1 when any case is a defect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = Path(os.environ.get("HYDROPIMD_DATA", REPO.parent / "shared" / "lah10-published"))
GRAPH = PUBLISHED / "models" / "subtracted" / "graph.pb"


def files(work: Path) -> None:
    """The bad inputs the cases read: files a user might hand over."""
    (work / "close.POSCAR").write_text("x\n1.0\n3 0 0\n0 3 0\n0 0 3\nS H\n1 1\nCartesian\n0 0 0\n0.1 0 0\n")
    (work / "nan.POSCAR").write_text("x\n1.0\n3 0 0\n0 3 0\n0 0 3\nS H\n1 1\nCartesian\n0 0 0\nnan 0 0\n")
    frame = '2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 pbc="T T T"\nS 0 0 0\nH 2 2 2\n'
    (work / "two.extxyz").write_text(frame * 2)
    (work / "xx.extxyz").write_text(frame.replace("H 2", "Xx 2"))
    (work / "short.extxyz").write_text(frame.replace("2\n", "9\n", 1))
    (work / "swapped.json").write_text(json.dumps({**json.loads((GRAPH.parent / "input.json").read_text()),
                                                   "model": {"type_map": ["H", "La"], "descriptor": {}}}))
    (work / "notes").mkdir()
    (work / "notes" / "table.csv").write_text("mine\n")


def cases(work: Path) -> list[tuple[str, list[str], tuple[int, ...]]]:
    """(name, arguments of hydropimd, accepted exit statuses)."""
    out = str(work / "o.extxyz")
    return [
        ("file with S-H 0.1 A", ["structure", "build", "--file", "close.POSCAR", "-o", out], (2,)),
        ("file with NaN", ["structure", "build", "--file", "nan.POSCAR", "-o", out], (2,)),
        ("file of two frames", ["structure", "build", "--file", "two.extxyz", "-o", out], (2,)),
        ("unknown element", ["structure", "build", "--file", "xx.extxyz", "-o", out], (2,)),
        ("truncated frame (cell analysis)", ["analyze", "cell", "short.extxyz"], (2,)),
        ("unknown element (cell analysis)", ["analyze", "cell", "xx.extxyz"], (2,)),
        ("a = 1e6 A", ["structure", "build", "lah10", "--a", "1e6", "-o", out], (2,)),
        ("--supercell 1000", ["structure", "build", "lah10", "--supercell", "1000", "-o", out], (2,)),
        ("--angles with --strain", ["structure", "build", "lah10", "--angles", "90,90,91", "--strain",
                                    "tetragonal:1.01", "-o", out], (2,)),
        ("--isotopes H=D,H=H", ["structure", "build", "lah10", "--isotopes", "H=D,H=H", "-o", out], (2,)),
        ("--x 0.26", ["structure", "build", "lah10", "--x", "0.26", "-o", out], (2,)),
        ("stride beyond the steps", ["md", "run", "--structure", out, "--model", str(GRAPH), "--temperature", "300",
                                     "--pressure-gpa", "150", "--steps", "20", "--stride", "50", "--out", "r1"], (2,)),
        ("md run into a user's folder", ["md", "run", "--structure", out, "--model", str(GRAPH), "--temperature",
                                         "300", "--pressure-gpa", "150", "--steps", "20", "--out", "notes"], (2,)),
        ("beads: both frequency sources", ["md", "beads", "--temperature-k", "300", "--max-frequency-cm1", "2000",
                                           "--phonons", "x.json"], (2,)),
        ("beads at 1 K", ["md", "beads", "--temperature-k", "1", "--max-frequency-cm1", "4000"], (2,)),
        ("model import: a .pth from a TF graph", ["model", "import", str(GRAPH), "--backend", "tf", "--out", "m.pth"],
         (2,)),
        ("model import: another model's script", ["model", "import", str(GRAPH), "--backend", "pt", "--input-json",
                                                  "swapped.json", "--out", "s.pth"], (2,)),
        ("study run on a user's folder", ["study", "run", "--dir", "notes"], (2,)),
    ]


def run_case(work: Path, name: str, args: list[str], accepted: tuple[int, ...]) -> dict:
    before = (work / "notes" / "table.csv").read_text()
    result = subprocess.run([sys.executable, "-m", "hydropimd", *args, "--quiet"], cwd=work, capture_output=True,
                            text=True, env={**os.environ, "HYDROPIMD_DATA": str(PUBLISHED)})
    lines = result.stderr.strip().splitlines()
    if "Traceback" in result.stderr:
        verdict = "traceback"
    elif (work / "notes" / "table.csv").read_text() != before or sorted(os.listdir(work / "notes")) != ["table.csv"]:
        verdict = "damage"
    elif result.returncode == 0 and 0 not in accepted:
        verdict = "silent success"
    elif result.returncode in accepted and len(lines) == 1:
        verdict = "clean"
    else:
        verdict = "unclear"
    return {"case": name, "exit": result.returncode, "verdict": verdict, "message": lines[-1] if lines else ""}


def main() -> int:
    as_json = "--json" in sys.argv
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        files(work)
        subprocess.run([sys.executable, "-m", "hydropimd", "structure", "build", "lah10", "-o", "o.extxyz", "--quiet"],
                       cwd=work, check=True, capture_output=True)
        rows = [run_case(work, *case) for case in cases(work)]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in ("clean", "unclear", "silent success", "traceback",
                                                                 "damage")}
    if as_json:
        print(json.dumps({"cases": rows, "counts": counts}, indent=1))
    else:
        for r in rows:
            print(f"{r['verdict']:>14}  exit {r['exit']}  {r['case']}: {r['message'][:110]}")
        print(counts)
    return int(any(counts[v] for v in ("silent success", "traceback", "damage")))


if __name__ == "__main__":
    raise SystemExit(main())
