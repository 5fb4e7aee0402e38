"""DeePMD-kit's PyTorch backend: the converted published model gives the TensorFlow graph's numbers.

The tolerances are the issue's: 1e-6 eV/atom (energy), 1e-5 eV/A (forces), 1e-5 eV/atom (virial) for the
float64 copy; the float32 copy within 1e-4 eV/atom and 1e-3 eV/A of float64 frame by frame, which bounds the
difference of their test errors by the same amounts (triangle inequality)."""

import json

import numpy as np
import pytest
from ase.io import write

from hydropimd.data.systems import find_systems
from hydropimd.errors import InputError
from hydropimd.potential.calculator import HydridePotential
from hydropimd.potential.importing import import_model
from hydropimd.potential.models import is_legacy_graph, is_pytorch_model
from hydropimd.structures import build_lah10
from tests.conftest import assert_one_line_error, run_cli
from tests.md.conftest import read_table


@pytest.fixture(scope="module")
def pytorch_models(pytorch_backend, published, tmp_path_factory):
    """The published subtracted model as PyTorch models, float64 and float32 (``model import --backend pt``)."""
    folder = tmp_path_factory.mktemp("pt")
    source = published / "models" / "subtracted"
    made = {}
    for precision in ("float64", "float32"):
        out = folder / f"subtracted-{precision}.pth"
        result = run_cli("model", "import", source / "graph.pb", "--input-json", source / "input.json",
                         "--backend", "pt", "--precision", precision, "--out", out, "--json", "--quiet")
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["backend"] == "pt" and summary["precision"] == precision and summary["upgraded_from_legacy"]
        made[precision] = out
    return made


@pytest.fixture(scope="module")
def test_frames(published, subtracted_graph):
    """Two frames of the test split of every sixth published subtracted system and of the last (r3m): coordinates
    and cells in A, symbols (the sets carry no type names, so they are the model's).  A few frames suffice: the
    float64 copy agrees to round-off, and ``model test`` reports the whole split (docs/validation/pytorch.md)."""
    type_map = HydridePotential(subtracted_graph).type_map
    systems = find_systems(published / "data" / "subtracted", type_map=type_map)
    frames = []
    for system in [systems[k] for k in sorted({*range(0, len(systems), 6), len(systems) - 1})]:
        test = system.load("test")
        frames.append((test.coords[:2], test.cells[:2], system.symbols))
    return frames


def _evaluate(model, frames):
    potential = HydridePotential(model)
    return [potential.evaluate(coords, cells, symbols, committee=False) for coords, cells, symbols in frames]


def test_float64_model_equals_the_tensorflow_graph(pytorch_models, subtracted_graph, test_frames):
    assert is_pytorch_model(pytorch_models["float64"]) and not is_legacy_graph(pytorch_models["float64"])
    reference, converted = _evaluate(subtracted_graph, test_frames), _evaluate(pytorch_models["float64"], test_frames)
    for a, b, (coords, _, _) in zip(reference, converted, test_frames):
        n = coords.shape[1]
        assert np.abs(a.energy - b.energy).max() / n < 1e-6
        assert np.abs(a.forces - b.forces).max() < 1e-5
        assert np.abs(a.virial - b.virial).max() / n < 1e-5


def test_float32_copy_is_within_the_float64_errors(pytorch_models, test_frames):
    double, single = _evaluate(pytorch_models["float64"], test_frames), _evaluate(pytorch_models["float32"], test_frames)
    differences = []
    for a, b, (coords, _, _) in zip(double, single, test_frames):
        n = coords.shape[1]
        differences.append(np.abs(a.energy - b.energy).max() / n)
        assert differences[-1] < 1e-4
        assert np.sqrt(np.mean((a.forces - b.forces) ** 2)) < 1e-3
    assert max(differences) > 1e-12  # the copy really is single precision, not the float64 model again


