"""Diversity selection (SPEC eq. 2) against brute force, and the identity it rests on."""

import itertools

import numpy as np
import pytest

from hydropimd.active.select import most_diverse_subset, subset_diversity
from hydropimd.errors import InputError


def pair_sum(x, subset):
    """SPEC eq. 2 literally: the sum over pairs i < j of |x_i - x_j|^2."""
    return sum(float(np.sum((x[i] - x[j]) ** 2)) for i, j in itertools.combinations(subset, 2))


def brute_force(x, n):
    return max(subset_diversity(x, c) for c in itertools.combinations(range(len(x)), n))


def random_set(seed, m, d):
    rng = np.random.default_rng(seed)
    if seed % 3 == 0:  # two clusters: greedy choices are easy to get wrong here
        return np.vstack([rng.normal(size=(m // 2, d)), rng.normal(size=(m - m // 2, d)) + 3.0])
    return rng.normal(size=(m, d)) * rng.uniform(0.2, 3.0, size=d)  # anisotropic cloud


def test_identity_sum_over_pairs():
    x = random_set(1, 9, 4)
    for subset in [(0, 1), (2, 5, 7), (0, 3, 4, 6, 8)]:
        assert subset_diversity(x, subset) == pytest.approx(pair_sum(x, subset), rel=1e-12)


@pytest.mark.parametrize("m,n,d", [(12, 4, 3), (12, 4, 10), (14, 5, 2), (10, 3, 5), (12, 6, 4)])
def test_greedy_exchange_against_brute_force(m, n, d):
    ratios = []
    for seed in range(60):
        x = random_set(seed, m, d)
        chosen = most_diverse_subset(x, n)
        assert len(set(chosen.tolist())) == n
        ratios.append(subset_diversity(x, chosen) / brute_force(x, n))
    ratios = np.array(ratios)
    # measured (200 seeds per shape, docs/validation/selection.md): the default 8 starts find the optimum every time;
    # a single start finds it in 98 % of cases, worst ratio 0.93
    assert ratios.max() <= 1 + 1e-12
    assert np.mean(ratios > 1 - 1e-9) >= 0.95 and ratios.min() > 0.97


def test_single_start_is_still_close():
    ratios = [subset_diversity(x, most_diverse_subset(x, 4, starts=1)) / brute_force(x, 4)
              for x in (random_set(seed, 12, 3) for seed in range(40))]
    assert min(ratios) > 0.9


def test_edge_cases():
    x = random_set(2, 6, 3)
    assert most_diverse_subset(x, 6).tolist() == list(range(6))
    assert most_diverse_subset(x, 10).tolist() == list(range(6))
    assert len(most_diverse_subset(x, 1)) == 1
    with pytest.raises(InputError, match="at least 1"):
        most_diverse_subset(x, 0)
    # duplicated points: never chosen twice
    dup = np.vstack([x, x])
    assert len(set(most_diverse_subset(dup, 5).tolist())) == 5
