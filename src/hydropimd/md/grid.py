"""Validated lists of MD conditions, for the grids of runs that exploration and studies sweep.

Used as pydantic field types: ``temperatures_k: TemperatureList``.  Units: K, GPa.
A value listed twice would make two runs of one grid point write into the same
run directory, so repeats are refused.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field


def _distinct(values: list, what: str) -> list:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{what} {', '.join(f'{v:g}' for v in repeated)} listed more than once")
    return values


def _positive_temperatures(values: list[float]) -> list[float]:
    if any(t <= 0 for t in values):
        raise ValueError("temperatures must be positive")
    return _distinct(values, "temperatures")


def _at_least_one_bead(values: list[int]) -> list[int]:
    if any(b < 1 for b in values):
        raise ValueError("beads must be at least 1")
    return _distinct(values, "bead counts")


def _pressures(values: list[float]) -> list[float]:
    return _distinct(values, "pressures")


#: temperatures in K, at least one, all positive and distinct
TemperatureList = Annotated[list[float], Field(min_length=1), AfterValidator(_positive_temperatures)]
#: bead counts (1 = classical), at least one, all at least 1 and distinct
BeadList = Annotated[list[int], Field(min_length=1), AfterValidator(_at_least_one_bead)]
#: pressures in GPa, at least one, distinct
PressureList = Annotated[list[float], Field(min_length=1), AfterValidator(_pressures)]
