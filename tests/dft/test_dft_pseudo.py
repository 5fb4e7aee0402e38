"""Pseudopotentials: checking, the re-wrap of ld1.x's long lines, regeneration with ld1.x from pslibrary."""

import json
import re
import shutil

import numpy as np
import pytest

from hydropimd.data.location import PSLIBRARY_URL, fetch_pslibrary, pslibrary_root
from hydropimd.dft.pseudo import UPF_MAX_LINE, check_pseudopotentials, generate_pseudopotentials, pslibrary_file, rewrap_upf
from hydropimd.dft.pseudo import pseudo_dir as locate
from hydropimd.errors import InputError
from tests.dft.conftest import dft_cli

PBE = {"La": "La.pbe-spfn-rrkjus_psl.1.0.0.UPF", "H": "H.pbe-rrkjus_psl.1.0.0.UPF"}
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def leaf_blocks(path):
    """Numbers of every innermost PP_* element of a UPF file."""
    text = path.read_text()
    out = {}
    for m in re.finditer(r"<(PP_[A-Z_0-9.]+)([^>]*?)(?<!/)>([^<]*)</\1>", text, re.S):
        values = [float(t) for t in m.group(3).split() if NUMBER.match(t)]
        if values:
            out[m.group(1)] = np.array(values)
    return out


def test_rewrap_keeps_every_number(tmp_path):
    numbers = [f"{v:.16E}" for v in np.random.default_rng(0).normal(size=64)]
    text = "<PP_DIJ>\n" + "    " + "   ".join(numbers) + "\n</PP_DIJ>\n<PP_HEADER comment=\"" + "x" * 600 + "\"/>\n"
    upf = tmp_path / "X.UPF"
    upf.write_text(text)
    assert rewrap_upf(upf) == 1
    new = upf.read_text()
    assert new.split() == text.split()  # same tokens in the same order: no number changed
    lines = new.splitlines()
    assert max(len(ln) for ln in lines[1:-2]) <= UPF_MAX_LINE and len(lines) == 1 + 16 + 2
    assert rewrap_upf(upf) == 0  # idempotent
    upf.write_text(text.replace("x" * 600, "x" * 1100))
    with pytest.raises(InputError, match="not numeric blocks"):
        rewrap_upf(upf)


def test_check_pseudopotentials(pseudo_dir, tmp_path):
    found = check_pseudopotentials(pseudo_dir, PBE, "PBE")
    assert set(found) == {"La", "H"}
    with pytest.raises(InputError, match="made for PBE but the labels use LDA"):
        check_pseudopotentials(pseudo_dir, PBE, "LDA")
    with pytest.raises(InputError, match="is missing from"):
        check_pseudopotentials(tmp_path, PBE, "PBE")
    with pytest.raises(InputError, match="is for element 'H', not La"):
        check_pseudopotentials(pseudo_dir, {"La": PBE["H"]}, "PBE")
    long_lines = tmp_path / "La.long.UPF"
    text = (pseudo_dir / PBE["La"]).read_text()
    long_lines.write_text(text.replace("</PP_R>", " ".join(["1.0"] * 400) + "\n</PP_R>"))
    with pytest.raises(InputError, match="longer than pw.x accepts"):
        check_pseudopotentials(tmp_path, {"La": "La.long.UPF"}, "PBE")


