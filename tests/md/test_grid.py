"""Validated condition lists shared by exploration grids and study grids."""

import pytest
from pydantic import BaseModel, ValidationError

from hydropimd.md.grid import BeadList, PressureList, TemperatureList


class Grid(BaseModel):
    temperatures_k: TemperatureList
    beads: BeadList = [1]
    pressures_gpa: PressureList = [150.0]


def test_valid_lists_pass_through():
    grid = Grid(temperatures_k=[100, 300.5], beads=[1, 16])
    assert grid.temperatures_k == [100.0, 300.5] and grid.beads == [1, 16]


@pytest.mark.parametrize("values, message", [
    ({"temperatures_k": [300, 0]}, "temperatures must be positive"),
    ({"temperatures_k": [-5]}, "temperatures must be positive"),
    ({"temperatures_k": []}, "at least 1 item"),
    ({"temperatures_k": [300], "beads": [8, 0]}, "beads must be at least 1"),
    ({"temperatures_k": [300], "beads": []}, "at least 1 item"),
    ({"temperatures_k": [300, 100, 300.0]}, "temperatures 300 listed more than once"),
    ({"temperatures_k": [300], "beads": [8, 16, 8]}, "bead counts 8 listed more than once"),
    ({"temperatures_k": [300], "pressures_gpa": [150, 150]}, "pressures 150 listed more than once"),
])
def test_invalid_lists_are_refused(values, message):
    with pytest.raises(ValidationError, match=message):
        Grid(**values)
