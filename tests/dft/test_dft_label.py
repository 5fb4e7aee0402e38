"""The labeller's bookkeeping with a stand-in pw.x that replays a real output: data layout, the subtracted
twin, relaunch, kills, failures, and the one-line errors of bad input."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from hydropimd.data.systems import find_systems
from hydropimd.dft.label import DFTLabeller, label_structures
from hydropimd.errors import InputError, RunFailed
from hydropimd.pair.baseline import PairBaseline
from tests.conftest import assert_one_line_error, process_running
from tests.dft.conftest import dft_cli, fake_output_atoms


@pytest.fixture
def replayed():
    """The output's structure and labels (what the stand-in pw.x reports)."""
    atoms = fake_output_atoms()
    return atoms, atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)


def variants(atoms, n, scale=1.0, seed=0):
    """n distinct structures with the replayed output's symbols (La first), optionally compressed."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = atoms.copy()
        a.set_cell(a.cell.array * scale, scale_atoms=True)
        a.positions += rng.normal(scale=0.01, size=a.positions.shape)
        a.calc = None
        out.append(a)
    return out


def test_labels_full_and_subtracted(tmp_path, fake_pw, replayed, pseudo_dir, full_table):
    atoms, energy, forces, stress = replayed
    # compressed to a = 4.6 A: La-H pairs come inside the 2.02 A cutoff, so the pair term is not zero
    structures = variants(atoms, 2, scale=4.6 / 5.1)
    shuffled = structures[1][[3, 0, 5, 1, 2, 4, 6, 7, 8, 9, 10]]  # H before La: stored in type order anyway
    summary = label_structures([structures[0], shuffled], tmp_path / "out", pair=full_table, pseudo_dir=pseudo_dir)
    assert summary["labelled"] == 2 and summary["sets"] == {"La1H10": {"set": "set.000", "frames": 2}}
    assert summary["systems"] == [str((tmp_path / "out" / "full" / "La1H10").resolve())]
    assert summary["subtracted_systems"] == [str((tmp_path / "out" / "subtracted" / "La1H10").resolve())]
    full, = find_systems(tmp_path / "out" / "full")
    sub, = find_systems(tmp_path / "out" / "subtracted")
    assert full.name == "La1H10" and list(full.types) == [0] + [1] * 10 and full.type_map == ("La", "H")
    f, s = full.load(), sub.load()
    assert np.allclose(f.energy, energy) and np.allclose(f.forces, forces)
    volume = abs(np.linalg.det(f.cells))
    assert np.allclose(f.virial, -stress[None] * volume[:, None, None])  # DeePMD: -stress * V
    assert np.all(np.diagonal(f.virial, axis1=1, axis2=2) > 0)  # compressed: positive, as in the published data
    assert np.allclose(f.coords[0], structures[0].positions)
    assert np.allclose(f.coords[1], shuffled.positions[[1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10]])  # La first, H in given order
    pair = PairBaseline.from_file(full_table).compute_batch(f.coords, f.cells, f.symbols)
    assert np.all(np.abs(pair.energy) > 0.1)
    assert np.allclose(s.energy, f.energy - pair.energy) and np.allclose(s.forces, f.forces - pair.forces)
    assert np.allclose(s.virial, f.virial - pair.virial) and np.array_equal(s.coords, f.coords)
    log = json.loads((tmp_path / "out" / "labels.json").read_text())
    assert [r["status"] for r in log] == ["done", "done"]
    record = json.loads((tmp_path / "out" / "records" / f"{log[1]['key']}.json").read_text())
    assert record["input_order"] == [1, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10]  # where each stored atom was in the input
    assert not any((tmp_path / "out" / "scratch").iterdir())  # scratch of successes removed


def test_relaunch_skips_finished_structures(tmp_path, fake_pw, replayed, pseudo_dir):
    calls = fake_pw()
    atoms = replayed[0]
    first, second = variants(atoms, 2), variants(atoms, 1, seed=5)
    label_structures(first, tmp_path / "out", pseudo_dir=pseudo_dir)
    before = find_systems(tmp_path / "out" / "full")[0].load()
    again = label_structures(first, tmp_path / "out", pseudo_dir=pseudo_dir)
    assert again["skipped"] == 2 and again["labelled"] == 0
    assert len(calls.read_text().splitlines()) == 2  # no pw.x run for finished structures
    after = find_systems(tmp_path / "out" / "full")[0].load()
    assert np.array_equal(before.coords, after.coords) and np.array_equal(before.energy, after.energy)
    new = label_structures(second + first[:1], tmp_path / "out", pseudo_dir=pseudo_dir)  # a new batch: a new set
    system = find_systems(tmp_path / "out" / "full")[0]
    assert [p.name for p in system.set_dirs] == ["set.000", "set.001"] and system.frames_per_set == (2, 1)
    assert new["labelled"] == 1 and new["skipped"] == 1


def test_killed_labeller_leaves_no_partial_frame(tmp_path, fake_pw, replayed, pseudo_dir):
    calls = fake_pw()
    structures = tmp_path / "s.extxyz"
    write(structures, variants(replayed[0], 3))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "hydropimd", "label", "--structures", structures, "--out", out,
            "--pseudo-dir", pseudo_dir, "--quiet"]
    stderr = tmp_path / "labeller.err"
    with open(stderr, "w") as err:
        labeller = subprocess.Popen(list(map(str, args)), env={**os.environ, "FAKE_PW_HANG_FROM": "2"},
                                    stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + 120
    while time.time() < deadline and len(calls.read_text().splitlines() if calls.exists() else []) < 2:
        assert labeller.poll() is None, f"the labeller stopped before the second pw.x: {stderr.read_text()}"
        time.sleep(0.05)
    assert len(calls.read_text().splitlines()) >= 2, "the second pw.x did not start within 2 minutes"
    hanging_pid = int(calls.read_text().splitlines()[1].split()[1])
    os.kill(labeller.pid, signal.SIGKILL)  # the labeller dies while pw.x runs the second structure
    labeller.wait()
    for _ in range(1200):  # pw.x is told to stop when its parent dies (a minute: a guard, not a timing)
        if not process_running(hanging_pid):
            break
        time.sleep(0.05)
    else:
        os.kill(hanging_pid, signal.SIGKILL)
        pytest.fail("pw.x outlived the labeller")
    system = find_systems(out / "full")[0]
    assert system.frames_per_set == (1,)  # only the finished structure, whole
    resumed = dft_cli("label", "--structures", structures, "--out", out, "--pseudo-dir", pseudo_dir, "--quiet", "--json")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert (report["skipped"], report["labelled"]) == (1, 2)
    assert find_systems(out / "full")[0].frames_per_set == (3,)  # the same set, continued


def test_killed_pw_x_is_recorded_and_retried(tmp_path, fake_pw, replayed, pseudo_dir):
    calls = fake_pw("hang")
    structures = variants(replayed[0], 1)

    def kill_pw():
        for _ in range(2400):  # two minutes: a guard for a slow start, not a timing
            if calls.exists() and calls.read_text():
                os.kill(int(calls.read_text().split()[1]), signal.SIGKILL)  # e.g. the out-of-memory killer
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_pw)
    killer.start()
    with pytest.raises(RunFailed, match=r"pw.x was killed by signal 9 .* read .*scratch/\w+/pw.out") as raised:
        label_structures(structures, tmp_path / "out", pseudo_dir=pseudo_dir)
    killer.join()
    assert raised.value.retryable  # a kill of unknown cause: running it again may succeed
    assert not (tmp_path / "out" / "full").exists()
    record, = json.loads((tmp_path / "out" / "labels.json").read_text())
    assert record["status"] == "killed" and os.path.exists(record["output"])  # scratch kept
    fake_pw("ok")
    assert label_structures(structures, tmp_path / "out", pseudo_dir=pseudo_dir)["labelled"] == 1


def test_unconverged_scf_is_recorded_never_labelled(tmp_path, fake_pw, replayed, pseudo_dir):
    calls = fake_pw("unconverged")
    structures = variants(replayed[0], 1)
    summary = label_structures(structures, tmp_path / "out", pseudo_dir=pseudo_dir)
    assert summary["failed"] == 1 and summary["labelled"] == 0
    row, = summary["structures"]
    assert row["status"] == "unconverged" and "SCF not converged after 100 iterations" in row["reason"]
    assert not (tmp_path / "out" / "full").exists()
    fake_pw("ok")
    again = label_structures(structures, tmp_path / "out", pseudo_dir=pseudo_dir)  # same settings, same fate
    assert (again["skipped"], again["failed"]) == (0, 1) and again["structures"][0]["skipped"]
    assert len(calls.read_text().splitlines()) == 1
    retried = label_structures(structures, tmp_path / "out", pseudo_dir=pseudo_dir, retry_failed=True)
    assert retried["labelled"] == 1


def test_pw_x_crash_is_one_line_naming_the_output(tmp_path, fake_pw, replayed, pseudo_dir):
    fake_pw("crash")
    structures = tmp_path / "s.extxyz"
    write(structures, variants(replayed[0], 1))
    result = dft_cli("label", "--structures", structures, "--out", tmp_path / "out", "--pseudo-dir", pseudo_dir, "--quiet")
    assert result.returncode == 3, result.stderr  # a run-time failure (RunFailed), not bad input
    line, = result.stderr.splitlines()
    assert "Traceback" not in result.stderr and "cholesky" in line and "pw.out" in line
    output = result.stderr.split("read ")[-1].split()[0]
    assert os.path.exists(output) and "cholesky" in open(output).read()


def test_bad_input_is_refused_before_anything_runs(tmp_path, fake_pw, replayed, pseudo_dir):
    calls = fake_pw()
    good = variants(replayed[0], 1)
    out = tmp_path / "out"

    def refused(match, structures=good, **kwargs):
        with pytest.raises(InputError, match=match):
            label_structures(structures, out, **{"pseudo_dir": pseudo_dir, **kwargs})

    refused("--pseudo-dir points to", pseudo_dir=tmp_path / "nowhere")
    only_h = tmp_path / "only_h"
    only_h.mkdir()
    (only_h / "H.pbe-rrkjus_psl.1.0.0.UPF").symlink_to(pseudo_dir / "H.pbe-rrkjus_psl.1.0.0.UPF")
    refused("La.pbe-spfn-rrkjus_psl.1.0.0.UPF for La is missing", pseudo_dir=only_h)
    yttrium = Atoms("YH6", positions=np.random.default_rng(0).uniform(0, 3, (7, 3)), cell=[3.5] * 3, pbc=True)
    refused("Y.pbe-spn-rrkjus_psl.1.0.0.UPF for Y is missing", structures=[yttrium])  # pslibrary's name, no file
    refused("not periodic", structures=[Atoms("LaH", positions=[[0, 0, 0], [0, 0, 2]])])
    refused("does not exist", structures=tmp_path / "missing.xyz")
    refused("--mpi 0", mpi=0)
    refused("--pools 3 must divide --mpi 2", mpi=2, pools=3)
    refused("not in the type map", config={"type_map": ["La"]})
    close = good[0].copy()
    close.positions[5] = close.positions[4] + [0.1, 0, 0]  # two H 0.1 A apart (pw.x: -159 eV/atom, 1414 eV/A)
    refused(r"structure 1: atoms 4 \(H\) and 5 \(H\) are 0.100 A apart, closer than 0.31 A", structures=[*good, close])
    broken = good[0].copy()
    broken.positions[3, 1] = np.nan
    refused("structure 0: it has non-finite", structures=[broken])
    assert not out.exists() and not calls.exists()  # nothing started
    label_structures(good, out, pseudo_dir=pseudo_dir)
    refused("other DFT settings", config={"ecutwfc_ry": 60})



def test_pair_table_is_part_of_the_data_set(tmp_path, fake_pw, replayed, pseudo_dir, full_table):
    structures = variants(replayed[0], 1, scale=4.6 / 5.1)
    out = tmp_path / "out"
    label_structures(structures, out, pseudo_dir=pseudo_dir)
    label_structures(structures, out, pseudo_dir=pseudo_dir, pair=full_table)  # adds the twin of what is there
    full, sub = find_systems(out / "full")[0].load(), find_systems(out / "subtracted")[0].load()
    assert len(sub) == 1 and sub.energy[0] != full.energy[0]
    with pytest.raises(InputError, match="keeps a subtracted twin made with .*full.table; give --pair"):
        label_structures(structures, out, pseudo_dir=pseudo_dir)


def test_bad_input_errors_are_one_line(tmp_path, fake_pw, replayed, pseudo_dir):
    structures = tmp_path / "s.extxyz"
    write(structures, variants(replayed[0], 1))
    common = ["label", "--structures", structures, "--out", tmp_path / "out", "--quiet", "--pseudo-dir", pseudo_dir]
    # pw.x missing: the error says how to install it
    no_pw = {"PATH": os.path.dirname(sys.executable), "HYDROPIMD_PW": ""}
    assert_one_line_error(dft_cli(*common, env=no_pw), "pw.x not found", "apt-get install quantum-espresso")
    # too large for the memory: refused with the estimate before pw.x starts
    assert_one_line_error(dft_cli(*common, "--max-memory-gb", "0.05"), "11-atom structure needs about", "GB for pw.x",
                          "0.05 GB are available")
    assert not (tmp_path / "out").exists()


def test_labeller_for_the_active_learning_loop(tmp_path, fake_pw, replayed, pseudo_dir, full_table):
    """The interface the loop calls: DFTLabeller(...).label(list of Atoms, out) -> summary with counts and systems."""
    import inspect

    assert list(inspect.signature(DFTLabeller.label).parameters) == ["self", "structures", "out"]
    calls = fake_pw()
    labeller = DFTLabeller(settings={"ecutwfc_ry": 50}, pseudo_dir=pseudo_dir, pair=full_table, mpi=1)
    structures = variants(replayed[0], 2, scale=4.6 / 5.1)
    summary = labeller.label(structures, tmp_path / "data")
    assert (summary["labelled"], summary["failed"], summary["skipped"]) == (2, 0, 0)
    system, = summary["systems"]
    assert find_systems(system)[0].frames_per_set == (2,) and find_systems(system)[0].type_map == ("La", "H")
    assert summary["subtracted_systems"] == [system.replace("/full/", "/subtracted/")]
    json.dumps(summary)  # JSON-ready
    again = labeller.label(structures + variants(replayed[0], 1, seed=9), tmp_path / "data")
    assert (again["labelled"], again["skipped"]) == (1, 2) and len(calls.read_text().splitlines()) == 3
    empty = labeller.label([], tmp_path / "data")  # nothing selected in an iteration
    assert (empty["labelled"], empty["failed"], empty["skipped"], empty["systems"]) == (0, 0, 0, [])
    with pytest.raises(InputError, match="unknown DFT setting"):
        DFTLabeller(settings={"ecut": 50})  # a bad configuration fails when the loop is set up


def test_labeller_records_pw_x_errors_without_stopping_the_loop(tmp_path, fake_pw, replayed, pseudo_dir):
    """pw.x's own error (a failed Cholesky) belongs to the structure: recorded, not retried, not raised."""
    calls = fake_pw("crash")
    structures = variants(replayed[0], 1)
    labeller = DFTLabeller(pseudo_dir=pseudo_dir)
    result = labeller.label(structures, tmp_path / "out")
    assert (result["labelled"], result["failed"]) == (0, 1)
    assert result["structures"][0]["status"] == "error" and "cholesky" in result["structures"][0]["reason"]
    fake_pw("ok")
    again = labeller.label(structures, tmp_path / "out")
    assert again["failed"] == 1 and len(calls.read_text().splitlines()) == 1  # not run again, still a failure


