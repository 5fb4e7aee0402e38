"""The [system] table: one place for a hydride's structure, types, pair table, pseudopotentials and DFT settings."""

import pytest
from pydantic import ValidationError

from hydropimd.system import SystemSettings, merge_key


def test_bad_system_tables_are_refused():
    with pytest.raises(ValidationError, match="more than once"):
        SystemSettings(structure={"prototype": "h3s"}, type_map=["S", "H", "S"])
    with pytest.raises(ValidationError, match="structure"):
        SystemSettings(name="no structure")  # no default structure: none is sensible for an unknown system
    with pytest.raises(ValidationError, match="known prototypes: lah10, h3s"):
        SystemSettings(structure={"prototype": "nope"})
    with pytest.raises(ValidationError, match="Xx: not a chemical element"):
        SystemSettings(structure={"prototype": "h3s"}, type_map=["S", "Xx", "H"])
    with pytest.raises(ValidationError, match="X: not a chemical element"):  # ASE's placeholder symbol is none
        SystemSettings(structure={"prototype": "h3s"}, type_map=["S", "X"])
    # DFT settings are DFTSettings fields, checked with the table (a study would never read them)
    with pytest.raises(ValidationError, match=r"unknown DFT setting\(s\) ecutwfc, nonsense"):
        SystemSettings(structure={"prototype": "h3s"}, dft={"ecutwfc": "fifty", "nonsense": 3})
    with pytest.raises(ValidationError, match="kpoint_shift = 'yes' must be true or false"):
        SystemSettings(structure={"prototype": "h3s"}, dft={"kpoint_shift": "yes"})
    assert SystemSettings(structure={"prototype": "h3s"}, dft={"ecutwfc_ry": 60}).dft == {"ecutwfc_ry": 60}


def test_a_key_given_twice_is_refused():
    assert merge_key("data.pair", None, "t.table", "pair") == "t.table"
    assert merge_key("data.pair", "t.table", None, "pair") == "t.table"
    for own, from_system in [("a.table", "b.table"), ("t.table", "t.table")]:  # equal too: one place each
        with pytest.raises(ValueError, match="data.pair and system.pair both given"):
            merge_key("data.pair", own, from_system, "pair")
