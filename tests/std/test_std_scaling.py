"""Xavier, MSRAPrelu, VarianceScaling and its named forms, gain(): scales from hand-computed fans.

Std tolerances are 2 %; at the sizes used (>= 18,432 values) the standard error of a sample std is
<= 0.53 %, so 2 % is >= 3.8 standard errors, and each check runs on one fixed seed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import initreg
from initreg.errors import InitializerArgumentError, ShapeError
from initreg.core.initializer import make_desc
from initreg.std import (GlorotNormal, GlorotUniform, HeNormal, HeUniform, LecunNormal, LecunUniform, MSRAPrelu,
                         VarianceScaling, Xavier)
from initreg.std.scaling import gain

CONV = (64, 32, 3, 3)  # fan_in = 32·9 = 288, fan_out = 64·9 = 576, avg = 432 → sqrt(3/432) = 1/12


def test_xavier_uniform_on_conv_weight():
    w = Xavier()(CONV, seed=0)
    assert np.abs(w).max() <= 1 / 12
    assert np.abs(w).max() > 0.99 / 12  # the bound is reached, not just respected
    assert w.std() == pytest.approx(0.0481, rel=0.02)  # (1/12) / sqrt(3) = 0.04811


def test_xavier_gaussian_on_conv_weight():
    assert Xavier("gaussian")(CONV, seed=1).std() == pytest.approx(1 / 12, rel=0.02)


@pytest.mark.parametrize("factor_type, factor", [("in", 288), ("out", 576), ("avg", 432)])
def test_xavier_factor_types(factor_type, factor):
    w = Xavier("gaussian", factor_type, magnitude=2.0)(CONV, "float64", seed=2)
    assert w.std() == pytest.approx(math.sqrt(2.0 / factor), rel=0.02)


def test_fans_follow_the_io_layout():
    # (3, 3, 32, 64) in "IO" is the same conv as (64, 32, 3, 3) in "OI": fan_in 288, fan_out 576
    w = Xavier("gaussian", "in")((3, 3, 32, 64), seed=3, layout="IO")
    assert w.std() == pytest.approx(math.sqrt(3 / 288), rel=0.02)
    w = Xavier("gaussian", "out")((3, 3, 32, 64), seed=3, layout="IO")
    assert w.std() == pytest.approx(math.sqrt(3 / 576), rel=0.02)
    # read as "OI", the same shape has fan_in = 3·32·64: a different scale
    assert Xavier("gaussian", "in").scale(make_desc("w", (3, 3, 32, 64))) == pytest.approx(math.sqrt(3 / 6144))


def test_msraprelu_is_gaussian_xavier_with_prelu_magnitude():
    # magnitude 2 / (1 + 0.25²) = 1.882353; factor avg 432
    w = MSRAPrelu()(CONV, seed=4)
    assert w.std() == pytest.approx(math.sqrt(2 / 1.0625 / 432), rel=0.02)
    w = MSRAPrelu("in", slope=0.0)(CONV, seed=4)
    assert w.std() == pytest.approx(math.sqrt(2 / 288), rel=0.02)  # He et al.: sqrt(2 / fan_in)


def test_one_dimensional_parameter_is_a_shape_error_naming_it():
    for init in (Xavier(), MSRAPrelu(), VarianceScaling(), GlorotUniform()):
        with pytest.raises(ShapeError, match="'dense.bias'"):
            init((10,), name="dense.bias")


W = (256, 64)  # fan_in 64, fan_out 256, avg 160


@pytest.mark.parametrize("mode, n", [("fan_in", 64), ("fan_out", 256), ("fan_avg", 160)])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling_std_is_sqrt_scale_over_n(mode, n, distribution):
    scale = 2.0
    w = VarianceScaling(scale, mode, distribution)(W, "float64", seed=5)
    target = math.sqrt(scale / n)
    assert w.std() == pytest.approx(target, rel=0.02)
    if distribution == "truncated_normal":  # cut at 2 std-units of the untruncated scale target / 0.8796
        assert np.abs(w).max() <= 2 * target / 0.87962566103423978
        assert np.abs(w).max() > 0.98 * 2 * target / 0.87962566103423978
    if distribution == "uniform":
        assert np.abs(w).max() <= math.sqrt(3 * scale / n)


def test_variance_scaling_io_layout():
    # (3, 3, 64, 32) in "IO": fan_in = 9·64 = 576, fan_out = 9·32 = 288
    w = VarianceScaling(1.0, "fan_in", "untruncated_normal")((3, 3, 64, 32), "float64", seed=6, layout="IO")
    assert w.std() == pytest.approx(1 / 24, rel=0.02)
    w = VarianceScaling(1.0, "fan_out", "untruncated_normal")((3, 3, 64, 32), "float64", seed=6, layout="IO")
    assert w.std() == pytest.approx(math.sqrt(1 / 288), rel=0.02)


@pytest.mark.parametrize("cls, bound_or_std, kind", [
    (GlorotUniform, math.sqrt(6 / 320), "bound"), (GlorotNormal, math.sqrt(2 / 320), "std"),
    (HeUniform, math.sqrt(6 / 64), "bound"), (HeNormal, math.sqrt(2 / 64), "std"),
    (LecunUniform, math.sqrt(3 / 64), "bound"), (LecunNormal, math.sqrt(1 / 64), "std"),
])
def test_named_variance_scalings(cls, bound_or_std, kind):
    w = cls()(W, "float64", seed=7)
    if kind == "bound":
        assert np.abs(w).max() <= bound_or_std and np.abs(w).max() > 0.99 * bound_or_std
        assert w.std() == pytest.approx(bound_or_std / math.sqrt(3), rel=0.02)
    else:
        assert w.std() == pytest.approx(bound_or_std, rel=0.02)


def test_expected_distributions_have_the_promised_moments():
    desc = make_desc("w", CONV)
    assert Xavier().expected(desc).support() == pytest.approx((-1 / 12, 1 / 12))
    assert Xavier("gaussian").expected(desc).std() == pytest.approx(1 / 12)
    for dist in ("truncated_normal", "untruncated_normal", "uniform"):
        assert VarianceScaling(2.0, "fan_in", dist).expected(desc).std() == pytest.approx(math.sqrt(2 / 288), rel=1e-9)


def test_gain_table():
    assert gain("linear") == gain("conv2d") == gain("sigmoid") == 1.0
    assert gain("tanh") == pytest.approx(5 / 3)
    assert gain("relu") == pytest.approx(math.sqrt(2))
    assert gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert gain("selu") == 0.75
    assert initreg.gain is gain


def test_gain_errors():
    with pytest.raises(InitializerArgumentError, match="'swish'.*leaky_relu.*tanh"):
        gain("swish")
    with pytest.raises(InitializerArgumentError, match="param"):
        gain("tanh", 0.1)
    with pytest.raises(InitializerArgumentError, match="param"):
        gain("leaky_relu", "0.1")


def test_no_two_classes_claim_one_alias():
    import initreg.std as std

    claimed: dict[str, str] = {}
    for attr in std.__all__:
        cls = getattr(std, attr)
        for name in (cls.name, *vars(cls).get("aliases", ())):
            assert name not in claimed, f"{name!r} claimed by {attr} and {claimed.get(name)}"
            claimed[name] = attr
    assert claimed["glorot"] == "Xavier"
    assert claimed["he"] == claimed["kaiming"] == claimed["msra"] == "MSRAPrelu"


@pytest.mark.parametrize("make, arg", [
    (lambda: Xavier("normal"), "rnd_type"), (lambda: Xavier(factor_type="sum"), "factor_type"),
    (lambda: Xavier(magnitude=0), "magnitude"), (lambda: MSRAPrelu(slope="x"), "slope"),
    (lambda: MSRAPrelu(factor_type="fan_in"), "factor_type"),
    (lambda: VarianceScaling(0), "scale"), (lambda: VarianceScaling(mode="in"), "mode"),
    (lambda: VarianceScaling(distribution="normal"), "distribution"),
])
def test_bad_arguments_rejected_naming_them(make, arg):
    with pytest.raises(InitializerArgumentError, match=arg):
        make()


def test_named_forms_take_no_arguments():
    with pytest.raises(TypeError):
        GlorotUniform(2.0)  # type: ignore[call-arg]
