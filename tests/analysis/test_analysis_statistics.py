"""Correlated error bars: integrated autocorrelation time and blocking against AR(1) series of known correlation."""

import numpy as np
import pytest

from hydropimd.analysis.statistics import autocorrelation, blocking_standard_error, correlated_mean, wald_test
from tests.analysis.synthetic import ar1


def ar1_truth(phi: float, sigma: float, n: int):
    """tau_int (frames) and the standard error of the mean of a stationary AR(1) series with spread sigma."""
    tau = (1 + phi) / (2 * (1 - phi))
    return tau, sigma * np.sqrt(2 * tau / n)


def test_autocorrelation_of_ar1_decays_as_phi_to_the_t():
    x = ar1(np.random.default_rng(0), 200_000, 1.0, 0.8)
    rho = autocorrelation(x)
    assert rho[0] == 1.0
    np.testing.assert_allclose(rho[1:6], 0.8 ** np.arange(1, 6), atol=0.01)


@pytest.mark.parametrize("phi", [0.0, 0.5, 0.9, 0.97])
def test_error_bar_matches_known_autocorrelation_time(phi):
    n, sigma = 100_000, 0.7
    x = 3.0 + ar1(np.random.default_rng(1), n, sigma, phi)
    tau, stderr = ar1_truth(phi, sigma, n)
    estimate = correlated_mean(x)
    assert estimate.tau_int_frames == pytest.approx(tau, rel=0.12)
    assert estimate.stderr == pytest.approx(stderr, rel=0.12)
    assert estimate.n_effective == pytest.approx(n / (2 * tau), rel=0.12)
    assert estimate.blocking_stderr == pytest.approx(stderr, rel=0.2)
    assert estimate.reliable


def test_error_bars_cover_the_true_mean_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    inside = []
    for _ in range(300):
        estimate = correlated_mean(ar1(rng, 3000, 1.0, 0.9))
        inside.append(abs(estimate.mean) < 1.96 * estimate.stderr)
    assert 0.90 <= np.mean(inside) <= 0.985


def test_naive_error_would_be_too_small():
    x = ar1(np.random.default_rng(3), 50_000, 1.0, 0.95)
    naive = np.std(x) / np.sqrt(len(x))
    assert correlated_mean(x).stderr > 5 * naive


def test_short_series_is_flagged_unreliable():
    x = ar1(np.random.default_rng(4), 200, 1.0, 0.98)
    assert not correlated_mean(x).reliable


def test_blocking_constant_series():
    assert blocking_standard_error(np.ones(100))[0] == 0.0


def test_wald_test_size_and_power():
    rng = np.random.default_rng(5)
    p_null = [wald_test(ar1(rng, 2000, 1.0, 0.8, (3,)))["p_value"] for _ in range(200)]
    assert 0.01 <= np.mean(np.array(p_null) < 0.05) <= 0.10  # nominal 5 % false alarms
    shifted = ar1(rng, 2000, 1.0, 0.8, (3,)) + np.array([0.0, 0.0, 0.5])
    assert wald_test(shifted)["p_value"] < 1e-6
    assert wald_test(np.column_stack([np.zeros(50), np.full(50, 0.3)]))["p_value"] == 0.0


def test_wald_test_cannot_decide_with_too_few_effective_samples():
    """k = 3 constraints need more than 4 effective samples: below that the p-value is NaN, not a guess."""
    rng = np.random.default_rng(9)
    for _ in range(20):
        result = wald_test(ar1(rng, 30, 1.0, 0.95, (3,)))
        assert np.isnan(result["p_value"]) == (result["n_effective"] <= 4)
    assert np.isnan(wald_test(rng.normal(size=(4, 3)))["p_value"])  # 4 independent samples, 3 constraints
