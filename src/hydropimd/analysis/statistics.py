"""Means of time-correlated series with honest error bars, and the Wald test built on them.

Successive MD frames are correlated, so the naive standard error sigma/sqrt(N)
is too small.  Two estimators are provided; both work in units of frames and
return standard errors in the units of the data.

* Integrated autocorrelation time with Sokal's automatic window (the one used
  for reported error bars)::

      rho(t)     = C(t) / C(0),                 C(t) = (1/N) sum_i (x_i - m)(x_{i+t} - m)
      tau_int(M) = 1/2 + sum_{t=1..M} rho(t),   M = smallest window with M >= c tau_int(M), c = 5
      var(mean)  = 2 tau_int var(x) / N,        n_eff = N / (2 tau_int)

  N. Madras and A. D. Sokal, J. Stat. Phys. 50, 109 (1988); A. D. Sokal,
  "Monte Carlo methods in statistical mechanics: foundations and new
  algorithms" (Cargese lectures, 1996), section 3.  tau_int = 1/2 (n_eff = N)
  for uncorrelated data.  The estimate is trusted when N >= 50 tau_int.

* Blocking (H. Flyvbjerg and H. G. Petersen, J. Chem. Phys. 91, 461 (1989)):
  pairwise averaging halves the series until the variance of the mean stops
  growing; the block size is chosen by the criterion of M. C. Lee et al.,
  Phys. Rev. E 83, 066706 (2011): the smallest B = 2^k with
  B^3 > 2 N (se_B / se_1)^4.  Reported as a cross-check.

numpy and scipy have no autocorrelation-time or blocking estimator (scipy.signal
correlates, but the window choice is the point), hence the code here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import fft, stats

#: Sokal's window constant c (M >= c tau_int); 5 is his recommendation for near-exponential decay.
SOKAL_C = 5.0
#: Series shorter than this many samples per tau_int give unreliable error bars (Sokal: N >> tau_int).
RELIABLE_SAMPLES_PER_TAU = 50.0


@dataclass(frozen=True)
class MeanEstimate:
    """Mean of a series with its correlated standard error.

    ``tau_int_frames``: integrated autocorrelation time in frames (1/2 for
    uncorrelated data); ``n_effective`` = N / (2 tau_int); ``window_frames``: the
    Sokal window M; ``reliable``: the window condition was met and N >= 50 tau_int;
    ``blocking_stderr``: the Flyvbjerg-Petersen estimate, for comparison.
    """

    mean: float
    stderr: float
    tau_int_frames: float
    n_effective: float
    n_samples: int
    window_frames: int
    reliable: bool
    blocking_stderr: float

    def to_dict(self) -> dict:
        return asdict(self)


def autocorrelation(x) -> np.ndarray:
    """Normalised autocorrelation rho(t), t = 0..N-1, of each column of ``x`` (shape (N,) or (N, k)).

    Biased estimator C(t) = (1/N) sum (x_i - m)(x_{i+t} - m) (positive definite,
    lower variance at large t), via zero-padded FFT (Wiener-Khinchin), O(N log N).
    A constant column gives rho = [1, 0, 0, ...].
    """
    x = np.asarray(x, dtype=float)
    one = x.ndim == 1
    x = x.reshape(len(x), -1)
    n = len(x)
    y = x - x.mean(axis=0)
    size = fft.next_fast_len(2 * n, real=True)
    spectrum = fft.rfft(y, n=size, axis=0)
    acov = fft.irfft(spectrum * spectrum.conj(), n=size, axis=0)[:n] / n
    var = acov[0].copy()
    rho = np.zeros_like(acov)
    rho[0] = 1.0
    ok = var > 0
    rho[:, ok] = acov[:, ok] / var[ok]
    return rho[:, 0] if one else rho


def integrated_autocorrelation_time(x, c: float = SOKAL_C) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sokal's windowed tau_int (frames) of each column of ``x``; returns (tau_int, window M, window found).

    tau_int(M) = 1/2 + sum_{t=1..M} rho(t) with the smallest M >= c tau_int(M).
    tau_int is floored at 1/2 (anticorrelated noise would otherwise claim more
    independent samples than frames).
    """
    rho = autocorrelation(x)
    one = rho.ndim == 1
    rho = rho.reshape(len(rho), -1)
    n = len(rho)
    taus = np.cumsum(rho, axis=0) - 0.5  # tau(M) for M = 0..N-1
    lags = np.arange(n)[:, None]
    satisfied = lags >= c * taus
    found = satisfied.any(axis=0)
    window = np.where(found, satisfied.argmax(axis=0), n - 1)
    tau = np.maximum(taus[window, np.arange(taus.shape[1])], 0.5)
    if one:
        return tau[0], window[0], found[0]
    return tau, window, found


