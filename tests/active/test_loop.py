"""The active-learning loop: two generations with the reference labeller, kill/resume, stop criteria, auto mode."""

import json

import numpy as np
import pytest

from hydropimd.active.labeller import Labeller, ReferenceLabeller
from hydropimd.active.loop import _select_stop, active_status, choose_mode, load_config, run_active, stage_state
from hydropimd.data.systems import find_systems
from hydropimd.errors import InputError
from tests.active.loop_setup import loop_config, loop_root
from tests.conftest import run_cli
from tests.dft.conftest import pseudo_dir  # noqa: F401  (fixture)


class Crash(Exception):
    pass


@pytest.fixture(scope="module")
def loop(published, subtracted_graph, full_table, tmp_path_factory):
    """The loop run in three pieces: stopped after gen 0 explore, killed while labelling gen 1, then finished."""
    root = loop_root(tmp_path_factory)
    if (root / "work" / "config.json").exists():  # test_report.py ran first: this test needs a fresh loop
        root = tmp_path_factory.mktemp("active-loop-again")
    config = loop_config(root, subtracted_graph, full_table)
    work = root / "work"
    first = run_active(config, stop_after=(0, "explore"))
    train0 = work / "gen-000" / "state" / "train.json"
    stamps = {"train0": train0.stat().st_mtime_ns,
              "graph0": (work / "gen-000" / "committee" / "member-0" / "graph.pb").stat().st_mtime_ns}

    def crash_at_label(info):
        # the labeller's progress before its second set: the first set of generation 1 is written
        if info["generation"] == 1 and info["stage"] == "label" and info.get("set") == 1:
            raise Crash("killed")

    with pytest.raises(Crash):
        run_active(config, progress=crash_at_label)
    crashed = active_status(work)
    stamps["train1"] = (work / "gen-001" / "state" / "train.json").stat().st_mtime_ns
    events = []
    final = run_active(config, progress=events.append)
    return {"config": config, "work": work, "first": first, "crashed": crashed, "final": final, "events": events,
            "stamps": stamps}


def test_two_generations_grow_the_data(loop):
    work, final = loop["work"], loop["final"]
    assert [r["stages_done"] for r in final["generations"]] == [["train", "explore", "select", "label"]] * 2
    assert final["stopped"].startswith("generation cap") and final["labelled_frames"] == 6
    # generation 1 trained on the initial data plus generation 0's labels; generation 0 on the initial data only
    train0, train1 = stage_state(work, 0, "train"), stage_state(work, 1, "train")
    assert len(train0["data"]) == 1 and len(train1["data"]) == 2
    assert train1["data"][1].startswith(str(work / "data" / "gen-000"))
    linked = list((work / "gen-001" / "committee" / "data" / "train" / "1").rglob("set.*"))
    assert len(linked) == 2  # gen 0's three sets minus its held-out last set
    for g in (0, 1):
        # each generation is its own DeePMD npy data set, like the published ensembleN (full labels in full/)
        (system,) = find_systems(work / "data" / f"gen-{g:03d}" / "full")
        assert system.name == "La4H40" and system.natoms == 44 and system.frames_per_set == (1, 1, 1)
        assert system.type_map == ("La", "H") and system.symbols[:4] == ["La"] * 4
        frames = system.load("all")
        assert frames.energy.shape == (3,) and frames.forces.shape == (3, 44, 3) and frames.virial.shape == (3, 3, 3)
        assert np.all(np.isfinite(frames.forces)) and np.all(frames.energy / 44 < 0)
        select = stage_state(work, g, "select")
        assert select["counts"]["candidates"] == 4 and select["counts"]["selected"] == 3
        assert select["mode"] in ("deviation", "diversity") and select["mode_reason"]


