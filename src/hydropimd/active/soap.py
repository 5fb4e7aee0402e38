"""Averaged SOAP vectors of whole frames, with dscribe (docs/theory/active-learning.md, diversity selection).

SOAP: Bartok, Kondor and Csanyi, Phys. Rev. B 87, 184115 (2013); dscribe:
Himanen et al., Comput. Phys. Commun. 247, 106949 (2020) and Laakso et al.,
J. Chem. Phys. 158, 234802 (2023).

Settings (:class:`SOAPSettings`), chosen for La-H at the model's 4 A cutoff:

* ``r_cut`` 4.0 A: the Deep Potential's own cutoff (docs/theory/potential.md), so the
  descriptor sees what the model sees: in LaH10 near 150 GPa that is the H cage
  around each La (H-H 1.1-1.2 A, La-H 2.1 A) and the next La shell (3.6 A).
* ``sigma`` 0.4 A: Gaussian width of each neighbour's density; narrower than
  the 1.1 A H-H bond, so neighbour shells stay resolved, and wider than the
  thermal (and zero-point) displacements of 0.1-0.2 A, so nearby thermal
  configurations give nearby vectors rather than orthogonal ones.
* ``n_max`` 6 radial (GTO) and ``l_max`` 4 angular channels: enough to resolve
  features of width sigma over 4 A; 390 features for two species
  ((8, 6) with sigma 0.3 A gives 952 features for 50 % more time per frame).
* ``periodic`` True: frames are periodic cells.
* ``average`` "outer": the mean over atoms of the per-atom power spectra.  The
  squared distance between such averages is the distance of the linear
  "average kernel" of De, Bartok, Csanyi and Ceriotti, Phys. Chem. Chem. Phys.
  18, 13754 (2016), K(A, B) = mean over atom pairs of p_a . p_b, i.e. the
  average environment of the frame, which is what the study's "averaged SOAP
  descriptor" names.  "inner" (power spectrum of the averaged density
  coefficients) mixes cross terms between different atoms' neighbourhoods and
  has no such per-environment reading; measured on 352-atom frames here the two
  cost the same.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
from ase import Atoms

from hydropimd.errors import InputError

#: frames per dscribe call (the progress callback is called after each)
CHUNK_FRAMES = 256


@dataclass(frozen=True)
class SOAPSettings:
    """dscribe SOAP parameters (lengths in Angstrom); see the module docstring for the choices."""

    #: the elements SOAP resolves; None: those of the frames described together (the features of one call)
    species: tuple[str, ...] | None = None
    r_cut: float = 4.0
    n_max: int = 6
    l_max: int = 4
    sigma: float = 0.4
    average: str = "outer"
    periodic: bool = True

    @classmethod
    def from_dict(cls, values: dict | None) -> "SOAPSettings":
        values = dict(values or {})
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"unknown SOAP settings {sorted(unknown)}; allowed: {sorted(cls.__dataclass_fields__)}")
        if values.get("species") is not None:
            values["species"] = tuple(values["species"])
        settings = cls(**values)
        if settings.average not in ("outer", "inner"):
            raise InputError(f"SOAP average '{settings.average}' must be outer or inner")
        if not (settings.r_cut > 0 and settings.sigma > 0 and settings.n_max >= 1 and settings.l_max >= 0):
            raise InputError("SOAP needs r_cut > 0, sigma > 0, n_max >= 1 and l_max >= 0")
        return settings

    def as_dict(self) -> dict:
        return asdict(self)


def _cores() -> int:
    return len(os.sched_getaffinity(0))


def averaged_soap(
    frames: Sequence[Atoms],
    settings: SOAPSettings | dict | None = None,
    n_jobs: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """One averaged SOAP vector per frame, shape (len(frames), n_features), float64.

    ``n_jobs``: dscribe worker processes (0: one per core available; dscribe
    splits each chunk of frames among them).
    """
    from dscribe.descriptors import SOAP

    settings = settings if isinstance(settings, SOAPSettings) else SOAPSettings.from_dict(settings)
    present = set()
    for atoms in frames:
        present.update(atoms.get_chemical_symbols())
    from ase.data import atomic_numbers

    species = list(settings.species) if settings.species else sorted(present, key=atomic_numbers.get)
    unknown = sorted(present - set(species))
    if unknown:
        raise InputError(f"elements {', '.join(unknown)} are not among the SOAP species {species}; "
                         "set soap species to include them")
    soap = SOAP(species=species, r_cut=settings.r_cut, n_max=settings.n_max, l_max=settings.l_max,
                sigma=settings.sigma, average=settings.average, periodic=settings.periodic, sparse=False)
    n_jobs = n_jobs or _cores()
    out = np.empty((len(frames), soap.get_number_of_features()))
    for start in range(0, len(frames), CHUNK_FRAMES):
        chunk = list(frames[start:start + CHUNK_FRAMES])
        # worker processes only pay off with several frames each
        jobs = max(1, min(n_jobs, len(chunk) // 8))
        values = soap.create(chunk, n_jobs=jobs)
        out[start:start + len(chunk)] = np.asarray(values).reshape(len(chunk), -1)
        if progress:
            progress(start + len(chunk), len(frames))
    return out
