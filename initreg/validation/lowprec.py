"""float16 and bfloat16 arrays: tested through a dither of their rounding cells, plus a test of the rounding itself.

A value v of a 16-bit format stands for every real that rounds to it: the cell between the midpoints to its
neighbours. Spreading each value over its cell by the promised law restricted to the cell (a fixed-seed dither)
gives float64 values whose law is exactly the promised one when the array is right, so every distribution test
applies unchanged. The rounding test counts
values exactly at ±2ᵏ: round-to-nearest gives such a value a cell ¾ ulp wide (the spacing halves below a
power of two), round-toward-zero a full ulp, a third more.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .outcome import Outcome

#: dtypes read here, by NumPy name (bfloat16 is ml_dtypes' type, as JAX and PyTorch hand it over)
LOW = ("float16", "bfloat16")
#: mantissa bits of each
MANTISSA = {"float16": 10, "bfloat16": 7}
#: halvings of a cell when spreading a value by the promised law (2⁻⁴⁰ of a cell is far below any test's resolution)
BISECTIONS = 40


def is_low(dtype: Any) -> bool:
    """Whether ``dtype`` is float16 or bfloat16."""
    return np.dtype(dtype).name in LOW


def _magnitudes(bits: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float64 values of non-negative 16-bit patterns (sign bit clear) of ``dtype``."""
    return bits.astype(np.uint16).view(dtype).astype(np.float64)


def cells(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) float64 bounds of the interval of reals that round to each value of ``x`` (to nearest)."""
    bits = np.ascontiguousarray(x).reshape(-1).view(np.uint16)
    sign = np.where(bits & 0x8000, -1.0, 1.0)
    mag = (bits & 0x7FFF).astype(np.int32)
    v = _magnitudes(mag, x.dtype)
    up = _magnitudes(np.minimum(mag + 1, 0x7FFF), x.dtype)
    down = np.where(mag > 0, _magnitudes(np.maximum(mag - 1, 0), x.dtype), -_magnitudes(np.ones_like(mag), x.dtype))
    lo_mag, hi_mag = (v + down) / 2, (v + up) / 2
    lo = np.where(sign > 0, lo_mag, -hi_mag)
    hi = np.where(sign > 0, hi_mag, -lo_mag)
    return lo, hi


def dither(x: np.ndarray, seed: int = 0, law: Any = None) -> np.ndarray:
    """Each value spread over its rounding cell (float64, ``x``'s shape): uniformly, or, given ``law`` (the promised
    continuous part, a ``dists.Continuous``), by that law restricted to the cell; the same seed, the same values."""
    lo, hi = cells(x)
    return within_cells(lo, hi, law, seed).reshape(x.shape)


def within_cells(lo: np.ndarray, hi: np.ndarray, law: Any = None, seed: int = 0) -> np.ndarray:
    """A fixed-seed point of each cell [lo, hi]: uniform, or by ``law`` restricted to the cell (see ``dither``)."""
    u = np.random.default_rng(seed).random(lo.size)
    flat = lo + u * (hi - lo)
    return flat if law is None else _within(law, lo, hi, u, flat)


def float_cells(values: np.ndarray, dtype: Any, tops: Any = ()) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) float64 bounds of the reals that round to each of ``values`` (float32 or float64 values); the
    value just below an upper bound in ``tops`` also stands for the reals up to it (a uniform never returns its
    upper bound: initreg moves a draw that would round onto it to the value below)."""
    x = np.asarray(values).astype(dtype)
    kind = np.dtype(dtype).type
    down = np.nextafter(x, kind(-np.inf)).astype(np.float64)
    up = np.nextafter(x, kind(np.inf)).astype(np.float64)
    v = x.astype(np.float64)
    lo, hi = v + (down - v) / 2, v + (up - v) / 2
    for top in tops:
        hi = np.where((v < top) & (up >= top), np.maximum(hi, top), hi)
    return lo, hi


