"""DeePMD-kit's PyTorch backend: TensorFlow graphs converted to ``.pth`` models, in float64 or float32.

DeePMD-kit moves a model between backends through its serialized form (a
dictionary of the descriptor's and fitting net's settings and weights;
``dp convert-backend``).  A TensorFlow graph is serialized from the graph
*and its training script*; graphs frozen by DeePMD-kit >= 2.2 carry the
script (``train_attr/training_script``), graphs upgraded from 1.x (the
published ones) do not, so the script is rebuilt from the model's
``input.json`` (:func:`hydropimd.potential.models.training_script_from_legacy`)
and completed with DeePMD-kit's own defaults (``deepmd.utils.argcheck.normalize``).
The PyTorch backend's ``deserialize_hook`` then writes the TorchScript model.

A float32 copy is the same dictionary with every ``precision`` set to
``float32`` and the networks' weights cast to it (:func:`with_precision`; the
interfaces stay float64): DeePMD-kit cannot change a frozen model's precision,
and its documentation recommends float32 networks on GPUs.  Compression is
``dp --pt compress`` (tabulated embedding nets; Lu et al., JCTC 18, 5559
(2022)); it needs the minimal neighbour distance of the training data, which
is computed here with DeePMD-kit's TensorFlow neighbour statistics and stored
in the model (the PyTorch backend's own statistics had not finished after
12 CPU-minutes for the published data on 2 cores; with the distance stored,
the whole conversion and compression took 8.9 minutes).

The conversion runs in a child process (:func:`hydropimd.potential.models.run_dp`):
it loads TensorFlow and PyTorch side by side, which the caller's process should
not have to.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np

from hydropimd.errors import InputError
from hydropimd.files import make_once, unique_sibling
from hydropimd.potential.models import file_digest, resolve_model, run_dp, training_script_from_legacy

Precision = Literal["float64", "float32"]
#: what ``pip`` needs for this module, for the error a user without it sees
INSTALL_HINT = "install the PyTorch backend: pip install 'hydropimd[gpu]' (or make install-gpu)"


def pytorch_backend_installed() -> bool:
    """Whether torch is installed, which DeePMD-kit's PyTorch backend (part of every DeePMD-kit wheel) needs."""
    return importlib.util.find_spec("torch") is not None


def require_pytorch_backend(what: str) -> None:
    """:class:`InputError` naming ``what`` when the PyTorch backend is not installed."""
    if not pytorch_backend_installed():
        raise InputError(f"{what} needs DeePMD-kit's PyTorch backend, which is not installed; {INSTALL_HINT}")


def convert_to_pytorch(graph: str | os.PathLike, out: str | os.PathLike, training_script: dict | None = None,
                       precision: Precision = "float64", compress: bool = False) -> Path:
    """Write the DeePMD-kit TensorFlow model ``graph`` (1.x graphs upgraded first) as a PyTorch ``.pth``.

    ``training_script`` is the model's training script (a DeePMD-kit 3 dict);
    needed when the graph does not carry its own, and for compression (its
    training data give the minimal neighbour distance).  ``precision`` is the
    networks' floating-point precision; ``compress`` tabulates the embedding
    nets with ``dp --pt compress``.  The file appears only when complete.
    """
    require_pytorch_backend("a PyTorch model")
    out = Path(out).resolve()
    if out.suffix != ".pth":
        raise InputError(f"a PyTorch model file must end in .pth, not {out.name}; give --out NAME.pth")
    source = resolve_model(graph).resolve()
    with tempfile.TemporaryDirectory(prefix="hydropimd-pt-") as work:
        script_path = Path(work) / "training_script.json"
        script_path.write_text(json.dumps(training_script or {}))
        plain, packed = unique_sibling(out), unique_sibling(out, "compressed")
        code = "from hydropimd.potential.pytorch import _convert_main; _convert_main()"
        try:
            run_dp([sys.executable, "-c", code, str(source), str(script_path), str(plain), precision,
                    str(int(compress))], f"converting {graph} to DeePMD-kit's PyTorch backend")
            if compress:
                run_dp([str(Path(sys.executable).with_name("dp")), "--pt", "compress", "-i", str(plain), "-o",
                        str(packed)], f"compressing {out.name} with dp --pt compress")
                os.replace(packed, plain)
            os.replace(plain, out)
        finally:  # a refused or failed conversion leaves nothing beside --out
            plain.unlink(missing_ok=True)
            packed.unlink(missing_ok=True)
    return out