def test_md_with_the_pytorch_model_follows_the_tensorflow_run(pytorch_models, published, tmp_path):
    """Same seed, same start: two path-integral NPT runs, TensorFlow graph and PyTorch model, give the same rows."""
    structure = tmp_path / "start.extxyz"
    write(structure, build_lah10(a=5.05, angles=(90.6, 90.6, 90.6)))  # 44 atoms near 150 GPa
    tables = []
    for name, model in (("tf", published / "models/subtracted/graph.pb"), ("pt", pytorch_models["float64"])):
        result = run_cli("md", "run", "--structure", structure, "--model", model, "--pair",
                         published / "tables/full.table", "--temperature", "300", "--pressure-gpa", "150",
                         "--beads", "2", "--steps", "40", "--stride", "10", "--seed", "11", "--out", tmp_path / name,
                         "--quiet")
        assert result.returncode == 0, result.stderr
        tables.append(read_table(tmp_path / name))
    for key in ("a", "alpha", "pressure_gpa", "temperature_k", "potential_ev", "kinetic_cv_ev"):
        assert np.allclose(tables[0][key], tables[1][key], rtol=1e-8, atol=1e-8), key


def test_bad_model_files_and_options(pytorch_backend, subtracted_graph, tmp_path):
    fake = tmp_path / "model.pth"
    fake.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a DeePMD-kit PyTorch model"):
        is_pytorch_model(fake)
    with pytest.raises(InputError, match="--backend pt"):
        import_model(subtracted_graph, tmp_path / "x.pb", precision="float32")
    with pytest.raises(InputError, match="input.json"):  # a 1.x graph carries no training script
        import_model(subtracted_graph, tmp_path / "x.pth", backend="pt")
    with pytest.raises(InputError, match="input.json"):  # .pth without --backend: the PyTorch backend, as above
        import_model(subtracted_graph, tmp_path / "x.pth")
    # a TensorFlow graph written into a .pth, which every later command then refused (exit 0 before)
    assert_one_line_error(run_cli("model", "import", subtracted_graph, "--backend", "tf", "--out", tmp_path / "y.pth"),
                          "--backend pt")
    assert not (tmp_path / "y.pth").exists()
    assert_one_line_error(run_cli("model", "test", "--model", fake), "PyTorch model")
    assert_one_line_error(run_cli("model", "import", subtracted_graph, "--backend", "pt", "--out", tmp_path / "x.pt"),
                          ".pth")


def test_a_training_script_of_another_model_is_refused(pytorch_backend, published, tmp_path):
    """--input-json with another type map rebuilt a model that was written (exit 0) and failed at its first use:
    the copy is now checked against the graph on a probe frame before it is written; nothing is left behind."""
    source = published / "models" / "subtracted"
    script = json.loads((source / "input.json").read_text())
    script["model"]["type_map"] = ["H", "La"]
    (tmp_path / "swapped.json").write_text(json.dumps(script))
    out = tmp_path / "out" / "m.pth"
    out.parent.mkdir()
    result = run_cli("model", "import", source / "graph.pb", "--input-json", tmp_path / "swapped.json",
                     "--backend", "pt", "--out", out, "--data", published)
    assert_one_line_error(result, "type map ['H', 'La']", "['La', 'H']", "--input-json")
    assert list(out.parent.iterdir()) == []
    script["model"]["descriptor"] = {}  # no whole script: DeePMD-kit's argument checker refuses it (exit 3 before)
    (tmp_path / "partial.json").write_text(json.dumps(script))
    result = run_cli("model", "import", source / "graph.pb", "--input-json", tmp_path / "partial.json",
                     "--backend", "pt", "--out", out, "--data", published)
    assert_one_line_error(result, "does not rebuild the graph", "key `type` is required", "--input-json")


def test_a_study_takes_a_pytorch_model_but_not_its_recompression(pytorch_models, tmp_path):
    from tests.study.test_study import CONFIG

    from hydropimd.study.config import load_config

    config = tmp_path / "study.toml"
    plain = CONFIG.format(p1=120).replace("published:models/subtracted/graph.pb", str(pytorch_models["float32"]))
    config.write_text(plain)
    assert load_config(config)[0].potential.model == str(pytorch_models["float32"])
    config.write_text(plain.replace("[structure]", 'compress = "published:models/subtracted/input.json"\n\n[structure]'))
    with pytest.raises(InputError, match="potential.compress: a PyTorch model is compressed when it is made"):
        load_config(config)
