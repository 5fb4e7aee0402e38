import csv

import numpy as np
import pytest

from hydropimd.analysis.statistics import correlated_mean

from hydropimd.md.settings import MDSettings
from hydropimd.structures import build_lah10


def read_table(run_dir, name="table.csv"):
    """The run's table as a dict of float arrays (empty strings -> nan)."""
    with open(run_dir / name) as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) if r[k] != "" else np.nan for r in rows]) for k in rows[0]}


def mean_and_error(x):
    """Mean and its standard error corrected for time correlation (the analysis stage's Sokal estimate)."""
    estimate = correlated_mean(np.asarray(x))
    return estimate.mean, estimate.stderr


@pytest.fixture
def lah10_settings(published):
    def make(**kwargs):
        base = dict(model=str(published / "models/subtracted/graph.pb"), pair=str(published / "tables/full.table"),
                    temperature_k=300.0, pressure_gpa=150.0, steps=100, stride=10, checkpoint_stride=50)
        base.update(kwargs)
        return MDSettings(**base)

    return make


@pytest.fixture
def lah10_44():
    """The 44-atom conventional cell near 150 GPa, slightly rhombohedral as the study starts its runs."""
    return build_lah10(a=5.05, angles=(90.6, 90.6, 90.6))
