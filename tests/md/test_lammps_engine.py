"""The study's own stack (LAMMPS `hybrid/overlay table linear 1194 deepmd`, i-PI over unix sockets)
against hydropimd's in-process potential and MD path."""

import re
import subprocess
import sys
import tomllib

import numpy as np
import pytest
from ase.io import read, write

from hydropimd.errors import InputError
from hydropimd.md.lammps import client_input, lammps_executable
from hydropimd.md.api import run_md
from hydropimd.potential.calculator import HydridePotential
from hydropimd.potential.models import resolve_model
from tests.conftest import REPO
from tests.md.conftest import read_table

BAR_PER_EV_A3 = 1.602176634e6


def test_lammps_evaluates_the_same_potential(tmp_path, published, lah10_44):
    """Same configurations: LAMMPS' energies, forces and stress equal the calculator's."""
    model, table = published / "models/subtracted/graph.pb", published / "tables/full.table"
    rng = np.random.default_rng(5)
    atoms = lah10_44.copy()
    atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
    write(tmp_path / "s.data", atoms, format="lammps-data", specorder=["La", "H"], masses=True, atom_style="atomic")
    script = client_input("s.data", str(resolve_model(model)), str(table), ["La", "H"], "unused")
    script = script.split("fix ipi")[0] + (
        "thermo_style custom step pe pxx pyy pzz pxy pxz pyz\nthermo_modify format float %.12e\n"
        "dump f all custom 1 forces.dump id fx fy fz\ndump_modify f sort id format float %.12e\nrun 0\n")
    (tmp_path / "in.lmp").write_text(script)
    out = subprocess.run([lammps_executable(), "-in", "in.lmp", "-log", "none", "-nocite"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    header = next(k for k, line in enumerate(out) if line.split()[:2] == ["Step", "PotEng"])
    values = [float(v) for v in out[header + 1].split()[1:]]
    lammps_forces = np.loadtxt(tmp_path / "forces.dump", skiprows=9)[:, 1:]
    # LAMMPS rotates the cell to its lower-triangular form: compare rotation invariants and rotated forces
    rotated = read(tmp_path / "s.data", format="lammps-data", atom_style="atomic")
    potential = HydridePotential(model, pair=table)
    ev = potential.evaluate(rotated.positions[None], rotated.cell.array[None], atoms.get_chemical_symbols())
    assert abs(values[0] - ev.energy[0]) / len(atoms) < 1e-5
    assert np.abs(lammps_forces - ev.forces[0]).max() < 1e-5
    pressure_bar = ev.virial[0] / rotated.get_volume() * BAR_PER_EV_A3  # LAMMPS' pressure tensor = W / V
    ours = [pressure_bar[i, j] for i, j in ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))]
    # 1e-6 relative (~2 bar of 170 GPa): LAMMPS' eV/A^3 -> bar constant has 8 digits
    assert np.allclose(values[1:], ours, rtol=1e-6, atol=0.1)


def test_two_lammps_clients_reproduce_the_inprocess_run(tmp_path, lah10_settings, lah10_44):
    common = dict(beads=2, steps=60, stride=10, checkpoint_stride=30, seed=11)
    inprocess = run_md(lah10_44, lah10_settings(**common), tmp_path / "inprocess")
    lammps = run_md(lah10_44, lah10_settings(engine="lammps", lammps_clients=2, **common), tmp_path / "lammps")
    assert inprocess["steps_done"] == lammps["steps_done"] == 60
    a, b = read_table(tmp_path / "inprocess"), read_table(tmp_path / "lammps")
    # LAMMPS' fix ipi converts eV to hartree with its own constant, which scales every energy it
    # returns by the same ~1e-7 (1.5e-5 eV/atom at -168 eV/atom); energy differences are unaffected
    ratio = b["potential_ev"] / a["potential_ev"] - 1
    assert np.abs(ratio).max() < 2e-7 and np.ptp(ratio) < 1e-8
    assert np.abs(np.diff(b["potential_ev"]) - np.diff(a["potential_ev"])).max() / 44 < 1e-6
    # the same trajectory for the same seed, up to round-off growth
    for key in ("a", "b", "c", "alpha", "pressure_gpa", "kinetic_cv_ev"):
        assert np.allclose(a[key], b[key], rtol=1e-5, atol=1e-5), key
    assert "hybrid/overlay table linear 1194 deepmd" in (tmp_path / "lammps" / "lammps" / "client.in").read_text()


def test_inet_socket_for_clients_on_other_machines(tmp_path, lah10_settings, lah10_44):
    import socket

    with socket.socket() as s:  # a free port
        s.bind(("", 0))
        port = s.getsockname()[1]
    summary = run_md(lah10_44, lah10_settings(engine="lammps", lammps_clients=2, port=port, steps=20, stride=10,
                                              checkpoint_stride=20), tmp_path / "inet")
    assert summary["steps_done"] == 20
    assert f"<port>{port}</port>" in (tmp_path / "inet" / "input.xml").read_text()
    remote = (tmp_path / "inet" / "lammps" / "client-remote.in").read_text()
    assert f"fix ipi all ipi {socket.gethostname()} {port}\n" in remote


def test_one_client_on_two_mpi_ranks(tmp_path, lah10_settings, lah10_44):
    """A larger cell spread over MPI ranks (domain decomposition) gives the same run."""
    cell = lah10_44.repeat((2, 1, 1))
    common = dict(steps=20, stride=10, checkpoint_stride=20, seed=3)
    run_md(cell, lah10_settings(engine="lammps", lammps_clients=1, ranks_per_client=2, **common), tmp_path / "mpi")
    run_md(cell, lah10_settings(engine="lammps", lammps_clients=1, **common), tmp_path / "serial")
    a, b = read_table(tmp_path / "mpi"), read_table(tmp_path / "serial")
    assert np.allclose(a["potential_ev"], b["potential_ev"], rtol=1e-9)
    assert np.allclose(a["pressure_gpa"], b["pressure_gpa"], rtol=1e-7)


def test_missing_lammps_names_the_pinned_build(tmp_path, monkeypatch):
    """Without lmp the error names the build hydropimd pins (a later one breaks DeePMD-kit's plugin)."""
    pin = next(d for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
               if d.startswith("lammps"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match=re.escape(pin)):
        lammps_executable()


def test_a_dead_client_is_a_retryable_run_failure(tmp_path):
    """A LAMMPS client that died (killed, crashed) fails the run at run time, retryably: the run continues
    from its last checkpoint with new clients.  The error names the client and its log."""
    from hydropimd.errors import RunFailed
    from hydropimd.md.lammps import check_clients

    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    dead.wait()
    try:
        check_clients([alive], tmp_path)  # a running client is fine
        with pytest.raises(RunFailed, match=r"LAMMPS client 1 exited with status 1; read .*client-1.log") as err:
            check_clients([alive, dead], tmp_path)
        assert err.value.retryable and err.value.exit_status == 3
    finally:
        alive.kill()
        alive.wait()