def blocking_standard_error(x) -> tuple[float, int, bool]:
    """Flyvbjerg-Petersen blocking standard error of the mean of ``x``; returns (stderr, block size in frames, criterion met).

    Block size from the Lee et al. (2011) criterion B^3 > 2 N (se_B/se_1)^4; if
    no level meets it the largest level with at least 4 blocks is used and the
    third value is False.
    """
    x = np.asarray(x, dtype=float)
    n_total = len(x)
    levels = []  # (block size, se of the mean at that level)
    block, y = 1, x
    while len(y) >= 4:
        levels.append((block, float(np.std(y, ddof=1) / np.sqrt(len(y)))))
        if len(y) % 2:
            y = y[:-1]  # FP drop the odd sample before pairing
        y = 0.5 * (y[0::2] + y[1::2])
        block *= 2
    if not levels:
        return float("nan"), 1, False
    se1 = levels[0][1]
    if se1 == 0:
        return 0.0, 1, True
    for block, se in levels:
        if block**3 > 2 * n_total * (se / se1) ** 4:
            return se, block, True
    return levels[-1][1], levels[-1][0], False


def correlated_mean(x) -> MeanEstimate:
    """Mean of a 1-D series with the Sokal standard error (see the module docstring)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    tau, window, found = integrated_autocorrelation_time(x)
    tau = float(tau)
    var = float(np.var(x))
    stderr = float(np.sqrt(2.0 * tau * var / n)) if n > 1 else float("nan")
    return MeanEstimate(
        mean=float(np.mean(x)),
        stderr=stderr,
        tau_int_frames=tau,
        n_effective=float(n / (2.0 * tau)),
        n_samples=n,
        window_frames=int(window),
        reliable=bool(found and n >= RELIABLE_SAMPLES_PER_TAU * tau),
        blocking_stderr=blocking_standard_error(x)[0],
    )


def correlated_means(series) -> list[MeanEstimate]:
    """:func:`correlated_mean` of each column of an (N, k) array."""
    series = np.asarray(series, dtype=float)
    return [correlated_mean(series[:, j]) for j in range(series.shape[1])]


def wald_test(contrasts) -> dict:
    """Test that every column of ``contrasts`` (shape (N, k)) has zero mean, accounting for time correlation.

    Hotelling's T^2 = m^T Sigma^-1 m, with m the column means and
    Sigma = D R D, where D holds the Sokal standard errors of the means and R is
    the equal-time correlation matrix of the columns (this assumes the columns
    share one correlation shape in time; it is exact for independent columns and
    for a common tau_int).  Reference distribution: F = T^2 (n - k) / (k (n - 1))
    ~ F(k, n - k) with n the smallest effective sample size of the columns
    (Hotelling 1931); columns that are exactly constant count as known: a
    non-zero constant rejects with p = 0.  With n <= k + 1 effective samples the
    F reference does not exist and the data cannot decide: ``p_value`` is NaN
    (a chi^2 reference there would reject far more often than its level).

    Returns ``statistic`` (T^2), ``dof`` (k), ``n_effective``, ``p_value``.
    """
    x = np.asarray(contrasts, dtype=float)
    x = x.reshape(len(x), -1)
    means = x.mean(axis=0)
    estimates = correlated_means(x)
    stderr = np.array([e.stderr for e in estimates])
    n_eff = min(e.n_effective for e in estimates)
    k = x.shape[1]
    scale = np.maximum(np.abs(x).max(axis=0), 1e-300)
    constant = stderr <= 1e-12 * scale
    if np.any(constant & (np.abs(means) > 1e-9 * scale)):
        return {"statistic": float("inf"), "dof": k, "n_effective": n_eff, "p_value": 0.0}
    live = ~constant
    k_live = int(live.sum())
    if k_live == 0:
        return {"statistic": 0.0, "dof": k, "n_effective": n_eff, "p_value": 1.0}
    corr = np.atleast_2d(np.corrcoef(x[:, live], rowvar=False))
    cov = corr * np.outer(stderr[live], stderr[live])
    m = means[live]
    t2 = float(m @ np.linalg.lstsq(cov, m, rcond=None)[0])
    if n_eff > k_live + 1:
        f_stat = t2 * (n_eff - k_live) / (k_live * (n_eff - 1))
        p = float(stats.f.sf(f_stat, k_live, n_eff - k_live))
    else:
        p = float("nan")
    return {"statistic": t2, "dof": k_live, "n_effective": float(n_eff), "p_value": p}


# ---------------------------------------------------------------- tests that hold their level on short series
#: Projections per conservative autocorrelation time: B = N / (PROJECTION_SPACING tau).  Chosen with AR(1)
#: batteries (bench/calibration.py): with the spectral correction below, 3 keeps the max-t and Hotelling tests at
#: or below their level for N / tau from 10 to 200; without it even 8 does not (the low-frequency spectrum has
#: already fallen at the B-th cosine).
PROJECTION_SPACING = 3.0
#: More projections add almost nothing once the t and F references are close to normal and chi^2.
MAX_PROJECTIONS = 100


def conservative_tau(x) -> float:
    """The largest bias-corrected integrated autocorrelation time (frames) of the columns of ``x``.

    Sokal's windowed estimate is biased low on short series because the sample
    mean absorbs part of every autocovariance; Wolff's first-order correction
    tau (1 + (2M + 1) / N) undoes it (U. Wolff, Comput. Phys. Commun. 156, 143
    (2004), eq. 42).  The maximum over columns is used so that every contrast of
    the columns is treated as at least as correlated as the slowest one.
    """
    x = np.asarray(x, dtype=float)
    x = x.reshape(len(x), -1)
    tau, window, _ = integrated_autocorrelation_time(x)
    corrected = np.atleast_1d(tau) * (1.0 + (2.0 * np.atleast_1d(window) + 1.0) / len(x))
    return float(np.max(corrected))


def _lorentzian_ratio(tau: float, frequencies: np.ndarray) -> np.ndarray:
    """S(w) / S(0) of an AR(1) (Lorentzian) spectrum with integrated autocorrelation time ``tau`` frames."""
    phi = (2.0 * tau - 1.0) / (2.0 * tau + 1.0)  # inverts tau = (1 + phi) / (2 (1 - phi))
    return (1.0 - phi) ** 2 / (1.0 - 2.0 * phi * np.cos(frequencies) + phi**2)


@dataclass(frozen=True)
class CosineProjections:
    """Column means of a correlated series and B low-frequency cosine projections that estimate their covariance.

    ``projections`` (B, k): row j is sqrt(2) / N sum_t cos(pi j (t + 1/2) / N) x_t,
    divided by sqrt(S(w_j) / S(0)) of a Lorentzian spectrum with the conservative
    tau.  For a stationary series each row is close to an independent
    N(0, Cov(mean)) draw (the equal-weighted cosine estimator, U. K. Mueller,
    J. Econometrics 141, 1331 (2007); E. Lazarus, D. J. Lewis, J. H. Stock and
    M. W. Watson, J. Bus. Econ. Stat. 36, 541 (2018)), so Cov(mean) is estimated
    with B degrees of freedom and t- and F-references are exact in that limit:
    the uncertainty of the error bar itself is in the p-value, which an F
    reference with an estimated effective sample size does not achieve.
    """

    mean: np.ndarray
    projections: np.ndarray
    tau_frames: float
    n_samples: int

    @property
    def n_projections(self) -> int:
        return int(len(self.projections))

    @property
    def n_effective(self) -> float:
        """N / (2 tau) with the conservative tau."""
        return float(self.n_samples / (2.0 * self.tau_frames))

    def stderr(self, weights) -> float:
        """Standard error of the mean of the contrast x @ weights."""
        return float(np.sqrt(np.mean(np.square(self.projections @ np.asarray(weights, dtype=float)))))

    def t_test(self, weights) -> tuple[float, float, float]:
        """(mean, stderr, two-sided p) of the contrast x @ weights = 0, Student t with B degrees of freedom."""
        weights = np.asarray(weights, dtype=float)
        mean, se = float(self.mean @ weights), self.stderr(weights)
        scale = max(float(np.abs(self.mean) @ np.abs(weights)), 1e-300)
        if se <= 1e-12 * scale:  # an exactly constant contrast: known without error
            return mean, 0.0, 1.0 if abs(mean) <= 1e-9 * scale else 0.0
        return mean, se, float(2.0 * stats.t.sf(abs(mean) / se, self.n_projections))

    def hotelling(self, weights) -> tuple[float, int, float]:
        """(T^2, q, p) of the q contrasts x @ weights (k, q) all zero; F = (B - q + 1) T^2 / (B q) ~ F(q, B - q + 1).

        p is NaN when B < q + 2 (fewer than 3 denominator degrees of freedom).
        """
        weights = np.asarray(weights, dtype=float)
        q, b = weights.shape[1], self.n_projections
        m = self.mean @ weights
        z = self.projections @ weights
        cov = z.T @ z / b
        if b < q + 2 or np.linalg.matrix_rank(cov) < q:
            return float("nan"), q, float("nan")
        t2 = float(m @ np.linalg.solve(cov, m))
        return t2, q, float(stats.f.sf((b - q + 1) * t2 / (b * q), q, b - q + 1))

    def max_t_hotelling(self, weights) -> dict:
        """Test that the contrasts x @ weights (k, q) are all zero: Hotelling T^2 and the largest single |t|.

        p = min(1, 2 min(p_T2, q min_i p_i)) (Bonferroni over the two tests and
        the q single t-tests), so the level holds whichever rejects; the max-t
        half keeps a large deviation of one contrast from passing unnoticed when
        few projections leave T^2 without power (or undefined: then p = q min_i p_i).
        """
        weights = np.asarray(weights, dtype=float)
        singles = [self.t_test(weights[:, i]) for i in range(weights.shape[1])]
        p_max_t = min(1.0, weights.shape[1] * min(p for _, _, p in singles))
        t2, q, p_t2 = self.hotelling(weights)
        p = p_max_t if np.isnan(p_t2) else min(1.0, 2.0 * min(p_t2, p_max_t))
        return {"statistic": t2, "dof": q, "max_abs_t": max((abs(m) / s if s > 0 else (0.0 if m == 0 else float("inf")))
                                                            for m, s, _ in singles),
                "p_hotelling": p_t2, "p_max_t": p_max_t, "p_value": float(p)}


def projection_count(n_samples: int, tau_frames: float) -> int:
    """B = floor(N / (3 tau)) cosine projections, at least 1 and at most MAX_PROJECTIONS."""
    return int(np.clip(np.floor(n_samples / (PROJECTION_SPACING * tau_frames)), 1, MAX_PROJECTIONS))


def cosine_projections(x, tau_frames: float | None = None) -> CosineProjections:
    """:class:`CosineProjections` of the columns of ``x`` (N, k); ``tau_frames`` default: :func:`conservative_tau` of x.

    The projections are a type-II DCT (O(N log N)); the count comes from
    :func:`projection_count`.  Dividing by the Lorentzian S(w_j)/S(0) corrects the
    downward bias of the higher projections (the spectrum of a correlated series
    falls off over 1/tau), in the spirit of the parametric prewhitening of
    D. W. K. Andrews and J. C. Monahan, Econometrica 60, 953 (1992).
    """
    x = np.asarray(x, dtype=float)
    x = x.reshape(len(x), -1)
    n = len(x)
    tau = conservative_tau(x) if tau_frames is None else float(tau_frames)
    b = min(projection_count(n, tau), n - 1)
    # scipy's DCT-II is 2 sum_t x_t cos(pi j (2t + 1) / (2N)); the sqrt(2) / N scaling gives rows ~ N(0, Cov(mean))
    dct = fft.dct(x, type=2, axis=0)[1:b + 1] * (np.sqrt(2.0) / (2.0 * n))
    ratio = _lorentzian_ratio(tau, np.pi * np.arange(1, b + 1) / n)
    return CosineProjections(mean=x.mean(axis=0), projections=dct / np.sqrt(ratio)[:, None], tau_frames=tau, n_samples=n)
