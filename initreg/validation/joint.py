"""Joint checks: values right one by one can still be wrong together (correlated, unevenly scaled, low-rank).

Each check returns Outcomes with p-values valid under the promise "i.i.d. from the promised distribution"
(or, for ``haar_moment_check``, "orthogonal"), so they join the run's Holm family.
"""

from __future__ import annotations

import math

import numpy as np

from .outcome import Outcome, worst

#: the all-lags autocorrelation needs this many values (its z-scores need thousands of products per lag)
AUTOCORR_MIN = 16_384
#: at most this many values (a prefix, in memory order) enter the autocorrelation: 64 generator blocks
AUTOCORR_MAX = 1 << 22
#: a group (row, column, channel) needs this many values for the variance-homogeneity tests
GROUP_MIN = 64
#: ... and this many for the single-outlier test (the normal law of one group's mean)
OUTLIER_GROUP_MIN = 256
#: the spectral edge needs a matrix whose shorter side is at least this long
EDGE_MIN = 32
#: the Gram matrix is formed and diagonalized up to this many multiply-adds; beyond, Lanczos finds λmax
GRAM_WORK = 1 << 30
#: Tracy–Widom units taken off the edge score before its p-value: Johnstone's law at n = 512 sits ~0.2 units
#: low for normal entries, and a positive excess kurtosis κ lifts the edge a further ~0.1·κ (measured)
EDGE_MARGIN = 0.5
EDGE_KURTOSIS_MARGIN = 0.3
#: no spectral-edge test above this excess kurtosis (sparse-like laws move the edge by many units)
EDGE_MAX_EXCESS = 3.0
#: Chiani's (2014) shifted gamma for Tracy–Widom(β=1): TW₁ ≈ Γ(k, θ) − shift
TW1_GAMMA = (46.446, 0.186054, 9.84801)


def _autocorrelation(a: np.ndarray, lags: int) -> np.ndarray:
    """Σᵢ aᵢ·aᵢ₊ₖ for k = 0..lags (FFT, zero-padded so nothing wraps)."""
    size = 1 << int(math.ceil(math.log2(2 * a.size)))
    spectrum = np.fft.rfft(a, size)
    return np.fft.irfft(spectrum.real ** 2 + spectrum.imag ** 2, size)[:lags + 1]


