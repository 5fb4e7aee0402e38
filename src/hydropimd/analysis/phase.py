"""Phase diagram from many runs: one table of cell shapes, and the cubic-distorted transition pressure per temperature.

Each run directory is analysed by :func:`hydropimd.analysis.cellshape.analyze_cell`;
its temperature (K), pressure (GPa), beads and isotope come from run.json.
Runs are grouped by method (classical: 1 bead; path-integral: more) and isotope.

Order parameter: distortion_deg = (1/3) sum_i |<angle_i - 90>|, the mean
deviation of the variant-aligned conventional angles (degrees), with its
correlated error.  Transition pressure at each temperature:

* bracket: the split of the runs sorted by pressure into distorted (below) and
  cubic (above) with the fewest misclassified runs; P_c is the middle of the gap,
  its uncertainty half the gap;
* Landau fit (when at least 3 runs and 2 distorted ones): eta(P) = A sqrt(max(P_c - P, 0)),
  the mean-field form of a continuous transition, by weighted least squares
  (scipy.optimize.curve_fit with the error bars as sigma); its standard error is
  scaled by sqrt(chi^2 / dof) when the fit is worse than the error bars allow.
  The fit is reported as the estimate when it converges inside the pressure range
  of the data; otherwise the bracket is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

from hydropimd.analysis.cellshape import SMOOTH_PS, THRESHOLD_DEG, analyze_cell
from hydropimd.analysis.classify import UNDETERMINED
from hydropimd.analysis.trajectory import find_run_directories, is_run_directory
from hydropimd.errors import InputError

REQUIRED = ("temperature_k", "pressure_gpa", "beads", "isotope")


def _landau(pressure, amplitude, critical):
    return amplitude * np.sqrt(np.clip(critical - pressure, 0.0, None))


def _bracket(pressures: np.ndarray, distorted: np.ndarray) -> tuple[float, float] | None:
    order = np.argsort(pressures, kind="stable")
    p, d = pressures[order], distorted[order]
    if d.all() or not d.any():
        return None
    best = None
    for k in range(1, len(p)):  # split between p[k-1] and p[k]: distorted below, cubic above
        if p[k] == p[k - 1]:
            continue
        wrong = int(np.sum(~d[:k]) + np.sum(d[k:]))
        if best is None or wrong < best[0]:
            best = (wrong, float(p[k - 1]), float(p[k]))
    return None if best is None else (best[1], best[2])


def transition_pressure(pressures_gpa, distortion_deg, distortion_stderr_deg, distorted) -> dict:
    """Estimate of the transition pressure (GPa) at one temperature from per-run order parameters (see module docstring)."""
    p = np.asarray(pressures_gpa, dtype=float)
    eta = np.asarray(distortion_deg, dtype=float)
    err = np.maximum(np.asarray(distortion_stderr_deg, dtype=float), 1e-3)
    distorted = np.asarray(distorted, dtype=bool)
    result = {"n_runs": int(len(p)), "bracket_gpa": None, "fit": None, "transition_pressure_gpa": None, "uncertainty_gpa": None}
    bracket = _bracket(p, distorted)
    if bracket is None:
        side = "distorted" if distorted.all() else "cubic"
        result["method"] = f"none: every run is {side} ({p.min():g}-{p.max():g} GPa)"
        return result
    result["bracket_gpa"] = list(bracket)
    result.update(transition_pressure_gpa=0.5 * (bracket[0] + bracket[1]), uncertainty_gpa=0.5 * (bracket[1] - bracket[0]),
                  method="bracket between the highest-pressure distorted and lowest-pressure cubic run")
    if len(p) >= 3 and distorted.sum() >= 2:
        amplitude0 = float(eta[distorted].max() / np.sqrt(max(result["transition_pressure_gpa"] - p.min(), 1e-6)))
        try:
            params, cov = curve_fit(_landau, p, eta, p0=(amplitude0, result["transition_pressure_gpa"]), sigma=err,
                                    absolute_sigma=True, bounds=([0.0, p.min() - (p.max() - p.min())], [np.inf, 2 * p.max()]))
        except (RuntimeError, ValueError):
            return result
        dof = max(1, len(p) - 2)
        chi2 = float(np.sum(((eta - _landau(p, *params)) / err) ** 2))
        sigma = float(np.sqrt(cov[1, 1]) * max(1.0, np.sqrt(chi2 / dof)))
        result["fit"] = {"amplitude": float(params[0]), "critical_pressure_gpa": float(params[1]), "stderr_gpa": sigma,
                         "chi2_per_dof": chi2 / dof, "model": "eta = A sqrt(max(P_c - P, 0))"}
        if np.isfinite(sigma) and bracket[0] <= params[1] <= bracket[1]:
            # the fit's covariance vanishes when P_c lands on a measured pressure (the model's kink), and the
            # square-root law is itself an assumption: the grid spacing bounds what the data can claim
            result.update(transition_pressure_gpa=float(params[1]), uncertainty_gpa=max(sigma, 0.5 * (bracket[1] - bracket[0])),
                          method="Landau fit of the order parameter, uncertainty at least half the bracketing interval")
    return result


def _row(run: Path, metadata: dict, report: dict) -> dict:
    missing = [k for k in REQUIRED if k not in metadata]
    if missing:
        raise InputError(f"{run}/run.json lacks {', '.join(missing)}; a phase diagram needs temperature_k, pressure_gpa, beads and isotope")
    beads = int(metadata["beads"])
    method = "classical" if beads == 1 else "path-integral"
    test = report["classification_test"]
    return {
        "run": str(run),
        "temperature_k": float(metadata["temperature_k"]),
        "pressure_gpa": float(metadata["pressure_gpa"]),
        "isotope": str(metadata["isotope"]),
        "beads": beads,
        "natoms": metadata.get("natoms", report["natoms"]),
        "method": method,
        "group": f"{method}, {metadata['isotope']}",
        "classification": report["classification"],
        "p_cubic": test["test"]["cubic"]["p_value"],
        "angles_deg": report["angles_deg"],
        "angles_stderr_deg": report["angles_stderr_deg"],
        "angle_deviations_sorted_deg": report["angle_deviations_sorted_deg"],
        "distortion_deg": report["distortion_deg"],
        "distortion_stderr_deg": report["distortion_stderr_deg"],
        "n_effective": report["n_effective"],
        "discard_ps": report["discard_ps"],
        "is_shuttling": report["shuttling"]["is_shuttling"],
        "fraction_distorted": report["shuttling"]["fraction_distorted"],
    }


def analyze_phase(runs=(), study=None, discard_ps: float = 0.0, lattice: str | None = None, threshold_deg: float = THRESHOLD_DEG,
                  smooth_ps: float = SMOOTH_PS, significance: float = 0.01, plot=None, progress=None) -> dict:
    """Table of mean angles, errors and classifications of many runs, and transition pressures with uncertainties.

    ``runs``: run directories; ``study``: a folder whose subfolders (any depth)
    are run directories (both may be given); ``discard_ps``: ps, or ``"auto"``:
    each run's own end of transient (:func:`hydropimd.analysis.analyze_cell`), in its row.  Returns ``runs`` (one row per run)
    and ``groups`` (classical / path-integral x H / D, each with ``transitions``
    per temperature); ``plot`` draws order parameter vs pressure and the (P, T)
    phase diagram per group.
    """
    if plot:
        from hydropimd.analysis.figures import check_plot_path

        check_plot_path(plot)
    directories = [Path(r) for r in runs]
    for r in directories:
        if not is_run_directory(r):
            raise InputError(f"{r} is not a run directory (no run.json); analyze phase needs the runs' temperature and pressure")
    if study:
        directories += find_run_directories(study)
    if not directories:
        raise InputError("no runs given: name run directories or --study DIR")
    directories = list(dict.fromkeys(d.resolve() for d in directories))
    rows = []
    for k, run in enumerate(directories):
        report = analyze_cell(run, discard_ps=discard_ps, lattice=lattice, threshold_deg=threshold_deg, smooth_ps=smooth_ps,
                              significance=significance)
        rows.append(_row(run, report["metadata"], report))
        if progress:
            progress(k + 1, len(directories))
    rows.sort(key=lambda r: (r["group"], r["temperature_k"], r["pressure_gpa"]))
    groups = []
    for name in dict.fromkeys(r["group"] for r in rows):
        members = [r for r in rows if r["group"] == name]
        transitions = []
        for temperature in sorted({r["temperature_k"] for r in members}):
            at_t = [r for r in members if r["temperature_k"] == temperature]
            # runs too short for the test take no side of the boundary
            decided = [r for r in at_t if r["classification"] != UNDETERMINED]
            undetermined = [r["pressure_gpa"] for r in at_t if r["classification"] == UNDETERMINED]
            if decided:
                estimate = transition_pressure([r["pressure_gpa"] for r in decided], [r["distortion_deg"] for r in decided],
                                               [r["distortion_stderr_deg"] for r in decided],
                                               [r["classification"] != "cubic" for r in decided])
            else:
                estimate = {"n_runs": 0, "bracket_gpa": None, "fit": None, "transition_pressure_gpa": None,
                            "uncertainty_gpa": None, "method": "none: every run is too short for the test (undetermined)"}
            transitions.append({"temperature_k": temperature, **estimate, "undetermined_pressures_gpa": undetermined})
        groups.append({"name": name, "method": members[0]["method"], "isotope": members[0]["isotope"], "transitions": transitions})
    result = {
        "n_runs": len(rows),
        "runs": rows,
        "groups": groups,
        "order_parameter": "distortion_deg = mean_i |<angle_i - 90>| of the variant-aligned conventional cell (degrees)",
    }
    if plot:
        from hydropimd.analysis.figures import plot_phase

        plot_phase(result, plot)
        result["plot"] = str(plot)
    return result
