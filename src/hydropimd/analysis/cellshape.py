"""The cell-shape report of a trajectory: ``hydropimd analyze cell``.

Pipeline: metric tensors of the simulation cell -> pseudo-cubic conventional
metric (:mod:`hydropimd.lattice`) -> conventional lengths (angstrom) and
angles (degrees) per frame -> shuttling labels (:mod:`~.shuttling`) ->
variant-aligned series -> means with correlated error bars
(:mod:`~.statistics`) -> classification (:mod:`~.classify`).
"""

from __future__ import annotations

import numpy as np

from hydropimd.lattice import cellpar_from_metric, mapping_for
from hydropimd.analysis.classify import UNDETERMINED, classify_cell
from hydropimd.analysis.shuttling import align_to_variant, detect_shuttling
from hydropimd.analysis.statistics import correlated_mean, correlated_means
from hydropimd.analysis.trajectory import discard_start, read_cells
from hydropimd.errors import InputError

#: Fewest frames for which correlated error bars are attempted.
MIN_FRAMES = 32
#: Default distortion threshold (degrees) and smoothing window (ps) of the shuttling criterion.
THRESHOLD_DEG = 1.0
SMOOTH_PS = 0.5


def _estimates(values) -> tuple[list, list, list]:
    estimates = correlated_means(values)
    return [e.mean for e in estimates], [e.stderr for e in estimates], estimates


def _distorted_state(lengths, deviations, fraction: float, significance: float) -> dict:
    """Shape of the distorted frames of a run that shuttles between cubic and distorted.

    The whole-run mean mixes two states, so the distorted frames are classified
    on their own (their shape: rhombohedral or other).
    """
    test = classify_cell(lengths, deviations, significance)
    length_means, length_errors, _ = _estimates(lengths)
    deviation_means, angle_errors, _ = _estimates(deviations)
    return {"classification": test["classification"], "fraction_of_time": fraction,
            "angles_deg": [90.0 + m for m in deviation_means], "angles_stderr_deg": angle_errors,
            "lengths_angstrom": length_means, "lengths_stderr_angstrom": length_errors, "test": test}


def _check_arguments(n_frames: int, threshold_deg: float, smooth_ps: float) -> None:
    if n_frames < MIN_FRAMES:
        raise InputError(f"{n_frames} frames are too few for error bars; at least {MIN_FRAMES} are needed "
                         "(run longer or discard less)")
    if not threshold_deg > 0:
        raise InputError(f"--threshold-deg {threshold_deg} must be positive")
    if not smooth_ps >= 0:
        raise InputError(f"--smooth-ps {smooth_ps} must not be negative")


def _classification(lengths, deviations, shuttling, fraction: float, significance: float) -> tuple[dict, str, str, dict | None]:
    """The test on all (variant-aligned) frames, the class reported, the rule that chose it, and the distorted state.

    A run shuttling between cubic and distorted (with enough distorted frames) is classed by the state
    it occupies most of the time; its distorted frames are classified on their own.  A run whose test on
    all frames is undetermined stays undetermined: the shuttling labels of a run too short for the test
    must not turn it into a class (a 0.2 ps run was headlined cubic while its own test said undetermined).
    """
    classification = classify_cell(lengths, deviations, significance)
    kind, rule, state = classification["classification"], "test on all frames (variant-aligned)", None
    if kind == UNDETERMINED:
        return classification, kind, "test on all frames: too few effective samples for any class", None
    if 0 < fraction < 1 and shuttling.distorted.sum() >= MIN_FRAMES:
        state = _distorted_state(lengths[shuttling.distorted], deviations[shuttling.distorted], fraction, significance)
        kind = state["classification"] if fraction >= 0.5 else _cubic_state(lengths, deviations, shuttling, kind, significance)
        rule = (f"shuttling between cubic and {state['classification']} (distorted {100 * fraction:.0f} % of the time): "
                "the class of the state occupied most of the time, as its own frames' test finds it")
    return classification, kind, rule, state


def _cubic_state(lengths, deviations, shuttling, all_frames_kind: str, significance: float) -> str:
    """Class of a run mostly in its "cubic"-labelled state: cubic only if those frames' own test says so.

    The labels come from a threshold on smoothed angles, not from a test: a cell
    distorted by less than the threshold is labelled cubic most of the time
    while its mean is many standard errors from 90 degrees.  Then the test on
    all frames decides; too few labelled frames for a test leave it undetermined.
    """
    cubic_frames = ~shuttling.distorted
    if cubic_frames.sum() < MIN_FRAMES:
        return UNDETERMINED
    own = classify_cell(lengths[cubic_frames], deviations[cubic_frames], significance)["classification"]
    return "cubic" if own == "cubic" else (UNDETERMINED if own == UNDETERMINED else all_frames_kind)


