"""Bilinear and LSTMBias: exact values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from initreg.errors import InitializerArgumentError, ShapeError
from initreg.core.initializer import make_desc
from initreg.std import Bilinear, LSTMBias
from initreg.validation.expected import Exact


def test_lstm_bias_forget_gate_slice():
    b = LSTMBias(2.0)((400,))
    assert np.all(b[100:200] == 2.0)
    assert np.all(b[:100] == 0) and np.all(b[200:] == 0)


def test_lstm_bias_default_and_2d():
    b = LSTMBias()((8, 3), "float64")
    assert np.array_equal(b, np.r_[np.zeros((2, 3)), np.ones((2, 3)), np.zeros((4, 3))])


def test_lstm_bias_needs_four_gates():
    with pytest.raises(ShapeError, match="'cell.bias'.*4"):
        LSTMBias()((10,), name="cell.bias")
    with pytest.raises(InitializerArgumentError, match="forget_bias"):
        LSTMBias("1")


def test_lstm_bias_expected_is_exact():
    exp = LSTMBias(2.0).expected(make_desc("b", (8,)))
    assert isinstance(exp, Exact) and np.array_equal(exp.values, [0, 0, 2, 2, 0, 0, 0, 0])


# 1-D factors by hand: f = ceil(k/2), c = (2f - 1 - f mod 2) / (2f), k(x) = 1 - |x/f - c|
# k=4: f=2, c=0.75 → 1-|[0, .5, 1, 1.5] - .75| = [.25, .75, .75, .25]
# k=3: f=2, c=0.75 → [.25, .75, .75]        k=2: f=1, c=(2-1-1)/2=0 → 1-|[0, 1]| = [1, 0]
K4 = np.array([0.25, 0.75, 0.75, 0.25])
K3 = np.array([0.25, 0.75, 0.75])
K2 = np.array([1.0, 0.0])


def test_bilinear_4x4_every_slice():
    w = Bilinear()((3, 1, 4, 4))
    for c in range(3):
        assert np.array_equal(w[c, 0], np.outer(K4, K4).astype(np.float32))


def test_bilinear_non_square_and_full_channels():
    w = Bilinear()((2, 2, 3, 2), "float64")
    assert np.allclose(w[1, 0], np.outer(K3, K2))
    assert np.array_equal(w[0, 0], w[1, 1])


def test_bilinear_io_layout_puts_spatial_first():
    w = Bilinear()((4, 4, 1, 3), layout="IO")
    for c in range(3):
        assert np.array_equal(w[:, :, 0, c], np.outer(K4, K4).astype(np.float32))


def test_bilinear_upsamples_a_constant_to_a_constant():
    # a stride-2 transposed convolution with this kernel maps ones to ones away from the border
    k = Bilinear()((1, 1, 4, 4), "float64")[0, 0]
    out = np.zeros((2 * 6 + 2, 2 * 6 + 2))
    for i in range(6):
        for j in range(6):
            out[2 * i:2 * i + 4, 2 * j:2 * j + 4] += k
    assert np.allclose(out[3:-3, 3:-3], 1.0)


def test_bilinear_errors_and_expected():
    with pytest.raises(ShapeError, match="'up.weight'"):
        Bilinear()((4, 4), name="up.weight")
    exp = Bilinear().expected(make_desc("w", (2, 1, 4, 4)))
    assert isinstance(exp, Exact) and np.array_equal(exp.values, Bilinear()((2, 1, 4, 4)))
    with pytest.raises(TypeError):
        Bilinear(2)  # type: ignore[call-arg]
