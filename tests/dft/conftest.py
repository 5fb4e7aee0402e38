"""Fixtures of the DFT tests: pw.x, the pseudopotentials, a stand-in pw.x, the CLI.

Like the published data, the pseudopotentials live in ../shared beside the checkout
(``../shared/pseudopotentials``, made by ``hydropimd dft pseudo``), and pw.x comes
from the system's Quantum ESPRESSO package.  Under CI (CI=true) a test that needs
either fails when it is missing; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ase import Atoms

from tests.conftest import REPO, run_cli

DATA = Path(__file__).resolve().parent / "data"
FAKE_PW = Path(__file__).resolve().parent / "fake_pw.py"


def _missing(message: str):
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pseudo_dir() -> Path:
    for c in (os.environ.get("ESPRESSO_PSEUDO"), REPO.parent / "shared" / "pseudopotentials"):
        if c and (Path(c) / "La.pbe-spfn-rrkjus_psl.1.0.0.UPF").is_file():
            return Path(c)
    _missing("pseudopotentials not found: ../shared/pseudopotentials or $ESPRESSO_PSEUDO (make them with 'hydropimd dft pseudo')")


@pytest.fixture(scope="session")
def pslibrary() -> Path:
    """pslibrary's ld1.x input collection (../shared/pslibrary, a copy of github.com/dalcorso/pslibrary)."""
    path = REPO.parent / "shared" / "pslibrary"
    if not (path / "us_ps_high.job").is_file():
        _missing(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def pslibrary_inputs() -> Path:
    path = REPO.parent / "shared" / "pslibrary-inputs"
    if not path.is_dir():
        _missing(f"{path} not found")
    return path


def _program(name: str) -> str:
    path = shutil.which(name)
    if not path:
        _missing(f"{name} not found: apt-get install quantum-espresso libopenblas0-pthread")
    return path


@pytest.fixture(scope="session")
def pwx() -> str:
    return _program("pw.x")


@pytest.fixture(scope="session")
def ld1x() -> str:
    return _program("ld1.x")


@pytest.fixture(scope="session")
def reference() -> dict:
    return json.loads((DATA / "reference_labels.json").read_text())


def reference_atoms(entry: dict) -> Atoms:
    return Atoms(entry["symbols"], positions=entry["positions_angstrom"], cell=entry["cell_angstrom"], pbc=True)


@pytest.fixture
def fake_pw(monkeypatch, tmp_path):
    """pw.x replaced by tests/dft/fake_pw.py; returns a function setting its mode and the call log."""
    log = tmp_path / "fake_pw.log"
    monkeypatch.setenv("HYDROPIMD_PW", f"{sys.executable} {FAKE_PW}")
    monkeypatch.setenv("FAKE_PW_LOG", str(log))

    def configure(mode="ok", sleep=0.0):
        monkeypatch.setenv("FAKE_PW_MODE", mode)
        monkeypatch.setenv("FAKE_PW_SLEEP", str(sleep))
        return log

    configure()
    return configure


def fake_output_atoms() -> Atoms:
    """The structure whose real pw.x output the stand-in replays (11 atoms, La first)."""
    from ase.io import read

    with gzip.open(DATA / "pw_11atoms.out.gz", "rt") as f:
        return read(f, format="espresso-out", index=-1)


def dft_cli(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``hydropimd ARGS`` in a child process."""
    return run_cli(*args, env=env)


