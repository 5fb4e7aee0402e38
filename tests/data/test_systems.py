import json

import numpy as np
import pytest

from hydropimd.data.systems import Frames, dataset_info, find_systems, open_system
from hydropimd.data.writer import write_set
from hydropimd.errors import InputError
from tests.conftest import run_cli


def make_system(path, frames_per_set, natoms=3, seed=0):
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    (path / "type.raw").write_text("\n".join(["0"] + ["1"] * (natoms - 1)) + "\n")
    (path / "type_map.raw").write_text("La\nH\n")
    symbols = ["La"] + ["H"] * (natoms - 1)
    for k, n in enumerate(frames_per_set):
        write_set(path / f"set.{k:03d}", Frames(symbols, rng.normal(size=(n, natoms, 3)), np.tile(np.eye(3) * 5, (n, 1, 1)),
                                                rng.normal(size=n), rng.normal(size=(n, natoms, 3)), rng.normal(size=(n, 3, 3))))
    return symbols


def test_published_split(published):
    info = dataset_info(published / "data" / "full")
    assert (info["n_systems"], info["n_frames"], info["n_test_frames"], info["n_train_frames"]) == (20, 2779, 259, 2520)
    names = [s["name"] for s in info["systems"]]
    assert "ensemble3/150GPa" in names and "r3m" in names
    assert names.index("ensemble2") < names.index("ensemble10")  # natural order
    r3m = next(s for s in info["systems"] if s["name"] == "r3m")
    assert r3m["natoms"] == 297 and r3m["elements"] == ["La", "H"]


def test_cli_info_json_follows_the_data_location_rule(published):
    explicit = run_cli("data", "info", "--data", published, "--json")
    from_env = run_cli("data", "info", "--json", env={"HYDROPIMD_DATA": str(published)})
    assert explicit.returncode == 0 and from_env.returncode == 0, explicit.stderr + from_env.stderr
    assert json.loads(explicit.stdout) == json.loads(from_env.stdout)
    assert json.loads(explicit.stdout)["n_test_frames"] == 259


def test_split_and_round_trip(tmp_path):
    symbols = make_system(tmp_path / "a" / "b", [4, 4, 3])
    make_system(tmp_path / "c", [2], seed=1)
    systems = find_systems(tmp_path)
    assert [s.name for s in systems] == ["a/b", "c"]
    s = systems[0]
    assert (s.split_frames("test"), s.split_frames("train"), s.nframes) == (3, 8, 11)
    test = s.load("test")
    assert len(test) == 3 and test.forces.shape == (3, 3, 3)
    assert s.symbols == symbols
    assert systems[1].split_frames("train") == 0 and systems[1].split_frames("test") == 2
    # writing is atomic: no .partial folder remains and rewriting replaces
    write_set(s.set_dirs[0], test)
    assert open_system(s.path).frames_per_set == (3, 4, 3)
    assert not list(tmp_path.rglob("*.partial")) and not list(tmp_path.rglob("*.replaced"))
    # a set moved aside by a rewrite that was killed midway is never read as data
    (s.path / "set.000").rename(s.path / "set.000.replaced")
    assert open_system(s.path).frames_per_set == (4, 3)


def test_malformed_data(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        find_systems(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no DeePMD npy system"):
        find_systems(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "type.raw").write_text("0\n1\n")
    with pytest.raises(InputError, match="no set.NNN"):
        find_systems(bad)
    (bad / "set.000").mkdir()
    np.save(bad / "set.000" / "box.npy", np.zeros((2, 9)))
    with pytest.raises(InputError, match="no type_map.raw"):  # type names are never guessed
        find_systems(bad)
    (bad / "type_map.raw").write_text("La\nH\n")
    np.save(bad / "set.000" / "coord.npy", np.zeros((2, 5)))
    with pytest.raises(InputError, match="coord"):
        find_systems(bad)[0].load()
    (bad / "type.raw").write_text("0\n7\n")
    with pytest.raises(InputError, match="type map"):
        find_systems(bad)


@pytest.mark.parametrize("damage, words", [
    (lambda s: (s / "coord.npy").write_bytes((s / "coord.npy").read_bytes()[:150]), "coord.npy is not a readable"),
    (lambda s: (s / "energy.npy").write_text("1.0\n2.0\n"), "energy.npy is not a readable"),
    (lambda s: np.save(s / "energy.npy", np.zeros(3)), "energy.npy 3,"),
    (lambda s: np.save(s / "force.npy", np.zeros((4, 7))), r"force.npy holds shape \(4, 7\)"),
])
def test_malformed_sets_are_named(tmp_path, damage, words):
    """A truncated or text .npy, or an array one frame short, is found by 'data info' (headers only)."""
    make_system(tmp_path / "sys", [4, 4])
    damage(tmp_path / "sys" / "set.001")
    with pytest.raises(InputError, match=words) as err:
        dataset_info(tmp_path / "sys")
    assert "set.001" in str(err.value) and "malformed" in str(err.value)


def test_labels_with_nan_are_refused_when_read(tmp_path):
    make_system(tmp_path / "sys", [3])
    forces = np.load(tmp_path / "sys" / "set.000" / "force.npy")
    forces[1, 0] = np.nan
    np.save(tmp_path / "sys" / "set.000" / "force.npy", forces)
    with pytest.raises(InputError, match="force.npy holds NaN"):
        find_systems(tmp_path / "sys")[0].load()


def test_info_of_a_file_says_give_the_folder(tmp_path):
    make_system(tmp_path / "sys", [2])
    result = run_cli("data", "info", tmp_path / "sys" / "type.raw")
    assert result.returncode == 2 and "is a file; give the data set's folder" in result.stderr