def _lag_scan(c: np.ndarray, what: str, test: str) -> Outcome:
    """The largest studentized lag-k product sum over k = 1..n/2, Bonferroni over the lags."""
    from .stats import two_sided_normal

    lags = c.size // 2
    num = _autocorrelation(c, lags)[1:]
    # Σ (cᵢcᵢ₊ₖ)² is the autocorrelation of c²: each lag is studentized by its own products
    den = _autocorrelation(c * c, lags)[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(den > 0, num / np.sqrt(den), 0.0)
    k = int(np.argmax(np.abs(z)))
    worst = float(z[k])
    r = float(num[k]) / max(float(np.dot(c, c)), 1e-300)
    p = min(1.0, lags * two_sided_normal(worst))
    return Outcome(test, statistic=r, p_value=p,
                   detail=f"{what}: largest autocorrelation over lags 1..{lags} at lag {k + 1}: r = {r:.3g} "
                          f"(z = {worst:.3g}, Bonferroni over {lags} lags; {c.size} values in memory order)")


def scores(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(normal scores of the values, half-normal scores of |x − median|), from ranks (ties share their mean rank).

    Whatever the promised law, these are (to O(1/n)) i.i.d. with all moments when the values are, so the
    tests on them keep normal tails: raw squares of a Student-t(9) do not (their 8th moment is barely finite).
    """
    from scipy import special, stats

    flat = np.asarray(x, dtype=np.float64).ravel()
    n = flat.size
    values = special.ndtri((stats.rankdata(flat) - 0.5) / n)
    spread = special.ndtri(0.5 + 0.5 * (stats.rankdata(np.abs(flat - np.median(flat))) - 0.5) / n)
    return values, spread


def autocorrelation_check(x: np.ndarray, scored: tuple[np.ndarray, np.ndarray] | None = None) -> list[Outcome]:
    """Values, and their magnitudes, uncorrelated at every lag up to n/2 in memory order (within and across blocks).

    On rank scores: normal scores of the values, and of |x − median| (what the squares would show: radii
    shared by Box–Muller pairs, correlated scales). ``scored``: ``scores(x)`` when the caller has it (x ≤ AUTOCORR_MAX).
    """
    flat = np.asarray(x).ravel()[:AUTOCORR_MAX]
    if flat.size < AUTOCORR_MIN:
        return []
    values, spread = scored if scored is not None and flat.size == x.size else scores(flat)
    return [_lag_scan(values - values.mean(), "values (normal scores)", "autocorrelation"),
            _lag_scan(spread - spread.mean(), "magnitudes (scores of |x − median|)", "autocorrelation-squares")]


def _group_axes(shape: tuple[int, ...]) -> list[int]:
    """The axes whose slices are units of a weight: output (first), input (second) and the last axis."""
    return sorted({a % len(shape) for a in (0, 1, -1)}) if len(shape) >= 2 else []


def homogeneity_check(x: np.ndarray, scored: tuple[np.ndarray, np.ndarray] | None = None) -> list[Outcome]:
    """Every row, column and last-axis slice has the same spread: Levene's F and the largest slice, per axis.

    On half-normal scores of the ranks of |x − median| (Fligner–Killeen): i.i.d. with known moments
    whatever the promised law, so the F test and the normal law of one slice's mean hold in the far tail.
    ``scored``: ``scores(x)`` when the caller has it.
    """
    from scipy import special, stats

    if x.ndim < 2 or x.size < 1000:
        return []
    dev = (scored if scored is not None else scores(x))[1].reshape(x.shape)
    if dev.min() == dev.max():  # every value the same (a point mass): slice means differ by rounding alone
        return []
    n = dev.size
    # the scores' skewness (0.995 for half-normal ones without ties) corrects one slice's upper tail (Edgeworth)
    centred = dev - dev.mean()
    skew = max(0.0, float(np.mean(centred ** 3)) / max(float(np.mean(centred ** 2)), 1e-300) ** 1.5)
    ps, shown = [], []
    for axis in _group_axes(x.shape):
        groups = x.shape[axis]
        size = n // groups
        if groups < 2 or size < GROUP_MIN:
            continue
        sliced = np.moveaxis(dev, axis, 0).reshape(groups, size)
        means = sliced.mean(axis=1)
        within = float(np.sum((sliced - means[:, None]) ** 2)) / (n - groups)
        if not within > 0:  # every slice constant: nothing to compare
            continue
        between = size * float(np.sum((means - means.mean()) ** 2)) / (groups - 1)
        f = between / within
        z = (means - means.mean()) / math.sqrt(within / size)
        which = int(np.argmax(np.abs(z)))
        ps.append(float(stats.f.sf(f, groups - 1, n - groups)))
        shown.append(f"axis {axis} ({groups} slices of {size}): F = {f:.4g}, most extreme slice {which} at "
                     f"z = {float(z[which]):.3g}")
        if size >= OUTLIER_GROUP_MIN:
            hi, lo = float(z.max()), float(z.min())
            gamma = skew / math.sqrt(size)
            upper = float(special.ndtr(-hi)) + gamma * max(hi * hi - 1, 0.0) * math.exp(-hi * hi / 2) / (
                6 * math.sqrt(2 * math.pi))
            # Bonferroni over 2·groups one-sided tests: the more extreme side of the most extreme slices
            ps.append(min(1.0, 2 * groups * min(upper, float(special.ndtr(lo)))))
            shown.append(f"axis {axis}: slice {which} of {groups} at z = {float(z[which]):.3g}")
    return worst("homogeneity", ps, shown, lambda text, n: f"spread across slices, worst {text} (Fligner–Killeen "
                                                          f"scores; Levene F and the largest slice per axis, "
                                                          f"Bonferroni over {n})")


def tw1_sf(s: float) -> float:
    """P(TW₁ > s) by Chiani's shifted-gamma approximation of the Tracy–Widom law (β = 1)."""
    from scipy import stats

    k, theta, shift = TW1_GAMMA
    return float(stats.gamma.sf(s + shift, k, scale=theta))


def _top_eigenvalue(w: np.ndarray) -> float:
    """The largest eigenvalue of w·wᵀ (w: p × n, p ≤ n)."""
    p, n = w.shape
    if p * p * n <= GRAM_WORK:
        return float(np.linalg.eigvalsh(w @ w.T)[-1])
    from scipy.sparse.linalg import svds

    s = svds(w, k=1, tol=1e-10, return_singular_vectors=False, random_state=0)
    return float(s[0]) ** 2


def spectral_edge_check(x: np.ndarray, mean: float, var: float, excess: float) -> list[Outcome]:
    """The largest eigenvalue of W·Wᵀ/σ² (W = x reshaped to (shape[0], rest), centred) against the Marchenko–Pastur
    edge, with Johnstone's Tracy–Widom centring and scale: a low-rank component lifts it.

    ``excess``: the promised excess kurtosis μ₄/σ⁴ − 3 (the test is skipped above EDGE_MAX_EXCESS).
    """
    if x.ndim < 2 or not var > 0:
        return []
    if not excess <= EDGE_MAX_EXCESS:
        return [Outcome("spectral-edge", detail=f"skipped: excess kurtosis {excess:.3g} > {EDGE_MAX_EXCESS:g} moves "
                                                f"the edge of a finite matrix by many Tracy–Widom units")]
    w = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1)
    if w.shape[0] > w.shape[1]:
        w = w.T
    p, n = w.shape
    if p < EDGE_MIN:
        return []
    w = (w - mean) / math.sqrt(var)
    lam = _top_eigenvalue(w)
    # Johnstone (2001): (λ − μ)/σ → TW₁ for real i.i.d. entries, with n − 1 for the longer side
    a, b = math.sqrt(n - 1), math.sqrt(p)
    mu = (a + b) ** 2
    sigma = (a + b) * (1 / a + 1 / b) ** (1 / 3)
    s = (lam - mu) / sigma
    margin = EDGE_MARGIN + EDGE_KURTOSIS_MARGIN * max(0.0, excess)
    edge = (1 + math.sqrt(p / n)) ** 2
    return [Outcome("spectral-edge", statistic=s, p_value=tw1_sf(s - margin),
                    detail=f"largest eigenvalue of W·Wᵀ/(σ²·{n}) = {lam / n:.5g} against the Marchenko–Pastur edge "
                           f"{edge:.5g} ({p}×{n}; Tracy–Widom score {s:.3g}, less a margin of {margin:.3g})")]


def haar_moment_check(w: np.ndarray, scale: float, haar: bool) -> list[Outcome]:
    """The 4th moment of √L·W/scale (unit rows or columns of length L) against the Haar value 3L/(L+2).

    Two-sided for a Haar promise; otherwise one-sided (QR of i.i.d. entries no heavier-tailed than the normal
    gives lighter-tailed entries than Haar). The variance is that of i.i.d. normal entries, 96/N, which bounds
    the Haar one (a unit row's Σ v⁴ varies 4 times less), so the test is conservative.
    """
    from .stats import two_sided_normal

    rows, cols = w.shape
    if w.size < 1000 or min(rows, cols) < 16:
        return []
    length = max(rows, cols)
    v = w.astype(np.float64) * (math.sqrt(length) / float(scale))
    v *= v
    m4 = float(np.dot(v.ravel(), v.ravel())) / v.size
    want = 3.0 * length / (length + 2)
    z = (m4 - want) / math.sqrt(96.0 / v.size)
    p = two_sided_normal(z) if haar else (0.5 * two_sided_normal(z) if z > 0 else 1.0)
    return [Outcome("haar-kurtosis", statistic=m4, p_value=min(1.0, p),
                    detail=f"E[(√{length}·w/scale)⁴] = {m4:.4g}, Haar gives {want:.4g} (z = {z:.3g}; "
                           f"{'two-sided: Haar promised' if haar else 'one-sided: not heavier-tailed than Haar'})")]


__all__ = ["autocorrelation_check", "homogeneity_check", "spectral_edge_check", "haar_moment_check", "tw1_sf"]