def test_kill_and_resume_repeat_nothing(loop):
    work, stamps = loop["work"], loop["stamps"]
    first, crashed = loop["first"], loop["crashed"]
    assert first["generations"][0]["stages_done"] == ["train", "explore"] and first["stopped"] is None
    # the crash is recorded for 'active status' and cleared once the stage finishes
    assert crashed["generations"][1]["stages_done"] == ["train", "explore", "select"]
    assert crashed["generations"][1]["error_stage"] == "label" and "killed" in crashed["generations"][1]["error"]
    assert loop["final"]["generations"][1]["error"] is None
    # finished stages were not repeated: state files and models untouched, only the label stage ran at the end
    assert (work / "gen-000" / "state" / "train.json").stat().st_mtime_ns == stamps["train0"]
    assert (work / "gen-000" / "committee" / "member-0" / "graph.pb").stat().st_mtime_ns == stamps["graph0"]
    assert (work / "gen-001" / "state" / "train.json").stat().st_mtime_ns == stamps["train1"]
    started = [(e["generation"], e["stage"]) for e in loop["events"] if e.get("event") == "start"]
    assert started == [(1, "label")]
    # the set labelled before the kill was kept, not labelled again
    label = stage_state(work, 1, "label")
    assert (label["labelled"], label["skipped"], label["frames"]) == (2, 1, 3)
    # a finished loop does nothing more
    events = []
    again = run_active(loop["config"], progress=events.append)
    assert not [e for e in events if e.get("event") == "start"] and again["stopped"] == loop["final"]["stopped"]


def test_labels_survive_a_kill_between_labelling_and_its_state(loop):
    work = loop["work"]
    state = work / "gen-001" / "state" / "label.json"
    before = json.loads(state.read_text())
    state.unlink()  # as if killed after the sets were written, before the state file
    events = []
    run_active(loop["config"], progress=events.append)
    after = json.loads(state.read_text())
    assert [(e["generation"], e["stage"]) for e in events if e.get("event") == "start"] == [(1, "label")]
    assert after["labelled"] == 0 and after["skipped"] == 3 and after["frames"] == before["frames"] == 3


def test_reference_labeller_is_idempotent(loop, subtracted_graph, full_table, tmp_path):
    labeller = ReferenceLabeller(subtracted_graph, pair=full_table)
    assert isinstance(labeller, Labeller)
    from ase.io import read

    frames = read(loop["work"] / "gen-000" / "selected.extxyz", index=":")
    first = labeller.label(frames[:2], tmp_path / "set")
    again = labeller.label(frames, tmp_path / "set")
    assert (first["labelled"], first["skipped"], again["labelled"], again["skipped"]) == (2, 0, 1, 2)
    (system,) = find_systems(tmp_path / "set")
    assert system.frames_per_set == (2, 1)
    # the labels are the reference potential's: model plus table
    ev = labeller.potential.evaluate(frames[0].positions[None], frames[0].cell.array[None], frames[0].get_chemical_symbols())
    order = np.argsort([0 if s == "La" else 1 for s in frames[0].get_chemical_symbols()], kind="stable")
    assert np.allclose(system.load("all").forces[0], ev.forces[0][order])
    with pytest.raises(InputError, match="not in the type map"):
        from ase import Atoms

        labeller.label([Atoms("LaHe", positions=[[0, 0, 0], [1, 1, 1]], cell=np.eye(3) * 4, pbc=True)], tmp_path / "x")


