"""TruncatedNormal far in one tail: what the sampler computes, against exact moments (mpmath-checked constants)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import initreg
from initreg.errors import InitializerArgumentError
from initreg.std import TruncatedNormal


@pytest.mark.parametrize("a, b, side", [(1e300, math.inf, "a"), (1.35e154, 2e154, "a"), (-math.inf, -1e300, "b"),
                                        (-2e300, -1e300, "b")])
def test_a_bound_beyond_the_sampler_is_refused_at_construction(a, b, side):
    # the sampler squares the nearer bound: past sqrt(float max) it once wrote +inf everywhere ('wrote non-finite')
    with pytest.raises(InitializerArgumentError, match=f"{side}=.* is beyond what the sampler computes.*Constant"):
        TruncatedNormal(0.0, 1.0, a, b)


def test_the_largest_bound_the_sampler_computes_still_fills():
    edge = math.sqrt(np.finfo(np.float64).max)  # 1.3407807929942596e154: its square is finite
    w = initreg.values(TruncatedNormal(0.0, 1.0, edge, math.inf), (4,), name="w", seed=0, dtype="float64")
    assert np.all(w == edge)
    wide = initreg.values(TruncatedNormal(0.0, 1.0, -1e300, 1e300), (1000,), name="w", seed=0, dtype="float64")
    assert 0.9 < wide.std() < 1.1  # a huge bound on each side is a plain normal


# (a, b, mean, std) of the standard normal truncated to [a, b], computed with mpmath at 50 digits
FAR = [(8.0, 9.0, 8.121188993, 0.118948), (-40.0, -39.0, -39.02560742, 0.0255907),
       (30.0, math.inf, 30.03325967, 0.0332231), (100.0, 200.0, 100.009998, 0.009997)]


@pytest.mark.parametrize("a, b, mean, std", FAR)
def test_far_tail_moments_match_the_exact_ones(a, b, mean, std):
    # 400,000 values, seed fixed: the standard error of the mean is std/632 and of the std at most std/316 (an
    # exponential-like tail has kurtosis <= 9); tolerances are 5 of them, so a sampler off by 1 % of std fails
    n = 400_000
    w = initreg.values(TruncatedNormal(0.0, 1.0, a, b), (n,), name="tail", seed=11, dtype="float64")
    assert w.min() >= a and w.max() <= b
    assert abs(w.mean() - mean) < 5 * std / math.sqrt(n)
    assert abs(w.std() - std) < 5 * std * math.sqrt(2 / n)