def serialized_model(graph: str, training_script: dict, need_min_nbor_dist: bool) -> dict:
    """DeePMD-kit's backend-neutral form of a TensorFlow graph (what ``dp convert-backend`` passes between
    backends), built from the graph's variables and its training script."""
    from deepmd.tf.env import tf
    from deepmd.tf.model.model import Model
    from deepmd.tf.utils.errors import GraphWithoutTensorError
    from deepmd.tf.utils.graph import get_tensor_by_name_from_graph, load_graph_def
    from deepmd.utils.argcheck import normalize

    tf_graph, graph_def = load_graph_def(graph)
    try:  # graphs frozen by DeePMD-kit >= 2.2 carry their own script: it wins
        training_script = json.loads(get_tensor_by_name_from_graph(tf_graph, "train_attr/training_script"))
    except GraphWithoutTensorError:
        if not training_script.get("model"):
            raise InputError(f"{graph} does not carry its training script; give the model's input.json "
                             "(--input-json)") from None
    try:  # a script of another model, or no whole script: DeePMD-kit's argument checker or the graph's variables say so
        script = normalize(training_script)
        model = Model(**script["model"])
        model.init_variables(graph=tf_graph, graph_def=graph_def)
    except Exception as err:  # noqa: BLE001 - dargs, KeyError, TensorFlow shape errors: all the script's
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(f"the training script does not rebuild the graph ({detail}); give the model's own "
                         "input.json (--input-json)") from None
    variables = {}
    try:
        variables["min_nbor_dist"] = get_tensor_by_name_from_graph(tf_graph, "train_attr/min_nbor_dist")
    except GraphWithoutTensorError:
        if need_min_nbor_dist:
            variables["min_nbor_dist"] = _min_neighbour_distance(script)
    return {"backend": "TensorFlow", "tf_version": tf.__version__, "model": model.serialize(),
            "model_def_script": script["model"], "@variables": variables}


def _min_neighbour_distance(script: dict) -> float:
    """The smallest interatomic distance in the training data, A (DeePMD-kit's neighbour statistics)."""
    from deepmd.tf.utils.update_sel import UpdateSel
    from deepmd.utils.data_system import get_data

    training = script.get("training", {}).get("training_data")
    if not training:
        raise InputError("compression needs the training data: give the model's input.json (--input-json)")
    data = get_data(training, 0, script["model"].get("type_map"), None)
    return float(UpdateSel().get_min_nbor_dist(data))


def with_precision(data, precision: Precision, inside: bool = False):
    """A copy of a serialized model (nested dicts and lists) whose networks are in ``precision``: every
    ``precision`` entry set to it, and the floating-point arrays of the parts that have one cast to it
    (DeePMD-kit's PyTorch backend keeps a loaded array's own dtype).  Arrays outside such parts (the
    atomic model's energy bias) keep float64, as DeePMD-kit keeps them for float32 training."""
    if isinstance(data, dict):
        inside = inside or "precision" in data
        return {k: (precision if k == "precision" else with_precision(v, precision, inside)) for k, v in data.items()}
    if isinstance(data, list):
        return [with_precision(v, precision, inside) for v in data]
    if inside and isinstance(data, np.ndarray) and np.issubdtype(data.dtype, np.floating):
        return data.astype(precision)
    return data


