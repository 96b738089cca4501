"""TruncatedNormal's promise on narrow intervals and far tails, where scipy's truncnorm loses its digits."""

from __future__ import annotations

import math

import numpy as np
import pytest

import initreg
from initreg.core.initializer import Desc
from initreg.std import Normal, TruncatedNormal
from initreg.validation.dists import moments, parts
from initreg.validation.values import central_moments

# (a, b, mean − a (− b when a is −inf), std, P(X ≤ mean)) of N(0, 1) restricted to [a, b]; mpmath, 50 digits
EXACT = [
    (30.0, 30.00001, 4.9997499997694395e-6, 2.8867513393388391e-6, 0.50001250000204995),
    (-3.0001, -3.0, 5.0002500041767609e-5, 2.8867513389776885e-5, 0.49998749979170935),
    (1e-09, 1.0010000000000002e-09, 5.0000000000004997e-13, 2.8867513459484173e-13, 0.5),
    (300.0, math.inf, 0.0033332592633741473, 0.0033332222306575333, 0.63211851520715199),
    (-math.inf, -2000.0, -0.0004999997500003125, 0.00049999962500064062, 0.36787948715629487),
    (10000.0, 10000.001, 9.9954596036770105e-5, 9.977271859565301e-5, 0.63198218650403976),
    (-0.5, 0.5, 0.5, 0.28388229004432752, 0.5),
]


def _promise(a: float, b: float, mean: float = 0.0, sigma: float = 1.0):
    return TruncatedNormal(mean, sigma, a, b).expected(Desc("w", (10,), np.dtype("float64")))


@pytest.mark.parametrize("a, b, offset, std, below", EXACT)
def test_promised_moments_and_cdf_are_the_exact_ones(a, b, offset, std, below):
    # scipy 1.17's truncnorm gives NaN or a complex std on the first three, 2 % off at a = 300, the mean off by
    # 91 % of a std at a = 1e4
    d = _promise(a, b)
    near = a if math.isfinite(a) else b
    assert abs(float(d.mean()) - (near + offset)) <= 1e-9 * std
    assert float(d.std()) == pytest.approx(std, rel=1e-9)
    at = near + offset
    slack = 1e-9 + float(d.pdf(at)) * math.ulp(at)  # the point itself is rounded: 7e-9 of probability at a = 1e4
    assert float(d.cdf(at)) == pytest.approx(below, abs=slack)
    assert float(d.sf(at)) == pytest.approx(1 - below, abs=slack)
    q = float(d.ppf(below))
    assert abs(q - (near + offset)) <= 1e-6 * std


@pytest.mark.parametrize("a, b", [(30.0, 30.00001), (-3.0001, -3.0), (300.0, math.inf), (-math.inf, -2000.0),
                                  (8.0, 8.000001), (10000.0, 10000.001), (1000.0, math.inf)])
def test_check_passes_initreg_s_own_float64_fill(a, b):
    # before: a crash (complex moments), or the variance test failing a correct fill (scipy's std 0.5 % off)
    init = TruncatedNormal(0.0, 1.0, a, b)
    x = initreg.values(init, (300, 400), name="w", seed=1, dtype="float64")
    report = initreg.check({"w": x}, init)
    assert report.passed, str(report)


def test_check_fails_a_fill_of_another_narrow_interval():
    # power: the same width moved by 1 % of itself is 0.035 of a std in the mean at n = 120,000 (z ≈ 12)
    init = TruncatedNormal(0.0, 1.0, 30.0, 30.001)
    x = initreg.values(TruncatedNormal(0.0, 1.0, 30.00001, 30.00101), (300, 400), name="w", seed=1, dtype="float64")
    report = initreg.check({"w": x}, init)
    assert not report.passed


@pytest.mark.parametrize("mean", [100.0, -1e4])
def test_moments_of_a_law_far_from_zero_keep_their_digits(mean):
    # raw moments about 0 lost the spread: mu4 of N(100, 1e-4) came out 8.9e-8 for 3e-16, the 8th negative
    sigma = 1e-4
    p = parts(Normal(sigma=sigma, mean=mean).expected(Desc("w", (10,), np.dtype("float64"))))
    m, var, mu4 = moments(p)
    assert (m, var) == (pytest.approx(mean, rel=1e-15), pytest.approx(sigma ** 2, rel=1e-12))
    assert mu4 == pytest.approx(3 * sigma ** 4, rel=1e-12)
    central = central_moments(p.atoms, p.continuous, 8)
    assert central[2:] == pytest.approx([sigma ** 2, 0, 3 * sigma ** 4, 0, 15 * sigma ** 6, 0, 105 * sigma ** 8],
                                        rel=1e-12, abs=1e-12 * sigma ** 8)


def test_the_variance_test_has_teeth_far_from_zero():
    # N(100, 1e-4) filled with sigma 3 % too large: s²/σ² = 1.061, 15 standard errors at n = 120,000 (the variance
    # row's standard error comes from the 4th moment, which raw moments about 0 made garbage there)
    x = initreg.values(Normal(sigma=1.03e-4, mean=100.0), (300, 400), name="w", seed=3, dtype="float64")
    report = initreg.check({"w": x}, Normal(sigma=1e-4, mean=100.0))
    variance = [r for r in report.rows if r.test == "variance"]
    assert variance and variance[0].verdict == "fail", str(report)
