"""Zero, One, Constant, Uniform, Normal, TruncatedNormal: values against hand-computed numbers.

Statistical checks use fixed seeds; each states the standard error it is measured against
(tolerances are >= 4 standard errors, so a correct implementation passes whatever the seed).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from initreg.errors import InitializerArgumentError, InitregError, ShapeError
from initreg.core.initializer import make_desc
from initreg.std import Constant, Normal, One, TruncatedNormal, Uniform, Zero
from initreg.validation.expected import Exact

N = 200_000  # values per statistical check


def test_zero_one_constant_exact():
    assert np.array_equal(Zero()((3, 4)), np.zeros((3, 4), np.float32))
    assert np.array_equal(One()((5,), "float64"), np.ones(5))
    assert np.all(Constant(-2.5)((2, 2)) == -2.5)
    row = Constant([1.0, 2.0, 3.0])((2, 3))
    assert np.array_equal(row, [[1, 2, 3], [1, 2, 3]])


def test_an_integer_constant_is_exact_in_integer_dtypes():
    assert Constant(2**53 + 1)((2,), "int64")[0] == 2**53 + 1  # through float64 it would be 2**53
    assert Constant(2**63 - 1)((2,), "int64")[0] == 2**63 - 1
    assert Constant(2**64 - 1)((1,), "uint64")[0] == 2**64 - 1
    assert Constant(3)((2,), "float32").dtype == np.float32 and Constant(3)((2,), "float32")[0] == 3.0
    with pytest.raises(InitregError, match="outside the range of int64"):
        Constant(2**63)((2,), "int64")


def test_constant_array_that_does_not_broadcast_names_parameter():
    with pytest.raises(ShapeError, match="'sample'.*\\(4, 2\\)"):
        Constant([1.0, 2.0, 3.0])((4, 2))


def test_constant_expected_is_exact_in_dtype():
    exp = Constant(0.1).expected(make_desc("w", (2, 3), "float32"))
    assert isinstance(exp, Exact)
    assert np.broadcast_to(exp.values, (2, 3)).dtype == np.float32
    assert np.all(np.asarray(exp.values) == np.float32(0.1))


def test_uniform_scale_bounds_and_moments():
    x = Uniform(0.5)((N,), "float64", seed=1)
    assert x.min() >= -0.5 and x.max() < 0.5
    # U(-a, a): mean 0 (se a/sqrt(3N)), std a/sqrt(3) (se ≈ 0.45% of it at N=2e5)
    assert abs(x.mean()) < 4 * 0.5 / math.sqrt(3 * N)
    assert x.std() == pytest.approx(0.5 / math.sqrt(3), rel=0.02)


def test_uniform_low_high():
    x = Uniform(low=5, high=10)((N,), seed=2)
    assert x.min() >= 5 and x.max() < 10
    assert x.mean() == pytest.approx(7.5, abs=4 * 5 / math.sqrt(12 * N))


def test_normal_mean_and_sigma():
    x = Normal(sigma=2.0, mean=-1.0)((N,), "float64", seed=3)
    assert x.mean() == pytest.approx(-1.0, abs=4 * 2.0 / math.sqrt(N))
    assert x.std() == pytest.approx(2.0, rel=4 / math.sqrt(2 * N))  # se of a std: sigma / sqrt(2N)


def _truncnorm_std(sigma: float, a: float, b: float) -> float:
    """Std of N(0, sigma²) truncated to [a·sigma, b·sigma], from the textbook formula."""
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    z = Phi(b) - Phi(a)
    var = 1 + (a * phi(a) - b * phi(b)) / z - ((phi(a) - phi(b)) / z) ** 2
    return sigma * math.sqrt(var)


@pytest.mark.parametrize("mean,sigma,a,b", [(0.0, 1.0, -2.0, 2.0), (1.0, 2.0, -1.0, 0.5), (0.0, 0.1, 1.0, 3.0)])
def test_truncated_normal_bounds_and_std(mean, sigma, a, b):
    x = TruncatedNormal(mean, sigma, a, b)((N,), "float64", seed=4)
    assert x.min() >= mean + a * sigma and x.max() <= mean + b * sigma
    assert x.std() == pytest.approx(_truncnorm_std(sigma, a, b), rel=0.02)


def test_truncated_normal_default_std_is_088():
    # the classic correction constant: std of N(0,1) cut at ±2
    assert _truncnorm_std(1.0, -2, 2) == pytest.approx(0.87962566103423978, rel=1e-12)
    x = TruncatedNormal()((N,), seed=5)
    assert x.std() == pytest.approx(0.8796, rel=0.02) and np.abs(x).max() <= 2.0


def test_truncated_normal_expected_matches_scipy():
    dist = TruncatedNormal(1.0, 2.0, -1.0, 0.5).expected(make_desc("w", (10,)))
    assert dist.support() == pytest.approx((-1.0, 2.0))
    assert dist.std() == pytest.approx(_truncnorm_std(2.0, -1.0, 0.5), rel=1e-9)


@pytest.mark.parametrize("make, arg", [
    (lambda: Constant("x"), "value"), (lambda: Constant([1.0, float("nan")]), "value"),
    (lambda: Constant(True), "value"),
    (lambda: Uniform(-1), "scale"), (lambda: Uniform(low=1), "low"), (lambda: Uniform(low=2, high=1), "low"),
    (lambda: Uniform(0.5, low=0, high=1), "scale"),
    (lambda: Normal(-0.1), "sigma"), (lambda: Normal(0.1, float("inf")), "mean"),
    (lambda: TruncatedNormal(sigma=0), "sigma"), (lambda: TruncatedNormal(a=2, b=1), "a"),
    (lambda: TruncatedNormal(a=float("nan")), "a"), (lambda: TruncatedNormal(mean="0"), "mean"),
])
def test_bad_arguments_rejected_naming_them(make, arg):
    with pytest.raises(InitializerArgumentError, match=arg):
        make()