def _convert_main() -> None:
    """Child-process entry of :func:`convert_to_pytorch`: argv = graph, script JSON, output, precision, compress."""
    from deepmd.backend.backend import Backend

    graph, script_path, out, precision, compress = sys.argv[1:6]
    try:
        data = serialized_model(graph, json.loads(Path(script_path).read_text()), bool(int(compress)))
    except InputError as err:
        print(f"Error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if precision != "float64":
        data["model"] = with_precision(data["model"], precision)
        data["model_def_script"] = with_precision(data["model_def_script"], precision)
    Backend.get_backend("pytorch")().deserialize_hook(out, data)
    problem = conversion_mismatch(graph, out, precision)
    if problem:
        print(f"Error: {problem}; give the model's own input.json (--input-json)", file=sys.stderr)
        raise SystemExit(2)


#: how far the converted model may stray from the graph on the probe frame: float64, DeePMD-kit's cross-backend
#: round-off (measured below 1e-10 eV/atom on the published model); float32, the single-precision copy's error
#: (measured ~1e-6 eV/atom, 1e-5 eV/A): eV/atom for energies, eV/A for forces
CONVERSION_TOLERANCE = {"float64": (1e-6, 1e-5), "float32": (1e-4, 1e-3)}


def conversion_mismatch(graph: str, converted: str, precision: Precision) -> str | None:
    """What is wrong with the PyTorch model ``converted`` as a copy of ``graph``, None when nothing is: the
    same type map, and the same energy and forces on a probe frame (:func:`probe_frame`) within
    :data:`CONVERSION_TOLERANCE`.  A training script of another model (other network sizes, another type map)
    rebuilds a model that loads and then fails, or computes something else, at its first evaluation."""
    from deepmd.infer import DeepPot

    reference = DeepPot(graph)
    type_map = reference.get_type_map()
    try:
        copy = DeepPot(converted)
        if copy.get_type_map() != type_map:
            return f"the rebuilt model's type map {copy.get_type_map()} is not the graph's {type_map}"
        coords, cell, types = probe_frame(len(type_map))
        (e_graph, f_graph, _), (e_copy, f_copy, _) = (m.eval(coords, cell, types)[:3] for m in (reference, copy))
    except Exception as err:  # noqa: BLE001 - any failure of the rebuilt model is the finding
        return f"the rebuilt model fails on a test frame ({type(err).__name__}: {err})"
    energy, forces = CONVERSION_TOLERANCE[precision]
    de = abs(float(e_graph.sum() - e_copy.sum())) / len(types)
    df = float(np.abs(f_graph - f_copy).max())
    if de > energy or df > forces:
        return (f"the rebuilt model differs from the graph on a test frame by {de:.3g} eV/atom and {df:.3g} eV/A "
                f"(allowed {energy:g}, {forces:g})")
    return None


def probe_frame(n_types: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A frame every model can evaluate: 27 atoms on a jittered simple-cubic grid of 2.2 A (cell 6.6 A), one atom
    of each type but the last, the rest of the last type (a hydride's hydrogen), so no neighbour list exceeds a
    hydride model's per-type ``sel``.  Coordinates (1, 81) and cell (1, 9) in A, types (27,)."""
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3) * 2.2
    coords = grid + np.random.default_rng(seed).normal(scale=0.1, size=grid.shape)
    types = [min(k, n_types - 1) for k in range(len(grid))]
    return coords.reshape(1, -1), (np.eye(3) * 6.6).reshape(1, -1), types


def cached_pytorch_model(graph: str | os.PathLike, input_json: str | os.PathLike | None = None,
                         data_root: str | os.PathLike | None = None, precision: Precision = "float64",
                         compress: bool = False) -> Path:
    """The PyTorch-backend copy of ``graph`` (:func:`convert_to_pytorch`), made once and cached by the graph's
    digest, precision and compression.  ``input_json``: the model's training script (1.x keys accepted), when
    the graph does not carry its own; ``data_root`` locates its training systems."""
    from hydropimd.data.location import cache_dir

    tags = precision + ("-compressed" if compress else "")
    target = cache_dir() / "models" / f"{file_digest(graph)}-{tags}.pth"
    script = training_script_from_legacy(input_json, data_root) if input_json is not None else None
    return make_once(target, lambda: convert_to_pytorch(graph, target, script, precision=precision, compress=compress))
