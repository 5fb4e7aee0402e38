"""Committee deviation against DeePMD-kit's model-deviation code, deviation windows, SOAP and selection."""

import numpy as np
import pytest
from ase import Atoms
from ase.io import read

from hydropimd.active.deviation import force_deviation, load_committee
from hydropimd.active.select import choose_frames, select_frames, write_selection
from hydropimd.active.soap import SOAPSettings, averaged_soap
from hydropimd.errors import InputError
from hydropimd.structures import build_lah10


@pytest.fixture(scope="module")
def committee_files(published):
    # two different published models (subtracted and full targets) give a large, non-trivial deviation;
    # a member repeated makes three, as in the study
    return [published / "models/subtracted/graph.pb", published / "models/full/graph.pb",
            published / "models/subtracted/graph.pb"]


@pytest.fixture(scope="module")
def committee(committee_files):
    return load_committee(committee_files)


@pytest.fixture(scope="module")
def frames():
    """Mixed compositions and sizes (44-atom conventional, 11-atom primitive cells), interleaved."""
    out = []
    for k in range(10):
        atoms = build_lah10(a=5.0 + 0.02 * k, cell="primitive" if k % 3 == 1 else "conventional")
        atoms.rattle(0.02 + 0.03 * k, seed=k)
        out.append(atoms)
    return out


def test_deviation_matches_deepmd_model_devi(committee, frames):
    from deepmd.infer.model_devi import calc_model_devi

    e = force_deviation(frames, committee)
    assert e.shape == (len(frames),) and np.all(e > 0)
    for k, atoms in enumerate(frames):
        types = np.array([committee.type_map.index(s) for s in atoms.get_chemical_symbols()])
        # DeePMD-kit's python model deviation (behind 'dp model-devi'): column 4 is max_devi_f
        reference = calc_model_devi(atoms.positions.reshape(1, -1), atoms.cell.array.reshape(1, 9), types,
                                    committee.models)
        assert e[k] == pytest.approx(reference[0, 4], rel=1e-10)
        # and SPEC eq. 1 written out: max over atoms of sqrt(<|F_i - <F_i>|^2>)
        forces = np.stack([m.eval(atoms.positions.reshape(1, -1), atoms.cell.array.reshape(1, 9), types)[1][0]
                           for m in committee.models])
        eq1 = np.sqrt(np.mean(np.sum((forces - forces.mean(axis=0)) ** 2, axis=-1), axis=0)).max()
        assert e[k] == pytest.approx(eq1, rel=1e-10)


def test_windows_counts_and_picks():
    dev = np.array([0.01, 0.30, 0.12, 0.90, 0.05, 0.25, 1.50, 0.20])
    r = choose_frames(dev, lo=0.05, hi=0.8, n=2)
    assert r["counts"] == {"candidates": 8, "below_lo": 1, "kept": 5, "dropped": 2, "selected": 2}
    assert r["dropped_range"] == [0.9, 1.5] and r["accurate_fraction"] == pytest.approx(1 / 8)
    assert [s["index"] for s in r["selected"]] == [1, 5]  # largest E first
    assert r["note"] is None
    everything = choose_frames(dev, lo=0.05, hi=0.8, n=9)
    assert everything["counts"]["selected"] == 5 and "all of them are selected" in everything["note"]
    assert choose_frames(dev, 0.0, 2.0, 3)["dropped_range"] is None
    for lo, hi in [(0.5, 0.5), (0.6, 0.2)]:
        with pytest.raises(InputError, match="must be smaller than hi"):
            choose_frames(dev, lo, hi, 2)
    # diversity: the picks come from the kept window only
    r = choose_frames(dev, 0.05, 0.8, 2, mode="diversity", vectors_of=lambda idx: dev[idx, None])
    assert sorted(s["index"] for s in r["selected"]) == [1, 4]  # the extremes of the kept values 0.05..0.30


def test_soap_vectors(frames):
    settings = SOAPSettings()
    assert (settings.r_cut, settings.n_max, settings.l_max, settings.sigma, settings.average) == (4.0, 6, 4, 0.4, "outer")
    base = build_lah10(a=5.05)
    shifted = base.copy()
    shifted.translate([0.3, -0.2, 0.7])
    shifted.wrap()
    bigger = base.repeat((2, 1, 1))  # the same crystal in a doubled cell: same average environment
    v = averaged_soap([base, shifted, bigger, frames[5]], n_jobs=1)
    assert v.shape == (4, 390)
    assert np.allclose(v[0], v[1], atol=1e-8) and np.allclose(v[0], v[2], atol=1e-8)
    assert not np.allclose(v[0], v[3], atol=1e-3)
    iron = Atoms("Fe", cell=np.eye(3) * 3, pbc=True)
    assert averaged_soap([iron], n_jobs=1).shape[0] == 1  # species by default: the frames' own elements
    with pytest.raises(InputError, match="Fe"):
        averaged_soap([iron], {"species": ["La", "H"]})


def test_select_by_deviation_and_diversity(committee, frames, tmp_path):
    e = force_deviation(frames, committee)
    lo, hi = np.sort(e)[1], np.sort(e)[-2]  # one frame below lo, two at or above hi (E = hi is dropped)
    r = select_frames(frames, committee, lo, hi, 3, deviations=e)
    assert r["counts"] == {"candidates": 10, "below_lo": 1, "kept": 7, "dropped": 2, "selected": 3}
    assert [s["max_force_dev"] for s in r["selected"]] == sorted(e[(e >= lo) & (e < hi)])[::-1][:3]
    assert r["deviation_range"] == pytest.approx({"min_ev_per_angstrom": e.min(), "median_ev_per_angstrom": np.median(e),
                                                  "max_ev_per_angstrom": e.max()})
    d = select_frames(frames, committee, lo, hi, 3, mode="diversity", deviations=e)
    assert d["soap"]["species"] == ("La", "H") or d["soap"]["species"] == ["La", "H"]
    picked = [s["index"] for s in d["selected"]]
    assert all(lo <= e[k] < hi for k in picked) and len(picked) == 3
    out = write_selection(frames, d, tmp_path / "sel.extxyz")
    back = read(out, index=":")
    assert [a.info["candidate_index"] for a in back] == picked
    assert [len(a) for a in back] == [len(frames[k]) for k in picked]
