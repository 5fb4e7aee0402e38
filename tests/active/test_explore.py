"""Exploration over a tiny grid: every bead is a candidate, a killed exploration resumes, finished runs are skipped."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase.io import read, write

from hydropimd.active.explore import explore, grid_points, load_grid, run_settings
from hydropimd.errors import InputError
from hydropimd.md.run import MDRun
from hydropimd.structures import build_lah10

GRID = {"temperatures_k": [300, 600], "pressures_gpa": [150], "beads": [1, 2], "steps": 10, "stride": 5,
        "checkpoint_stride": 5}


def test_grid_defaults_and_errors(tmp_path):
    g = load_grid(None)
    assert (g.temperatures_k, g.pressures_gpa, g.beads, g.steps, g.timestep_fs, g.stride, g.seed) == \
        ([300.0], [150.0], [1], 1000, 0.5, 10, 12345)
    assert g.checkpoint_stride == 100
    path = tmp_path / "grid.toml"
    path.write_text("[grid]\ntemperatures_k = 500\nbeads = [4]\nsteps = 40\nstride = 20\n")
    g = load_grid(path)
    assert (g.temperatures_k, g.beads, g.checkpoint_stride) == ([500.0], [4], 200)  # ten output strides
    with pytest.raises(InputError, match="multiple of stride"):
        load_grid({"steps": 15, "stride": 10})
    with pytest.raises(InputError, match="temperatures_kelvin"):
        load_grid({"temperatures_kelvin": [300]})


def test_an_md_run_directory_is_no_exploration(tmp_path, published):
    write(tmp_path / "start.extxyz", build_lah10())
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    with pytest.raises(InputError, match="holds an MD run"):
        explore(published / "models/subtracted/graph.pb", tmp_path / "start.extxyz", None, tmp_path / "run")
    assert not (tmp_path / "run" / "runs").exists()


def test_explore_tiny_grid_with_kill_and_resume(tmp_path, published):
    structures = tmp_path / "start.extxyz"
    write(structures, [build_lah10(a=5.05, angles=(90.6, 90.6, 90.6))])
    model, pair = published / "models/subtracted/graph.pb", published / "tables/full.table"
    out = tmp_path / "explore"

    # a killed exploration: its first run stopped after its first checkpoint, with a row written past it
    first = out / "runs" / "s000-T300K-P150GPa-b1"
    grid = load_grid(GRID)
    run = MDRun(first)
    run.create(read(structures), run_settings(grid, 0, grid_points(grid, 1)[0], model, pair))
    run.advance(stop_after_steps=5)
    with open(first / "table.csv", "a") as f:
        f.write("10,0.005,1,1,1,90,90,90,1,1,1,1,1,1,\n")  # past the checkpoint: must not survive the resume
    assert not (out / "candidates.extxyz").exists()

    summary = explore(model, structures, GRID, out, pair=pair)
    statuses = {r["name"]: r["status"] for r in summary["runs"]}
    assert statuses == {"s000-T300K-P150GPa-b1": "resumed", "s000-T300K-P150GPa-b2": "ran",
                        "s000-T600K-P150GPa-b1": "ran", "s000-T600K-P150GPa-b2": "ran"}
    # steps / stride frames per run, times the beads: 2 + 4 + 2 + 4
    assert summary["frames"] == 12 and [r["frames"] for r in summary["runs"]] == [2, 4, 2, 4]
    frames = read(out / "candidates.extxyz", index=":")
    assert len(frames) == 12 and all(len(a) == 44 for a in frames)
    keys = [(a.info["temperature_k"], a.info["pressure_gpa"], a.info["beads"], a.info["bead"], a.info["step"])
            for a in frames]
    assert keys[:6] == [(300, 150, 1, 0, 5), (300, 150, 1, 0, 10), (300, 150, 2, 0, 5), (300, 150, 2, 1, 5),
                        (300, 150, 2, 0, 10), (300, 150, 2, 1, 10)]
    assert all(a.info["structure"] == 0 for a in frames)
    # the two beads of a ring polymer are different configurations in the same cell
    b0, b1 = frames[2], frames[3]
    assert np.allclose(b0.cell.array, b1.cell.array) and not np.allclose(b0.positions, b1.positions)
    # the resumed run has exactly one row per stride (no duplicate from before the kill)
    table = (out / "runs/s000-T300K-P150GPa-b1/table.csv").read_text().splitlines()
    assert len(table) == 3

    again = explore(model, structures, GRID, out, pair=pair)
    assert {r["status"] for r in again["runs"]} == {"done before"} and again["frames"] == 12
    assert json.loads((out / "explore.json").read_text())["frames"] == 12
    with pytest.raises(InputError, match="another steps"):
        explore(model, structures, {**GRID, "steps": 20}, out, pair=pair)
    with pytest.raises(InputError, match="another pair"):
        explore(model, structures, GRID, out)
    # another start structure (here deuterated) is another experiment: refused, or replaced with force
    deuterated = tmp_path / "deuterated.extxyz"
    write(deuterated, [build_lah10(a=5.05, angles=(90.6, 90.6, 90.6), isotope="D")])
    one_point = {**GRID, "temperatures_k": [300], "beads": [1]}
    with pytest.raises(InputError, match="another start structure"):
        explore(model, deuterated, one_point, out, pair=pair)
    replaced = explore(model, deuterated, one_point, out, pair=pair, force=True)
    assert [r["status"] for r in replaced["runs"]] == ["replaced"]
    assert json.loads((Path(replaced["runs"][0]["run_dir"]) / "run.json").read_text())["isotope"] == "D"
    assert len(read(out / "candidates.extxyz", index=":")) == 2
