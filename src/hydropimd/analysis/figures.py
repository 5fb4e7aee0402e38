"""Figures of the analyses, drawn with matplotlib's Agg canvas and written as PNG or PDF (by the file suffix).

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, so
no global state and no display backend).  Axes carry units; legends name
every line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hydropimd.analysis.classify import UNDETERMINED
from hydropimd.errors import InputError

SUFFIXES = (".png", ".pdf")
#: Lines with more points than this are thinned for drawing (every k-th frame): the eye cannot see more.
MAX_POINTS = 20000
ANGLE_COLOURS = ("tab:blue", "tab:orange", "tab:green")
#: Legends beside the axes, where they hide no data.
OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": 8, "frameon": False}


def check_plot_path(path) -> Path:
    """The plot path, validated: suffix .png or .pdf (InputError otherwise); parent folders are created."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(f"plot file {path} must end in .png or .pdf")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _save(fig: Figure, path) -> None:
    path = check_plot_path(path)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=150, bbox_inches="tight")


def _thin(n: int) -> slice:
    return slice(None, None, max(1, int(np.ceil(n / MAX_POINTS))))


def _shade_distorted(ax, time_ps, labels) -> None:
    distorted = np.asarray(labels) != "cubic"
    if distorted.all() or not distorted.any():
        return
    edges = np.flatnonzero(np.diff(distorted.astype(int))) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(distorted)]])
    first = True
    for s, e in zip(starts, ends):
        if distorted[s]:
            ax.axvspan(time_ps[s], time_ps[e - 1], color="0.85", zorder=0, label="distorted" if first else None)
            first = False


def plot_cell(series: dict, path, title: str = "") -> None:
    """Angle traces: conventional alpha, beta, gamma vs time; order parameter with the threshold; lengths vs time."""
    t = np.asarray(series["time_ps"])
    k = _thin(len(t))
    fig = Figure(figsize=(10, 8))
    ax_angles, ax_order, ax_lengths = fig.subplots(3, 1, sharex=True)
    for i, name in enumerate(("alpha", "beta", "gamma")):
        ax_angles.plot(t[k], series["angles_deg"][k, i], lw=0.6, color=ANGLE_COLOURS[i], label=name)
    ax_angles.axhline(90, color="k", lw=0.8, ls="--")
    _shade_distorted(ax_angles, t, series["labels"])
    ax_angles.set_ylabel("conventional angle (deg)")
    ax_angles.legend(**OUTSIDE)
    ax_order.plot(t[k], series["order_parameter_deg"][k], lw=0.5, color="0.5", label="mean |angle - 90| per frame")
    smoothed = np.abs(series["smoothed_deviations_deg"]).max(axis=1)
    ax_order.plot(t[k], smoothed[k], lw=1.2, color="tab:red", label="max |smoothed angle - 90|")
    ax_order.axhline(series["threshold_deg"], color="k", lw=0.8, ls=":", label="distortion threshold")
    _shade_distorted(ax_order, t, series["labels"])
    ax_order.set_ylabel("deviation (deg)")
    ax_order.legend(**OUTSIDE)
    for i, name in enumerate(("a", "b", "c")):
        ax_lengths.plot(t[k], series["lengths_angstrom"][k, i], lw=0.6, color=ANGLE_COLOURS[i], label=name)
    ax_lengths.set_ylabel("conventional length (Å)")
    ax_lengths.set_xlabel("time (ps)")
    ax_lengths.legend(**OUTSIDE)
    if title:
        ax_angles.set_title(title, fontsize=10)
    fig.align_ylabels()
    _save(fig, path)


