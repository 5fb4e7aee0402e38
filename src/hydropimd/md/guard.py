"""The one guard against a simulation that blew up: NaN coordinates, and cells that collapse or explode.

DeePMD-kit's kernels return numbers for NaN positions and crash the process
(SIGFPE, std::length_error) on absurd cells, so the in-process force call checks
every batch before the model sees it; the LAMMPS engine's force calls do not pass
through hydropimd, so the runner applies the same check to every recorded row.
Both compare with the run's reference volume, stored in its run.json when the
run is created: a resumed run keeps the reference, so a cell cannot drift past
the limit across resumes.
"""

from __future__ import annotations

import numpy as np

from hydropimd.errors import RunFailed

#: a run stops when its cell volume leaves this range around the reference volume.  Compressing a hydride from
#: 80 to 300 GPa changes its volume by about 30 %; a factor of 2 either way is never physics, only a blow-up
#: (a pressure far from the structure's, a timestep too long), and is stopped before the model crashes on it
VOLUME_RATIO_LIMITS = (0.5, 2.0)


def check_configurations(cells: np.ndarray, reference_volume_a3: float, positions: np.ndarray | None = None) -> None:
    """Raise :class:`RunFailed` unless every cell (nf, 3, 3) in A and positions are finite and every volume
    lies within :data:`VOLUME_RATIO_LIMITS` of ``reference_volume_a3`` (A^3)."""
    if positions is not None and not np.isfinite(positions).all():
        raise RunFailed("positions became NaN or infinite (the simulation blew up: reduce the timestep, "
                        "or check the potential at these conditions)")
    volumes = np.abs(np.linalg.det(np.asarray(cells, dtype=float).reshape(-1, 3, 3)))
    if not np.isfinite(volumes).all():
        raise RunFailed("the cell became NaN or infinite (the simulation blew up)")
    ratio = volumes / reference_volume_a3
    low, high = VOLUME_RATIO_LIMITS
    if ratio.min() <= low or ratio.max() >= high:
        what = "collapsed" if ratio.min() <= low else "exploded"
        worst = ratio.min() if what == "collapsed" else ratio.max()
        raise RunFailed(f"the cell {what} (volume {worst:.2f} x the run's starting {reference_volume_a3:.1f} A^3)")