def test_status_cli(loop):
    result = run_cli("active", "status", loop["work"], "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["labelled_generations"] == 2 and status["stopped"].startswith("generation cap")
    assert [r["labelled"] for r in status["generations"]] == [3, 3]
    table = run_cli("active", "status", loop["work"])
    assert table.returncode == 0 and "generation cap" in table.stdout


def test_auto_mode_switch():
    lo, hi = 0.05, 0.35
    separated = np.concatenate([np.full(50, 0.01), np.linspace(0.06, 0.34, 30)])
    assert choose_mode(separated, lo, hi, n=10, mode="auto")[0] == "deviation"
    flat = np.concatenate([np.full(50, 0.01), 0.20 + 0.001 * np.arange(30)])  # spread 0.024 < 0.1 * 0.30
    mode, reason = choose_mode(flat, lo, hi, n=10, mode="auto")
    assert mode == "diversity" and "spread" in reason
    assert choose_mode(separated, lo, hi, n=10, mode="auto", previous=["deviation", "diversity"])[0] == "diversity"
    assert choose_mode(flat, lo, hi, n=30, mode="auto")[0] == "deviation"  # all kept are taken anyway
    assert choose_mode(flat, lo, hi, n=10, mode="deviation") == ("deviation", "configured")
    assert choose_mode(flat, lo, hi, n=10, mode="auto", spread_fraction=0.05)[0] == "deviation"


def test_stop_criteria(tmp_path):
    # base: a folder of its own (the stub's initial data "." would otherwise be the working directory, whose data
    # sets, such as the H3S campaign's labels in a checkout, then name the type map)
    cfg = load_config(loop_config_stub(), base=tmp_path)
    select = {"generation": 3, "accurate_fraction": 0.97, "counts": {"selected": 5}}
    assert _select_stop(cfg, select).startswith("converged")
    assert _select_stop(cfg, {**select, "accurate_fraction": 0.5}) is None
    assert _select_stop(cfg, {**select, "accurate_fraction": 0.5, "counts": {"selected": 0}}).startswith("nothing")


def loop_config_stub(**changes):
    raw = {"work_dir": "w", "data": {"initial": ["."]}, "select": {"lo": 0.05, "hi": 0.35, "n": 10},
           "explore": {"structure": {"prototype": "lah10"}},
           "labeller": {"kind": "dft"}, "stop": {"accurate_ratio": 0.95}}
    for key, value in changes.items():
        section, field = key.split("__")
        raw[section][field] = value
    return raw


def test_bad_configs(tmp_path, published):  # published: pslibrary is found beside it (the location rule)
    with pytest.raises(InputError, match="lo 0.4 must be smaller than hi 0.35"):
        load_config(loop_config_stub(select__lo=0.4))
    with pytest.raises(InputError, match="committee of 1 has no deviation"):
        load_config({**loop_config_stub(), "training": {"committee": 1}})
    with pytest.raises(InputError, match="reference labeller needs model"):
        load_config(loop_config_stub(labeller__kind="reference"))
    with pytest.raises(InputError, match="initial data nowhere does not exist"):
        load_config(loop_config_stub(data__initial=["nowhere"]), base=tmp_path)
    empty = tmp_path / "upf"
    empty.mkdir()
    with pytest.raises(InputError, match="DFT labeller: .*labeller.pseudo_dir"):
        run_active(load_config(loop_config_stub(labeller__pseudo_dir=str(empty)), base=tmp_path))
    assert not (tmp_path / "w").exists()  # checked before the loop's work directory is made


def test_bad_input_cli(tmp_path):
    missing = run_cli("active", "run", tmp_path / "none.toml")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    garbled = tmp_path / "bad.toml"
    garbled.write_text("work_dir = [unclosed\n")
    for path, message in ((garbled, "cannot read active-learning config"),):
        result = run_cli("active", "run", path)
        assert result.returncode == 2 and message in result.stderr
    cases = {"window": ("[select]\nlo = 0.4\nhi = 0.3\nn = 5\n", "lo 0.4 must be smaller than hi 0.3"),
             "one": ("[training]\ncommittee = 1\n[select]\nlo = 0.05\nhi = 0.3\nn = 5\n", "committee of 1")}
    for name, (select, message) in cases.items():
        config = tmp_path / f"{name}.toml"
        config.write_text(f'work_dir = "w"\n[data]\ninitial = ["."]\n[labeller]\nkind = "dft"\n{select}')
        result = run_cli("active", "run", config)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    status = run_cli("active", "status", tmp_path)
    assert status.returncode == 2 and "not an active-learning work directory" in status.stderr


def test_python_builds_and_checks_the_dft_labeller(tmp_path, monkeypatch, pseudo_dir, full_table):  # noqa: F811
    """run_active(config) builds the DFT labeller itself (no CLI): pw.x, mpirun and the pseudopotentials are checked
    as 'hydropimd active run' checks them, the errors naming the config's keys."""
    import sys

    from hydropimd.active.loop import _make_labeller
    from hydropimd.dft.label import DFTLabeller, loop_labeller

    monkeypatch.setenv("HYDROPIMD_PW", sys.executable)  # any executable passes the check; pw.x never runs here
    config = {**loop_config_stub(), "type_map": ["La", "H"], "data": {"initial": ["."], "pair": str(full_table)},
              "labeller": {"kind": "dft", "mpi": 1, "pseudo_dir": str(pseudo_dir), "settings": None}}
    cfg = load_config(config, base=tmp_path)
    labeller = _make_labeller(cfg)
    assert isinstance(labeller, DFTLabeller) and isinstance(labeller, Labeller)
    assert (labeller.mpi, labeller.pseudo_dir, labeller.pair) == (1, str(pseudo_dir), str(full_table))
    assert loop_labeller({"pseudo_dir": str(pseudo_dir)}, type_map=["La", "H"]).settings == labeller.settings  # a dict too

    def refused(*words, **labeller_keys):
        cfg = load_config({**config, "labeller": {**config["labeller"], **labeller_keys}}, base=tmp_path)
        with pytest.raises(InputError) as err:
            run_active(cfg)
        message = str(err.value)
        assert message.startswith("DFT labeller: "), message
        assert not any(flag in message for flag in ("--pseudo-dir", "--mpi", "--config")), message  # config keys
        assert all(w in message for w in words), message
        assert not (tmp_path / "w").exists()  # before the loop's first stage

    empty = tmp_path / "upf"
    empty.mkdir()
    refused("La.pbe-spfn-rrkjus_psl.1.0.0.UPF", "labeller.pseudo_dir", pseudo_dir=str(empty))
    (tmp_path / "bad.toml").write_text("ecut = 50\n")
    refused("ecut", settings=str(tmp_path / "bad.toml"))
    monkeypatch.setenv("HYDROPIMD_PW", str(tmp_path / "no-pw.x"))
    refused("HYDROPIMD_PW")
    monkeypatch.setenv("HYDROPIMD_PW", sys.executable)
    monkeypatch.setenv("PATH", str(empty))  # no mpirun
    refused("labeller.mpi 2", "mpirun", mpi=2)


def test_start_structure_and_sets_checked_at_load(tmp_path):
    # before: a bad start structure failed only at the first exploration, after a whole training
    with pytest.raises(InputError, match=r"\[explore.structure\]: Wyckoff parameter x = 0.9"):
        load_config({**loop_config_stub(), "explore": {"structure": {"prototype": "lah10", "x": 0.9}}}, base=tmp_path)
    (tmp_path / "start.extxyz").write_text("not a structure\n")
    with pytest.raises(InputError, match="cannot read structures"):
        load_config({**loop_config_stub(), "explore": {"structures": "start.extxyz"}}, base=tmp_path)
    # one set per generation is all test split: no labelled frame would ever be trained on
    with pytest.raises(InputError, match="sets_per_generation: 1 set.*leave no training set"):
        load_config(loop_config_stub(labeller__sets_per_generation=1), base=tmp_path)


def test_pseudo_dir_and_mpi_are_not_the_loop_identity(tmp_path):
    from hydropimd.active.loop import _check_identity

    first = load_config(loop_config_stub(labeller__pseudo_dir=str(tmp_path)), base=tmp_path)
    moved = tmp_path / "moved"
    moved.mkdir()
    second = load_config(loop_config_stub(labeller__pseudo_dir=str(moved), labeller__mpi=4), base=tmp_path)
    assert first.identity() == second.identity() and "pseudo_dir" not in first.identity()["labeller"]
    _check_identity(first, tmp_path / "work")
    _check_identity(second, tmp_path / "work")  # the UPF files moved, more ranks: the same loop
    # a loop started when both were part of the identity is still the same loop
    stored = json.loads((tmp_path / "work" / "config.json").read_text())
    stored["identity"]["labeller"].update(pseudo_dir=str(tmp_path), mpi=1)
    (tmp_path / "work" / "config.json").write_text(json.dumps(stored))
    _check_identity(second, tmp_path / "work")
    other = load_config(loop_config_stub(labeller__settings=str(moved)), base=tmp_path)
    _check_identity(other, tmp_path / "work")  # nothing computed yet (a refused start): the corrected config takes over
    _check_identity(second, tmp_path / "work")
    (tmp_path / "work" / "gen-000").mkdir()  # something computed: another loop's settings are refused
    with pytest.raises(InputError, match="other labeller settings"):
        _check_identity(other, tmp_path / "work")


def test_a_loop_refused_at_its_bootstrap_leaves_no_work_directory(tmp_path):
    """A labeller that refuses the bootstrap structures (the DFT labeller: a pair table without an element, a type
    map that misses one) before labelling anything: no work directory is left, so the corrected config starts
    cleanly (before: its config.json refused the correction as 'other settings')."""

    class Refusing:
        def label(self, structures, out):
            raise InputError("the pair table has no S-H section; give a table for S and H")

    config = {**loop_config_stub(), "data": {"bootstrap": {"frames": 2}}}
    with pytest.raises(InputError, match="S-H"):
        run_active(load_config(config, base=tmp_path), labeller=Refusing())
    assert not (tmp_path / "w").exists()


def label_selection(root, frames, sets, model, table):
    """The label stage of generation 0 on ``frames`` (as if selected), with the reference labeller."""
    from ase.io import write

    from hydropimd.active.loop import _stage_label, gen_dir
    from hydropimd.files import write_json_atomic

    work = root / "work"
    write(root / "selected.extxyz", frames)
    write_json_atomic(gen_dir(work, 0) / "state" / "select.json", {"selected_file": str(root / "selected.extxyz")})
    cfg = load_config({**loop_config_stub(), "labeller": {"model": str(model), "pair": str(table),
                                                          "sets_per_generation": sets}}, base=root)
    return _stage_label(cfg, work, 0, ReferenceLabeller(model, pair=table), None)


def test_every_generation_trains_on_its_labels(subtracted_graph, full_table, tmp_path):
    from hydropimd.active.loop import _training_data, data_dir
    from hydropimd.files import write_json_atomic
    from hydropimd.structures import build_lah10
    from hydropimd.training.committee import _prepare_data

    def rattled(cell, seed):
        atoms = build_lah10(a=5.1, cell=cell)
        atoms.rattle(0.05, seed=seed)
        return atoms

    # one frame: its only set would be the held-out test split, never trained on
    (tmp_path / "one").mkdir()
    one = label_selection(tmp_path / "one", [rattled("conventional", 1)], 10, subtracted_graph, full_table)
    assert one["train_only"] == one["systems"] and "training" in one["note"]
    # two compositions in alternation: each system gets its own two sets (interleaving all four would
    # put both of a composition's frames into one set, all test split)
    (tmp_path / "mixed").mkdir()
    frames = [rattled(cell, seed) for seed, cell in enumerate(["conventional", "primitive"] * 2)]
    mixed = label_selection(tmp_path / "mixed", frames, 10, subtracted_graph, full_table)
    assert mixed["train_only"] == [] and mixed["note"] is None and mixed["sets"] == 2
    assert sorted(s.frames_per_set for s in find_systems(data_dir(tmp_path / "mixed" / "work", 0))) == [(1, 1), (1, 1)]
    # the next generation trains on the lone frame whole, and tests on nothing of it
    work = tmp_path / "one" / "work"
    write_json_atomic(work / "gen-000" / "state" / "label.json", one)
    cfg = load_config(loop_config_stub(), base=tmp_path)
    data, whole = _training_data(cfg, work, 1)
    assert whole == one["systems"] and not set(whole) & set(data)
    initial = data_dir(tmp_path / "mixed" / "work", 0)
    train, test, _ = _prepare_data([initial], [work / "data" / "gen-000"], tmp_path / "committee", None)
    assert len(train) == 3 and len(test) == 2  # 2 mixed systems (train split) + the lone frame; its test: none


def test_a_changed_start_structure_reaches_the_next_exploration(loop, tmp_path):
    """Explore settings may change between calls: the start structure is written from the current config."""
    from ase.io import read

    from hydropimd.active.loop import _start_structures

    config = loop["config"]
    first = read(_start_structures(load_config(config), tmp_path))
    changed = {**config, "explore": {**config["explore"], "structure": {**config["explore"]["structure"], "a": 4.9}}}
    second = read(_start_structures(load_config(changed), tmp_path))
    assert second.get_volume() < first.get_volume() and len(second) == len(first)


def test_system_table_fills_the_loop(tmp_path):
    """[system] gives types, start structure, DFT settings and pseudopotentials once; a key given twice is refused."""
    (tmp_path / "pseudo").mkdir()
    (tmp_path / "pair.table").write_text("# table\n")
    system = {"structure": {"prototype": "h3s", "cell": "primitive"}, "pseudopotential_dir": "pseudo",
              "dft": {"kspacing_per_angstrom": 0.5}, "pair": "pair.table"}
    raw = {**loop_config_stub(), "system": system, "data": {"bootstrap": {"frames": 3}}}
    raw.pop("explore")
    cfg = load_config(raw, base=tmp_path)
    assert cfg.type_map == ["S", "H"] and cfg.explore.structure.prototype == "h3s"
    assert cfg.labeller.settings == {"kspacing_per_angstrom": 0.5}
    assert cfg.labeller.pseudo_dir == str((tmp_path / "pseudo").resolve())
    assert cfg.data.pair == str((tmp_path / "pair.table").resolve()) and cfg.data.initial == []
    with pytest.raises(InputError, match="data.pair and system.pair both given"):
        load_config({**raw, "data": {"bootstrap": {}, "pair": "other.table"}}, base=tmp_path)
    with pytest.raises(InputError, match="no initial data"):
        load_config({**raw, "data": {}}, base=tmp_path)
    with pytest.raises(InputError, match="no start structure"):
        load_config({k: v for k, v in raw.items() if k != "system"}, base=tmp_path)
    with pytest.raises(InputError, match="S, which type_map"):
        load_config({**raw, "type_map": ["La", "H"]}, base=tmp_path)


def test_bootstrap_structures_are_dpdata_perturbations(tmp_path):
    """DP-GEN's init_bulk perturbation: reproducible for a seed, strains within the fraction, the asked RMS rattle,
    and numpy's global random stream left as it was."""
    from hydropimd.active.loop import BootstrapConfig, bootstrap_structures
    from hydropimd.structures import build_structure

    start = build_structure("h3s", cell="conventional", supercell=2)
    settings = BootstrapConfig(frames=40, cell_perturbation_fraction=0.03, atom_displacement_angstrom=0.05, seed=3)
    np.random.seed(11)
    expected_next = np.random.random()
    np.random.seed(11)
    frames = bootstrap_structures([start], settings)
    assert np.random.random() == expected_next  # the caller's stream untouched
    again = bootstrap_structures([start], settings)
    assert len(frames) == 40 and all(np.array_equal(a.positions, b.positions) for a, b in zip(frames, again))
    assert all(f.get_chemical_symbols() == start.get_chemical_symbols() for f in frames)
    # dpdata's strain is symmetric with diagonal up to the fraction and off-diagonal up to half of it
    ratios = np.array([f.cell.lengths() / start.cell.lengths() for f in frames])
    assert 0.01 < np.abs(ratios - 1).max() <= np.hypot(1.03, 0.015 * np.sqrt(2)) - 1 + 1e-12
    # displacements from the strained lattice sites (fractional coordinates are kept by the strain); rotation-free
    shifts = []
    for f in frames:
        frac = f.get_scaled_positions(wrap=False) - start.get_scaled_positions(wrap=False)
        shifts.append((frac - np.round(frac)) @ f.cell.array)
    rms = np.sqrt(np.mean(np.sum(np.concatenate(shifts) ** 2, axis=1)))
    assert rms == pytest.approx(0.05, rel=0.05)
