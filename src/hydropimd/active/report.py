"""Diagnostics of an active-learning loop (docs/theory/active-learning.md).

* Test errors per generation on one common test set: every committee member of
  every generation is evaluated with :func:`hydropimd.potential.testing.model_test_errors`
  (DeePMD-kit's ``dp test`` figures: energy RMSE per atom, force RMSE over all
  components), and the committee mean is plotted against the generation.  One
  common, fixed test set makes the generations comparable: each generation's
  own test split would change with the data.
* A 2D PCA map (scikit-learn) of the averaged SOAP vectors
  (:mod:`hydropimd.active.soap`, dscribe) of every frame of the data, coloured by
  the generation that added it: new generations should reach regions the
  earlier data did not cover (De, Bartok, Csanyi and Ceriotti, Phys. Chem. Chem.
  Phys. 18, 13754 (2016) for SOAP maps of data sets).
* Counts per generation: candidates, accurate / kept / dropped / selected, labelled
  frames, accurate ratio and selection mode.

Figures are written as PNG and PDF (matplotlib, Agg backend).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hydropimd.errors import InputError
from hydropimd.files import write_json_atomic


def frames_to_atoms(frames) -> list:
    """ASE Atoms of every frame of a :class:`hydropimd.data.systems.Frames` (periodic)."""
    from ase import Atoms

    return [Atoms(symbols=frames.symbols, positions=c, cell=b, pbc=True) for c, b in zip(frames.coords, frames.cells)]


def pca_map(vectors: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project the rows of ``vectors`` on their first principal components (scikit-learn PCA).

    The features are standardised first (zero mean, unit variance): the SOAP
    power-spectrum components span orders of magnitude, and unscaled PCA would
    only see the largest ones.  Returns (coordinates (M, n_components),
    explained variance ratios).
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(vectors, dtype=float)
    if len(x) < n_components:
        raise InputError(f"a PCA map needs at least {n_components} frames, got {len(x)}")
    x = StandardScaler().fit_transform(x)
    pca = PCA(n_components=n_components, random_state=0)
    coords = pca.fit_transform(x)
    return coords, pca.explained_variance_ratio_


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, stem: Path, formats: Sequence[str]) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    files = []
    for fmt in formats:
        target = stem.with_suffix(f".{fmt}")
        tmp = stem.with_name(f"{stem.name}.partial.{fmt}")
        fig.savefig(tmp, dpi=120 if fmt == "png" else None, bbox_inches="tight")
        os.replace(tmp, target)
        files.append(target)
    _pyplot().close(fig)
    return files


def plot_errors_vs_generation(names: Sequence[str], energy_rmse: Sequence[float], force_rmse: Sequence[float],
                              stem: str | os.PathLike, counts: Sequence[int] | None = None, title: str = "",
                              spread: tuple[Sequence, Sequence] | None = None,
                              formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Energy RMSE (meV/atom) and force RMSE (eV/A) against the generation; ``counts``: training frames (top axis
    labels); ``spread``: (energy, force) lists of (min, max) over the committee, drawn as error bars."""
    plt = _pyplot()
    x = np.arange(len(names))
    fig, axes = plt.subplots(2, 1, figsize=(max(5.0, 0.45 * len(names) + 2), 5.2), sharex=True)
    for ax, values, label, scale, k in ((axes[0], energy_rmse, "energy RMSE (meV/atom)", 1000.0, 0),
                                        (axes[1], force_rmse, "force RMSE (eV/Å)", 1.0, 1)):
        y = np.asarray(values, dtype=float) * scale
        if spread is not None:
            lo_hi = np.asarray(spread[k], dtype=float) * scale
            ax.errorbar(x, y, yerr=[y - lo_hi[:, 0], lo_hi[:, 1] - y], fmt="o-", capsize=3)
        else:
            ax.plot(x, y, "o-")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].set_xticks(x, list(names), rotation=45, ha="right")
    axes[1].set_xlabel("generation (models trained on the data up to and including it)")
    if counts is not None:
        top = axes[0].secondary_xaxis("top")
        top.set_xticks(x, [str(c) for c in counts], fontsize=7)
        top.set_xlabel("training frames", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, Path(stem), formats)


def plot_pca(coords: np.ndarray, labels: Sequence[int], names: Sequence[str], stem: str | os.PathLike, title: str = "",
             explained: Sequence[float] | None = None, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Scatter of a 2D PCA map; ``labels``: index into ``names`` per point, coloured in generation order."""
    plt = _pyplot()
    labels = np.asarray(labels, dtype=int)
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    cmap = plt.get_cmap("turbo")  # ordered like viridis, but neighbouring generations stay distinguishable
    present = sorted(set(labels.tolist()))
    for k in present:
        mask = labels == k
        colour = cmap(present.index(k) / max(1, len(present) - 1))
        ax.scatter(coords[mask, 0], coords[mask, 1], s=6, color=colour, label=f"{names[k]} ({mask.sum()})", alpha=0.7,
                   linewidths=0)
    pcs = ["PC1", "PC2"]
    if explained is not None:
        pcs = [f"PC{i + 1} ({100 * v:.0f} % of variance)" for i, v in enumerate(explained[:2])]
    ax.set_xlabel(pcs[0])
    ax.set_ylabel(pcs[1])
    ax.legend(fontsize=6, markerscale=2, ncol=2 if len(present) > 10 else 1, loc="best")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, Path(stem), formats)


def plot_counts(rows: list[dict], stem: str | os.PathLike, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Bars: labelled frames per generation; line: accurate ratio."""
    plt = _pyplot()
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(4.5, 0.5 * len(rows) + 2), 3.6))
    ax.bar(x, [r["labelled"] or 0 for r in rows], color="tab:blue", alpha=0.7, label="labelled frames")
    ax.set_xticks(x, [str(r["generation"]) for r in rows])
    ax.set_xlabel("generation")
    ax.set_ylabel("labelled frames")
    twin = ax.twinx()
    twin.plot(x, [np.nan if r["accurate_ratio"] is None else r["accurate_ratio"] for r in rows], "o-", color="tab:red",
              label="accurate ratio (E < lo)")
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("accurate ratio")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
    fig.tight_layout()
    return _save(fig, Path(stem), formats)