def test_pseudo_dir_rule(monkeypatch, tmp_path, pseudo_dir):
    monkeypatch.delenv("ESPRESSO_PSEUDO", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(InputError, match="no pseudopotential folder"):
        locate(None)
    assert locate(pseudo_dir) == pseudo_dir
    (tmp_path / "cache" / "hydropimd" / "pseudopotentials").mkdir(parents=True)
    assert locate(None) == tmp_path / "cache" / "hydropimd" / "pseudopotentials"  # where 'dft pseudo' writes
    monkeypatch.setenv("ESPRESSO_PSEUDO", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="ESPRESSO_PSEUDO points to"):
        locate(None)


@pytest.fixture(scope="module")
def generated(ld1x, pslibrary, tmp_path_factory):
    """La, H and S generated once from pslibrary's collection: (folder, summary)."""
    out = tmp_path_factory.mktemp("pbe")
    return out, generate_pseudopotentials(out, elements=["La", "H", "S"], pslibrary=pslibrary)


def test_ld1x_regenerates_the_shared_files(generated, pseudo_dir):
    out, summary = generated
    files = {f["element"]: f for f in summary["files"]}
    assert files["La"]["rewrapped_lines"] == 2 and files["H"]["rewrapped_lines"] == 0  # PP_DIJ and PP_Q of La
    for element, name in PBE.items():
        ours, shared = leaf_blocks(out / name), leaf_blocks(pseudo_dir / name)
        assert ours.keys() == shared.keys()
        for block, values in shared.items():
            # ld1.x reproduces the numbers to ~1e-6 of each block's scale (measured: 1.2e-6 at worst,
            # PP_BETA.2 of La); the sign of an atomic wavefunction (PP_CHI) is arbitrary
            scale = np.abs(values).max() + 1e-30
            mine = np.abs(ours[block]) if block.startswith("PP_CHI") else ours[block]
            theirs = np.abs(values) if block.startswith("PP_CHI") else values
            assert np.abs(mine - theirs).max() <= 1e-5 * scale, (element, block)
    check_pseudopotentials(out, PBE, "PBE")  # readable by pw.x: no long line left


def test_any_element_from_the_collection(generated, pslibrary):
    out, summary = generated
    files = {f["element"]: f for f in summary["files"]}
    # pslibrary's suggested S (PP_list.md: S.$fct-nl-*), from us_ps_low.job
    assert files["S"]["file"] == "S.pbe-nl-rrkjus_psl.1.0.0.UPF" == pslibrary_file("S", "PBE", pslibrary)
    assert files["S"]["input"].endswith("us_ps_low.job:S") and files["S"]["functional"].replace(" ", "") in ("PBE", "SLA-PW-PBX-PBC")
    found = check_pseudopotentials(out, {"S": files["S"]["file"], "H": PBE["H"]}, "PBE")
    assert set(found) == {"S", "H"}
    assert [pslibrary_file(e, "PBE", pslibrary) for e in ("La", "H")] == [PBE["La"], PBE["H"]]
    assert pslibrary_file("S", "LDA", pslibrary) == "S.pz-nl-rrkjus_psl.1.0.0.UPF"


def test_unknown_element_is_refused(pslibrary, tmp_path):
    with pytest.raises(InputError, match=f"element 'Xx' in the pslibrary collection {pslibrary}"):
        generate_pseudopotentials(tmp_path, elements=["H", "Xx"], pslibrary=pslibrary, ld1="/bin/false")
    result = dft_cli("dft", "pseudo", "--elements", "Qq", "--pslibrary", pslibrary, "--out", tmp_path, "--quiet")
    assert result.returncode == 2 and "'Qq'" in result.stderr and str(pslibrary) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_pslibrary_location_rule(monkeypatch, tmp_path, pslibrary):
    monkeypatch.delenv("HYDROPIMD_PSLIBRARY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert pslibrary_root(pslibrary) == pslibrary
    with pytest.raises(InputError, match="--pslibrary points to .*no us_ps_high.job"):
        pslibrary_root(tmp_path)
    monkeypatch.setenv("HYDROPIMD_PSLIBRARY", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="HYDROPIMD_PSLIBRARY points to"):
        pslibrary_root()
    monkeypatch.delenv("HYDROPIMD_PSLIBRARY")
    monkeypatch.setenv("HYDROPIMD_DATA", str(pslibrary.parent / "lah10-published"))
    assert pslibrary_root() == pslibrary.parent / "pslibrary"  # beside the published data (a developer checkout)
    monkeypatch.setenv("HYDROPIMD_DATA", str(tmp_path))
    with pytest.raises(InputError, match="no pslibrary collection found"):
        pslibrary_root()
    # offline (no such host): one line naming the URL; nothing left in the cache
    with pytest.raises(InputError, match="cannot download .*check the URL or the network"):
        fetch_pslibrary(tmp_path / "fetched", url="http://pslibrary.invalid/pslibrary.tar.gz")
    assert not (tmp_path / "fetched").exists() and "dalcorso/pslibrary" in PSLIBRARY_URL


def test_ld1x_makes_the_lda_pair(ld1x, pslibrary, pslibrary_inputs, tmp_path):
    # from the collection (pz: pslibrary's pz/environment.job values, its pz file names)
    result = dft_cli("dft", "pseudo", "--functional", "LDA", "--out", tmp_path / "c", "--elements", "La", "H",
                     "--pslibrary", pslibrary, "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert sorted(f["file"] for f in summary["files"]) == ["H.pz-rrkjus_psl.1.0.0.UPF", "La.pz-spfn-rrkjus_psl.1.0.0.UPF"]
    assert {f["functional"] for f in summary["files"]} == {"LDA"}  # pslibrary's pz/environment.job: gfun='LDA' (= PZ)
    lda = {"La": "La.pz-spfn-rrkjus_psl.1.0.0.UPF", "H": "H.pz-rrkjus_psl.1.0.0.UPF"}
    check_pseudopotentials(tmp_path / "c", lda, "LDA")
    # the folder of extracted inputs (dft='PZ') still works and gives the same numbers
    result = dft_cli("dft", "pseudo", "--functional", "LDA", "--out", tmp_path / "i", "--inputs", pslibrary_inputs,
                     "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    for name in lda.values():
        from_collection, from_inputs = (leaf_blocks(tmp_path / d / name) for d in ("c", "i"))
        assert from_collection.keys() == from_inputs.keys()
        assert all(np.array_equal(from_collection[b], from_inputs[b]) for b in from_inputs), name


def test_generation_errors(tmp_path, monkeypatch, pslibrary_inputs):
    with pytest.raises(InputError, match="give --elements EL"):  # no default element
        generate_pseudopotentials(tmp_path / "out", ld1="/bin/true")
    with pytest.raises(InputError, match="no ld1.x inputs"):
        generate_pseudopotentials(tmp_path / "out", inputs=tmp_path, ld1="/bin/true")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InputError, match="ld1.x not found.*apt-get install quantum-espresso"):
        generate_pseudopotentials(tmp_path / "out", inputs=pslibrary_inputs)
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(pslibrary_inputs / "H.pbe-rrkjus_psl.1.0.0.in", bad)
    with pytest.raises(InputError, match="ld1.x failed on H.pbe-rrkjus_psl.1.0.0.in.*read"):
        generate_pseudopotentials(tmp_path / "out", inputs=bad, ld1="/bin/false")


def test_a_folder_of_pseudopotentials_names_its_own_files(pseudo_dir, tmp_path):
    """Without pslibrary's collection at hand, the one file of the folder made for an element and functional is used."""
    from hydropimd.dft.pseudo import folder_upf
    from hydropimd.dft.settings import DFTSettings

    assert folder_upf(pseudo_dir, "La", "PBE") == "La.pbe-spfn-rrkjus_psl.1.0.0.UPF"
    assert folder_upf(pseudo_dir, "La", "LDA") is None and folder_upf(pseudo_dir, "S", "PBE") is None
    shutil.copy(pseudo_dir / "H.pbe-rrkjus_psl.1.0.0.UPF", tmp_path / "H-one.UPF")
    shutil.copy(pseudo_dir / "H.pbe-rrkjus_psl.1.0.0.UPF", tmp_path / "H-two.UPF")
    assert folder_upf(tmp_path, "H", "PBE") is None  # two candidates: the user chooses
    assert DFTSettings(pseudopotentials={"H": "H-two.UPF"}).pseudopotential("H", tmp_path) == "H-two.UPF"
