"""Promised moments are computed about the mean, not from raw moments: a distribution far from 0 keeps its μ₄.

Before, U[100, 100.01] gave μ₄ = 0 (true 1.25·10⁻¹⁰: m⁴ ≈ 10⁸ cancelled in float64), so the variance test of correct
float64 values failed; the 8th central moments for the kurtosis test cancelled the same way. Exact comparisons with
the closed forms; the check itself on fixed seed 0 (2¹⁸ values; a std 2 % high still fails, z ≈ 13).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import initreg
from initreg.std import Normal, Uniform
from initreg.validation import values as vc
from initreg.validation.dists import moments, parts

WIDE = Uniform(low=100.0, high=100.01)


@pytest.mark.parametrize("init", [WIDE, Normal(1e-3, mean=100.0)], ids=["uniform", "normal"])
def test_moments_about_a_large_mean_match_the_closed_forms(init):
    p = parts(init.expected(None))
    mean, var, mu4 = moments(p)
    sd = 0.01 / math.sqrt(12) if init is WIDE else 1e-3
    kurt = 1.8 if init is WIDE else 3.0
    assert math.isclose(var, sd ** 2, rel_tol=1e-9) and math.isclose(mu4, kurt * sd ** 4, rel_tol=1e-9)
    central = vc.central_moments(p.atoms, p.continuous, 8)
    assert math.isclose(central[4], kurt * sd ** 4, rel_tol=1e-9)
    mu8 = (0.005 ** 8 / 9) if init is WIDE else 105 * sd ** 8
    assert math.isclose(central[8], mu8, rel_tol=1e-6)


def test_a_uniform_far_from_zero_passes_check_and_a_wrong_width_fails():
    x = initreg.values(WIDE, (512, 512), name="w", seed=0, dtype="float64")
    report = initreg.check({"w": x}, WIDE)
    assert report.passed, report.failure_text()
    wrong = initreg.values(Uniform(low=100.0 - 1e-4, high=100.01 + 1e-4), (512, 512), name="w", seed=0, dtype="float64")
    assert "variance" in {r.test for r in initreg.check({"w": wrong}, WIDE).failures()}


def test_a_mixture_with_an_atom_keeps_its_moments():
    from scipy import stats

    from initreg.validation.expected import Atom, Mixture

    p = parts(Mixture(((0.5, Atom(0.0)), (0.5, stats.norm(2.0, 1.0)))))
    mean, var, mu4 = moments(p)
    # X − 1 is −1 (w.p. ½) or N(1, 1): variance ½·1 + ½·2, third moment ½·(−1) + ½·4, fourth ½·1 + ½·10
    assert (mean, var, mu4) == (1.0, 1.5, 5.5)
    assert np.allclose(vc.central_moments(p.atoms, p.continuous, 4), [1.0, 0.0, 1.5, 1.5, 5.5])


def test_values_spanning_a_few_float64_ulp_do_not_crash_the_histogram():
    init = Normal(1e-7, mean=1e9)  # σ below one ulp of 1e9: the values span 3 float64 values
    x = initreg.values(init, (64, 64), name="w", seed=0, dtype="float64")
    report = initreg.check({"w": x}, init)
    assert "expected" not in {r.test for r in report.rows}  # before: numpy's "Too many bins" failed the promise row