def data_soap(sources: list[tuple[str, list[str]]], soap_settings=None,
              progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Averaged SOAP vectors of every frame (all sets) of each source's data sets; returns (vectors, source index)."""
    from hydropimd.active.soap import averaged_soap
    from hydropimd.data.systems import find_systems

    atoms, labels = [], []
    for k, (_, paths) in enumerate(sources):
        for path in paths:
            for system in find_systems(path):
                frames = frames_to_atoms(system.load("all"))
                atoms += frames
                labels += [k] * len(frames)
    if not atoms:
        raise InputError("the data hold no frames to map")
    return averaged_soap(atoms, soap_settings, progress=progress), np.array(labels)


def active_report(work_dir: str | os.PathLike, test_data: str | os.PathLike, out: str | os.PathLike,
                  split: str = "test", soap_settings=None, progress: Callable[[int, int], None] | None = None) -> dict:
    """Errors vs generation on ``test_data`` (its ``split``), the SOAP PCA map of all data, counts; figures in ``out``.

    ``work_dir``: an ``active run`` work directory.  ``test_data``: a DeePMD npy
    data set with the labels the loop's data have (full labels when the loop
    trains with a pair table: the models are tested with the table added); a
    published root means its ``data/full``.
    Returns a JSON-ready dict (also written to ``out/report.json``).
    """
    from hydropimd.active.loop import active_status, stage_state
    from hydropimd.data.systems import find_systems
    from hydropimd.potential.calculator import HydridePotential
    from hydropimd.potential.testing import model_test_errors
    from hydropimd.training.committee import data_folder

    status = active_status(work_dir)
    work = Path(status["work_dir"])
    config = json.loads((work / "config.json").read_text())["config"]
    pair = config["data"]["pair"]
    test_data = data_folder(test_data)  # a published root: its full labels, not full and subtracted mixed
    test_systems = find_systems(test_data)
    if not any(s.split_frames(split) for s in test_systems):
        raise InputError(f"{test_data} has no frames in its {split} split; give a labelled test set")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trained = [r for r in status["generations"] if "train" in r["stages_done"]]
    if not trained:
        raise InputError(f"no generation in {work} has trained a committee yet; run 'hydropimd active run' first")
    rows = []
    total = sum(len(stage_state(work, r["generation"], "train")["models"]) for r in trained)
    done = 0
    for r in trained:
        g = r["generation"]
        train = stage_state(work, g, "train")
        members = []
        for model in train["models"]:
            report = model_test_errors(HydridePotential(model, pair=pair), test_systems, split=split)
            members.append({k: report[k] for k in ("energy_rmse_per_atom_ev", "force_rmse_ev_per_angstrom",
                                                   "virial_rmse_per_atom_ev", "n_frames")})
            done += 1
            if progress:
                progress(done, total)
        e = [m["energy_rmse_per_atom_ev"] for m in members]
        f = [m["force_rmse_ev_per_angstrom"] for m in members]
        rows.append({"generation": g, "data_sets": len(train["data"]), "members": members,
                     "energy_rmse_per_atom_ev": float(np.mean(e)), "force_rmse_ev_per_angstrom": float(np.mean(f)),
                     "energy_range": [min(e), max(e)], "force_range": [min(f), max(f)]})
    figures = plot_errors_vs_generation(
        [str(r["generation"]) for r in rows], [r["energy_rmse_per_atom_ev"] for r in rows],
        [r["force_rmse_ev_per_angstrom"] for r in rows], out / "errors",
        spread=([r["energy_range"] for r in rows], [r["force_range"] for r in rows]),
        title=f"committee mean (bars: min-max) on {Path(test_data).name} ({split} split)")
    sources = [("initial", config["data"]["initial"])] + [
        (f"gen {r['generation']}", stage_state(work, r["generation"], "label")["systems"])
        for r in status["generations"] if "label" in r["stages_done"]]
    settings = dict(soap_settings or config["select"].get("soap") or {})
    settings.setdefault("species", config["type_map"])
    vectors, labels = data_soap(sources, settings)
    coords, explained = pca_map(vectors)
    figures += plot_pca(coords, labels, [name for name, _ in sources], out / "pca",
                        title="averaged SOAP of all data, by the generation that added it", explained=explained)
    figures += plot_counts(status["generations"], out / "counts")
    counts = [{k: r[k] for k in ("generation", "candidates", "counts", "accurate_ratio", "mode", "labelled", "failed")}
              for r in status["generations"]]
    result = {"work_dir": str(work), "test_data": str(test_data), "split": split,
              "test_frames": sum(s.split_frames(split) for s in test_systems), "errors": rows, "counts": counts,
              "pca": {"frames": int(len(coords)), "explained_variance_ratio": [float(v) for v in explained],
                      "frames_per_source": {name: int((labels == k).sum()) for k, (name, _) in enumerate(sources)}},
              "stopped": status["stopped"], "figures": [str(f) for f in figures]}
    write_json_atomic(out / "report.json", result)
    return result
