"""Command-line behaviour: --json payloads, and one-line errors without a traceback: exit 2 for bad input, exit 3
for a computation that failed while it ran."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from hydropimd.cli.output import _plain
from hydropimd.structures import build_lah10
from tests.conftest import assert_one_line_error, copy_dataset, run_cli


@pytest.fixture(scope="module")
def small_dataset(published, tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    copy_dataset(published / "data" / "subtracted" / "ensemble5", root / "ensemble5")
    return root


def test_model_test_json(small_dataset, subtracted_graph):
    result = run_cli("model", "test", "--model", subtracted_graph, "--data", small_dataset, "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("energy_rmse_per_atom_ev", "force_rmse_ev_per_angstrom", "virial_rmse_per_atom_ev", "n_frames", "systems"):
        assert key in report
    assert report["n_frames"] == 11 and list(report["systems"]) == ["ensemble5"]
    assert 0 < report["force_rmse_ev_per_angstrom"] < 0.3
    table = run_cli("model", "test", "--model", subtracted_graph, "--data", small_dataset, "--quiet")
    assert table.returncode == 0 and "ensemble5" in table.stdout


def test_pair_eval_json(tmp_path, full_table):
    path = tmp_path / "s.xyz"
    assert run_cli("structure", "build", "lah10", "--a", "4.6", "-o", path).returncode == 0
    result = run_cli("pair", "eval", "--table", full_table, "--structure", path, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["energy_ev"] > 0 and len(payload["forces_ev_per_angstrom"]) == 44


def test_bad_input_gives_one_line(tmp_path, published, full_table, subtracted_graph, small_dataset):
    assert_one_line_error(run_cli("data", "info", tmp_path / "nowhere"), "does not exist")
    malformed = tmp_path / "malformed" / "sys"
    malformed.mkdir(parents=True)
    (malformed / "type.raw").write_text("0\n1\n")
    assert_one_line_error(run_cli("data", "info", malformed.parent), "no set.NNN")
    assert_one_line_error(run_cli("model", "test", "--model", subtracted_graph, "--data", malformed.parent), "no set.NNN")

    only_hh = tmp_path / "hh.table"
    only_hh.write_text("H_H\nN 3\n\n1 0.5 1.0 2.0\n2 0.6 0.5 1.5\n3 0.8 0.0 0.1\n")
    structure = tmp_path / "s.xyz"
    run_cli("structure", "build", "lah10", "-o", structure)
    assert_one_line_error(run_cli("pair", "eval", "--table", only_hh, "--structure", structure), "no terms for La")

    junk = tmp_path / "junk.pb"
    junk.write_text("not a model")
    assert_one_line_error(run_cli("model", "test", "--model", junk, "--data", small_dataset), "not a DeePMD-kit frozen model")

    close = tmp_path / "close.xyz"
    write(close, Atoms("LaH", positions=[(0, 0, 0), (0.3, 0, 0)], cell=np.eye(3) * 8, pbc=True))
    assert_one_line_error(run_cli("pair", "eval", "--table", full_table, "--structure", close),
                          "atoms 0 (La) and 1 (H) are 0.3000 A apart", "La_H")

    iron = tmp_path / "iron"
    shutil.copytree(small_dataset / "ensemble5", iron / "sys")
    (iron / "sys" / "type_map.raw").write_text("Fe\nH\n")
    assert_one_line_error(run_cli("model", "test", "--model", subtracted_graph, "--data", iron), "Fe", "type map")

    out = tmp_path / "x.xyz"
    assert_one_line_error(run_cli("structure", "build", "lah10", "--a", "0", "-o", out), "lattice constant")
    assert_one_line_error(run_cli("structure", "build", "lah10", "--angles", "120,120,120", "-o", out), "make no cell")
    assert_one_line_error(run_cli("structure", "build", "lah11", "-o", out), "unknown prototype")
    assert_one_line_error(run_cli("pair", "eval", "--table", full_table, "--structure", tmp_path / "none.xyz"), "does not exist")
    yttrium = build_lah10()
    yttrium.symbols[0] = "Y"
    write(tmp_path / "y.xyz", yttrium)
    assert_one_line_error(run_cli("pair", "eval", "--table", full_table, "--structure", tmp_path / "y.xyz"), "no terms for Y")
    write(tmp_path / "molecule.xyz", Atoms("LaH", positions=[(0, 0, 0), (2.0, 0, 0)]))
    assert_one_line_error(run_cli("pair", "eval", "--table", full_table, "--structure", tmp_path / "molecule.xyz"),
                          "periodic")
    # argparse's own complaints and unwritable paths are one line too
    assert_one_line_error(run_cli("md", "run", "--engine", "gpu", "--out", tmp_path / "r"), "invalid choice", "--help")
    assert_one_line_error(run_cli("structure", "build", "lah10", "-o", tmp_path / "no" / "dir" / "x.xyz"), "cannot access")
    assert_one_line_error(run_cli("structure", "build", "lah10", "-o", tmp_path / "x.foo"), "format")


def test_structure_build_refuses_what_it_cannot_build(tmp_path):
    """structure build: a file with atoms on top of each other or of several frames, an absurd lattice constant or
    supercell, a parameter that closes in atoms, options that clash or repeat: exit 2, one line naming the fault and
    the fix, nothing written."""
    out = tmp_path / "s.xyz"
    write(tmp_path / "POSCAR", Atoms("SH", positions=[(0, 0, 0), (0.1, 0, 0)], cell=np.eye(3) * 3, pbc=True),
          format="vasp")
    assert_one_line_error(run_cli("structure", "build", "--file", tmp_path / "POSCAR", "-o", out),
                          "0.100 A apart", "correct the file")
    write(tmp_path / "two.extxyz", [build_lah10(), build_lah10(a=5.0)])
    assert_one_line_error(run_cli("structure", "build", "--file", tmp_path / "two.extxyz", "-o", out),
                          "several structures", "ase convert -n")
    assert_one_line_error(run_cli("structure", "build", "lah10", "--a", "1e6", "-o", out),
                          "a = 1e+06 A", "volume per atom", "--a near")
    assert_one_line_error(run_cli("structure", "build", "lah10", "--supercell", "1000", "-o", out),
                          "44,000,000,000 atoms", "GiB", "smaller supercell")
    line = assert_one_line_error(run_cli("structure", "build", "lah10", "--x", "0.26", "-o", out),
                                 "x = 0.26", "x nearer")
    assert "--a" not in line
    assert_one_line_error(run_cli("structure", "build", "lah10", "--angles", "91,91,91", "--strain", "tetragonal,1.02",
                                  "-o", out), "--angles", "--strain", "one of them")
    assert_one_line_error(run_cli("structure", "build", "lah10", "--isotopes", "H=D,H=H", "-o", out), "H twice")
    assert not out.exists()


def test_a_run_failure_exits_3_with_one_line(published, tmp_path):
    """A run that fails after its input was accepted (RunFailed): exit 3, one line naming what failed, DeePMD-kit's
    own error line and its log.

    Here ``dp train`` with a learning-curve file it cannot create: hydropimd passes the training script's output
    settings through unchecked, so the failure comes from DeePMD-kit while it trains.
    """
    data = tmp_path / "data"
    copy_dataset(published / "data" / "full" / "ensemble5", data / "ensemble5")
    tiny = tmp_path / "tiny.json"
    tiny.write_text(json.dumps({"model": {"descriptor": {"neuron": [4, 8, 16], "axis_neuron": 4},
                                          "fitting_net": {"neuron": [16, 16]}},
                                "training": {"disp_file": str(tmp_path / "nowhere" / "lcurve.out")}}))
    result = run_cli("train", "--data", data, "--out", tmp_path / "out", "--committee", "1", "--steps", "2",
                     "--config", tiny, "--quiet")
    line = assert_one_line_error(result, "training member 0 failed: FileNotFoundError", "lcurve.out", "train.log",
                                 status=3)
    assert "implib" not in line


def test_json_has_no_nan():
    """An undefined quantity (NaN, infinity) is null in --json output: JSON has no spelling for NaN."""
    assert _plain({"a": float("nan"), "b": np.array([1.0, np.inf]), "c": np.float64(2.5)}) == {"a": None, "b": [1.0, None],
                                                                                                 "c": 2.5}


def test_version_and_tables_at_their_natural_width():
    """--version prints the installed version; a table written to a pipe is not cut at rich's 80 columns."""
    import subprocess
    import sys
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"hydropimd {version('hydropimd')}"
    code = ("from hydropimd.cli import output; "
            "output.print_table('wide', ['run', 'class'], [['/a/long/run/directory/' + 'x' * 120, 'rhombohedral']])")
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    row = next(line for line in printed.splitlines() if "xxx" in line)
    assert "x" * 120 in row and "rhombohedral" in row


def test_a_table_in_a_pipe_is_plain_text_as_wide_as_its_values():
    """In a file or a pipe a table is plain aligned text: a long note widens only its own line (a drawn table
    padded every value to the note's width, 300+ characters)."""
    note = "the run is shorter than the 32 frames a verdict needs; run it longer " * 4
    code = ("from hydropimd.cli.output import print_table; "
            f"print_table('cell', ['run', 'a_angstrom', 'note'], [['T300K', 5.1, 'ok'], ['T100K', 5.0, {note!r}]])")
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    title, header, first, second = piped.splitlines()
    assert (title, header.split(), first.split()) == ("cell", ["run", "a_angstrom", "note"], ["T300K", "5.1", "ok"])
    assert len(first) < 30 and second.endswith(note.strip()) and "│" not in piped
