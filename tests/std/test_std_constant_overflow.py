"""A scalar Constant too large for a float dtype is refused naming the value, the dtype and the fix."""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.errors import InitializationError, ParameterValueError
from initreg.std import Constant, Mixture


@pytest.mark.parametrize("value, dtype", [(1e5, "float16"), (65520.0, "float16"), (1e300, "float32"),
                                          (2**200, "float32")])
def test_a_scalar_constant_that_overflows_the_dtype_says_so(value, dtype):
    # before: 'wrote non-finite values (NaN or inf)', which did not say which value or what to do
    message = f"Constant value .* is too large for {dtype} .*non-finite .*wider dtype"
    with pytest.raises(InitializationError, match=message) as info:
        initreg.values(Constant(value), (8,), name="w", seed=0, dtype=dtype)
    assert isinstance(info.value.__cause__, ParameterValueError)
    with pytest.raises(InitializationError, match="too large for float16 .*non-finite"):
        initreg.values(Mixture([(0.5, Constant(1e5)), (0.5, "zero")]), (8,), name="w", seed=0, dtype="float16")


def test_a_scalar_constant_above_the_largest_float_that_rounds_to_it_is_kept():
    w = initreg.values(Constant(65519.0), (3,), name="w", seed=0, dtype="float16")  # rounds to 65504, not inf
    assert w.tobytes() == np.full(3, 65504, np.float16).tobytes()
    assert initreg.values(Constant(-3e38), (2,), name="w", seed=0, dtype="float32")[0] == np.float32(-3e38)