def _within(law: Any, lo: np.ndarray, hi: np.ndarray, u: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """The u-quantile of ``law`` restricted to each cell [lo, hi] (a mixture's by bisection); ``uniform`` where the
    cell holds no mass the promise can resolve. A correct array's values then follow the promise exactly, even where a cell
    is wider than the distribution's scale or crosses a bound of its support (a bound the format rounds onto)."""
    upper = lo >= float(np.asarray(law.ppf(np.array([0.5])))[0])

    def g(v: np.ndarray, up: np.ndarray) -> np.ndarray:  # increasing, accurate in both tails: F below, −S above
        out = np.empty(v.shape)
        out[~up] = law.cdf(v[~up])
        out[up] = -np.exp(law.logsf(v[up]))
        return out

    glo, ghi = g(lo, upper), g(hi, upper)
    target = glo + u * (ghi - glo)
    if len(law.dists) == 1:  # one scipy law: its own quantile functions, F⁻¹ below the median and S⁻¹ above
        d, out = law.dists[0], np.empty(lo.shape)
        with np.errstate(all="ignore"):
            out[~upper] = d.ppf(target[~upper])
            out[upper] = d.isf(-target[upper])
        return np.where(ghi > glo, np.clip(out, lo, hi), uniform)
    a, b = lo.copy(), hi.copy()
    for _ in range(BISECTIONS):
        mid = 0.5 * (a + b)
        below = g(mid, upper) < target
        a = np.where(below, mid, a)
        b = np.where(below, b, mid)
    return np.where(ghi > glo, 0.5 * (a + b), uniform)


def spread(x: np.ndarray, promised: Any, seed: int = 0) -> np.ndarray:
    """``x`` dithered by the continuous part of ``promised`` (a ``dists.Parts``); a value at a promised atom (rounded
    to the format) stays that atom."""
    from .dists import Continuous

    out = dither(x, seed, Continuous(promised.continuous) if promised.continuous else None)
    held = x.astype(np.float64)
    for _, a in promised.atoms:
        out[held == float(np.asarray(a, dtype=np.float64).astype(x.dtype))] = a
    return out


def eps(dtype: Any) -> float:
    """The machine epsilon of float16 or bfloat16."""
    return 2.0 ** -MANTISSA[np.dtype(dtype).name]


def smallest(dtype: Any) -> float:
    """The smallest positive (subnormal) value of float16 or bfloat16."""
    return float(np.array(1, dtype=np.uint16).view(dtype).astype(np.float64)[()])


def rounding_check(x: np.ndarray, cdf: Any, atoms: tuple = (), bounds: tuple = ()) -> list[Outcome]:
    """Values exactly at ±2ᵏ against the count round-to-nearest gives (two-sided binomial); a power of two that is
    a promised atom, or whose cell holds a finite bound of the support, is left out (``bounds``)."""
    from scipy import stats

    name = np.dtype(x.dtype).name
    mant = MANTISSA[name]
    bits = np.ascontiguousarray(x).reshape(-1).view(np.uint16)
    exponent = (bits & 0x7FFF) >> mant
    top = (1 << (15 - mant)) - 1  # all-ones exponent: infinities and NaN
    powers = ((bits & ((1 << mant) - 1)) == 0) & (exponent > 0) & (exponent < top)
    # every normal power of two of the format, both signs, with its rounding cell
    p_bits = (np.arange(1, top, dtype=np.int32) << mant).astype(np.uint16)
    lo, hi = cells(np.concatenate([p_bits, p_bits | 0x8000]).view(x.dtype))
    centre = np.concatenate([p_bits, p_bits | 0x8000]).view(x.dtype).astype(np.float64)
    skip = np.isin(centre, np.asarray(atoms, dtype=np.float64))  # a promised atom at 2ᵏ is no rounding evidence
    for b in bounds:  # a uniform that never returns its bound 2ᵏ (initreg's) is as right as one rounded onto it
        skip |= (lo <= b) & (b <= hi)
    hit = np.isin(np.ascontiguousarray(x).reshape(-1).astype(np.float64), centre[skip]) if skip.any() else 0
    k = int(np.count_nonzero(powers & ~hit if skip.any() else powers))
    prob = float(np.sum(np.asarray(cdf(hi[~skip])) - np.asarray(cdf(lo[~skip]))))
    n = bits.size
    if not 0 < prob < 1 or n * prob < 20:
        return [Outcome("rounding", detail=f"skipped: {n * prob:.3g} values expected at powers of two, too few")]
    dist = stats.binom(n, prob)
    p = min(1.0, 2.0 * min(float(dist.sf(k - 1)), float(dist.cdf(k))))
    return [Outcome("rounding", statistic=k / (n * prob), p_value=p,
                    detail=f"{k} values exactly at ±2ᵏ where rounding to nearest {name} gives {n * prob:.1f} "
                           f"(round-toward-zero gives a third more)")]


__all__ = ["is_low", "cells", "float_cells", "dither", "within_cells", "spread", "rounding_check", "LOW"]
