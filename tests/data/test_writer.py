"""The one writer of labelled data sets (hydropimd.data.writer): frame identity, atom order, set numbering,
type files, atomic sets, the layout; and the DFT label store reading each record once."""

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from hydropimd.data import writer
from hydropimd.data.systems import Frames, find_systems, open_system
from hydropimd.errors import InputError


def frames(symbols, n, seed=0):
    rng = np.random.default_rng(seed)
    natoms = len(symbols)
    return Frames(list(symbols), rng.normal(size=(n, natoms, 3)), np.tile(np.eye(3) * 5, (n, 1, 1)),
                  rng.normal(size=n), rng.normal(size=(n, natoms, 3)), rng.normal(size=(n, 3, 3)))


def test_frame_key_counts_minus_zero_as_zero():
    symbols = ["La", "H"]
    positions = np.array([[0.0, 1.0, 2.0], [1.5, 0.0, 0.5]])
    cell = np.eye(3) * 4.0
    key = writer.frame_key(symbols, positions, cell)
    negative = positions.copy()
    negative[0, 0] = -0.0
    negative[1, 1] = -4e-7  # rounds to -0.0 at 1e-6 A
    tilted = cell.copy()
    tilted[0, 1] = -0.0
    assert writer.frame_key(symbols, negative, tilted) == key
    assert writer.frame_key(symbols, positions + 4e-7, cell) == key  # below the rounding
    assert writer.frame_key(symbols, positions + 1e-5, cell) != key
    assert writer.frame_key(symbols, positions, cell * 1.001) != key
    assert writer.frame_key(["H", "La"], positions, cell) != key
    assert writer.frame_key(symbols, positions, cell, salt="settings") != key  # DFT: the settings are part of it


def test_sort_by_type_is_stable_and_keeps_the_order():
    atoms = Atoms("HLaHHLa", positions=np.arange(15.0).reshape(5, 3), cell=np.eye(3) * 6, pbc=True)
    s = writer.sort_by_type(atoms, ("La", "H"))
    assert s.symbols == ["La", "La", "H", "H", "H"]
    assert list(s.order) == [1, 4, 0, 2, 3]  # stable within a type
    assert np.array_equal(s.positions, atoms.positions[[1, 4, 0, 2, 3]]) and np.array_equal(s.cell, atoms.cell.array)
    assert s.atoms().get_chemical_symbols() == s.symbols and all(s.atoms().pbc)
    assert writer.system_name(s.symbols, ("La", "H")) == "La2H3"
    with pytest.raises(InputError, match=r"He are not in the type map \['La', 'H'\]; fix it"):
        writer.sort_by_type(Atoms("LaHe", cell=np.eye(3) * 4, pbc=True), ("La", "H"), fix="fix it")


def test_only_crystal_cells_are_labelled():
    writer.check_crystal(Atoms("H", cell=np.eye(3) * 0.02, pbc=True), 0)  # 8e-6 A^3: tiny, but three-dimensional
    with pytest.raises(InputError, match="structure 3 is not periodic"):
        writer.check_crystal(Atoms("H", cell=np.eye(3) * 4, pbc=[True, True, False]), 3)
    with pytest.raises(InputError, match="structure 1 is not periodic"):
        writer.check_crystal(Atoms("H", pbc=True), 1)  # ASE's cell of zeros
    with pytest.raises(InputError, match="structure 2"):
        writer.check_crystal(Atoms("H", cell=[[4, 0, 0], [0, 4, 0], [4, 4, 0]], pbc=True), 2)  # coplanar


def test_set_numbering(tmp_path):
    assert writer.set_name(0) == "set.000" and writer.set_name(12) == "set.012"
    system = tmp_path / "La1H2"
    assert writer.next_set(system) == "set.000"  # no folder yet
    for name in ("set.000", "set.001", "set.009", "set.003.partial", "set.010.replaced", "set.x"):
        (system / name).mkdir(parents=True)
    (system / "set.011").write_text("")  # not a folder
    assert [p.name for p in writer.set_dirs(system)] == ["set.000", "set.001", "set.009"]
    assert writer.next_set(system) == "set.010"
    assert writer.next_set(system, used=[14, 2]) == "set.015"  # sets assigned but not written yet
    assert writer.set_index("set.003.partial") is None and writer.set_index("set.007") == 7