def plot_xrd(patterns: list[dict], path, label_peaks: int = 8) -> None:
    """Powder patterns side by side (e.g. cubic and distorted), the strongest peaks labelled with hkl."""
    fig = Figure(figsize=(5.5 * len(patterns), 4))
    axes = np.atleast_1d(fig.subplots(1, len(patterns), sharey=True))
    for ax, pattern in zip(axes, patterns):
        ax.plot(pattern["two_theta_deg"], pattern["intensity"], lw=1.0, color="tab:blue")
        peaks = sorted(pattern["peaks"], key=lambda p: -p["intensity"])[:label_peaks]
        for p in peaks:
            label = "$" + "".join(str(v) if v >= 0 else rf"\bar{{{-v}}}" for v in p["hkl"]) + "$"  # negative index: overbar
            height = np.interp(p["two_theta_deg"], pattern["two_theta_deg"], pattern["intensity"])
            ax.annotate(label, (p["two_theta_deg"], height), textcoords="offset points", xytext=(0, 3),
                        ha="center", fontsize=7, rotation=90)
        ax.set_xlabel("2θ (deg)")
        ax.set_title(f"{Path(str(pattern['source'])).name}: {pattern['element']}, λ = {pattern['wavelength_angstrom']:g} Å",
                     fontsize=9)
        ax.set_ylim(0, 118)
    axes[0].set_ylabel("intensity (% of strongest)")
    _save(fig, path)


def _group_title(group: dict) -> str:
    return f"{group['method']}, {group['isotope']}"


