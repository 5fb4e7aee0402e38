"""Diagnostics of the tiny loop: errors per generation on a common test set, SOAP PCA map, counts, figures."""

import json
import shutil

import numpy as np
import pytest

from hydropimd.active.loop import run_active
from hydropimd.active.report import active_report, pca_map
from hydropimd.errors import InputError
from tests.active.loop_setup import loop_config, loop_root
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def work(published, subtracted_graph, full_table, tmp_path_factory):
    """The loop of test_loop.py (finished there when both modules run; run here otherwise)."""
    root = loop_root(tmp_path_factory)
    run_active(loop_config(root, subtracted_graph, full_table))
    return root


def test_report_files_and_numbers(work, tmp_path):
    # the common test set: the initial data (full labels; the loop trains with the pair table), all three sets
    result = active_report(work / "work", work / "initial", tmp_path / "report", split="all")
    assert result["test_frames"] == 6
    assert [r["generation"] for r in result["errors"]] == [0, 1]
    for row in result["errors"]:
        assert len(row["members"]) == 2
        # tiny networks after 10 steps: far from accurate, but finite and physical in scale
        assert 0 < row["energy_rmse_per_atom_ev"] < 5 and 0 < row["force_rmse_ev_per_angstrom"] < 50
        lo, hi = row["force_range"]
        assert lo <= row["force_rmse_ev_per_angstrom"] <= hi
    assert result["pca"]["frames_per_source"] == {"initial": 6, "gen 0": 3, "gen 1": 3}
    assert result["pca"]["frames"] == 12 and 0 < sum(result["pca"]["explained_variance_ratio"]) <= 1
    assert [c["labelled"] for c in result["counts"]] == [3, 3]
    names = sorted(p.split("/")[-1] for p in result["figures"])
    assert names == sorted(f"{stem}.{ext}" for stem in ("errors", "pca", "counts") for ext in ("png", "pdf"))
    for path in result["figures"]:
        with open(path, "rb") as f:
            head = f.read(8)
        assert head.startswith(b"\x89PNG") or head.startswith(b"%PDF")
    assert json.loads((tmp_path / "report" / "report.json").read_text())["test_frames"] == 6


def test_report_cli_and_bad_test_set(work, tmp_path):
    result = run_cli("active", "report", work / "work", "--test-data", work / "initial", "--out", tmp_path / "r",
                     "--quiet")
    assert result.returncode == 0, result.stderr
    assert "figures" in result.stdout and (tmp_path / "r" / "pca.png").exists()
    bad = run_cli("active", "report", work / "work", "--test-data", tmp_path / "nothing", "--quiet")
    assert bad.returncode == 2 and "does not exist" in bad.stderr and "Traceback" not in bad.stderr
    with pytest.raises(InputError, match="not an active-learning work directory"):
        active_report(tmp_path, work / "initial", tmp_path / "x")


def test_pca_separates_two_clusters():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20, 30))
    b = rng.normal(size=(20, 30)) + 5.0
    coords, explained = pca_map(np.vstack([a, b]))
    assert coords.shape == (40, 2) and explained[0] > explained[1]
    assert abs(coords[:20, 0].mean() - coords[20:, 0].mean()) > 3 * coords[:20, 0].std()


def test_report_on_a_published_root_uses_its_full_labels(work, tmp_path):
    # a folder laid out like the published data: its data/full and data/subtracted must not both be test frames
    root = tmp_path / "root"
    for labels in ("full", "subtracted"):
        shutil.copytree(work / "initial", root / "data" / labels / "initial")
    result = active_report(work / "work", root, tmp_path / "report", split="all")
    assert result["test_frames"] == 6 and result["test_data"] == str(root / "data" / "full")
