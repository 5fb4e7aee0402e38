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


def test_a_key_given_twice_is_refused():
    assert merge_key("data.pair", None, "t.table", "pair") == "t.table"
    assert merge_key("data.pair", "t.table", None, "pair") == "t.table"
    assert merge_key("data.pair", "t.table", "t.table", "pair") == "t.table"
    with pytest.raises(ValueError, match="data.pair and system.pair both given"):
        merge_key("data.pair", "a.table", "b.table", "pair")
