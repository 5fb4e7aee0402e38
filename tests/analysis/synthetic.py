"""Synthetic trajectories with known answers for the analysis tests.

Conventional cells are built from (a, b, c, alpha, beta, gamma) per frame with
ASE's cellpar_to_cell, multiplied into a simulation cell H = S C (conventional
n x n x n or primitive fcc n x n x n), optionally rotated by a random rotation
per frame (an MD cell whose orientation drifts), and written as extended XYZ
with La sites (and optionally H) at the fcc positions of each frame's cell.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.geometry import cellpar_to_cell
from ase.io import write
from scipy.signal import lfilter
from scipy.spatial.transform import Rotation

FCC_PRIMITIVE = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])


def ar1(rng, n: int, sigma: float, phi: float, shape=()) -> np.ndarray:
    """AR(1) noise x_t = phi x_{t-1} + e_t with stationary standard deviation ``sigma``; tau_int = (1+phi)/(2(1-phi)) frames."""
    e = rng.normal(size=(n, *shape)) * sigma * np.sqrt(1 - phi**2)
    x = lfilter([1.0], [1.0, -phi], e, axis=0)
    return x


def conventional_cells(lengths, angles) -> np.ndarray:
    """(n, 3, 3) conventional cells from per-frame lengths (n, 3) and angles (n, 3)."""
    return np.array([cellpar_to_cell([*l, *a]) for l, a in zip(lengths, angles)])


def supercell_matrix(kind: str, n: int) -> np.ndarray:
    return n * (np.eye(3) if kind == "conventional" else FCC_PRIMITIVE)


def simulation_cells(lengths, angles, kind="conventional", n=2, rotate=False, seed=0) -> np.ndarray:
    """H = S C per frame, rotated by a random rotation per frame when ``rotate``."""
    cells = supercell_matrix(kind, n) @ conventional_cells(lengths, angles)
    if rotate:
        rotations = Rotation.random(len(cells), random_state=seed).as_matrix()
        cells = cells @ np.swapaxes(rotations, 1, 2)
    return cells


def shape_series(rng, n_frames: int, angles=(90.0, 90.0, 90.0), a=5.1, lengths=None, sigma_deg=0.3, sigma_a=0.005, phi=0.0):
    """Per-frame conventional lengths and angles: the given means plus AR(1) noise."""
    mean_lengths = np.array(lengths if lengths is not None else (a, a, a), dtype=float)
    L = mean_lengths + ar1(rng, n_frames, sigma_a, phi, (3,))
    A = np.asarray(angles, dtype=float) + ar1(rng, n_frames, sigma_deg, phi, (3,))
    return L, A


def fcc_sites(cell: np.ndarray, kind: str, n: int) -> np.ndarray:
    """Cartesian fcc lattice sites of a simulation cell (kind, n) whose conventional cell is S^-1 cell."""
    conventional = np.linalg.inv(supercell_matrix(kind, n)) @ cell
    basis = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    span = range(-2 * n, 2 * n + 1)
    points = np.array([[i, j, k] for i in span for j in span for k in span], dtype=float)
    frac_conv = (points[:, None, :] + basis[None]).reshape(-1, 3)
    cart = frac_conv @ conventional
    frac_sim = cart @ np.linalg.inv(cell)
    inside = np.all((frac_sim > -1e-9) & (frac_sim < 1 - 1e-9), axis=1)
    return cart[inside]


def write_trajectory(path, cells, time_ps=None, kind="conventional", n=2, rng=None, jitter=0.0, hydrogens=0) -> Path:
    """Extended XYZ with La on the fcc sites of each cell (plus ``hydrogens`` random H atoms) and info time_ps."""
    rng = rng or np.random.default_rng(0)
    frames = []
    for t, cell in enumerate(cells):
        sites = fcc_sites(cell, kind, n)
        positions = sites + rng.normal(scale=jitter, size=sites.shape) if jitter else sites
        symbols = ["La"] * len(sites)
        if hydrogens:
            positions = np.vstack([positions, rng.random((hydrogens, 3)) @ cell])
            symbols += ["H"] * hydrogens
        atoms = Atoms(symbols, positions=positions, cell=cell, pbc=True)
        if time_ps is not None:
            atoms.info["time_ps"] = float(time_ps[t])
            atoms.info["step"] = t
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return Path(path)


def write_run(directory, cells, time_ps, metadata: dict, kind="conventional", n=2, **kw) -> Path:
    """A run directory of ``hydropimd md run``: run.json and centroid.extxyz."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.json").write_text(json.dumps(metadata))
    write_trajectory(directory / "centroid.extxyz", cells, time_ps, kind, n, **kw)
    return directory
