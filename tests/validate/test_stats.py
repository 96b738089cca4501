"""The statistical building blocks against independent references: published tables, scipy, simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from initreg.validation import stats as st
from initreg.validation.dists import Continuous, moments, parts
from initreg.validation.expected import Atom, Mixture


@pytest.mark.parametrize("a2, p", [(1.933, 0.10), (2.492, 0.05), (3.070, 0.025), (3.857, 0.01)])
def test_anderson_darling_asymptotic_matches_the_published_critical_values(a2, p):
    # Anderson & Darling (1954) / Stephens (1974), fully specified null, n → ∞ (3 significant digits)
    assert st.ad_sf_asymptotic(a2) == pytest.approx(p, rel=0.025)


def test_anderson_darling_regimes_agree_where_they_meet():
    # series body below 3, Imhof's inversion from 3 to 20, the √3·χ²₁ leading term above 20
    assert st.ad_sf_asymptotic(2.999) == pytest.approx(st._imhof_sf(2.999), rel=1e-3)
    assert st.ad_sf_asymptotic(20.01) == pytest.approx(st._imhof_sf(20.01), rel=0.02)
    xs = np.linspace(0.5, 30, 60)
    assert np.all(np.diff([st.ad_sf_asymptotic(x) for x in xs]) < 0)
    # the largest weight λ₁ = ½ dominates: P(A² > x) ≈ √3·P(χ²₁ > 2x) within a few % at x = 12
    assert st.ad_sf_asymptotic(12.0) == pytest.approx(math.sqrt(3) * stats.chi2.sf(24.0, 1), rel=0.05)


def test_ks_and_ad_statistics_equal_scipys_for_a_fully_specified_normal():
    x = np.sort(np.random.default_rng(0).normal(0.1, 1.0, 3000))
    d = stats.norm(0.0, 1.0)
    (ks, p_ks), (a2, _) = st.ks_ad(d.cdf(x), d.logcdf(x), d.logsf(x))
    ref = stats.kstest(x, d.cdf)
    assert ks == pytest.approx(ref.statistic, rel=1e-12)
    assert p_ks == pytest.approx(ref.pvalue, rel=1e-6)
    gof = stats.goodness_of_fit(stats.norm, x, known_params={"loc": 0.0, "scale": 1.0}, statistic="ad",
                                n_mc_samples=10, rng=np.random.default_rng(0))
    assert a2 == pytest.approx(gof.statistic, rel=1e-9)


def test_ks_pvalue_large_n_approximation_agrees_with_the_exact_law():
    n = 20000
    for t in (0.8, 1.2, 1.8):
        assert st.ks_pvalue(t / math.sqrt(n), n) == pytest.approx(stats.kstwo.sf(t / math.sqrt(n), n), rel=0.01)


def test_ad_p_values_are_calibrated_under_the_null():
    # 400 samples of 2000 uniforms: P(p < q) = q within binomial error (4 s.d. ≈ 0.04 at q = 0.1)
    rng = np.random.default_rng(1)
    pvals = []
    for _ in range(400):
        u = np.sort(rng.random(2000))
        with np.errstate(divide="ignore"):
            pvals.append(st.ks_ad(u, np.log(u), np.log1p(-u))[1][1])
    pvals = np.array(pvals)
    for q in (0.05, 0.1, 0.5):
        assert abs(np.mean(pvals < q) - q) < 4 * math.sqrt(q * (1 - q) / 400)


def test_holm_adjusts_as_derived_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06
    assert st.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert st.holm([0.9, 0.8]) == [1.0, 1.0]


def test_variance_z_uses_the_fourth_moment():
    # s² of n uniforms: Var(s²) = μ₄/n − σ⁴(n−3)/(n(n−1)); simulated spread agrees within 10 %
    n, reps = 500, 4000
    rng = np.random.default_rng(2)
    s2 = rng.uniform(-1, 1, (reps, n)).var(axis=1, ddof=1)
    var, mu4 = 1 / 3, 1 / 5
    predicted = mu4 / n - var ** 2 * (n - 3) / (n * (n - 1))
    assert s2.var() == pytest.approx(predicted, rel=0.1)
    ratio, p = st.variance_test(float(s2[0] * (n - 1)), var, mu4, n, normal=False)
    assert ratio == pytest.approx(s2[0] / var)
    assert 0 < p <= 1


def test_variance_test_for_normals_is_the_exact_chi_square():
    n, ss = 101, 80.0
    ratio, p = st.variance_test(ss, 1.0, 3.0, n, normal=True)
    assert ratio == pytest.approx(0.8)
    assert p == pytest.approx(2 * stats.chi2.cdf(80.0, 100))


def test_product_test_sees_identical_arrays_and_passes_independent_ones():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=50000), rng.normal(size=50000)
    r, p = st.product_test(a, a)
    assert r == pytest.approx(1.0) and p == 0.0
    r, p = st.product_test(a, b)
    assert abs(r) < 5 / math.sqrt(50000) and p > 1e-4
    r1, p1 = st.lag1_test(np.repeat(a[:25000], 2))  # each value twice: neighbours strongly correlated
    assert r1 > 0.4 and p1 == 0.0


def test_chisquare_counts_equals_scipys_and_rejects_counts_where_none_may_be():
    obs, probs = np.array([260, 480, 260]), np.array([0.25, 0.5, 0.25])
    x2, p = st.chisquare_counts(obs, probs)
    ref = stats.chisquare(obs, probs * obs.sum())
    assert (x2, p) == pytest.approx((ref.statistic, ref.pvalue))
    assert st.chisquare_counts(np.array([10, 1]), np.array([1.0, 0.0]))[1] == 0.0


def test_mixture_moments_and_continuous_part_of_the_tutorial_mixture():
    mix = Mixture(((0.25, stats.uniform(5, 5)), (0.5, Atom(0.0)), (0.25, stats.uniform(-10, 5))))
    p = parts(mix)
    mean, var, mu4 = moments(p)
    # by hand: E[X] = 0; E[X²] = ½·E[U(5,10)²] = ½·(1000 − 125)/15 = 29.1667; E[X⁴] = ½·(10⁵ − 5⁵)/25 = 1937.5
    assert mean == pytest.approx(0.0, abs=1e-12)
    assert var == pytest.approx(875 / 30)
    assert mu4 == pytest.approx((1e5 - 5 ** 5) / 50)
    cont = Continuous(p.continuous)
    assert cont.cdf(np.array([-5.0, 0.0, 7.5])) == pytest.approx([0.5, 0.5, 0.75])
    assert cont.ppf(np.array([0.25, 0.75])) == pytest.approx([-7.5, 7.5], abs=1e-9)


@pytest.mark.parametrize("dist", [stats.norm(0.3, 2.0), stats.uniform(-1.0, 2.0), stats.truncnorm(-2, 2, 0.1, 0.7),
                                  stats.truncnorm(-1, 3, 0.5, 0.02), stats.truncnorm(1, 2)],
                         ids=["norm", "uniform", "truncnorm", "truncnorm-asym", "truncnorm-right"])
def test_closed_form_cdfs_equal_scipys(dist):
    from initreg.validation.dists import _fast

    x = np.linspace(-3, 3, 2001)
    cdf, logcdf, logsf = _fast(dist)
    assert cdf(x) == pytest.approx(dist.cdf(x), abs=1e-14)
    with np.errstate(divide="ignore"):
        for mine, ref in ((logcdf(x), dist.logcdf(x)), (logsf(x), dist.logsf(x))):
            finite = np.isfinite(ref)
            assert np.array_equal(np.isfinite(mine), finite)
            assert mine[finite] == pytest.approx(ref[finite], abs=1e-11)
