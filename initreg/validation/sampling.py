"""``check(..., sample=N)``: large arrays tested on a fixed random subset of N values plus cheap whole-array tests.

The subset carries the tests that sort or transform (goodness of fit, tails, resolution, autocorrelation);
every value still enters what costs one pass: mean, variance and kurtosis, support, lag-1 and the spread of
every row, column and last-axis slice (one unit at twice the scale is a slice whose mean square is 4).
"""

from __future__ import annotations

import math

import numpy as np

from .dists import Parts, moments
from .outcome import Outcome, worst
from . import values as vc

#: the subset's seed: the same array gives the same subset on every run
SAMPLE_SEED = 0x5A3D1E
#: a slice needs this many values for its spread to be tested: a normal promise's slice sum is exactly χ²(size);
#: another law's is fitted by a scaled χ², close only for large slices
SLICE_MIN = {True: 16, False: 256}


def subset(x: np.ndarray, n: int) -> np.ndarray:
    """``n`` values of ``x`` at fixed random positions (the same for every array of its size), in memory order."""
    rng = np.random.default_rng([SAMPLE_SEED, x.size])
    where = np.sort(rng.choice(x.size, size=n, replace=False))
    return np.ascontiguousarray(x.reshape(-1)[where])


def whole_checks(p: Parts, x: np.ndarray) -> list[Outcome]:
    """The one-pass tests on every value of ``x``: moments, bounded support, spread per slice."""
    from .checks import moment_checks

    flat = x.astype(np.float64).reshape(-1)
    out = [_whole(o) for o in moment_checks(p, flat)]
    out += _support(p, flat)
    if x.ndim >= 2 and vc.central_moments(p.atoms, p.continuous, 8) is not None:
        out += slice_spread_check(p, flat.reshape(x.shape))
    return out


def _whole(o: Outcome) -> Outcome:
    o.test = f"whole-{o.test}"
    return o


def _support(p: Parts, flat: np.ndarray) -> list[Outcome]:
    """Every value inside the promised bounds (continuous promises without atoms whose support is bounded)."""
    from .dists import Continuous

    if p.atoms or not p.continuous:
        return []
    intervals = Continuous(p.continuous).intervals()
    lo, hi = min(a for a, _ in intervals), max(b for _, b in intervals)
    if not (math.isfinite(lo) or math.isfinite(hi)):
        return []
    slack = 4 * float(np.spacing(np.float32(max(abs(lo) if math.isfinite(lo) else 0, abs(hi) if math.isfinite(hi)
                                                   else 0))))
    outside = int(np.count_nonzero((flat < lo - slack) | (flat > hi + slack)))
    return [Outcome("whole-support", statistic=float(outside), passed=not outside,
                    detail=f"all {flat.size} values in [{lo:g}, {hi:g}]" if not outside else
                    f"{outside} of {flat.size} values outside [{lo:g}, {hi:g}]")]


def slice_spread_check(p: Parts, x: np.ndarray) -> list[Outcome]:
    """Each row, column and last-axis slice's mean of (x − μ)²/σ² against its law: χ²(size)/size for a normal
    promise, else the scaled χ² with the promised kurtosis's mean and variance (Satterthwaite); two-sided,
    Bonferroni over slices and axes."""
    from scipy import stats

    mean, var, mu4 = moments(p)
    if not var > 0:
        return []
    excess = mu4 / var ** 2 - 1.0  # the variance of one (x − μ)²/σ²
    if not excess > 0:
        return []
    s = (x - mean) ** 2 / var
    ps, shown = [], []
    for axis in sorted({0, 1, x.ndim - 1}):
        groups = x.shape[axis]
        size = x.size // groups
        if groups < 2 or size < SLICE_MIN[p.is_normal()]:
            continue
        sums = np.sum(s, axis=tuple(a for a in range(x.ndim) if a != axis))
        scale = 1.0 if p.is_normal() else excess / 2.0  # Σ ≈ scale·χ²(ν), mean size, variance size·excess
        nu = 2.0 * size / excess if not p.is_normal() else float(size)
        upper = stats.chi2.sf(sums / scale, nu)
        lower = stats.chi2.cdf(sums / scale, nu)
        k = int(np.argmin(np.minimum(upper, lower)))
        ps.append(min(1.0, 2 * groups * float(min(upper[k], lower[k]))))
        shown.append(f"axis {axis}: slice {k} of {groups} has mean square {float(sums[k]) / size:.4g}× the promised "
                     f"variance ({size} values)")
    return worst("whole-slice-spread", ps, shown, lambda text, n: f"spread of every slice, worst {text} (χ² law, "
                                                                 f"Bonferroni over slices and {n} axes)")


__all__ = ["subset", "whole_checks", "slice_spread_check", "SAMPLE_SEED"]
