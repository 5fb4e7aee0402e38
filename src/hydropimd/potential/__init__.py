"""The potential: a DeePMD-kit model plus an optional pair baseline (:class:`HydridePotential`)."""

from hydropimd.potential.calculator import Evaluation, HydridePotential

__all__ = ["Evaluation", "HydridePotential"]