def plot_phase(result: dict, path) -> None:
    """Top: mean |angle - 90| vs pressure per temperature with error bars and the fit; bottom: the (P, T) phase diagram.

    One column per group (classical / path-integral, H / D).
    """
    groups = result["groups"]
    fig = Figure(figsize=(4.8 * max(1, len(groups)), 8))
    axes = np.array(fig.subplots(2, max(1, len(groups)), squeeze=False, sharex=True))
    temperatures = sorted({r["temperature_k"] for r in result["runs"]})
    top_temperature = 1.15 * max(temperatures) if temperatures else 1.0
    colours = {t: f"C{i}" for i, t in enumerate(temperatures)}
    for col, group in enumerate(groups):
        ax, ax_pd = axes[0, col], axes[1, col]
        runs = [r for r in result["runs"] if r["group"] == group["name"]]
        for temperature in temperatures:
            rows = sorted((r for r in runs if r["temperature_k"] == temperature), key=lambda r: r["pressure_gpa"])
            if not rows:
                continue
            ax.errorbar([r["pressure_gpa"] for r in rows], [r["distortion_deg"] for r in rows],
                        yerr=[r["distortion_stderr_deg"] for r in rows], fmt="o", color=colours[temperature], capsize=3,
                        label=f"{temperature:g} K")
        for estimate in group["transitions"]:
            fit = estimate.get("fit")
            if fit:
                p = np.linspace(min(r["pressure_gpa"] for r in runs), max(r["pressure_gpa"] for r in runs), 200)
                ax.plot(p, fit["amplitude"] * np.sqrt(np.clip(estimate["transition_pressure_gpa"] - p, 0, None)),
                        color=colours[estimate["temperature_k"]], lw=1)
        ax.set_xlabel("pressure (GPa)")
        ax.tick_params(labelbottom=True)  # shared x axis: keep the numbers on both rows
        ax.set_ylabel("mean |angle - 90| (deg)")
        ax.set_title(_group_title(group), fontsize=10)
        ax.legend(fontsize=8)
        kinds = {"cubic": lambda c: c == "cubic", "distorted": lambda c: c not in ("cubic", UNDETERMINED),
                 "undetermined (run too short)": lambda c: c == UNDETERMINED}
        styles = {"cubic": {"marker": "o", "facecolors": "none", "edgecolors": "k"},
                  "distorted": {"marker": "^", "facecolors": "tab:red", "edgecolors": "tab:red"},
                  "undetermined (run too short)": {"marker": "x", "c": "0.5"}}
        for name, belongs in kinds.items():
            chosen = [r for r in runs if belongs(r["classification"])]
            if chosen:
                ax_pd.scatter([r["pressure_gpa"] for r in chosen], [r["temperature_k"] for r in chosen], s=50, label=name,
                              zorder=3, **styles[name])
        boundary = sorted((e for e in group["transitions"] if e.get("transition_pressure_gpa") is not None),
                          key=lambda e: e["temperature_k"])
        if boundary:
            ax_pd.errorbar([e["transition_pressure_gpa"] for e in boundary], [e["temperature_k"] for e in boundary],
                           xerr=[e["uncertainty_gpa"] for e in boundary], fmt="s-", color="k", ms=4, capsize=3,
                           label="estimated boundary")
        ax_pd.set_xlabel("pressure (GPa)")
        ax_pd.set_ylabel("temperature (K)")
        ax_pd.set_ylim(0, top_temperature)  # the same temperature scale in every group, from 0 K
        ax_pd.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_hydrogen(result: dict, series: dict, path) -> None:
    """Left: partial radial distribution functions; right: hydrogen MSD vs time with the fitted line."""
    fig = Figure(figsize=(11, 4))
    ax_rdf, ax_msd = fig.subplots(1, 2)
    for name, g in series["rdf"].items():
        ax_rdf.plot(series["r_angstrom"], g, lw=1.2, label=name)
    ax_rdf.axhline(1.0, color="k", lw=0.6, ls=":")
    ax_rdf.set_xlabel("r (Å)")
    ax_rdf.set_ylabel("g(r)")
    ax_rdf.legend(fontsize=8)
    half = len(series["lag_ps"]) // 2 + 1  # longer lags have few time origins and only add noise
    ax_msd.plot(series["lag_ps"][:half], series["msd_angstrom2"][:half], lw=1.2, color="tab:blue", label="H mean-square displacement")
    d = result["diffusion"]
    lo, hi = d["fit_window_ps"]
    lags = np.linspace(lo, hi, 50)
    ax_msd.plot(lags, 6 * d["coefficient_angstrom2_per_ps"] * lags + d["fit_intercept_angstrom2"], color="tab:red", lw=1.5,
                label=f"fit: D = {d['coefficient_angstrom2_per_ps']:.3g} ± {d['stderr_angstrom2_per_ps']:.2g} Å²/ps")
    ax_msd.axhline(d["hop_distance_angstrom"] ** 2, color="k", lw=0.8, ls=":", label="(H-H neighbour distance)²")
    ax_msd.set_xlabel("lag time (ps)")
    ax_msd.set_ylabel("MSD (Å²)")
    ax_msd.set_title(result["verdict"], fontsize=10)
    ax_msd.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def _histogram_line(ax, distribution: dict, **style) -> None:
    edges = np.asarray(distribution["edges_angstrom"])
    ax.plot(0.5 * (edges[1:] + edges[:-1]), distribution["density_per_angstrom"], **style)


def plot_bonds(result: dict, path) -> None:
    """Left: distributions of the off-centring delta (centroids, and beads when saved); right: the order parameter's."""
    fig = Figure(figsize=(10, 3.8))
    ax_delta, ax_m = fig.subplots(1, 2)
    _histogram_line(ax_delta, result["delta_centroid"], color="tab:blue", lw=1.4, label="centroids")
    if result.get("delta_beads"):
        _histogram_line(ax_delta, result["delta_beads"], color="tab:orange", lw=1.2, label="beads")
    ax_delta.set_xlabel(f"off-centring δ on {result['element']}-H-{result['element']} (Å)")
    ax_delta.set_ylabel("probability density (1/Å)")
    ax_delta.legend(fontsize=8)
    _histogram_line(ax_m, result["order_parameter"], color="k", lw=1.4, label="m (components pooled)")
    ax_m.set_xlabel("order parameter m: mean δ per bond orientation (Å)")
    ax_m.set_ylabel("probability density (1/Å)")
    binder = result["binder"]
    ax_m.set_title(f"{result['verdict']}; Binder U = {binder:.2f}", fontsize=10)
    ax_m.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
