"""The statistical tests: each returns (statistic, p-value) under the null hypothesis that the values are right."""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special, stats

# Asymptotic Anderson–Darling: A² = Σ_j λ_j Z_j² with λ_j = 1/(j(j+1)); the first J terms are kept exactly
# and the rest (mean 1/(J+1), standard deviation < 1e-3) is replaced by its mean.
_AD_TERMS = 40
_AD_LAMBDA = 1.0 / (np.arange(1, _AD_TERMS + 1) * np.arange(2, _AD_TERMS + 2))
_AD_REST = 1.0 / (_AD_TERMS + 1)


def ad_sf_asymptotic(a2: float) -> float:
    """P(A² > a2) for the limiting Anderson–Darling distribution (fully specified null)."""
    if not a2 > 0:
        return 1.0
    if a2 < 3.0:
        # Marsaglia & Marsaglia (2004) ADinf: absolute error ~1e-6 where P > 0.02 (but poor in the far tail).
        z = a2
        if z < 2.0:
            cdf = math.exp(-1.2337141 / z) / math.sqrt(z) * (
                2.00012 + (0.247105 - (0.0649821 - (0.0347962 - (0.011672 - 0.00168691 * z) * z) * z) * z) * z)
        else:
            cdf = math.exp(-math.exp(1.0776 - (2.30695 - (0.43424 - (0.082433 - (0.008056 - 0.0003146 * z) * z)
                                                         * z) * z) * z))
        return min(1.0, max(0.0, 1.0 - cdf))
    if a2 > 20.0:
        # Far tail: A² ≈ Z₁²/2 dominates and Π_{j≥2}(1 - λ_j/λ₁)^(-1/2) = √3 (relative error ~1 % here).
        return math.sqrt(3.0) * float(stats.chi2.sf(2.0 * a2, 1))
    return _imhof_sf(a2)


def _imhof_sf(x: float) -> float:
    """Imhof's inversion of the characteristic function of Σ λ_j Z_j² (absolute error ~1e-12)."""
    y = x - _AD_REST

    def integrand(u: float) -> float:
        lu = _AD_LAMBDA * u
        theta = 0.5 * float(np.arctan(lu).sum()) - 0.5 * y * u
        log_rho = 0.25 * float(np.log1p(lu * lu).sum())
        return math.sin(theta) / (u * math.exp(log_rho))

    value, _ = integrate.quad(integrand, 0.0, np.inf, limit=2000, epsabs=1e-14, epsrel=1e-10)
    return min(1.0, max(0.0, 0.5 + value / math.pi))


def ks_pvalue(d: float, n: int) -> float:
    """Two-sided one-sample Kolmogorov–Smirnov p-value of statistic ``d`` on ``n`` values."""
    if n <= 10000:
        return float(stats.kstwo.sf(d, n))
    # Stephens' (1970) scaling of the limiting Kolmogorov law: accurate to ~1e-4 relative for large n.
    sqn = math.sqrt(n)
    return float(stats.kstwobign.sf((sqn + 0.12 + 0.11 / sqn) * d))


def ks_statistic(cdf: np.ndarray) -> float:
    """The one-sample Kolmogorov–Smirnov D from the expected CDF at the sorted values."""
    n = cdf.size
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))


def ks_ad(cdf: np.ndarray, logcdf: np.ndarray, logsf: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """((D, p), (A², p)) from the expected CDF, log CDF and log survival function at the sorted values."""
    n = cdf.size
    i = np.arange(1, n + 1, dtype=np.float64)
    d = ks_statistic(cdf)
    floor = math.log(np.finfo(np.float64).tiny)  # a value exactly on a bound: keep the sum finite
    lc = np.maximum(logcdf, floor)
    ls = np.maximum(logsf, floor)[::-1]
    a2 = float(-n - np.sum((2.0 * i - 1.0) * (lc + ls)) / n)
    return (d, ks_pvalue(d, n)), (a2, ad_sf_asymptotic(a2))


def two_sided_normal(z: float) -> float:
    """P(|Z| ≥ |z|) for a standard normal Z."""
    return float(2.0 * special.ndtr(-abs(z))) if math.isfinite(z) else 0.0


def mean_test(sample_mean: float, mean: float, var: float, n: int) -> tuple[float, float]:
    """z of the sample mean against N(mean, var/n): exact for normal values, the CLT otherwise."""
    if var <= 0:
        return (0.0, 1.0) if sample_mean == mean else (math.inf, 0.0)
    z = (sample_mean - mean) / math.sqrt(var / n)
    return z, two_sided_normal(z)


def variance_test(ss: float, var: float, mu4: float, n: int, normal: bool) -> tuple[float, float]:
    """(s²/var, p) for the sum of squared deviations ``ss`` = Σ(x − x̄)² against the true variance.

    Normal values: ss/var ~ χ²(n−1) exactly. Otherwise the sample variance s² = ss/(n−1) has mean var and
    variance μ₄/n − var²(n−3)/(n(n−1)), and its z-score is referred to the normal law.
    """
    if var <= 0:
        return (0.0, 1.0) if ss == 0 else (math.inf, 0.0)
    s2 = ss / (n - 1)
    if normal:
        t = ss / var
        p = 2.0 * min(float(stats.chi2.cdf(t, n - 1)), float(stats.chi2.sf(t, n - 1)))
        return s2 / var, min(1.0, p)
    v = mu4 / n - var * var * (n - 3) / (n * (n - 1))
    z = (s2 - var) / math.sqrt(max(v, 1e-300))
    return s2 / var, two_sided_normal(z)


def product_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Correlation of two arrays believed independent: (Pearson r, p) from the studentized cross product.

    z = Σ a'b' / √(Σ a'² b'²) with a' = a − ā, b' = b − b̄ is N(0, 1) in the limit whenever the pairs' products
    are uncorrelated, even when the entries are not identically distributed (sparse or structured arrays).
    """
    a = a - a.mean()
    b = b - b.mean()
    return _studentized(a, b)


def lag1_test(x: np.ndarray) -> tuple[float, float]:
    """Lag-1 autocorrelation of a flat array: (r₁, p) for independence of neighbours."""
    c = x - x.mean()
    return _studentized(c[:-1], c[1:])


def _studentized(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(r, p) of centred arrays a, b (see product_test)."""
    norm = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    prod = a * b
    num = float(prod.sum())
    den = math.sqrt(float(np.dot(prod, prod)))
    r = num / norm if norm > 0 else 0.0
    if den == 0:
        return r, 1.0 if num == 0 else 0.0
    return r, two_sided_normal(num / den)


def chisquare_counts(observed: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """Pearson χ² of counts against cell probabilities (a count in a cell of probability 0 gives p = 0)."""
    observed = np.asarray(observed, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    n = observed.sum()
    if np.any(observed[probs <= 0] > 0):
        return math.inf, 0.0
    keep = probs > 0
    expected = n * probs[keep]
    x2 = float(np.sum((observed[keep] - expected) ** 2 / expected))
    df = int(keep.sum()) - 1
    return x2, float(stats.chi2.sf(x2, df)) if df > 0 else 1.0


def least_squares_slope(xs: list[float], ys: list[float]) -> float:
    """The least-squares slope of ys against xs (0 when every x is the same)."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (reject where adjusted ≤ alpha; family-wise error ≤ alpha)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda k: pvalues[k])
    adjusted = [1.0] * m
    running = 0.0
    for rank, k in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[k]))
        adjusted[k] = running
    return adjusted