def test_labeller_refuses_broken_frames_without_stopping_the_loop(tmp_path, fake_pw, replayed, pseudo_dir):
    """An exploration frame with two atoms nearly on top of each other is refused (recorded with its reason);
    the loop's other frames are labelled, under their own indices."""
    calls = fake_pw()
    good, bad = variants(replayed[0], 2)
    bad.positions[6] = bad.positions[0] + [0.2, 0.1, 0.0]
    result = DFTLabeller(pseudo_dir=pseudo_dir).label([bad, good], tmp_path / "out")
    assert (result["labelled"], result["failed"], result["refused"]) == (1, 1, 1)
    rows = {row["index"]: row for row in result["structures"]}
    assert rows[0]["status"] == "refused" and "0 (La) and 6 (H)" in rows[0]["reason"]
    assert rows[1]["status"] == "done" and len(calls.read_text().splitlines()) == 1
    only_bad = DFTLabeller(pseudo_dir=pseudo_dir).label([bad], tmp_path / "out")
    assert (only_bad["labelled"], only_bad["refused"]) == (0, 1) and len(calls.read_text().splitlines()) == 1


def test_missing_sets_are_rebuilt_and_a_later_pair_table_covers_earlier_labels(tmp_path, fake_pw, replayed, pseudo_dir,
                                                                              full_table):
    fake_pw()
    out = tmp_path / "out"
    first, second = variants(replayed[0], 2, scale=4.6 / 5.1)
    label_structures([first], out, pseudo_dir=pseudo_dir)
    label_structures([second], out, pseudo_dir=pseudo_dir)
    import shutil

    shutil.rmtree(out / "full" / "La1H10" / "set.000")  # as if killed while the set was rewritten
    summary = label_structures([second], out, pseudo_dir=pseudo_dir, pair=full_table)
    assert summary["skipped"] == 1
    assert sorted(p.name for p in (out / "full" / "La1H10").glob("set.*")) == ["set.000", "set.001"]
    full, = find_systems(out / "full")
    sub, = find_systems(out / "subtracted")
    assert full.nframes == sub.nframes == 2  # the twin holds the labels made before the table was given
    f, s = full.load(), sub.load()
    pair = PairBaseline.from_file(full_table).compute_batch(f.coords, f.cells, f.symbols)
    assert np.allclose(s.energy, f.energy - pair.energy)


