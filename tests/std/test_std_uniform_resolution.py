"""A uniform interval narrower than the dtype resolves near its top is an error: the stream keeps every value below
``high`` in the dtype, and there that put every value below ``low`` (Uniform(1e-300) in float32: all -1.4e-45)."""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.errors import InitializationError, InitializerArgumentError
from initreg.std import GlorotUniform, Uniform, VarianceScaling, Xavier


@pytest.mark.parametrize("init, dtype, below", [
    (Uniform(1e-300), "float32", -2.0**-149),  # both bounds round to 0 in float32
    (Uniform(low=1.0, high=1.0 + 2.0**-52), "float32", 1.0 - 2.0**-24),
    (Uniform(1e-8), "float16", -2.0**-24),
    (Xavier(magnitude=1e-300), "float32", -2.0**-149),
])
@pytest.mark.parametrize("index", [None, (slice(1, 3),)])
def test_an_interval_the_dtype_cannot_resolve_is_refused(init, dtype, below, index):
    message = f"narrower than {dtype} resolves there.*{below!r}, below low"
    with pytest.raises(InitializationError, match=message) as info:
        initreg.values(init, (4, 4), name="w", seed=0, dtype=dtype, index=index)
    assert isinstance(info.value.__cause__, InitializerArgumentError)
    with pytest.raises(InitializerArgumentError, match="use a wider interval or a wider dtype"):
        init((4, 4), dtype)  # called directly: the initializer's own error


@pytest.mark.parametrize("init", [Xavier(), GlorotUniform(), VarianceScaling(distribution="uniform")])
def test_a_fan_scaled_bound_below_float16_resolution_names_the_fans(init):
    # fan-in 2**61 gives a bound near 1e-9, under float16's smallest step 6e-8: every value was once -6e-8
    with pytest.raises(InitializationError, match=r"bound from fans \(2305843009213693952, 1\).*float16"):
        initreg.values(init, (1, 2**61), name="w", seed=0, dtype="float16", index=(0, slice(0, 8)))


def test_the_same_intervals_in_a_dtype_that_resolves_them_stay_inside():
    w = initreg.values(Uniform(1e-300), (1000,), name="w", seed=0, dtype="float64")
    assert w.min() >= -1e-300 and w.max() < 1e-300 and (w > 0).any() and (w < 0).any()
    one = initreg.values(Uniform(low=1.0, high=1.0 + 2.0**-23), (1000,), name="w", seed=0, dtype="float32")
    assert np.all(one == 1.0)  # one float32 value in [low, high): every value is it
    assert not initreg.values(Uniform(0.0), (5,), name="w", seed=0, dtype="float16").any()


def test_the_check_warns_of_nothing_for_bounds_beyond_the_dtype():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning inside fill would become the error's cause
        with pytest.raises(InitializationError, match="non-finite") as info:
            initreg.values(Uniform(low=-1e300, high=1e300), (4,), name="w", seed=0, dtype="float32")
    assert "Warning" not in str(info.value)


@pytest.mark.parametrize("kwargs", [{"low": -1e308, "high": 1.7e308}, {"scale": 1e308}])
def test_an_interval_wider_than_float64_is_refused_when_built(kwargs):
    # design.md: arguments are checked at construction; high - low overflowed only when a fill ran
    with pytest.raises(InitializerArgumentError, match="high - low must be finite"):
        Uniform(**kwargs)
