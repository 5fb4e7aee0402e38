"""Did a run sample the ensemble it was set up for?  Its mean temperature and pressure against their targets.

A thermostat or barostat that does not hold its target is silent in every other analysis: the cell shape of a run
that ran 6 % hot is that of another temperature.  Each run's table.csv column is averaged after the discarded
equilibration, with the Sokal error of :func:`hydropimd.analysis.statistics.correlated_mean`, and flagged when it
misses the target by more than :data:`MAX_STANDARD_ERRORS` standard errors *and* by more than a relative tolerance
(temperature) or an absolute one (pressure): the first alone would flag a real but negligible bias of a long run,
the second alone the noise of a short one.

The temperature column is the ring polymer's kinetic temperature under PILE and eco, the centroid's under PIGLET
(run.json ``temperature_column``), whose bead modes are held away from equilibrium on purpose; the centroid reads
hot when the potential's anharmonicity carries energy from the bead modes into it (docs/validation/beads.md).
The pressure is the centroid-virial estimator, the barostat's target.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hydropimd.analysis.statistics import correlated_mean
from hydropimd.errors import InputError
from hydropimd.md.rundir import read_metadata, read_table

#: a mean further than this many standard errors from its target is significant
MAX_STANDARD_ERRORS = 4.0
#: and relevant when it also misses the temperature by more than 2 % (the thermostat-convergence scale of the
#: bead benchmark: PILE and eco within 1 %, PIGLET's centroid 2-6 % hot with too few beads)
TEMPERATURE_TOLERANCE = 0.02
#: or the pressure by more than 2 GPa (the pressure grids step by 10-40 GPa; 2 GPa moves a transition by less
#: than any grid resolves)
PRESSURE_TOLERANCE_GPA = 2.0


#: rows below which no verdict is given: the fewest frames the other analyses take (analysis.hydrogen.MIN_FRAMES);
#: a correlated standard error from fewer is itself too rough to call a miss
MIN_ROWS = 32


def ensemble_check(run: str | os.PathLike, discard_ps: float = 0.0) -> dict:
    """Mean temperature (K) and pressure (GPa) of a run after ``discard_ps`` with their standard errors
    (``temperature_k_mean``, ``temperature_k_stderr``, ``temperature_k_target``, likewise ``pressure_gpa_*``; the
    targets from its run.json) and ``temperature_ok`` / ``pressure_ok`` (None where the ensemble sets no target:
    NVE's temperature, NVE's and NVT's pressure; also with fewer than :data:`MIN_ROWS` rows, said in ``note``)."""
    run = Path(run)
    meta = read_metadata(run)
    try:
        rows = read_table(run)
    except (OSError, ValueError) as err:
        raise InputError(f"{run} has no readable table.csv ({err}); give the folder of 'hydropimd md run'") from None
    kept = [r for r in rows if r["time_ps"] is not None and r["time_ps"] - rows[0]["time_ps"] >= discard_ps]
    if len(kept) < 2:
        raise InputError(f"{run}: fewer than 2 rows after discarding {discard_ps:g} ps; discard less or run longer")
    ensemble = meta.get("ensemble", "npt")
    enough = len(kept) >= MIN_ROWS
    result = {"run": str(run), "temperature_column": meta.get("temperature_column", "ring polymer"), "rows": len(kept),
              "note": None if enough else f"{len(kept)} rows < {MIN_ROWS}: too few for a verdict (its error bar is "
                                          "not to be trusted); run longer"}
    checks = (("temperature", "temperature_k", ensemble != "nve", TEMPERATURE_TOLERANCE * meta["temperature_k"]),
              ("pressure", "pressure_gpa", ensemble == "npt", PRESSURE_TOLERANCE_GPA))
    for name, column, targeted, tolerance in checks:
        estimate = correlated_mean(np.array([r[column] for r in kept]))
        target = float(meta[column]) if targeted else None
        result[f"{column}_mean"] = estimate.mean
        result[f"{column}_stderr"] = estimate.stderr
        result[f"{column}_target"] = target
        miss = abs(estimate.mean - target) if targeted else None
        result[f"{name}_ok"] = None if miss is None or not enough else not (
            miss > MAX_STANDARD_ERRORS * estimate.stderr and miss > tolerance)
    return result
