"""explore and select through the command line: JSON output and one-line errors for bad input; the active
config's own refusals."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write

from hydropimd.potential.models import resolve_model
from hydropimd.structures import build_lah10
from tests.conftest import assert_one_line_error, run_cli


def candidates_file(tmp_path, n=6):
    frames = []
    for k in range(n):
        atoms = build_lah10(a=5.0 + 0.02 * k)
        atoms.rattle(0.03 * (k + 1), seed=k)
        atoms.info["step"] = 10 * k
        frames.append(atoms)
    path = tmp_path / "candidates.extxyz"
    write(path, frames)
    return path


def test_select_cli_json_and_output(tmp_path, published):
    cands = candidates_file(tmp_path)
    models = [published / "models/subtracted/graph.pb", published / "models/full/graph.pb"]
    out = tmp_path / "picked.extxyz"
    result = run_cli("select", "--candidates", cands, "--committee", *models, "--lo", "0", "--hi", "1000",
                     "--n", "4", "--mode", "diversity", "--out", out, "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    r = json.loads(result.stdout)
    assert r["counts"] == {"candidates": 6, "below_lo": 0, "kept": 6, "dropped": 0, "selected": 4}
    assert r["mode"] == "diversity" and r["soap"]["r_cut"] == 4.0
    picked = read(out, index=":")
    assert [a.info["candidate_index"] for a in picked] == [s["index"] for s in r["selected"]]
    assert [a.info["step"] for a in picked] == [10 * s["index"] for s in r["selected"]]
    assert np.allclose([a.info["max_force_dev"] for a in picked], [s["max_force_dev"] for s in r["selected"]])


def test_bad_input_one_line_errors(tmp_path, published):
    cands = candidates_file(tmp_path, n=2)
    sub = published / "models/subtracted/graph.pb"
    select = ["select", "--candidates", cands, "--lo", "0.05", "--hi", "0.5", "--n", "2"]
    assert_one_line_error(run_cli(*select, "--committee", sub), "at least two models")
    assert_one_line_error(run_cli("select", "--candidates", cands, "--committee", sub, sub, "--lo", "0.5",
                                  "--hi", "0.5", "--n", "2"), "lo 0.5 must be smaller than hi 0.5")
    assert_one_line_error(run_cli(*select, "--committee", sub, sub, "--candidates", tmp_path / "none.extxyz"),
                          "does not exist")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert_one_line_error(run_cli(*select, "--committee", sub, sub, "--out", blocker / "picked.extxyz"),
                          "--out", "cannot create its folder")
    # a committee member with the type map [H, La]: the same network with its type names swapped
    swapped = tmp_path / "swapped.pb"
    data = resolve_model(sub).read_bytes()
    assert data.count(b"La H") == 1
    swapped.write_bytes(data.replace(b"La H", b"H La"))
    iron = tmp_path / "iron.extxyz"
    write(iron, Atoms("FeH", positions=[(0, 0, 0), (1.5, 0, 0)], cell=np.eye(3) * 4, pbc=True))
    assert_one_line_error(run_cli(*select, "--committee", sub, swapped), "type map")
    assert_one_line_error(run_cli(*select, "--committee", sub, sub, "--candidates", iron), "Fe", "type map")

    explore = ["explore", "--model", sub, "--structures", cands, "--out", tmp_path / "x"]
    bad = tmp_path / "grid.toml"
    bad.write_text("temperatures_k = [300,\n")
    assert_one_line_error(run_cli(*explore, "--grid", bad), "cannot read grid config", "TOML")
    bad.write_text("temperatures_k = [300]\nsteps = 15\nstride = 10\n")
    assert_one_line_error(run_cli(*explore, "--grid", bad), "multiple of stride")
    assert_one_line_error(run_cli(*explore, "--grid", tmp_path / "missing.toml"), "does not exist")


def test_active_run_checks_the_dft_labeller_first(tmp_path):
    """pw.x and the pseudopotentials are checked before the first training, not days later at the label stage."""
    empty = tmp_path / "upf"
    empty.mkdir()
    config = tmp_path / "loop.toml"
    config.write_text('work_dir = "w"\n[data]\ninitial = ["."]\n[select]\nlo = 0.05\nhi = 0.3\nn = 5\n'
                      '[explore.structure]\nprototype = "lah10"\n'
                      f'[labeller]\nkind = "dft"\npseudo_dir = "{empty}"\n')
    line = assert_one_line_error(run_cli("active", "run", config, env={"HYDROPIMD_PW": "true"}),
                                 "La.pbe-spfn-rrkjus_psl.1.0.0.UPF", "labeller.pseudo_dir")
    assert "--pseudo-dir" not in line and not (tmp_path / "w").exists()
    assert_one_line_error(run_cli("active", "run", config, env={"HYDROPIMD_PW": str(tmp_path / "no-pw.x")}),
                          "HYDROPIMD_PW")


def test_active_config_refuses_a_second_structure_and_types_that_are_no_elements(tmp_path):
    """[system.structure] with [explore.structure] (the latter won silently) is refused; so is a type map naming
    something that is no chemical element, or lacking an element of the start structure."""
    from hydropimd.active.loop import load_config
    from hydropimd.errors import InputError

    raw = {"work_dir": "w", "data": {"bootstrap": {"frames": 3}}, "select": {"lo": 0.05, "hi": 0.35, "n": 10},
           "labeller": {"kind": "dft"}, "system": {"structure": {"prototype": "h3s", "cell": "primitive"}}}
    assert load_config(raw, base=tmp_path).type_map == ["S", "H"]
    with pytest.raises(InputError, match=r"\[explore.structure\] and \[system.structure\] both given; give the "
                                         r"structure in one place"):
        load_config({**raw, "explore": {"structure": {"prototype": "lah10"}}}, base=tmp_path)
    with pytest.raises(InputError, match="system.type_map: Xx: not a chemical element"):
        load_config({**raw, "system": {**raw["system"], "type_map": ["S", "Xx", "H"]}}, base=tmp_path)
    with pytest.raises(InputError, match="type_map: Xx: not a chemical element"):
        load_config({**raw, "type_map": ["S", "Xx", "H"]}, base=tmp_path)
    with pytest.raises(InputError, match=r"hold S, which type_map \['H'\] lacks"):
        load_config({**raw, "system": {**raw["system"], "type_map": ["H"]}}, base=tmp_path)
    assert not (tmp_path / "w").exists()
