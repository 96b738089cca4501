"""Checks of how values were made, beyond their distribution: tails, resolution, repeated runs, precision.

Each returns Outcomes with one-sided p-values that are conservative for a correct initializer (they bound
the chance of the observed evidence from above), so they join the run's Holm family without false alarms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .outcome import Outcome

#: tail probabilities whose counts are tested on each side (exact binomial tests, Bonferroni over the cells)
TAIL_LEVELS = (1e-2, 1e-3, 1e-4, 1e-5)
#: a correct generator resolves values at least this finely, relative to the distribution's scale
RESOLUTION = 2.0 ** -20
#: consecutive values in a window whose repetition elsewhere counts as a repeated run
WINDOW = 4
#: at most this fraction of a correct initializer's values are representable in the next coarser format
COARSE_FRACTION = 1.0 / 64
#: the kurtosis test's normal law needs this many values (the skewness of m₄ fades as 1/√n)
KURTOSIS_MIN = 50_000


def tails_check(srt: np.ndarray, cdf: Any, dtype: np.dtype) -> list[Outcome]:
    """Counts below the promised ε-quantile and above the (1−ε)-quantile, for ε in TAIL_LEVELS (exact binomials).

    ``srt``: the values, sorted. A value within half a unit in the last place of a quantile may have been on
    either side before rounding: it counts for "too many" only when certainly in the tail, for "too few" when
    possibly.
    """
    from scipy import stats

    n = srt.size
    edge = min(n, int(3 * max(TAIL_LEVELS) * n) + 64)  # the tails live in the first and last few per cent

    def cdf_at(values: np.ndarray, shift: float) -> np.ndarray:
        half = 0.5 * np.spacing(np.abs(values.astype(dtype))).astype(np.float64) if dtype.kind == "f" else 0.0
        return np.asarray(cdf(values + shift * half), dtype=np.float64)

    head, tail = srt[:edge], srt[n - edge:]
    head_hi, head_lo = cdf_at(head, 1.0), cdf_at(head, -1.0)
    tail_hi, tail_lo = cdf_at(tail, 1.0), cdf_at(tail, -1.0)
    if edge < n and (head_lo[-1] <= max(TAIL_LEVELS) or tail_hi[0] >= 1.0 - max(TAIL_LEVELS)):
        return tails_check_all(srt, cdf_at)  # a promise far from the values: the tails reach past the edges
    ps, shown = [], []
    for eps in TAIL_LEVELS:
        dist = stats.binom(n, eps)
        for side, k_min, k_max in (("low", int(np.count_nonzero(head_hi <= eps)), int(np.count_nonzero(head_lo <= eps))),
                                   ("high", int(np.count_nonzero(tail_lo >= 1.0 - eps)),
                                    int(np.count_nonzero(tail_hi >= 1.0 - eps)))):
            p = min(1.0, 2.0 * min(float(dist.sf(k_min - 1)), float(dist.cdf(k_max))))
            ps.append(p)
            shown.append(f"{side} {eps:g}: {k_min} (expected {n * eps:.1f})")
    return _tails_outcome(ps, shown)


def tails_check_all(srt: np.ndarray, cdf_at: Any) -> list[Outcome]:
    """The tail counts over every value (when the tails are not within the sorted array's edges)."""
    from scipy import stats

    n = srt.size
    hi, lo = cdf_at(srt, 1.0), cdf_at(srt, -1.0)
    ps, shown = [], []
    for eps in TAIL_LEVELS:
        dist = stats.binom(n, eps)
        for side, k_min, k_max in (("low", int(np.count_nonzero(hi <= eps)), int(np.count_nonzero(lo <= eps))),
                                   ("high", int(np.count_nonzero(lo >= 1.0 - eps)), int(np.count_nonzero(hi >= 1.0 - eps)))):
            ps.append(min(1.0, 2.0 * min(float(dist.sf(k_min - 1)), float(dist.cdf(k_max)))))
            shown.append(f"{side} {eps:g}: {k_min} (expected {n * eps:.1f})")
    return _tails_outcome(ps, shown)


def _tails_outcome(ps: list[float], shown: list[str]) -> list[Outcome]:
    p = min(1.0, len(ps) * min(ps))
    worst = shown[int(np.argmin(ps))]
    return [Outcome("tails", statistic=float(min(ps)), p_value=p,
                    detail=f"counts beyond the promised tail quantiles, worst {worst} (exact binomials, "
                           f"Bonferroni over {len(ps)} cells)")]


def kurtosis_check(flat: np.ndarray, central: np.ndarray | None) -> list[Outcome]:
    """The sample 4th central moment against the promised μ₄, with Var(m₄) from moments up to the 8th."""
    if central is None:
        return [Outcome("kurtosis", detail="skipped: the promised distribution has no finite 8th moment")]
    n = flat.size
    if n < KURTOSIS_MIN:
        return [Outcome("kurtosis", detail=f"skipped: {n} values, the normal law of m₄ needs {KURTOSIS_MIN}")]
    mu2, mu3, mu4, mu5, mu8 = (float(central[k]) for k in (2, 3, 4, 5, 8))
    var = (mu8 - mu4 * mu4 - 8.0 * mu3 * mu5 + 16.0 * mu3 * mu3 * mu2) / n
    if not var > 0 or not mu2 > 0:
        return [Outcome("kurtosis", detail="skipped: the promised 4th moment has no spread")]
    dev = flat - flat.mean()
    dev *= dev
    m4 = float(np.dot(dev, dev)) / n
    z = (m4 - mu4) / math.sqrt(var)
    from .stats import two_sided_normal

    return [Outcome("kurtosis", statistic=m4 / mu2 ** 2, p_value=two_sided_normal(z), z=z,
                    detail=f"m₄/σ⁴ = {m4 / mu2 ** 2:.4g}, expected {mu4 / mu2 ** 2:.4g} (z = {z:.3g})")]


def pooled_kurtosis(outcomes: list[Outcome]) -> list[Outcome]:
    """Stouffer's sum of the cases' kurtosis z-scores (independent streams): the tail shape with every value's weight."""
    from .stats import two_sided_normal

    zs = [o.z for o in outcomes if o.test == "kurtosis" and o.z is not None]
    if len(zs) < 2:
        return []
    z = sum(zs) / math.sqrt(len(zs))
    return [Outcome("kurtosis-pooled", statistic=z, p_value=two_sided_normal(z), z=z,
                    detail=f"Stouffer z = Σzᵢ/√{len(zs)} = {z:.3g} over {len(zs)} cases' kurtosis tests")]


def spacing_bound(values: np.ndarray, density: np.ndarray, scale: float, dtype: np.dtype) -> float:
    """An upper bound on P(two correct values are equal): 2·E[f(X)·δ(X)], δ = max(dtype spacing, RESOLUTION·scale)."""
    spacing = np.spacing(np.abs(np.asarray(values).astype(dtype))).astype(np.float64)
    np.maximum(spacing, RESOLUTION * scale, out=spacing)
    return float(2.0 * np.mean(density * spacing)) if values.size else 0.0


def resolution_check(srt: np.ndarray, q: float) -> list[Outcome]:
    """Pairs of equal values (``srt``: the values or their bit patterns, sorted) against the most a correct
    generator gives: Poisson(C(m, 2)·q), one-sided."""
    from scipy import stats

    m = srt.size
    if m < 2:
        return []
    ties = np.flatnonzero(srt[1:] != srt[:-1])
    runs = np.diff(np.concatenate(([-1], ties, [m - 1])))  # sizes of the groups of equal values
    pairs = float(np.sum(runs * (runs - 1) / 2))
    lam = m * (m - 1) / 2 * q
    p = float(stats.poisson.sf(pairs - 1, lam)) if pairs > lam else 1.0
    distinct = runs.size
    return [Outcome("resolution", statistic=pairs, p_value=p,
                     detail=f"{distinct} distinct values in {m}; {pairs:.0f} equal pairs where a generator resolving "
                            f"2⁻²⁰ of the scale gives at most {lam:.3g} on average")]


def repeats_check(bits: np.ndarray, q: float) -> list[Outcome]:
    """Runs of WINDOW consecutive values that occur twice: a copied block, a reused stream, a wrapped index."""
    from scipy import stats

    m = bits.size - WINDOW + 1
    if m < 2:
        return []
    w = bits.astype(np.uint64)
    h = np.zeros(m, dtype=np.uint64)
    for k, mult in enumerate((0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)[:WINDOW]):
        h ^= w[k:k + m] * np.uint64(mult)
        h ^= h >> np.uint64(29)
    hs = np.sort(h)
    if not np.any(hs[1:] == hs[:-1]):  # the usual answer, without the cost of an argsort
        same, order = np.zeros(0, dtype=np.int64), None
    else:
        order = np.argsort(h, kind="stable")
        hs = h[order]
        same = np.flatnonzero(hs[1:] == hs[:-1])
    found, first = 0, None
    for i in same:  # confirm each candidate on the values themselves (a hash collision is no repeat)
        a, b = int(order[i]), int(order[i + 1])  # type: ignore[index]
        if np.array_equal(bits[a:a + WINDOW], bits[b:b + WINDOW]):
            found += 1
            first = first or (min(a, b), max(a, b))
    lam = m * (m - 1) / 2 * min(1.0, q) ** WINDOW
    p = float(stats.poisson.sf(found - 1, lam)) if found else 1.0
    where = f"; first at positions {first[0]} and {first[1]}" if first else ""
    return [Outcome("repeats", statistic=float(found), p_value=p,
                     detail=f"{found} runs of {WINDOW} consecutive values seen twice (at most {lam:.2g} expected){where}")]


def precision_check(values: np.ndarray) -> list[Outcome]:
    """Values that the next coarser format holds exactly (float64 → float32, float32 → bfloat16): one-sided binomial."""
    from scipy import stats

    m = values.size
    if values.dtype == np.float64:
        coarse, name = values == values.astype(np.float32).astype(np.float64), "float32"
    elif values.dtype == np.float32:
        coarse, name = (values.view(np.uint32) & np.uint32(0xFFFF)) == 0, "bfloat16"
    else:
        return []
    k = int(np.count_nonzero(coarse))
    p = float(stats.binom.sf(k - 1, m, COARSE_FRACTION)) if k > m * COARSE_FRACTION else 1.0
    return [Outcome("precision", statistic=k / max(m, 1), p_value=p,
                     detail=f"{k} of {m} values are exact in {name} (a {values.dtype} generator gives at most "
                            f"{COARSE_FRACTION:.3g} of them)")]


def finite_moment(d: Any, k: int) -> bool:
    """Whether the scipy distribution ``d`` has a finite k-th absolute moment (bounded, or tails thinner than |x|^-k)."""
    lo, hi = (float(b) for b in d.support())
    for bound, far, near, tail in ((hi, 1e-12, 1e-8, d.sf), (lo, 1e-12, 1e-8, d.cdf)):
        if math.isfinite(bound):
            continue
        pick = d.isf if tail is d.sf else d.ppf
        x1, x2 = abs(float(pick(near))), abs(float(pick(far)))
        if not (math.isfinite(x1) and math.isfinite(x2)) or x2 <= x1:
            continue
        g1, g2 = x1 ** k * near, x2 ** k * far
        if g2 >= 0.5 * g1:  # x^k·P(tail beyond x) does not fall: the k-th moment diverges
            return False
    return True


def raw_moments(d: Any, kmax: int) -> np.ndarray | None:
    """E[X^k] for k = 0..kmax of a scipy frozen distribution (None when the kmax-th is infinite), cached."""
    try:
        key = (d.dist.name, tuple(float(a) for a in d.args), tuple(sorted((k, float(v)) for k, v in d.kwds.items())), kmax)
    except (TypeError, ValueError):
        key = None
    if key is not None and key in _MOMENTS:
        return _MOMENTS[key]
    found = None
    if finite_moment(d, kmax):
        import warnings

        with warnings.catch_warnings():  # scipy integrates moments it has no formula for; a NaN answer is refused
            warnings.simplefilter("ignore")
            found = np.array([1.0] + [float(d.moment(k)) for k in range(1, kmax + 1)])
        if not np.all(np.isfinite(found)):
            found = None
    if key is not None:
        _MOMENTS[key] = found
    return found


_MOMENTS: dict[tuple, np.ndarray | None] = {}


def central_moments(atoms: list, continuous: list, kmax: int) -> np.ndarray | None:
    """Central moments 0..kmax of a mixture of atoms and scipy distributions, or None when one is infinite.

    Each part's moments are taken about its own mean (a scipy part through its standard form: loc and scale
    apart) and then about the whole mean: raw moments about 0 cancel catastrophically for a large mean.
    """
    pieces = []  # (weight, mean, central moments 0..kmax)
    for w, v in atoms:
        pieces.append((w, float(v), np.eye(1, kmax + 1)[0]))
    for w, d in continuous:
        shapes, loc, scale = d.dist._parse_args(*d.args, **d.kwds)
        found = raw_moments(d.dist(*shapes), kmax)
        if found is None:
            return None
        own = _about(found, found[1])
        pieces.append((w, float(loc) + float(scale) * found[1], own * float(scale) ** np.arange(kmax + 1)))
    mean = sum(w * m for w, m, _ in pieces)
    with np.errstate(over="ignore", invalid="ignore"):
        central = sum(w * _shifted(c, m - mean) for w, m, c in pieces)
    if not np.all(np.isfinite(central)):  # finite in the standard form, beyond float64 at this scale
        raise OverflowError(f"the promised central moments up to the {kmax}th overflow float64 ({central.tolist()})")
    return central


def _about(raw: np.ndarray, mean: float) -> np.ndarray:
    """Moments about ``mean`` from raw moments (for a standard form, whose mean and spread are of order 1)."""
    return np.array([sum(math.comb(k, j) * raw[j] * (-mean) ** (k - j) for j in range(k + 1)) for k in range(raw.size)])


def _shifted(central: np.ndarray, offset: float) -> np.ndarray:
    """Moments about (mean − offset) of a part with these central moments: E[(X − m + offset)^k]."""
    return np.array([sum(math.comb(k, j) * central[j] * offset ** (k - j) for j in range(k + 1))
                     for k in range(central.size)])


__all__ = ["tails_check", "kurtosis_check", "pooled_kurtosis", "resolution_check", "repeats_check", "precision_check",
           "spacing_bound", "finite_moment", "central_moments"]
