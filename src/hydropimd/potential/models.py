"""DeePMD-kit model files: recognising, upgrading old graphs, compressing.

Everywhere a model is accepted, a DeePMD-kit 1.x frozen graph (the published
``graph.pb`` files were frozen with DeePMD-kit 1.3.4) is upgraded with
DeePMD-kit's own converter (``deepmd.tf.utils.convert.convert_to_21``, the code
behind ``dp convert-from``) and cached by content hash, so users pass the
published files directly.  Compression is DeePMD-kit's ``dp compress``.
PyTorch-backend models (``.pth``) are taken as they are; :mod:`hydropimd.potential.pytorch`
converts graphs to them.

Both run in a child process in a scratch folder: DeePMD-kit's converter writes
``frozen_model.pbtxt`` into the working directory and ``dp compress`` writes
checkpoints there, and neither should touch the caller's folder or its
TensorFlow session state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from hydropimd.data.location import cache_dir
from hydropimd.errors import InputError, RunFailed
from hydropimd.files import error_line, make_once, unique_sibling

# Node names every DeePMD-kit TensorFlow graph carries, and the one only >= 2.0 graphs carry.
_DEEPMD_MARKER = b"descrpt_attr/rcut"
_VERSION_MARKER = b"model_attr/model_version"
#: the TorchScript code every DeePMD-kit PyTorch model file (.pth, a zip archive) holds
_PYTORCH_MARKER = "/code/__torch__/deepmd/"
MODEL_KINDS = "a DeePMD-kit frozen model (.pb from 'dp freeze', or .pth from DeePMD-kit's PyTorch backend)"


def file_digest(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def is_pytorch_model(path: str | os.PathLike) -> bool:
    """True for a DeePMD-kit PyTorch model (``.pth``); InputError when a ``.pth`` is not one."""
    path = Path(path)
    if path.suffix != ".pth":
        return False
    if not path.is_file():
        raise InputError(f"model file {path} does not exist; give {MODEL_KINDS}")
    try:
        with zipfile.ZipFile(path) as archive:
            if any(_PYTORCH_MARKER in name for name in archive.namelist()):
                return True
    except zipfile.BadZipFile:
        pass
    raise InputError(f"{path} is not a DeePMD-kit PyTorch model (hydropimd model import --backend pt writes one)")


def _read_model_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise InputError(f"model file {path} does not exist; give {MODEL_KINDS}")
    data = path.read_bytes()
    if _DEEPMD_MARKER not in data:
        raise InputError(f"{path} is not {MODEL_KINDS}; give a model file")
    return data


def is_legacy_graph(path: str | os.PathLike) -> bool:
    """True for a DeePMD-kit graph older than 2.0 (no ``model_attr/model_version`` node); False for ``.pth``."""
    if is_pytorch_model(path):
        return False
    return _VERSION_MARKER not in _read_model_bytes(Path(path))


def graph_type_map(path: str | os.PathLike) -> list[str] | None:
    """The type map of a DeePMD-kit TensorFlow graph (its ``model_attr/tmap`` constant: type names separated by
    spaces), read from the file without TensorFlow; None for a PyTorch model (its runs check the types).

    The graph is walked with the protocol-buffer wire format by hand (:func:`_proto_fields`): TensorFlow's own
    ``GraphDef`` class imports TensorFlow, measured 5.6 s on 2 cores, on every configuration load (``study
    status`` included); this takes ~5 ms for the published 1.6 MB graph."""
    if is_pytorch_model(path):
        return None
    # GraphDef: node = 1; NodeDef: name = 1, attr = 5 (map entry: key = 1, value = 2); AttrValue: tensor = 8;
    # TensorProto: string_val = 8 (tensorflow/core/framework/*.proto)
    try:
        for number, node in _proto_fields(memoryview(Path(path).read_bytes())):
            fields = list(_proto_fields(node)) if number == 1 and isinstance(node, memoryview) else []
            if (1, b"model_attr/tmap") in [(n, _text(v)) for n, v in fields]:
                attrs = [dict(_proto_fields(entry)) for n, entry in fields if n == 5]
                value = next(dict(_proto_fields(a[2])) for a in attrs if _text(a.get(1)) == b"value")
                return bytes(dict(_proto_fields(value[8]))[8]).decode().split()
    except (ValueError, TypeError, KeyError, StopIteration):
        raise InputError(f"{path} is not a whole DeePMD-kit graph (damaged or truncated); give the complete .pb "
                         "file") from None
    raise InputError(f"{path} holds no type map (model_attr/tmap); give a model frozen by DeePMD-kit ('dp freeze')")


def _text(value) -> bytes | None:
    """The bytes of a length-delimited protocol-buffer field, None for a number."""
    return bytes(value) if isinstance(value, memoryview) else None


def _proto_fields(data: memoryview):
    """(field number, value) of each field of a protocol-buffer message: varints as int, other fields as
    memoryview; ValueError for bytes that are no such message."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        wire = key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire in (1, 2, 5):
            if wire == 2:
                size, i = _varint(data, i)
            else:
                size = 8 if wire == 1 else 4
            if i + size > len(data):
                raise ValueError("a field runs past the end of its message")
            value, i = data[i:i + size], i + size
        else:
            raise ValueError(f"wire type {wire}")
        yield key >> 3, value


def _varint(data: memoryview, i: int) -> tuple[int, int]:
    """The base-128 varint starting at byte ``i`` and the index after it."""
    value = shift = 0
    while i < len(data):
        byte = data[i]
        value, shift, i = value | (byte & 0x7F) << shift, shift + 7, i + 1
        if byte < 0x80:
            return value, i
    raise ValueError("a varint runs past the end of its message")


