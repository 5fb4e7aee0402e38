"""The published data-growth diagnostics (SPEC section 6), reproduced on this CPU.

For each published generation g in SPEC order (aimd, r3m, ensemble0, ...,
ensemble15; ensemble3 and ensemble4 each hold two pressures), one Deep Potential
is trained with :func:`hydropimd.training.committee.train_committee` (DeePMD-kit's
own ``dp train``) on the union of the *training* splits of generations 0..g, and
evaluated with :func:`hydropimd.potential.testing.model_test_errors` on the *whole*
published test split (the last set of all 20 systems, 259 frames).  The models
learn the subtracted targets (DFT minus the pair tables, as the published model
did); the pair term cancels in every error, so testing the subtracted model on
the subtracted labels gives the errors of model plus table on the DFT labels.

Reduced cost, because the study's 1,000,000 steps of the (25,50,100)/(240,)*3
network take ~0.8 s per step on this 2-core CPU (about nine days per model):

* ``--steps`` (default 300) training steps per generation, batch size 1, the
  learning rate decaying exponentially from 1e-3 to ``--stop-lr`` (default 1e-5:
  a 300-step schedule ending at the study's 3.51e-8 would spend most of its steps
  at rates too small to move the weights);
* a smaller network (embedding (8,16,32), axis_neuron 8, fitting (64,64,64));
  descriptor type, rcut 4.0, rcut_smth 2.0, sel [15,150] and the loss
  prefactors are the study's.  One step then takes ~0.12 s.

Every generation uses the same seeds, so the curve changes only through the data.
The absolute errors are therefore far above the published model's (force RMSE
~0.1 eV/A); what is reproduced is the trend with g.  The second diagnostic is the
2D PCA map (scikit-learn) of the averaged SOAP vectors (dscribe, through
:mod:`hydropimd.active.soap`) of all 2779 published structures, coloured by
generation.

Stages are resumable (each generation's result is a JSON written atomically)::

    nice -n 10 .venv/bin/python bench/data_growth.py train   [--work DIR] [--steps 300] [--data ROOT]
    nice -n 10 .venv/bin/python bench/data_growth.py pca     [--work DIR]
    .venv/bin/python bench/data_growth.py figures [--work DIR] [--docs docs]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hydropimd.data.location import published_root

#: Published generations in SPEC order, each with its system folders (relative to data/<labels>/).
GENERATIONS = [("aimd", ["aimd"]), ("r3m", ["r3m"])] + [
    (f"ensemble{k}", {3: ["ensemble3/150GPa", "ensemble3/200GPa"], 4: ["ensemble4/150GPa", "ensemble4/180GPa"]}.get(
        k, [f"ensemble{k}"])) for k in range(16)
]

#: The reduced network (module docstring): DeePMD-kit key names, merged over the study's defaults.
SMALL_NETWORK = {"model": {"descriptor": {"neuron": [8, 16, 32], "axis_neuron": 8}, "fitting_net": {"neuron": [64, 64, 64]}}}


def _atomic_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (dp train, dp freeze), user + system, s."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def stage_train(work: Path, root: Path, steps: int, stop_lr: float) -> list[dict]:
    from hydropimd.data.systems import find_systems
    from hydropimd.potential.calculator import HydridePotential
    from hydropimd.potential.testing import model_test_errors
    from hydropimd.training.committee import train_committee

    data = root / "data" / "subtracted"
    overrides = work / "network.json"
    _atomic_json(overrides, {**SMALL_NETWORK, "learning_rate": {"stop_lr": stop_lr}})
    test_systems = find_systems(data)
    rows = []
    for g, (name, _) in enumerate(GENERATIONS):
        result = work / f"gen-{g:02d}-{name}.json"
        if not result.exists():
            systems = [str(data / s) for _, group in GENERATIONS[: g + 1] for s in group]
            t0, c0 = time.perf_counter(), _cpu_seconds()
            summary = train_committee(systems, work / f"gen-{g:02d}-{name}", committee=1, steps=steps, config=overrides)
            t_train = time.perf_counter() - t0
            report = model_test_errors(HydridePotential(summary["members"][0]["model"]), test_systems, split="test")
            n_train = sum(s.split_frames("train") for p in systems for s in find_systems(p))
            _atomic_json(result, {
                "generation": g, "name": name, "steps": steps, "stop_lr": stop_lr, "train_frames": n_train,
                "test_frames": report["n_frames"], "energy_rmse_per_atom_ev": report["energy_rmse_per_atom_ev"],
                "force_rmse_ev_per_angstrom": report["force_rmse_ev_per_angstrom"],
                "virial_rmse_per_atom_ev": report["virial_rmse_per_atom_ev"],
                "wall_s": time.perf_counter() - t0, "train_wall_s": t_train, "cpu_s": _cpu_seconds() - c0,
            })
        row = json.loads(result.read_text())
        rows.append(row)
        _log(f"{name}: {row['train_frames']} training frames, E {1000 * row['energy_rmse_per_atom_ev']:.2f} meV/atom, "
             f"F {row['force_rmse_ev_per_angstrom']:.3f} eV/A ({row['wall_s']:.0f} s wall, {row.get('cpu_s', 0):.0f} s CPU)")
    _atomic_json(work / "growth.json", {"steps": steps, "stop_lr": stop_lr, "network": SMALL_NETWORK, "generations": rows})
    return rows


def stage_pca(work: Path, root: Path) -> dict:
    """Averaged SOAP vectors of every published structure (all splits), cached as soap.npz, then PCA."""
    import numpy as np

    from hydropimd.active.report import frames_to_atoms, pca_map
    from hydropimd.active.soap import averaged_soap
    from hydropimd.data.systems import find_systems

    cache = work / "soap.npz"
    if not cache.exists():
        data = root / "data" / "subtracted"
        vectors, labels = [], []
        for g, (name, group) in enumerate(GENERATIONS):
            for s in group:
                system = find_systems(data / s)[0]
                frames = frames_to_atoms(system.load("all"))
                vectors.append(averaged_soap(frames))
                labels += [g] * len(frames)
            _log(f"SOAP {name}: {sum(len(v) for v in vectors)} structures so far")
        tmp = work / "soap.partial.npz"
        np.savez(tmp, vectors=np.concatenate(vectors), generation=np.array(labels))
        os.replace(tmp, cache)
    stored = np.load(cache)
    coords, explained = pca_map(stored["vectors"])
    result = {"n_structures": int(len(coords)), "explained_variance_ratio": explained.tolist()}
    np.savez(work / "pca.npz", coords=coords, generation=stored["generation"])
    _atomic_json(work / "pca.json", result)
    _log(f"PCA of {result['n_structures']} structures, explained variance {explained.round(3).tolist()}")
    return result


def stage_figures(work: Path, docs: Path) -> dict:
    import numpy as np

    from hydropimd.active.report import plot_errors_vs_generation, plot_pca

    docs.mkdir(parents=True, exist_ok=True)
    growth = json.loads((work / "growth.json").read_text())
    rows = growth["generations"]
    names = [r["name"] for r in rows]
    files = plot_errors_vs_generation(
        names, [r["energy_rmse_per_atom_ev"] for r in rows], [r["force_rmse_ev_per_angstrom"] for r in rows],
        docs / "data-growth", counts=[r["train_frames"] for r in rows],
        title=f"published generations, {growth['steps']} steps each, reduced network; test: all 259 published test frames",
        formats=("png",),
    )
    pca = np.load(work / "pca.npz")
    explained = json.loads((work / "pca.json").read_text())["explained_variance_ratio"]
    files += plot_pca(pca["coords"], pca["generation"], [n for n, _ in GENERATIONS], docs / "published-pca",
                      title="averaged SOAP of the 2779 published structures", explained=explained, formats=("png",))
    return {"figures": [str(f) for f in files]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["train", "pca", "figures", "all"])
    parser.add_argument("--work", help="work folder (resumable; default bench/out/data-growth-STEPS)")
    parser.add_argument("--data", help="published data root (default: the data-location rule)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per generation")
    parser.add_argument("--stop-lr", type=float, default=1e-5, help="learning rate at the last step")
    parser.add_argument("--docs", default="docs", help="where the PNG figures go")
    args = parser.parse_args()
    work = Path(args.work or f"bench/out/data-growth-{args.steps}").resolve()
    work.mkdir(parents=True, exist_ok=True)
    root = published_root(args.data)
    if args.stage in ("train", "all"):
        stage_train(work, root, args.steps, args.stop_lr)
    if args.stage in ("pca", "all"):
        stage_pca(work, root)
    if args.stage in ("figures", "all"):
        print(json.dumps(stage_figures(work, Path(args.docs)), indent=1))


if __name__ == "__main__":
    main()
