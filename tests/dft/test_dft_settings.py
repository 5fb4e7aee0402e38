"""DFT settings: the study's defaults, the k-point rule, settings files."""

import json

import pytest

from hydropimd.dft.settings import DFTSettings, default_type_map, kpoint_grid, load_settings
from hydropimd.errors import InputError
from hydropimd.structures import build_lah10


def test_defaults_are_the_studys():
    s = DFTSettings()
    assert (s.functional, s.ecutwfc_ry, s.input_dft) == ("PBE", 50.0, "PBE")
    assert s.ecutrho_ry == 400.0 and s.smearing == "mv" and s.kpoint_shift
    assert s.pseudopotential("La") == "La.pbe-spfn-rrkjus_psl.1.0.0.UPF"
    assert s.pseudopotential("H") == "H.pbe-rrkjus_psl.1.0.0.UPF"
    assert s.type_map == ()  # from the structures being labelled
    assert s.digest() == "6a0e8c1ca240"  # as before the type map left the defaults: earlier labels keep their keys


@pytest.mark.parametrize("a", [4.8, 4.95, 5.1, 5.25, 5.4])
def test_kpoint_density_gives_the_study_cells_3x3x3(a):
    spacing = DFTSettings().kspacing_per_angstrom
    assert kpoint_grid(build_lah10(a=a, supercell=2).cell, spacing) == (3, 3, 3)  # 352 atoms
    assert kpoint_grid(build_lah10(a=a, cell="primitive", supercell=3).cell, spacing) == (3, 3, 3)  # 297 atoms
    distorted = build_lah10(a=a, supercell=2, angles=(91.0, 91.0, 91.0))  # the study's rhombohedral starts
    assert kpoint_grid(distorted.cell, spacing) == (3, 3, 3)
    # the same density on the small cells
    assert kpoint_grid(build_lah10(a=a).cell, spacing) == (5, 5, 5)
    assert kpoint_grid(build_lah10(a=a, cell="primitive").cell, spacing) in ((8, 8, 8), (9, 9, 9))


def test_lda_is_a_setting():
    s = load_settings({"functional": "lda"})
    assert s.functional == "LDA" and s.input_dft == "PZ"
    assert s.pseudopotential("La") == "La.pz-spfn-rrkjus_psl.1.0.0.UPF"
    assert load_settings({"functional": "PZ"}).functional == "LDA"
    assert s.digest() != DFTSettings().digest()


def test_settings_files(tmp_path):
    toml = tmp_path / "dft.toml"
    toml.write_text('[dft]\necutwfc_ry = 60\nkspacing_per_angstrom = 0.3\npseudopotentials = {La = "La.custom.UPF"}\n')
    s = load_settings(toml)
    assert s.ecutwfc_ry == 60 and s.kspacing_per_angstrom == 0.3 and s.pseudopotential("La") == "La.custom.UPF"
    js = tmp_path / "dft.json"
    js.write_text(json.dumps({"degauss_ry": 0.01}))
    assert load_settings(js).degauss_ry == 0.01
    assert load_settings(js, degauss_ry=0.03, smearing=None).degauss_ry == 0.03


@pytest.mark.parametrize("raw, words", [
    ({"ecutwfc": 50}, "unknown DFT setting"),
    ({"functional": "B3LYP"}, "not supported"),
    ({"ecutwfc_ry": -1}, "positive"),
    ({"ecutrho_ry": 100}, "at least 4 x"),
    ({"smearing": "wrong"}, "smearing"),
    ({"type_map": ["La", "La"]}, "distinct"),
    ({"kpoint_shift": "no"}, "true or false"),
    ({"pseudopotentials": "x"}, "map elements to UPF file names"),
    ({"type_map": "LaH"}, "list of element names"),
])
def test_bad_settings(raw, words):
    with pytest.raises(InputError, match=words):
        load_settings(raw)


def test_bad_settings_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("ecutwfc_ry = = 3")
    with pytest.raises(InputError, match="not valid TOML"):
        load_settings(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00 not text")
    with pytest.raises(InputError, match="not a text file"):
        load_settings(binary)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(InputError, match="not a list"):
        load_settings(listed)


def test_element_without_pseudopotential():
    with pytest.raises(InputError, match="no pseudopotential name for Xx with PBE .*element 'Xx'.*pseudopotentials = "):
        DFTSettings().pseudopotential("Xx")


def test_pseudopotential_of_any_element_follows_pslibrary():
    # the file ld1.x writes from pslibrary's suggested entry ('hydropimd dft pseudo --elements S')
    assert DFTSettings().pseudopotential("S") == "S.pbe-nl-rrkjus_psl.1.0.0.UPF"
    assert DFTSettings(functional="LDA").pseudopotential("S") == "S.pz-nl-rrkjus_psl.1.0.0.UPF"
    assert DFTSettings().pseudopotential("Y") == "Y.pbe-spn-rrkjus_psl.1.0.0.UPF"
    own = DFTSettings(pseudopotentials={"S": "S.mine.UPF"})
    assert own.pseudopotential("S") == "S.mine.UPF" and own.pseudopotential("H") == "H.pbe-rrkjus_psl.1.0.0.UPF"


def test_type_map_from_the_structures():
    from ase.build import bulk

    lah10 = build_lah10(a=5.1)
    assert default_type_map(lah10.get_chemical_symbols()) == ("La", "H")  # the published data's
    h3s = bulk("S", "bcc", a=3.09) + bulk("H", "sc", a=3.09)
    assert default_type_map(h3s.get_chemical_symbols()) == ("S", "H")
    assert default_type_map(["H", "La", "Y"]) == ("Y", "La", "H")  # by atomic number, H last
    assert DFTSettings().with_type_map(["H", "S"]).type_map == ("S", "H")
    assert DFTSettings().with_type_map(["H", "La"], types=["H", "La"]).type_map == ("H", "La")  # a data set's own
    given = load_settings({"type_map": ["H", "S"]})
    assert given.with_type_map(["S", "H"]).type_map == ("H", "S")  # the configuration's order wins
    with pytest.raises(InputError, match="unknown element"):
        default_type_map(["Xx"])