def test_sets_type_files_and_stored_keys(tmp_path):
    system = tmp_path / "full" / "La1H2"
    first, second = frames(["La", "H", "H"], 2), frames(["La", "H", "H"], 1, seed=1)
    writer.write_system_set(system, writer.next_set(system), first, ("La", "H"))
    writer.write_system_set(system, writer.next_set(system), second, ("La", "H"))
    assert (system / "type.raw").read_text() == "0\n1\n1\n" and (system / "type_map.raw").read_text() == "La\nH\n"
    opened = open_system(system)
    assert [p.name for p in opened.set_dirs] == ["set.000", "set.001"] and opened.frames_per_set == (2, 1)
    loaded = opened.load("all")
    assert np.array_equal(loaded.coords[:2], first.coords) and np.array_equal(loaded.virial[2], second.virial[0])
    assert not list(system.glob("*.partial")) and not list(system.glob("*.replaced"))
    expected = {writer.frame_key(first.symbols, c, b) for c, b in zip(np.concatenate([first.coords, second.coords]),
                                                                      np.concatenate([first.cells, second.cells]))}
    assert writer.stored_keys(system) == expected
    assert writer.stored_keys(tmp_path / "nothing") == set()
    # a set rewritten in place (the DFT labeller after every structure) replaces the old one
    writer.write_system_set(system, "set.001", frames(["La", "H", "H"], 3, seed=2), ("La", "H"))
    assert open_system(system).frames_per_set == (2, 3)
    with pytest.raises(InputError, match=r"type.raw stores other atom types"):
        writer.write_system_set(system, "set.002", frames(["La", "La", "H"], 1), ("La", "H"))


def test_layout_full_and_subtracted_with_the_old_reference_folder_kept(tmp_path):
    assert writer.system_dir(tmp_path, "La4H40") == tmp_path / "full" / "La4H40"
    assert writer.system_dir(tmp_path, "La4H40", "subtracted") == tmp_path / "subtracted" / "La4H40"
    old = tmp_path / "La1H10"  # written by the reference labeller before the layouts were one
    writer.write_system_set(old, "set.000", frames(["La"] + ["H"] * 10, 1), ("La", "H"))
    assert writer.system_dir(tmp_path, "La1H10") == old
    assert writer.system_dir(tmp_path, "La1H10", "subtracted") == tmp_path / "subtracted" / "La1H10"
    assert [s.name for s in find_systems(tmp_path)] == ["La1H10"]


def test_label_store_reads_each_record_once(tmp_path, monkeypatch):
    from hydropimd.dft.label import LabelStore

    out = tmp_path / "out"
    writing = LabelStore(out)
    n = 12
    data = frames(["La", "H", "H"], n)
    for k in range(n):
        writing.save_record({"key": f"k{k:02d}", "status": "done", "system": "La1H2", "set": f"set.{k % 3:03d}",
                             "finished": float(k), "symbols": data.symbols, "coords_angstrom": data.coords[k].tolist(),
                             "cell_angstrom": data.cells[k].tolist(), "energy_ev": float(data.energy[k]),
                             "forces_ev_per_angstrom": data.forces[k].tolist(), "virial_ev": data.virial[k].tolist()})
    reads = []
    original = Path.read_text

    def counting(self, *args, **kwargs):
        if self.parent == writing.records_dir:
            reads.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    store = LabelStore(out)
    for k in range(n):  # what a call does per structure: look it up, rebuild its set, log, number a new set
        assert store.record(f"k{k:02d}")["energy_ev"] == pytest.approx(data.energy[k])
        store.rebuild_set("La1H2", f"set.{k % 3:03d}", ("La", "H"))
        store.write_log()
        assert store.next_set("La1H2") == "set.003"
    assert sorted(reads) == [f"k{k:02d}.json" for k in range(n)]  # each record read once
    # a record written now is seen without reading it back
    store.save_record({"key": "new", "status": "unconverged", "system": "La1H2", "set": "set.005", "finished": 99.0})
    assert store.record("new")["status"] == "unconverged" and store.next_set("La1H2") == "set.006"
    assert [r["key"] for r in store.all_records()][-1] == "new" and len(reads) == n
    assert open_system(out / "full" / "La1H2").frames_per_set == (4, 4, 4)
