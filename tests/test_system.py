"""The [system] table: one place for a hydride's structure, types, pair table, pseudopotentials and DFT settings."""

import pytest
from pydantic import ValidationError

from hydropimd.errors import InputError
from hydropimd.system import SystemSettings, merge_key


def test_types_come_from_the_structure_by_the_default_rule():
    assert SystemSettings(structure={"prototype": "h3s"}).types() == ["S", "H"]
    assert SystemSettings(structure={"prototype": "labeh8"}).types() == ["Be", "La", "H"]
    assert SystemSettings(structure={"prototype": "lah10"}, type_map=["H", "La"]).types() == ["H", "La"]
    assert SystemSettings(structure={"prototype": "cah6"}, name="CaH6").label() == "CaH6"
    assert SystemSettings(structure={"prototype": "h3s", "cell": "primitive"}).label() == "H3S"


def test_a_type_map_must_hold_the_structures_elements():
    with pytest.raises(InputError, match="lacks S"):
        SystemSettings(structure={"prototype": "h3s"}, type_map=["H"]).types()
    with pytest.raises(ValidationError, match="more than once"):
        SystemSettings(structure={"prototype": "h3s"}, type_map=["S", "H", "S"])
    with pytest.raises(ValidationError, match="structure"):
        SystemSettings(name="no structure")  # no default structure: none is sensible for an unknown system
    with pytest.raises(ValidationError, match="known prototypes: lah10, h3s"):
        SystemSettings(structure={"prototype": "nope"})


def test_a_key_given_twice_is_refused():
    assert merge_key("data.pair", None, "t.table", "pair") == "t.table"
    assert merge_key("data.pair", "t.table", None, "pair") == "t.table"
    assert merge_key("data.pair", "t.table", "t.table", "pair") == "t.table"
    with pytest.raises(ValueError, match="data.pair and system.pair both given"):
        merge_key("data.pair", "a.table", "b.table", "pair")
