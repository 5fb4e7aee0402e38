"""The calculator: batching, ASE interface, committee deviation, model handling."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.calculator import CalculationFailed, CalculatorError, CalculatorSetupError

from hydropimd.errors import InputError, RunFailed
from hydropimd.potential.calculator import HydridePotential
from hydropimd.potential.models import training_script_from_legacy
from hydropimd.structures import build_lah10
from tests.conftest import run_cli


@pytest.fixture(scope="session")
def potential(subtracted_graph, full_table):
    return HydridePotential(subtracted_graph, pair=full_table)


@pytest.fixture(scope="module")
def rattled_cells():
    rng = np.random.default_rng(3)
    frames = []
    for k in range(4):
        atoms = build_lah10(a=5.0, angles=(90 + k, 90 - k / 2, 90))
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        frames.append(atoms)
    return frames


def test_batch_equals_frame_by_frame(potential, rattled_cells):
    coords = np.array([a.positions for a in rattled_cells])
    cells = np.array([a.cell.array for a in rattled_cells])
    symbols = rattled_cells[0].get_chemical_symbols()
    batch = potential.evaluate(coords, cells, symbols)
    for k in range(len(rattled_cells)):
        one = potential.evaluate(coords[k : k + 1], cells[k : k + 1], symbols)
        assert one.energy[0] == pytest.approx(batch.energy[k], abs=1e-8)
        assert np.allclose(one.forces[0], batch.forces[k], atol=1e-8)
        assert np.allclose(one.virial[0], batch.virial[k], atol=1e-7)


def test_ase_calculator(potential, rattled_cells):
    atoms = rattled_cells[1].copy()
    atoms.calc = potential
    energy = atoms.get_potential_energy()
    ev = potential.evaluate(atoms.positions[None], atoms.cell.array[None], atoms.get_chemical_symbols())
    assert energy == pytest.approx(ev.energy[0])
    stress = atoms.get_stress(voigt=False)
    # LaH10 at a = 5.0 A is compressed: positive pressure of order 100-300 GPa
    pressure_gpa = -np.trace(stress) / 3 * 160.21766208
    assert 100 < pressure_gpa < 400
    # the network's forces are minus its energy gradient (the pair forces come from the table's
    # force column, consistent with its energy only to the ~1% accuracy of the r^2 interpolation)
    network = HydridePotential(potential.model_path)
    atoms.calc = network
    h = 1e-4
    for k, c in ((0, 0), (20, 1)):
        moved = [atoms.copy() for _ in range(2)]
        moved[0].positions[k, c] += h
        moved[1].positions[k, c] -= h
        energies = [network.evaluate(m.positions[None], m.cell.array[None], m.get_chemical_symbols()).energy[0] for m in moved]
        assert -(energies[0] - energies[1]) / (2 * h) == pytest.approx(atoms.get_forces()[k, c], abs=1e-4)
    # and its stress is the strain derivative of its energy per volume (ASE's finite differences)
    assert np.allclose(atoms.get_stress(), network.calculate_numerical_stress(atoms, d=1e-5), atol=2e-6)


def test_committee_deviation(subtracted_graph, published, rattled_cells):
    full_graph = published / "models" / "full" / "graph.pb"
    committee = HydridePotential(subtracted_graph, committee=[full_graph])
    coords = np.array([a.positions for a in rattled_cells])
    cells = np.array([a.cell.array for a in rattled_cells])
    symbols = rattled_cells[0].get_chemical_symbols()
    ev = committee.evaluate(coords, cells, symbols)
    f = np.stack([HydridePotential(g).evaluate(coords, cells, symbols).forces for g in (subtracted_graph, full_graph)])
    # SPEC eq. 1: max over atoms of sqrt(< |F_i - <F_i>|^2 >) over the committee
    expected = np.sqrt(np.mean(np.sum((f - f.mean(axis=0)) ** 2, axis=-1), axis=0)).max(axis=-1)
    assert np.allclose(ev.max_force_dev, expected, rtol=1e-10)
    assert np.all(ev.max_force_dev > 0)
    assert committee.evaluate(coords, cells, symbols, committee=False).max_force_dev is None
    twins = HydridePotential(subtracted_graph, committee=[subtracted_graph]).evaluate(coords, cells, symbols)
    assert np.allclose(twins.max_force_dev, 0, atol=1e-10)
    atoms = rattled_cells[0].copy()  # as an ASE calculator: a declared property, read the ASE way
    atoms.calc = committee
    assert "max_force_dev" in committee.implemented_properties
    assert np.isclose(committee.get_property("max_force_dev", atoms), expected[0], rtol=1e-10)


def test_unknown_elements_and_non_models(potential, tmp_path):
    with pytest.raises(InputError, match="Fe are not in the model's type map"):
        potential.evaluate(np.zeros((1, 2, 3)), np.eye(3)[None] * 5, ["Fe", "H"])
    fake = tmp_path / "graph.pb"
    fake.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="not a DeePMD-kit frozen model"):
        HydridePotential(fake)
    with pytest.raises(InputError, match="does not exist"):
        HydridePotential(tmp_path / "missing.pb")


def test_blown_up_structures_are_refused(potential):
    """DeePMD-kit returns an energy for NaN positions or a flat cell (and crashes on NaN cells): refused instead."""
    atoms = build_lah10(a=5.05)
    coords, cell, symbols = atoms.positions[None], atoms.cell.array[None], atoms.get_chemical_symbols()
    assert np.isfinite(potential.evaluate(coords, cell, symbols).energy).all()
    bad = coords.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN or infinite"):
        potential.evaluate(bad, cell, symbols)
    with pytest.raises(InputError, match="NaN or infinite"):
        potential.evaluate(coords, cell + np.inf, symbols)
    flat = cell.copy()
    flat[0, 2] = flat[0, 0] + flat[0, 1]
    with pytest.raises(InputError, match="degenerate"):
        potential.evaluate(coords, flat, symbols)
    # ASE code around the calculator catches ASE's error kinds: ours are those too
    blown = atoms.copy()
    blown.positions[0, 0] = np.nan
    blown.calc = potential
    with pytest.raises(CalculatorSetupError, match="NaN or infinite"):
        blown.get_potential_energy()
    assert issubclass(RunFailed, CalculationFailed) and issubclass(InputError, CalculatorError)


def test_legacy_training_script_is_valid_for_deepmd_kit_3(published):
    from deepmd.utils.argcheck import normalize

    script = training_script_from_legacy(published / "models" / "subtracted" / "input.json", published)
    normalized = normalize(script)  # strict: raises on any key DeePMD-kit 3 does not know
    assert normalized["model"]["descriptor"]["type"] == "se_e2_a"
    assert normalized["model"]["descriptor"]["sel"] == [15, 150]
    assert len(normalized["training"]["training_data"]["systems"]) == 20


@pytest.mark.slow
def test_import_and_compress(subtracted_graph, published, potential, rattled_cells, tmp_path):
    out = tmp_path / "compressed.pb"
    # the published script with two of its twenty systems: dp compress takes the minimal neighbour
    # distance from the training data, and the full set costs two minutes of neighbour statistics
    script = json.loads((published / "models" / "subtracted" / "input.json").read_text())
    script["training"]["systems"] = script["training"]["systems"][:2]
    (tmp_path / "input.json").write_text(json.dumps(script))
    result = run_cli("model", "import", subtracted_graph, "--out", out, "--compress", "--input-json",
                     tmp_path / "input.json", "--data", published, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["compressed"] is True
    compressed = HydridePotential(out, pair=published / "tables" / "full.table")
    atoms = rattled_cells[0]
    a = potential.evaluate(atoms.positions[None], atoms.cell.array[None], atoms.get_chemical_symbols())
    b = compressed.evaluate(atoms.positions[None], atoms.cell.array[None], atoms.get_chemical_symbols())
    assert b.energy[0] / len(atoms) == pytest.approx(a.energy[0] / len(atoms), abs=1e-5)
    assert np.abs(b.forces - a.forces).max() < 1e-3
    plain = tmp_path / "plain.pb"
    assert run_cli("model", "import", subtracted_graph, "--out", plain).returncode == 0
    assert HydridePotential(plain).evaluate(atoms.positions[None], atoms.cell.array[None],
                                            atoms.get_chemical_symbols()).energy[0] == pytest.approx(a.energy[0] - potential.pair.compute(atoms)[0])


def test_a_killed_or_failing_conversion_is_a_run_failure(subtracted_graph, tmp_path, monkeypatch, capsys):
    """DeePMD-kit's converter or ``dp compress`` failing on an accepted graph is a run failure (exit 3), not bad
    input; killed by a signal (out of memory, say) it is retryable, stopping on its own it is not."""
    from hydropimd.cli.main import main
    from hydropimd.errors import EXIT_RUN_FAILED
    from hydropimd.potential.models import run_dp

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no cached upgrade of the published graph
    killed = tmp_path / "killed-python"
    killed.write_text("#!/bin/sh\nkill -9 $$\n")
    killed.chmod(0o755)
    monkeypatch.setattr("sys.executable", str(killed))  # the converter's interpreter dies as the OOM killer would
    assert main(["model", "import", str(subtracted_graph), "--out", str(tmp_path / "graph.pb")]) == EXIT_RUN_FAILED
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "signal 9" in line
    log = Path(line.split("full log: ")[1].rstrip(")"))
    assert log.is_file() and log.parent == tmp_path / "cache" / "hydropimd" / "logs"  # kept; the scratch folder is not
    assert not (tmp_path / "graph.pb").exists()
    monkeypatch.undo()

    with pytest.raises(RunFailed, match="signal 9") as err:
        run_dp([str(killed)], "compressing x")
    assert err.value.retryable
    with pytest.raises(RunFailed, match="compressing x failed: no graph here") as err:
        run_dp(["sh", "-c", "echo starting; echo no graph here >&2; exit 1"], "compressing x")
    assert not err.value.retryable
    # the error line is the exception, not the CUDA-probe noise DeePMD-kit prints after it on a CPU machine
    with pytest.raises(RunFailed, match="failed: KeyError: 'rcut' \\(full log"):
        run_dp(["sh", "-c", "echo \"KeyError: 'rcut'\"; echo 'implib-gen: libcudart.so.12: failed to load'; exit 1"],
                "compressing x")


def test_a_truncated_graph_is_bad_input(subtracted_graph, tmp_path, monkeypatch):
    """A .pb cut short keeps DeePMD-kit's node names but does not parse: one line saying so, exit 2."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    truncated = tmp_path / "truncated.pb"
    truncated.write_bytes(Path(subtracted_graph).read_bytes()[:20000])
    result = run_cli("model", "import", truncated, "--out", tmp_path / "out.pb", env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert result.returncode == 2 and "not a valid frozen graph" in result.stderr and "implib" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.pb").exists()


def test_the_type_map_is_read_from_the_graph_file_as_deepmd_kit_reads_it(subtracted_graph, potential, tmp_path):
    """graph_type_map walks the graph's bytes (no TensorFlow): DeePMD-kit's own reading of the model agrees; a
    graph cut short is refused in one line."""
    from hydropimd.potential.models import graph_type_map

    assert graph_type_map(subtracted_graph) == potential.type_map == ["La", "H"]
    truncated, data = tmp_path / "cut.pb", Path(subtracted_graph).read_bytes()
    truncated.write_bytes(data[:data.index(b"model_attr/tmap") + 20])  # cut inside the type map's node
    with pytest.raises(InputError, match="cut.pb"):
        graph_type_map(truncated)