def run_dp(args: list[str], what: str) -> None:
    """Run a DeePMD-kit command in a scratch folder (removed afterwards); on failure raise :class:`RunFailed` with
    the error line and the log kept under the cache's ``logs/``.

    The input was checked before (a DeePMD-kit graph, a training script whose systems exist), so a
    failure here is DeePMD-kit's: retryable when the process was killed by a signal, not when it
    stopped on its own (it would stop again).  A graph that does not parse is bad input (:class:`InputError`),
    and so is a child of ours that exits with status 2 after printing ``Error: <what to fix>``.
    """
    work = Path(tempfile.mkdtemp(prefix="hydropimd-dp-"))
    try:
        log = work / "dp.log"
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        with open(log, "w") as out:
            status = subprocess.run(args, cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
        if status == 0:
            return
        text = log.read_text(errors="replace")
        kept = cache_dir() / "logs" / f"dp-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, kept)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if status < 0:
        raise RunFailed(f"{what} was killed by signal {-status} (full log: {kept})", retryable=True)
    line = error_line(text)
    if status == 2 and line.startswith("Error: "):
        raise InputError(line.removeprefix("Error: "))
    if "DecodeError" in line:
        raise InputError(f"{what}: the file is not a valid frozen graph (truncated or damaged: {line}); "
                         f"give the complete .pb file")
    raise RunFailed(f"{what} failed: {line} (full log: {kept})")


def upgrade_graph(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Convert a DeePMD-kit < 2.1 graph to the current format (``dp convert-from``, version auto-detected)."""
    source, target = Path(source).resolve(), Path(target).resolve()
    tmp = unique_sibling(target)
    code = "import sys; from deepmd.tf.utils.convert import convert_to_21; convert_to_21(sys.argv[1], sys.argv[2])"
    run_dp([sys.executable, "-c", code, str(source), str(tmp)], f"converting {source} with DeePMD-kit")
    os.replace(tmp, target)
    return target


def resolve_model(path: str | os.PathLike) -> Path:
    """The path to load for ``path``: itself if current (or a ``.pth``), else its cached upgrade (made once per
    content hash).  DeePMD-kit's ``DeepPot`` picks the backend by the suffix."""
    path = Path(path).expanduser()
    if not is_legacy_graph(path):
        return path
    cached = cache_dir() / "models" / f"{file_digest(path)}.pb"
    return make_once(cached, lambda: upgrade_graph(path, cached))


def training_script_from_legacy(input_json: str | os.PathLike, data_root: str | os.PathLike | None = None) -> dict:
    """A valid DeePMD-kit 3 training script from a DeePMD-kit 1.x ``input.json``.

    Key names are upgraded with DeePMD-kit's ``update_deepmd_input``; the
    training section is rebuilt with only the keys DeePMD-kit 3 accepts.  System
    paths that do not exist relative to the script are looked up under
    ``data_root`` by their tail (``../../data/subtracted/aimd`` ->
    ``<data_root>/data/subtracted/aimd``), which is how the published scripts
    refer to the published data.
    """
    from deepmd.utils.compat import update_deepmd_input

    input_json = Path(input_json)
    try:
        legacy = json.loads(input_json.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read training script {input_json}: {err}") from None
    script = update_deepmd_input(legacy, warning=False)
    training = script.get("training", {})
    data = training.get("training_data", {})
    systems = [_locate_system(s, input_json.parent, data_root) for s in data.get("systems", [])]
    if not systems:
        raise InputError(f"{input_json} lists no training systems")
    script["training"] = {
        "training_data": {"systems": systems, "batch_size": data.get("batch_size", 1)},
        "numb_steps": training.get("numb_steps", training.get("stop_batch", 1000000)),
        "seed": training.get("seed", 1),
        "disp_freq": training.get("disp_freq", 100),
        "save_freq": training.get("save_freq", 1000),
    }
    return script


def _locate_system(entry: str, script_dir: Path, data_root) -> str:
    candidate = (script_dir / entry).resolve()
    if candidate.is_dir():
        return str(candidate)
    parts = [p for p in Path(entry).parts if p not in ("..", ".")]
    if data_root is not None:
        for k in range(len(parts)):
            candidate = Path(data_root) / Path(*parts[k:])
            if candidate.is_dir():
                return str(candidate.resolve())
    raise InputError(f"training system {entry} of the training script not found; give the published data root (--data, or $HYDROPIMD_DATA)")


def compress_model(model: str | os.PathLike, target: str | os.PathLike, training_script: dict) -> Path:
    """Compress a frozen model with ``dp compress`` (tabulated embedding nets; Lu et al., JCTC 18, 5559 (2022)).

    ``training_script`` supplies the training data from which DeePMD-kit takes
    the minimal neighbour distance when the graph does not store it (graphs
    older than 2.0 do not).
    """
    model = resolve_model(model).resolve()
    target = Path(target).resolve()
    tmp = unique_sibling(target)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(training_script, f, indent=1)
        script_path = f.name
    try:
        dp = str(Path(sys.executable).with_name("dp"))
        run_dp([dp, "compress", "-i", str(model), "-o", str(tmp), "-t", script_path], f"compressing {model}")
    finally:
        os.unlink(script_path)
    os.replace(tmp, target)
    return target


def cached_compressed_model(graph: str | os.PathLike, input_json: str | os.PathLike,
                            data_root: str | os.PathLike | None = None) -> Path:
    """The compressed version of ``graph``, made once with ``dp compress`` and cached by the graph's digest.

    ``input_json`` is the model's training script (DeePMD-kit 1.x keys accepted);
    ``data_root`` locates its training systems (see :func:`training_script_from_legacy`).
    """
    target = cache_dir() / "models" / f"{file_digest(graph)}-compressed.pb"
    return make_once(target, lambda: compress_model(graph, target, training_script_from_legacy(input_json, data_root)))
