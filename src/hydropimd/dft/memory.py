"""How much memory a pw.x SCF will take, estimated before it starts.

pw.x prints its own estimate only after it has set up (for a 352-atom cell that set-up
alone takes minutes and gigabytes), so the estimate here is computed from the inputs,
following the arrays that dominate pw.x 6.x for ultrasoft pseudopotentials (all
complex, 16 bytes per element, distributed over the R/P ranks of a k-point pool):

* wavefunctions of the pool's k-points, kept in memory: nks/P x npw x nbnd;
* the Davidson work space (psi, H psi, S psi with ``diago_david_ndim`` = 2): 7 x nbnd x npw;
* the beta projectors: npw x nkb;
* the augmentation functions Q_ij(G) of the heaviest species over the dense G sphere
  (``newd``/``addusdens``): ngm x nh (nh + 1) / 2, split over all ranks (pools included)
  -- this is what makes large La cells expensive (La has nh = 32 projector components) --
  with the structure factors of that species' atoms, ngm x n_La;
* about 30 real arrays on the dense FFT grid, and ~150 MB per process for the program.

npw = V ecutwfc^(3/2) / (6 pi^2) and ngm = V ecutrho^(3/2) / (6 pi^2) (bohr, Ry), the
number of bands is pw.x's default for metals max(1.2 nelec/2, nelec/2 + 4), and the
k-points are those of the grid reduced by time reversal only (a rattled structure has
no other symmetry; in non-orthogonal cells pw.x may unfold a shifted grid to twice its
size, which is assumed).  Checked against pw.x's peak resident memory per rank
(``bench/dft.py``): rattled 44-atom cell, shifted 3x3x3 grid, 1.28 GB estimated vs 1.23 GB
measured on one rank, 0.75 vs 0.66 GB per rank on two ranks in two pools; the perfect
11-atom cell (8x8x8), 0.72 vs 0.36 GB: symmetry reduces its k-points to 60, which the
estimate ignores (it stays on the safe side).  The rattled 352-atom cell at the study's
settings (shifted 3x3x3, 14 k-points, one rank): 13.9 GB estimated, 13.8 GB measured
(peak resident memory through set-up and the first SCF iteration, 45 min on one core),
where pw.x's own report says "> 27.29 GB"; on two ranks in two pools the estimate is 15.7 GB.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.units import Bohr

from hydropimd.dft.pseudo import upf_header
from hydropimd.dft.settings import DFTSettings, kpoint_grid
from hydropimd.errors import InputError

GB = 1024.0**3
COMPLEX = 16
REAL = 8
PROGRAM_BYTES = 150 * 1024**2
FFT_ARRAYS = 30
DAVID_NDIM = 2


@dataclass(frozen=True)
class Species:
    """What the estimate needs from a UPF file: valence charge, projector components, angular range of Q."""

    z_valence: float
    nh: int
    lmax_rho: int


def read_species(path: Path) -> Species:
    header = upf_header(path)
    text = path.read_text(errors="replace")
    ls = [int(m) for m in re.findall(r"<PP_BETA\.\d+[^>]*?angular_momentum=\"\s*(\d+)\"", text)]
    try:
        z = float(header["z_valence"])
        lmax_rho = int(header.get("l_max_rho", 2 * max(ls or [0])))
    except (KeyError, ValueError):
        raise InputError(f"{path}: PP_HEADER lacks z_valence; not a usable UPF file") from None
    return Species(z, sum(2 * l + 1 for l in ls), lmax_rho)


def _good_fft(n: int) -> int:
    """Smallest 2-3-5-smooth integer >= n (pw.x's FFT dimensions)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


@dataclass(frozen=True)
class MemoryEstimate:
    per_process_gb: float
    total_gb: float
    mpi: int
    pools: int
    n_kpoints: int
    n_bands: int
    n_planewaves: int
    n_gvectors: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def estimate_memory(atoms: Atoms, settings: DFTSettings, species: dict[str, Species], mpi: int = 1, pools: int = 1) -> MemoryEstimate:
    """Peak memory of pw.x for one SCF of ``atoms`` with ``mpi`` ranks in ``pools`` k-point pools."""
    volume = atoms.get_volume() / Bohr**3
    npw = 1.05 * volume * settings.ecutwfc_ry**1.5 / (6 * math.pi**2)  # 5 %: the largest k-point's sphere
    ngm = volume * settings.ecutrho_ry**1.5 / (6 * math.pi**2)
    lengths = np.linalg.norm(atoms.cell.array, axis=1) / Bohr
    nr = float(np.prod([_good_fft(2 * int(math.sqrt(settings.ecutrho_ry) * a / (2 * math.pi)) + 1) for a in lengths]))
    symbols = atoms.get_chemical_symbols()
    nelec = sum(species[s].z_valence for s in symbols)
    nbnd = max(round(1.2 * nelec / 2), round(nelec / 2) + 4)
    nkb = sum(species[s].nh for s in symbols)
    nij = max(species[s].nh * (species[s].nh + 1) // 2 for s in set(symbols))
    lmaxq = max(species[s].lmax_rho for s in set(symbols)) + 1
    grid = kpoint_grid(atoms.cell.array, settings.kspacing_per_angstrom)
    # time reversal halves the grid of a structure without symmetry; pw.x first reduces a grid with the
    # lattice's point group and unfolds it with the crystal's, which for a shifted grid in a non-orthogonal
    # cell (the fcc primitive cell) can restore the whole grid or more (measured: 54 points for 3x3x3)
    orthogonal = np.allclose(atoms.cell.cellpar()[3:], 90.0)
    nks = max(1, math.ceil(int(np.prod(grid)) / 2)) if orthogonal else 2 * int(np.prod(grid))
    ranks_per_pool = mpi // pools
    nks_pool = math.ceil(nks / pools)
    d = ranks_per_pool
    wavefunctions = nks_pool * npw / d * nbnd * COMPLEX
    davidson = (3 * DAVID_NDIM + 1) * nbnd * npw / d * COMPLEX + 3 * (DAVID_NDIM * nbnd) ** 2 * COMPLEX
    projectors = npw / d * nkb * COMPLEX + 4 * nkb * nbnd * COMPLEX
    heavy = max(set(symbols), key=lambda e: species[e].nh)
    # newd/addusdens split G over all ranks, pools too: Q_ij(G), the Y_lm(G), and the structure factors of the
    # heavy species' atoms (0.46 GB for the 32 La of the 352-atom cell)
    augmentation = ngm / mpi * (nij * COMPLEX + lmaxq**2 * REAL + symbols.count(heavy) * COMPLEX)
    fft = FFT_ARRAYS * nr / d * REAL
    per_process = PROGRAM_BYTES + wavefunctions + projectors + fft + max(davidson, augmentation)
    return MemoryEstimate(per_process / GB, per_process * mpi / GB, mpi, pools, nks, int(nbnd), int(npw), int(ngm))


def available_memory_gb() -> float:
    """Memory available to new processes now (Linux MemAvailable), GB; infinity where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 / GB
    except OSError:
        pass
    return float("inf")


def plan_parallel(
    atoms: Atoms,
    settings: DFTSettings,
    species: dict[str, Species],
    mpi: int = 1,
    pools: int | None = None,
    memory_limit_gb: float | None = None,
) -> MemoryEstimate:
    """Choose k-point pools for ``mpi`` ranks (the most that fit in memory) or refuse with the estimate.

    Pools parallelise over k-points with almost no communication, the fastest layout for
    small cells, but each pool holds the whole G-vector arrays; with fewer pools the
    ranks share them (plane-wave distribution), which is how a large cell fits.
    """
    if memory_limit_gb is not None and not float(memory_limit_gb) > 0:
        raise InputError(f"--max-memory-gb {memory_limit_gb} must be positive (the memory pw.x may use, in GB)")
    limit = available_memory_gb() if memory_limit_gb is None else float(memory_limit_gb)
    if mpi < 1:
        raise InputError(f"--mpi {mpi} must be at least 1")
    if pools is not None:
        if pools < 1 or mpi % pools:
            raise InputError(f"--pools {pools} must divide --mpi {mpi}")
        candidates = [pools]
    else:
        candidates = [p for p in range(mpi, 0, -1) if mpi % p == 0]
    estimate = None
    for p in candidates:
        estimate = estimate_memory(atoms, settings, species, mpi, p)
        if p > estimate.n_kpoints:
            continue
        if estimate.total_gb <= limit:
            return estimate
    smallest = estimate_memory(atoms, settings, species, mpi, candidates[-1])
    raise InputError(
        f"the {len(atoms)}-atom structure needs about {smallest.total_gb:.1f} GB for pw.x "
        f"({mpi} rank(s), {smallest.pools} pool(s), {smallest.n_kpoints} k-points, {smallest.n_bands} bands) but "
        f"{limit:.3g} GB are available; label it on a machine with more memory"
        + (" or with fewer pools" if pools and pools > 1 else "")
    )

