"""Classification and error bars of synthetic cell trajectories with known shapes, rotated and in supercells."""

import numpy as np
import pytest

from hydropimd.analysis import cell_shape
from hydropimd.lattice import metric_from_cells
from tests.analysis.synthetic import shape_series, simulation_cells

SITES = {("conventional", 1): 4, ("conventional", 2): 32, ("conventional", 4): 256, ("primitive", 3): 27}
N_FRAMES = 3000


def report_for(rng, angles, lengths=None, kind="conventional", n=2, rotate=False, sigma_deg=0.3, phi=0.5, frames=N_FRAMES):
    L, A = shape_series(rng, frames, angles, lengths=lengths, sigma_deg=sigma_deg, phi=phi)
    cells = simulation_cells(L, A, kind, n, rotate=rotate, seed=int(rng.integers(1 << 30)))
    return cell_shape(metric_from_cells(cells), np.arange(frames) * 0.01, SITES[(kind, n)])


CASES = [
    ("cubic", (90, 90, 90), None),
    ("rhombohedral", (94, 86, 86), None),
    ("rhombohedral", (91.5, 91.5, 91.5), None),
    ("monoclinic", (90, 90, 93), None),
    ("tetragonal", (90, 90, 90), (5.1, 5.1, 5.25)),
    ("orthorhombic", (90, 90, 90), (5.0, 5.1, 5.25)),
    ("triclinic", (92, 89, 93), (5.0, 5.1, 5.25)),
]


@pytest.mark.parametrize("kind, n, rotate", [("conventional", 2, False), ("conventional", 4, True), ("primitive", 3, True)])
@pytest.mark.parametrize("expected, angles, lengths", CASES)
def test_classification_of_known_shapes(rng, expected, angles, lengths, kind, n, rotate):
    report = report_for(rng, angles, lengths, kind, n, rotate)
    assert report["classification"] == expected, report["classification_test"]["statement"]
    mean, err = np.array(report["angles_deg"]), np.array(report["angles_stderr_deg"])
    assert np.all(np.abs(mean - angles) < 4.5 * err), (mean, err)
    if lengths is None:
        lengths = (5.1, 5.1, 5.1)
    np.testing.assert_allclose(report["lengths_angstrom"], lengths, atol=5 * max(report["lengths_stderr_angstrom"]))
    np.testing.assert_allclose(report["angle_deviations_sorted_deg"], sorted(np.abs(np.array(angles) - 90), reverse=True),
                               atol=4.5 * err.max())
    assert report["mapping"]["kind"] == kind


def test_cubic_confidence_and_upper_bound(rng):
    report = report_for(rng, (90, 90, 90))
    test = report["classification_test"]
    assert test["test"]["cubic"]["p_value"] > 0.01
    assert 0 < test["max_deviation_upper_deg"] < 0.2
    distorted = report_for(rng, (90.3, 90.3, 90.3), sigma_deg=0.3)
    assert distorted["classification"] == "rhombohedral" and distorted["classification_test"]["confidence"] > 0.99


def test_error_bars_follow_the_autocorrelation_time(rng):
    phi, sigma, n = 0.95, 0.5, 50000  # Sokal: relative error of tau ~ sqrt(2 (2M + 1) / N) = 9 %
    report = report_for(rng, (90, 90, 90), sigma_deg=sigma, phi=phi, frames=n)
    expected = sigma * np.sqrt((1 + phi) / (1 - phi) / n)
    np.testing.assert_allclose(report["angles_stderr_deg"], expected, rtol=0.25)
    tau_ps = (1 + phi) / (2 * (1 - phi)) * 0.01
    np.testing.assert_allclose(report["tau_int_ps"]["angles"], tau_ps, rtol=0.3)
    assert report["n_effective"] == pytest.approx(n / (2 * (1 + phi) / (2 * (1 - phi))), rel=0.3)


def test_too_few_frames_says_how_many_are_needed(rng):
    from hydropimd.errors import InputError

    with pytest.raises(InputError, match="at least 32"):
        report_for(rng, (90, 90, 90), frames=10)


def test_a_run_too_short_for_the_test_is_undetermined(rng):
    """40 frames with a correlation time of ~10-20 frames: a handful of effective samples for 5 constraints. With
    fewer than MIN_PROJECTIONS cosine projections the error bars are too uncertain for a class (a chi^2 reference
    there called such cubic runs distorted with p ~ 1e-10; an F one with the estimated n_eff called distorted runs
    cubic)."""
    from hydropimd.analysis.classify import MIN_PROJECTIONS

    undetermined = 0
    for trial in range(10):
        report = report_for(rng, (90, 90, 90), frames=40, phi=0.95)
        test = report["classification_test"]
        too_few = test["test"]["cubic"]["n_projections"] < MIN_PROJECTIONS
        assert (report["classification"] == "undetermined") == too_few, test["statement"]
        if too_few:
            undetermined += 1
            assert "run longer" in test["statement"] and np.isnan(test["confidence"])
    assert undetermined >= 3