def _notes(summary: dict, unaligned: list, reference, estimates) -> list[str]:
    """Warnings the reader of the report needs: shuttling, variants not aligned, rough error bars."""
    notes = []
    if summary["is_shuttling"]:
        notes.append("the cell shuttles: means of raw angles mix variants and are meaningless; angles_deg are variant-aligned "
                     "and order_parameter (mean |angle - 90|) does not depend on the variant")
    if unaligned:
        notes.append(f"variants {', '.join(unaligned)} are not symmetry-equivalent to {reference} (opposite sense) and were not aligned")
    if not all(e.reliable for e in estimates):
        notes.append("some series are shorter than 50 autocorrelation times: error bars are rough; run longer")
    return notes


def _angle_statistics(aligned_lengths, aligned_deviations, angles, dt: float, aligned_to) -> tuple[dict, list]:
    """Means and correlated error bars of the conventional lengths and angles (report keys), and every estimate.

    ``aligned_to``: the variant the angles were aligned to (None when no alignment was needed).
    """
    length_means, length_errors, length_estimates = _estimates(aligned_lengths)
    deviation_means, angle_errors, angle_estimates = _estimates(aligned_deviations)
    raw_means, raw_errors, _ = _estimates(angles)
    all_estimates = length_estimates + angle_estimates
    sorted_index = np.argsort(-np.abs(deviation_means), kind="stable")
    return {
        "angles_deg": [90.0 + m for m in deviation_means],
        "angles_stderr_deg": angle_errors,
        "lengths_angstrom": length_means,
        "lengths_stderr_angstrom": length_errors,
        "n_effective": float(min(e.n_effective for e in all_estimates)),
        "tau_int_ps": {"lengths": [e.tau_int_frames * dt for e in length_estimates],
                       "angles": [e.tau_int_frames * dt for e in angle_estimates]},
        "angles_aligned_to_variant": aligned_to,
        "raw_angles_deg": raw_means,
        "raw_angles_stderr_deg": raw_errors,
        "angle_deviations_sorted_deg": [abs(deviation_means[i]) for i in sorted_index],
        "angle_deviations_sorted_stderr_deg": [angle_errors[i] for i in sorted_index],
        "distortion_deg": float(np.mean(np.abs(deviation_means))),
        "distortion_stderr_deg": float(np.sqrt(np.sum(np.square(angle_errors))) / 3.0),
    }, all_estimates


def _order_parameter(order) -> dict:
    estimate = correlated_mean(order)
    return {
        "definition": "eta(t) = mean_i |angle_i(t) - 90| of the conventional cell, per frame; variant-independent, "
                      "but thermal noise biases it upward (about 0.8 x the per-frame angle spread for a cubic cell)",
        "mean_deg": estimate.mean,
        "stderr_deg": estimate.stderr,
    }


def cell_shape(metric, time_ps, n_sites: int | None = None, lattice: str | None = None, metadata: dict | None = None,
               threshold_deg: float = THRESHOLD_DEG, smooth_ps: float = SMOOTH_PS, significance: float = 0.01) -> dict:
    """Cell-shape report from simulation-cell metric tensors (angstrom^2, (n, 3, 3)) and times (ps).

    Returns a JSON-ready dict (see :func:`analyze_cell`) plus ``series``: per-frame
    numpy arrays (time_ps, conventional lengths and angles, order parameter,
    shuttling labels) for figures; drop it before printing.
    """
    metric = np.asarray(metric, dtype=float)
    time_ps = np.asarray(time_ps, dtype=float)
    _check_arguments(len(metric), threshold_deg, smooth_ps)
    mapping = mapping_for(metric, n_sites, metadata, lattice)
    lengths, angles = cellpar_from_metric(mapping.conventional_metric(metric))
    deviations = angles - 90.0
    order = np.abs(deviations).mean(axis=1)
    shuttling = detect_shuttling(time_ps, deviations, threshold_deg, smooth_ps)
    aligned_lengths, aligned_deviations, reference, unaligned = align_to_variant(lengths, deviations, shuttling.labels)
    summary = shuttling.summary(time_ps)
    aligned = len(summary["variants_visited"]) - len(unaligned) > 1
    statistics, all_estimates = _angle_statistics(aligned_lengths, aligned_deviations, angles,
                                                  float(np.median(np.diff(time_ps))), reference if aligned else None)
    classification, kind, rule, state = _classification(aligned_lengths, aligned_deviations, shuttling,
                                                        summary["fraction_distorted"], significance)
    return {
        "source": None,
        "n_frames": int(len(metric)),
        "time_ps": [float(time_ps[0]), float(time_ps[-1])],
        "mapping": mapping.to_dict(),
        "classification": kind,
        "classification_rule": rule,
        "classification_test": classification,
        "distorted_state": state,
        **statistics,
        "order_parameter": _order_parameter(order),
        "volume_per_conventional_cell_angstrom3": float(np.mean(np.sqrt(np.linalg.det(metric))) / abs(np.linalg.det(mapping.matrix))),
        "shuttling": summary,
        "notes": _notes(summary, unaligned, reference, all_estimates),
        "series": {"time_ps": time_ps, "lengths_angstrom": lengths, "angles_deg": angles, "order_parameter_deg": order,
                   "smoothed_deviations_deg": shuttling.smoothed_deviations_deg, "labels": shuttling.labels,
                   "threshold_deg": threshold_deg},
    }


