"""PIGLET thermostat matrices: path integrals converged with few beads (Ceriotti and Manolopoulos,
Phys. Rev. Lett. 109, 100604 (2012)), from the GLE4MD library.

The library (github.com/lab-cosmo/gle4md, ``library/``; found by
:func:`hydropimd.data.location.gle4md_root`, never copied into this project) holds
dimensionless matrices: ``piglet/pigle-P_X_8_t.{a,c}`` for the P - 1 internal modes of a
P-bead ring polymer (8 auxiliary momenta), fitted up to hbar omega / kT = X, and
``optimal/kh_8-4.a`` for the centroid (optimal sampling over four decades of frequency).
They are scaled to a temperature as the library's generator page (``ingen.js``) does:

* centroid A = kh_8-4 x 2 pi omega0 10^-2 with omega0 = 4000 cm^-1 (the page's default);
* internal-mode A = pigle.a x X k_B T / hbar;
* internal-mode C = pigle.c x T, centroid C = P T (the ring polymer's temperature) x 1.

i-PI's ``nm_gle`` thermostat takes A in atomic units of angular frequency and C in kelvin;
the result reproduces the PIGLET matrices of i-PI's own examples to 1e-8 relative (the page
rounds k_B / hbar to 8 digits; tested).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hydropimd.errors import InputError

#: k_B / hbar, rad ps^-1 K^-1 (CODATA 2018, exact)
KB_OVER_HBAR = 1.380649e-23 / 1.054571817e-34 * 1e-12
#: one atomic unit of angular frequency (1 / atomic unit of time), rad ps^-1
ATOMIC_FREQUENCY = 1.0 / 2.4188843265857e-5
#: hbar c / k_B, cm K: hbar omega / kT = this x (frequency in cm^-1) / T
CM1_TO_KELVIN = 1.438776877
#: the centroid's optimal-sampling GLE and the frequency its range is centred on (the generator page's defaults)
CENTROID_MATRIX = "kh_8-4"
CENTROID_W0_CM1 = 4000.0
#: speed of light, cm ps^-1
LIGHT_CM_PER_PS = 0.0299792458


def fitted_ranges(library: Path, beads: int) -> list[int]:
    """The X (hbar omega_max / kT) of the library's PIGLET fits for ``beads`` beads, ascending."""
    pattern = re.compile(rf"pigle-{beads}_(\d+)_8_t\.a$")
    return sorted(int(m[1]) for p in (library / "piglet").glob(f"pigle-{beads}_*_8_t.a") if (m := pattern.search(p.name)))


def choose_range(library: Path, beads: int, temperature_k: float, max_frequency_cm1: float,
                 given: int | None = None) -> int:
    """The fitted range X to use: ``given`` if it covers ``max_frequency_cm1`` at ``temperature_k``, else the
    smallest the library has that does (a fit over a wider range is looser at every frequency)."""
    needed = CM1_TO_KELVIN * max_frequency_cm1 / temperature_k
    available = fitted_ranges(library, beads)
    if not available:
        raise InputError(f"the GLE4MD library at {library} has no PIGLET matrices for {beads} beads; "
                         f"use a bead count it has ({', '.join(map(str, bead_counts(library)))})")
    if given is not None:
        if given not in available:
            raise InputError(f"piglet_range {given} is not fitted for {beads} beads; choose from {available}")
        if given < needed:
            raise InputError(f"piglet_range {given} covers {given * temperature_k / CM1_TO_KELVIN:.0f} cm^-1 at "
                             f"{temperature_k:g} K, below max_frequency_cm1 {max_frequency_cm1:g}; use {needed:.0f} or more")
        return given
    covering = [x for x in available if x >= needed]
    if not covering:
        top = max(available) * temperature_k / CM1_TO_KELVIN
        raise InputError(f"no PIGLET fit for {beads} beads reaches {max_frequency_cm1:g} cm^-1 at {temperature_k:g} K "
                         f"(the widest reaches {top:.0f} cm^-1); use more beads, or sampling 'pile'")
    return covering[0]


def bead_counts(library: Path) -> list[int]:
    """The bead counts the GLE4MD library has PIGLET fits for, ascending."""
    return sorted({int(p.name.split("_")[0].split("-")[1]) for p in (library / "piglet").glob("pigle-*_8_t.a")})


def _matrix(path: Path) -> np.ndarray:
    try:
        values = np.loadtxt(path).ravel()
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the GLE matrix {path} ({err}); fetch the GLE4MD library again") from None
    n = int(round(np.sqrt(values.size)))
    if n * n != values.size:
        raise InputError(f"{path} does not hold a square matrix; fetch the GLE4MD library again")
    return values.reshape(n, n)


def piglet_matrices(library: Path, beads: int, temperature_k: float, fitted_range: int) -> tuple[np.ndarray, np.ndarray]:
    """(A, C) for i-PI's ``nm_gle`` thermostat, shape (beads, 9, 9): A in atomic units of angular frequency,
    C in kelvin; mode 0 is the centroid (module docstring for the scaling)."""
    stem = library / "piglet" / f"pigle-{beads}_{fitted_range}_8_t"
    a_bead, c_bead = _matrix(stem.with_suffix(".a")), _matrix(stem.with_suffix(".c"))
    w0 = 2 * np.pi * LIGHT_CM_PER_PS * CENTROID_W0_CM1 * 10 ** (-int(CENTROID_MATRIX.split("-")[1]) / 2)
    a_centroid = _matrix(library / "optimal" / f"{CENTROID_MATRIX}.a") * w0
    a = np.stack([a_centroid] + [a_bead * fitted_range * KB_OVER_HBAR * temperature_k] * (beads - 1)) / ATOMIC_FREQUENCY
    c = np.stack([np.eye(len(a_centroid)) * beads * temperature_k] + [c_bead * temperature_k] * (beads - 1))
    return a, c


def nm_gle_xml(a: np.ndarray, c: np.ndarray, indent: str) -> str:
    """The ``<thermostat mode='nm_gle'>`` element of (A, C) as :func:`piglet_matrices` returns them."""
    def values(m):
        return ", ".join(f"{v:.16e}" for v in m.ravel())

    shape = f"({a.shape[0]},{a.shape[1]},{a.shape[2]})"
    return (f"{indent}<thermostat mode='nm_gle'>\n"
            f"{indent}  <A shape='{shape}'> [ {values(a)} ] </A>\n"
            f"{indent}  <C shape='{shape}' units='kelvin'> [ {values(c)} ] </C>\n"
            f"{indent}</thermostat>\n")
