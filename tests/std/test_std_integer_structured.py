"""Bilinear and LSTMBias in integer and narrow dtypes: a value the dtype cannot hold is an error, never truncated."""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.errors import InitializationError, ParameterValueError
from initreg.std import Bilinear, LSTMBias


@pytest.mark.parametrize("index", [None, (0, 0, 1)])
def test_bilinear_with_fractional_weights_is_refused_in_an_integer_dtype(index):
    # a 4-tap kernel is (0.25, 0.75, 0.75, 0.25) per axis: int8 once wrote every value as 0
    with pytest.raises(InitializationError, match=r"dtype int8.*fractional weights.*use a floating dtype") as info:
        initreg.values(Bilinear(), (1, 1, 4, 4), name="up.weight", seed=0, dtype="int8", index=index)
    assert isinstance(info.value.__cause__, ParameterValueError)


def test_bilinear_with_whole_weights_still_fills_an_integer_dtype():
    w = initreg.values(Bilinear(), (2, 1, 2, 2), name="up.weight", seed=0, dtype="uint8")  # 2 taps: (1, 0) per axis
    assert np.array_equal(w, np.broadcast_to([[1, 0], [0, 0]], (2, 1, 2, 2)))


@pytest.mark.parametrize("bias, dtype, message", [
    (0.5, "int32", "non-integer values for dtype int32"),  # once truncated to 0
    (300, "int8", r"300\).*outside the range of int8"),
    (-1, "uint8", r"-1\).*outside the range of uint8"),
    (1e5, "float16", "too large for float16"),  # once 'wrote non-finite values'
])
@pytest.mark.parametrize("index", [None, slice(2, 4)])
def test_lstm_bias_that_the_dtype_cannot_hold_is_refused(bias, dtype, message, index):
    with pytest.raises(InitializationError, match=f"LSTMBias forget_bias got .*{message}"):
        initreg.values(LSTMBias(bias), (8,), name="lstm.bias", seed=0, dtype=dtype, index=index)


def test_an_integer_lstm_bias_is_exact_in_int64():
    b = initreg.values(LSTMBias(2**53 + 1), (8,), name="lstm.bias", seed=0, dtype="int64")
    assert b.tolist() == [0, 0, 2**53 + 1, 2**53 + 1, 0, 0, 0, 0]  # through float64 it was 2**53


def test_lstm_bias_bits_in_float_dtypes_are_unchanged():
    for dtype in ("float16", "float32", "float64"):
        b = initreg.values(LSTMBias(0.1), (4, 3), name="lstm.bias", seed=0, dtype=dtype)
        assert b[1].tobytes() == np.full(3, 0.1, dtype).tobytes() and not b[[0, 2, 3]].any()
