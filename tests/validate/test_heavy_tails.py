"""Promises with no finite variance (Cauchy, Student t with df ≤ 1) and invalid scipy parameters (finding 5)."""

from __future__ import annotations

import pytest
from scipy import stats

import initreg


def heavy(promise, scale: float = 0.01, cauchy: bool = True):
    """Fills ``scale``·Cauchy values (or N(0, 1) ones) and promises ``promise``."""
    class Heavy(initreg.Initializer):
        """Cauchy(0, scale) values."""

        name = "heavy"

        def fill(self, desc, out, rng):
            if cauchy:
                rng.map_blocks(lambda g, v: v.__setitem__(..., scale * g.standard_cauchy(v.shape)), out=out)
            else:
                rng.normal(0.0, 1.0, out=out)

        def expected(self, desc):
            return promise
    return Heavy()


@pytest.mark.parametrize("promise", [stats.cauchy(0, 0.01), stats.t(1, 0, 0.01)])
def test_a_correct_cauchy_promise_passes_with_its_moment_tests_skipped(promise):
    report = initreg.validate([heavy(promise)], cases=[(256, 256)], seed=0)
    assert report.passed, report.failure_text()
    ks = [r for r in report.rows if r.test == "ks"]
    assert ks and all(r.verdict == "pass" for r in ks)
    assert all(r.verdict == "skipped" for r in report.rows if r.test == "mean")


def test_a_cauchy_of_the_wrong_scale_fails_its_fit():
    report = initreg.validate([heavy(stats.cauchy(0, 0.02))], cases=[(256, 256)], seed=0)
    assert not report.passed
    assert {"ks", "anderson-darling"} <= {r.test for r in report.failures()}


@pytest.mark.parametrize("promise, shown", [(stats.norm(0, -1), "norm(0, -1)"), (stats.norm(0, float("nan")),
                                                                                "norm(0, nan)"),
                                            (stats.truncnorm(5, 4), "truncnorm(5, 4)"),
                                            (stats.uniform(0, 0), "uniform(0, 0)")])
def test_invalid_scipy_parameters_are_an_invalid_promise(promise, shown):
    report = initreg.validate([heavy(promise, cauchy=False)], cases=[(64, 64)], seed=0)
    details = [r.detail for r in report.failures()]
    assert any(f"{shown} is an invalid distribution" in d for d in details), details
    assert not any("outside atoms" in d for d in details)