def test_a_relaunch_reads_each_record_once(tmp_path, fake_pw, replayed, pseudo_dir, monkeypatch):
    """The store keeps its records in memory: a call over n structures reads the n record files once, not per structure."""
    from pathlib import Path

    fake_pw()
    out = tmp_path / "out"
    structures = variants(replayed[0], 4)
    label_structures(structures, out, pseudo_dir=pseudo_dir)
    reads = []
    original = Path.read_text

    def counting(self, *args, **kwargs):
        if self.parent == out.resolve() / "records":
            reads.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    again = label_structures(structures + variants(replayed[0], 1, seed=4), out, pseudo_dir=pseudo_dir)
    assert (again["skipped"], again["labelled"]) == (4, 1)
    assert len(reads) == 4 and len(set(reads)) == 4
    assert find_systems(out / "full")[0].frames_per_set == (4, 1)


def test_labels_of_earlier_versions_are_found_under_their_keys(tmp_path):
    """Earlier versions hashed -0.0 and 0.0 apart: a structure labelled then keeps its label (no second pw.x run)."""
    from hydropimd.dft.label import LabelStore, _Job, _known_key, earlier_structure_key, structure_key
    from hydropimd.dft.settings import DFTSettings

    settings = DFTSettings()
    atoms = Atoms("H2", positions=[[-1e-9, 0, 0], [0.74, 0, 0]], cell=np.eye(3) * 4, pbc=True)  # -0.0 once rounded
    new, old = structure_key(atoms, settings), earlier_structure_key(atoms, settings)
    assert new != old
    store = LabelStore(tmp_path)
    store.records_dir.mkdir(parents=True)
    store.save_record({"key": old, "status": "done"})
    job = _Job(0, atoms, np.arange(2), new, "H2", None)
    assert _known_key(store, job, settings).key == old
    assert _known_key(LabelStore(tmp_path / "empty"), job, settings).key == new  # nothing earlier: today's key
