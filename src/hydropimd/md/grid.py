"""Validated lists of MD conditions, for the grids of runs that exploration and studies sweep.

Used as pydantic field types: ``temperatures_k: TemperatureList``.  Units: K.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field


def _positive_temperatures(values: list[float]) -> list[float]:
    if any(t <= 0 for t in values):
        raise ValueError("temperatures must be positive")
    return values


def _at_least_one_bead(values: list[int]) -> list[int]:
    if any(b < 1 for b in values):
        raise ValueError("beads must be at least 1")
    return values


#: temperatures in K, at least one, all positive
TemperatureList = Annotated[list[float], Field(min_length=1), AfterValidator(_positive_temperatures)]
#: bead counts (1 = classical), at least one, all at least 1
BeadList = Annotated[list[int], Field(min_length=1), AfterValidator(_at_least_one_bead)]
