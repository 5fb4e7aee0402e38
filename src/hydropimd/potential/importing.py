"""``hydropimd model import``: a DeePMD-kit graph upgraded, compressed or converted to the PyTorch backend.

The one module that uses both :mod:`hydropimd.potential.models` (graphs, the model cache, ``dp`` commands) and
:mod:`hydropimd.potential.pytorch` (the PyTorch backend, which itself uses the first): keeping it apart keeps the
two free of a cycle.
"""

from __future__ import annotations

import os
from pathlib import Path

from hydropimd.errors import InputError
from hydropimd.files import write_through_sibling
from hydropimd.potential.models import (
    compress_model, is_legacy_graph, is_pytorch_model, resolve_model, training_script_from_legacy,
)
from hydropimd.potential.pytorch import convert_to_pytorch


def import_model(
    graph: str | os.PathLike,
    out: str | os.PathLike,
    compress: bool = False,
    input_json: str | os.PathLike | None = None,
    data_root: str | os.PathLike | None = None,
    backend: str | None = None,
    precision: str = "float64",
) -> dict:
    """Upgrade (and optionally compress) a frozen graph into ``out``; returns a JSON-ready summary.

    ``backend`` "pt" writes a DeePMD-kit PyTorch model (:func:`hydropimd.potential.pytorch.convert_to_pytorch`)
    with networks in ``precision`` ("float64" or "float32"); the TensorFlow backend keeps the graph's precision.
    Default: from the suffix of ``out`` (DeePMD-kit loads a ``.pth`` with PyTorch, anything else with TensorFlow),
    and a TensorFlow graph is never written to a ``.pth``.
    """
    graph, out = Path(graph), Path(out)
    backend = backend or ("pt" if out.suffix == ".pth" else "tf")
    if backend == "tf" and out.suffix == ".pth":
        raise InputError(f"--out {out.name}: DeePMD-kit would load a .pth as a PyTorch model, and --backend tf writes "
                         "a TensorFlow graph; give --backend pt or an --out ending in .pb")
    legacy = is_legacy_graph(graph)
    if is_pytorch_model(graph):
        raise InputError(f"{graph} is already a PyTorch model; model import takes a TensorFlow graph (.pb)")
    script = training_script_from_legacy(input_json, data_root) if input_json is not None else None
    out.parent.mkdir(parents=True, exist_ok=True)
    if compress and script is None:
        raise InputError("--compress needs --input-json (the model's training script) for the training data statistics")
    if backend == "pt":
        convert_to_pytorch(graph, out, script, precision=precision, compress=compress)
    elif precision != "float64":
        raise InputError(f"--precision {precision} needs --backend pt (a TensorFlow graph keeps its precision)")
    elif compress:
        compress_model(graph, out, script)
    else:
        write_through_sibling(out, lambda tmp: tmp.write_bytes(resolve_model(graph).read_bytes()))
    return {"source": str(graph), "output": str(out), "upgraded_from_legacy": legacy, "compressed": compress,
            "backend": backend, "precision": precision, "bytes": out.stat().st_size}