def _auto_discard(series) -> dict:
    """The discard chosen from the data: the latest Chodera start over the volume and the angles, in ps, with each
    observable's start (``equilibration``: ``{"discard_ps", "method", "starts_ps", "equilibrated", "note"}``).

    A run whose transient leaves fewer than :data:`MIN_FRAMES` frames has not equilibrated within its length: its
    last MIN_FRAMES frames are analysed, ``equilibrated`` is false and the note says so (the verdict is then one
    on drifting data: run longer)."""
    from hydropimd.analysis.equilibration import cell_observables, equilibration_starts

    values, names = cell_observables(series.metric)
    time = np.asarray(series.time_ps, dtype=float) - series.time_ps[0]
    starts = equilibration_starts(values)
    latest = min(max(starts), max(len(time) - MIN_FRAMES, 0))
    equilibrated = latest == max(starts)
    note = None if equilibrated else (f"not equilibrated: the transient of its volume or angles lasts "
                                      f"{time[max(starts)]:.3g} of {time[-1]:.3g} ps, leaving fewer than {MIN_FRAMES} "
                                      f"frames; its last {MIN_FRAMES} frames were analysed: run longer")
    return {"discard_ps": float(time[latest]), "method": "Chodera 2016 (pymbar), latest over the observables",
            "starts_ps": {name: float(time[k]) for name, k in zip(names, starts)}, "equilibrated": equilibrated,
            "note": note}


def analyze_cell(source, discard_ps: float = 0.0, dt_ps: float | None = None, lattice: str | None = None,
                 threshold_deg: float = THRESHOLD_DEG, smooth_ps: float = SMOOTH_PS, significance: float = 0.01,
                 plot=None, progress=None) -> dict:
    """Cell lengths and angles of a run directory or trajectory file, mapped to the conventional cubic cell.

    ``discard_ps``: equilibration dropped from the start (ps), or ``"auto"``: found from the data
    (:mod:`hydropimd.analysis.equilibration`, on the volume and the three angles); ``dt_ps``: time
    between frames when the file has no time_ps; ``lattice``: fcc, bcc or sc (None: the recorded parent lattice, else fcc);
    ``threshold_deg``/``smooth_ps``: shuttling criterion; ``significance``:
    level of the classification tests; ``plot``: PNG or PDF path for angle traces.
    Returns a JSON-ready dict: ``classification``, ``angles_deg``,
    ``angles_stderr_deg``, ``lengths_angstrom``, ``lengths_stderr_angstrom``,
    ``n_effective`` (smallest effective sample count of the six series),
    ``angle_deviations_sorted_deg``, ``shuttling``, ``mapping``, ... (angles of the
    conventional cell, aligned to one distortion variant when the cell shuttles).
    """
    if plot:
        from hydropimd.analysis.figures import check_plot_path

        check_plot_path(plot)  # before the reading, which can be long
    series = read_cells(source, dt_ps=dt_ps, progress=progress)
    equilibration = _auto_discard(series) if discard_ps == "auto" else None
    if equilibration is not None:
        discard_ps = equilibration["discard_ps"]
    start = discard_start(series.time_ps, discard_ps)
    if len(series) - start < MIN_FRAMES:
        raise InputError(f"{source}: {len(series) - start} frames after discarding {discard_ps:g} ps; error bars need at "
                         f"least {MIN_FRAMES} frames (run longer or discard less)")
    report = cell_shape(series.metric[start:], series.time_ps[start:], series.n_sites, lattice, series.metadata,
                        threshold_deg, smooth_ps, significance)
    report["source"] = str(source)
    report["cell_source"] = series.cell_source
    report["time_source"] = series.time_source
    report["discard_ps"] = discard_ps
    report["equilibration"] = equilibration
    if equilibration is not None and equilibration["note"]:
        report["notes"].append(equilibration["note"])
    report["natoms"] = series.natoms
    report["metadata"] = series.metadata
    series_data = report.pop("series")
    if plot:
        from hydropimd.analysis.figures import plot_cell

        plot_cell(series_data, plot, title=f"{source}: {report['classification']}")
        report["plot"] = str(plot)
    return report
