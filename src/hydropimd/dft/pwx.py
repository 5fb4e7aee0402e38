"""One pw.x self-consistent calculation: input, run, parsed labels.

Input and output go through ASE's Quantum ESPRESSO I/O (``ase.io.espresso``:
``write_espresso_in`` and the ``espresso-out`` reader); no pw.x output is parsed by
hand except the three facts ASE does not report: whether the SCF converged, in how
many iterations, and pw.x's own error message when it stops.

pw.x runs in a scratch folder as a child process (under ``mpirun -np N`` for N > 1
ranks, with ``-nk P`` k-point pools), with its standard output in ``pw.out``.  The
child gets SIGTERM if the Python process dies (Linux ``PR_SET_PDEATHSIG``), so a
killed labeller leaves no orphan pw.x behind.  Open MPI refuses to run as root; the
environment variables ``OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)=1`` (the equivalent of
``--allow-run-as-root``, harmless for other users and other MPIs) are set for it.
Each rank runs one BLAS/OpenMP thread unless OMP_NUM_THREADS is already set.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import GPa

from hydropimd.dft.pseudo import INSTALL_HINT
from hydropimd.dft.settings import DFTSettings, kpoint_grid
from hydropimd.errors import InputError, RunFailed

PW_ENV = "HYDROPIMD_PW"  # command that runs pw.x (default: pw.x on PATH)


#: failure kinds a second pw.x run may not repeat (a crash or a kill, not pw.x's verdict on the structure)
RETRYABLE_KINDS = ("crashed", "killed")


class PWFailure(RunFailed):
    """A pw.x run that gave no label: ``outcome`` is ``unconverged``, ``error`` (pw.x's own message), ``crashed``
    or ``killed`` (the labeller records it as the structure's status); ``output`` is pw.x's output file.
    ``retryable`` for a crash or a kill; as a :class:`RunFailed` the CLI exits 3.
    """

    def __init__(self, message: str, kind: str, output: Path):
        super().__init__(message, retryable=kind in RETRYABLE_KINDS)
        self.outcome = kind
        self.output = Path(output)


@dataclass
class PWResult:
    """Labels of one structure: energy (eV; pw.x's total energy, the Mermin free energy with smearing),
    forces (N, 3) eV/A, stress (3, 3) eV/A^3 in ASE's sign (negative under compression),
    virial (3, 3) eV in DeePMD-kit's convention -stress * volume (positive under compression)."""

    energy_ev: float
    forces_ev_per_angstrom: np.ndarray
    stress_ev_per_angstrom3: np.ndarray
    virial_ev: np.ndarray
    pressure_gpa: float
    iterations: int
    n_kpoints: int
    kpoint_grid: tuple
    wall_seconds: float
    version: str
    output: Path
    extra: dict = field(default_factory=dict)


def find_pw() -> list[str]:
    """The command that runs pw.x: ``$HYDROPIMD_PW`` if set, else pw.x on PATH."""
    command = os.environ.get(PW_ENV)
    if command:
        parts = command.split()
        if not shutil.which(parts[0]):
            raise InputError(f"{PW_ENV}={command} is not an executable command; fix it or unset it to use pw.x from PATH")
        return parts
    path = shutil.which("pw.x")
    if not path:
        raise InputError(f"pw.x not found on PATH: {INSTALL_HINT}")
    return [path]


def launcher(mpi: int, pools: int) -> list[str]:
    """``mpirun -np N`` (nothing for one rank); pools are added after pw.x."""
    if mpi < 1 or pools < 1 or mpi % pools:
        raise InputError(f"--mpi {mpi} with {pools} k-point pools: ranks must be a positive multiple of the pools")
    if mpi == 1:
        return []
    for name in ("mpirun", "mpiexec"):
        path = shutil.which(name)
        if path:
            return [path, "-np", str(mpi)]
    raise InputError(f"--mpi {mpi} needs mpirun (Debian: apt-get install openmpi-bin, installed with quantum-espresso)")


def run_environment() -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", env["OMP_NUM_THREADS"])
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


def write_pw_input(path: Path, atoms: Atoms, settings: DFTSettings, pseudo_dir: Path, kpts) -> None:
    """pw.x input for an SCF with forces and stress at ``settings`` (ASE's writer)."""
    from ase.io.espresso import write_espresso_in

    input_data = {
        "control": {
            "calculation": "scf",
            "tprnfor": True,
            "tstress": True,
            "pseudo_dir": str(Path(pseudo_dir).resolve()),
            "outdir": "./tmp",
            "prefix": "pwscf",
            "disk_io": "none",  # nothing is restarted from: skip writing wavefunctions (GBs for large cells)
        },
        "system": {
            "ecutwfc": settings.ecutwfc_ry,
            "ecutrho": settings.ecutrho_ry,
            "occupations": "smearing",
            "smearing": settings.smearing,
            "degauss": settings.degauss_ry,
            "input_dft": settings.input_dft,
        },
        "electrons": {
            "conv_thr": settings.conv_thr_ry_per_atom * len(atoms),
            "mixing_beta": settings.mixing_beta,
            "electron_maxstep": settings.electron_maxstep,
        },
    }
    pseudopotentials = {e: settings.pseudopotential(e, pseudo_dir) for e in sorted(set(atoms.get_chemical_symbols()))}
    offset = (1, 1, 1) if settings.kpoint_shift else (0, 0, 0)
    with open(path, "w") as f:
        write_espresso_in(f, atoms, input_data=input_data, pseudopotentials=pseudopotentials, kpts=tuple(kpts), koffset=offset)


def _pdeathsig():
    """A function for the child between fork and exec: SIGTERM when the parent dies (Linux prctl).

    libc is loaded here, in the parent: the child only calls into it (no dlopen after fork).
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_pw(
    atoms: Atoms,
    settings: DFTSettings,
    workdir: str | os.PathLike,
    pseudo_dir: str | os.PathLike,
    mpi: int = 1,
    pools: int = 1,
) -> PWResult:
    """Run one SCF of ``atoms`` in ``workdir`` (created) and return its labels, or raise :class:`PWFailure`.

    Files: ``pw.in``, ``pw.out`` (pw.x's output, named in every error), ``pw.err``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    kpts = kpoint_grid(atoms.cell.array, settings.kspacing_per_angstrom)
    write_pw_input(workdir / "pw.in", atoms, settings, Path(pseudo_dir), kpts)
    command = launcher(mpi, pools) + find_pw() + (["-nk", str(pools)] if pools > 1 else []) + ["-in", "pw.in"]
    output = workdir / "pw.out"
    start = time.perf_counter()
    with open(output, "w") as out, open(workdir / "pw.err", "w") as err:
        process = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=err, env=run_environment(),
                                   preexec_fn=_pdeathsig(), start_new_session=True)
        try:
            status = process.wait()
        except BaseException:  # KeyboardInterrupt or a signal turned exception: stop pw.x and its ranks with us
            _stop(process)
            raise
    wall = time.perf_counter() - start
    return parse_pw_output(output, atoms, status, wall, kpts)


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _qe_error(text: str) -> str | None:
    """pw.x's own error message (the block between its %%% lines), on one line."""
    match = re.search(r"%{20,}\s*\n(.*?)\n\s*%{20,}", text, re.S)
    if not match:
        return None
    return " ".join(line.strip() for line in match.group(1).splitlines() if line.strip())


def parse_pw_output(output: Path, atoms: Atoms, status: int = 0, wall: float = 0.0, kpts=()) -> PWResult:
    """Labels from a pw.x output file (ASE's reader), or :class:`PWFailure` saying why there are none."""
    from ase.io import read

    output = Path(output)
    text = output.read_text(errors="replace") if output.exists() else ""
    if status < 0 or status in (128 + signal.SIGKILL, 128 + signal.SIGTERM):
        signum = -status if status < 0 else status - 128
        raise PWFailure(f"pw.x was killed by signal {signum} ({signal.Signals(signum).name}; out of memory?); "
                        f"read {output}", "killed", output)
    not_converged = re.search(r"convergence NOT achieved after\s+(\d+)\s+iterations", text)
    if not_converged:
        raise PWFailure(f"SCF not converged after {not_converged.group(1)} iterations (electron_maxstep); read {output}",
                        "unconverged", output)
    qe_error = _qe_error(text)
    if qe_error:
        # pw.x's own error message (e.g. a failed Cholesky decomposition for a near-unphysical
        # frame) is deterministic for this structure: recorded as failed, not retried
        raise PWFailure(f"pw.x stopped: {qe_error}; read {output}", "error", output)
    if status != 0 or "JOB DONE" not in text:
        reason = f"exit status {status}" if status else "output ends before JOB DONE"
        raise PWFailure(f"pw.x stopped: {reason}; read {output}", "crashed", output)
    converged = re.search(r"convergence has been achieved in\s+(\d+)\s+iterations", text)
    if not converged:
        raise PWFailure(f"pw.x finished without a converged SCF; read {output}", "unconverged", output)
    try:
        parsed = read(output, format="espresso-out", index=-1)
        energy = parsed.get_potential_energy()
        forces = parsed.get_forces()
        stress = parsed.get_stress(voigt=False)
    except Exception as err:  # ASE raises assorted errors on truncated or unexpected output
        raise PWFailure(f"cannot read energy, forces and stress from {output}: {err}", "crashed", output) from None
    if forces is None or stress is None or len(forces) != len(atoms):
        raise PWFailure(f"{output} lacks forces or stress for {len(atoms)} atoms", "crashed", output)
    if parsed.get_chemical_symbols() != atoms.get_chemical_symbols():
        raise PWFailure(f"{output} lists other atoms than the structure given; it belongs to another run", "crashed", output)
    version = re.search(r"Program PWSCF\s+v\.(\S+)", text)
    nks = re.search(r"number of k points=\s*(\d+)", text)
    # how pw.x actually ran (its header), recorded with the label
    ranks = re.search(r"running on\s+(\d+)\s+processors", text)
    npool = re.search(r"npool\s*=\s*(\d+)", text)
    volume = atoms.get_volume()
    return PWResult(
        energy_ev=float(energy),
        forces_ev_per_angstrom=np.asarray(forces, dtype=float),
        stress_ev_per_angstrom3=np.asarray(stress, dtype=float),
        virial_ev=-np.asarray(stress, dtype=float) * volume,
        pressure_gpa=float(-np.trace(stress) / 3 / GPa),
        iterations=int(converged.group(1)),
        n_kpoints=int(nks.group(1)) if nks else 0,
        kpoint_grid=tuple(int(k) for k in kpts),
        wall_seconds=wall,
        version=version.group(1) if version else "unknown",
        output=output,
        extra={"pw_processes": int(ranks.group(1)) if ranks else 1, "pw_pools": int(npool.group(1)) if npool else 1},
    )
