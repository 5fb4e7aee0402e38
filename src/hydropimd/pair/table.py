"""LAMMPS ``pair_style table`` files: reading, writing, and LAMMPS' own interpolation.

File format (LAMMPS documentation, ``pair_style table``): a section is a keyword
line, a parameter line ``N n [R rlo rhi | RSQ rlo rhi] [FPRIME fplo fphi]``, a
blank line, then ``n`` rows ``index r energy force`` (angstrom, eV, eV/angstrom
in ``units metal``).  ``#`` starts a comment.

:class:`LinearTable` reproduces what ``pair_style table linear N`` computes from
a section (LAMMPS ``src/pair_table.cpp``: ``spline_table``, ``compute_table``,
``compute``).  LAMMPS does not interpolate the file rows directly:

1. it fits clamped cubic splines through the file's energy and force columns
   (energy clamped with slope ``-f`` at both ends; force clamped with the slope
   of its first and last file intervals unless ``FPRIME`` is given);
2. it samples both splines on its own ``N`` points evenly spaced in r**2
   between the first file radius and the ``pair_coeff`` cutoff, storing f/r;
3. at run time it interpolates energy and f/r *linearly in r**2*.

Forces come from the force column, not from the derivative of the energy.
The published LaH10 data were made this way, so exactness matters: a naive
linear interpolation in r of the file rows misses by ~2e-2 eV per frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline

from hydropimd.errors import InputError


@dataclass(frozen=True)
class TableSection:
    """One keyword section of a table file: radii (angstrom), energies (eV), forces (eV/angstrom)."""

    keyword: str
    r: np.ndarray
    energy: np.ndarray
    force: np.ndarray
    fprime: tuple[float, float] | None = None

    def __post_init__(self):
        if not (len(self.r) == len(self.energy) == len(self.force)) or len(self.r) < 2:
            raise InputError(f"pair table section {self.keyword}: needs at least 2 rows of equal-length r, energy, force")
        if np.any(np.diff(self.r) <= 0):
            raise InputError(f"pair table section {self.keyword}: radii must increase strictly")


def read_table(path: str | os.PathLike) -> dict[str, TableSection]:
    """Read every section of a LAMMPS pair table file, keyed by keyword."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise InputError(f"cannot read pair table {path}: {err.strerror}; give an existing LAMMPS table file") from None
    # strip comments and blank lines but keep order
    tokens = [ln.split("#", 1)[0].split() for ln in lines]
    rows = [t for t in tokens if t]
    sections: dict[str, TableSection] = {}
    i = 0
    while i < len(rows):
        keyword = rows[i]
        if len(keyword) != 1 or i + 1 >= len(rows) or rows[i + 1][0] != "N":
            raise InputError(f"{path} is not a LAMMPS pair table: expected a keyword line and 'N n' near '{' '.join(rows[i])}'")
        name = keyword[0]
        params = rows[i + 1]
        n, rspec, fprime = _parse_parameters(params, path, name)
        body = rows[i + 2 : i + 2 + n]
        if len(body) != n or any(len(b) != 4 for b in body):
            raise InputError(f"{path}: section {name} promises {n} rows of 'index r energy force' but they are not all there")
        data = np.array(body, dtype=float)
        r = data[:, 1]
        if rspec is not None:
            kind, lo, hi = rspec
            r = np.linspace(lo, hi, n) if kind == "R" else np.sqrt(np.linspace(lo * lo, hi * hi, n))
        sections[name] = TableSection(name, r, data[:, 2].copy(), data[:, 3].copy(), fprime)
        i += 2 + n
    if not sections:
        raise InputError(f"{path} holds no pair table section")
    return sections


def _parse_parameters(params: list[str], path: Path, name: str):
    try:
        n = int(params[1])
        rspec = None
        fprime = None
        k = 2
        while k < len(params):
            word = params[k]
            if word in ("R", "RSQ"):
                rspec = (word, float(params[k + 1]), float(params[k + 2]))
                k += 3
            elif word == "FPRIME":
                fprime = (float(params[k + 1]), float(params[k + 2]))
                k += 3
            else:
                raise InputError(f"{path}: section {name}: unsupported table parameter '{word}' (supported: N, R, RSQ, FPRIME)")
    except (IndexError, ValueError):
        raise InputError(f"{path}: section {name}: malformed parameter line '{' '.join(params)}'") from None
    return n, rspec, fprime


def write_table(path: str | os.PathLike, sections: list[TableSection], comment: str = "") -> None:
    """Write sections as a LAMMPS pair table file (index, r, energy, force columns)."""
    out = []
    for line in comment.splitlines():
        out.append(f"# {line}")
    for s in sections:
        out += ["", s.keyword, f"N {len(s.r)}" + (f" FPRIME {s.fprime[0]:.10e} {s.fprime[1]:.10e}" if s.fprime else ""), ""]
        out += [f"{k + 1:8d} {r:.12e} {e:.12e} {f:.12e}" for k, (r, e, f) in enumerate(zip(s.r, s.energy, s.force))]
    tmp = Path(f"{path}.tmp")
    tmp.write_text("\n".join(out) + "\n")
    os.replace(tmp, path)


class LinearTable:
    """``pair_style table linear N`` for one pair type, as LAMMPS tabulates it.

    ``cutoff`` is the ``pair_coeff`` cutoff in angstrom (default: last file radius);
    ``tablength`` is the ``N`` of ``pair_style table linear N``.
    """

    def __init__(self, section: TableSection, tablength: int, cutoff: float | None = None):
        r = section.r
        cut = float(r[-1]) if cutoff is None else float(cutoff)
        if cut <= r[0] or cut > r[-1]:
            raise InputError(
                f"pair cutoff {cut} A for {section.keyword} lies outside its table ({r[0]}-{r[-1]} A); choose a cutoff inside the table"
            )
        if tablength < 2:
            raise InputError("pair table length must be at least 2")
        self.keyword = section.keyword
        self.cutoff = cut
        self.r_inner = float(r[0])
        # step 1: clamped cubic splines of the file columns (pair_table.cpp spline_table)
        energy_spline = CubicSpline(r, section.energy, bc_type=((1, -section.force[0]), (1, -section.force[-1])))
        if section.fprime is None:
            fplo = (section.force[1] - section.force[0]) / (r[1] - r[0])
            fphi = (section.force[-1] - section.force[-2]) / (r[-1] - r[-2])
        else:
            fplo, fphi = section.fprime
        force_spline = CubicSpline(r, section.force, bc_type=((1, fplo), (1, fphi)))
        # step 2: N points evenly spaced in r^2 from the inner radius to the cutoff
        self.rsq_inner = self.r_inner * self.r_inner
        self.delta = (cut * cut - self.rsq_inner) / (tablength - 1)
        self.invdelta = 1.0 / self.delta
        rsq = self.rsq_inner + np.arange(tablength) * self.delta
        rr = np.sqrt(rsq)
        self.rsq = rsq
        self.e = energy_spline(rr)
        self.f_over_r = force_spline(rr) / rr
        self.de = np.diff(self.e)
        self.df = np.diff(self.f_over_r)

    def evaluate(self, rsq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energy (eV) and force/r (eV/angstrom^2) at squared distances ``rsq`` (angstrom^2), inside the cutoff."""
        itable = ((rsq - self.rsq_inner) * self.invdelta).astype(np.int64)
        fraction = (rsq - self.rsq[itable]) * self.invdelta
        return self.e[itable] + fraction * self.de[itable], self.f_over_r[itable] + fraction * self.df[itable]

    @property
    def cutoff_sq(self) -> float:
        return self.cutoff * self.cutoff

