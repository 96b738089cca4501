"""Issue 17 item 6: Gluon's activation set, Dense(flatten=False), Conv2D dilation/groups/layout and Block.cast.

Backwards are checked against central finite differences (float64), as for the original layers in test_nn_grad.py;
forwards against direct formulas written independently of the layers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from initreg import nn
from initreg.errors import DTypeError, LayerError, ShapeError
from initreg.std import Constant, Normal
from nn_helpers import check_gradients

RNG = np.random.default_rng(17)


def ready(block, x, seed=0, sigma=0.5):
    block.initialize(Normal(sigma), seed=seed)
    block(x)
    for p in block.collect_params().values():  # random biases, so no gradient term is trivially zero
        if p.role == "bias":
            p.set_data(np.random.default_rng(seed).uniform(-0.5, 0.5, p.shape))
    return block


def away_from_zero(shape):
    """Normal samples pushed off the kinks at 0 (relu-like derivatives jump there)."""
    x = RNG.standard_normal(shape)
    return x + np.sign(x) * 0.05


# -- activations ------------------------------------------------------------------------------------------

GLUON_NAMES = ["relu", "sigmoid", "tanh", "softrelu", "softsign", "log_sigmoid", "mish"]


@pytest.mark.parametrize("name", GLUON_NAMES)
def test_every_gluon_activation_name_has_a_correct_backward(name):
    check_gradients(nn.Activation(name), away_from_zero((3, 4)))


@pytest.mark.parametrize("make", [lambda: nn.LeakyReLU(0.1), lambda: nn.ELU(0.7), nn.SELU, nn.GELU,
                                  lambda: nn.Swish(1.5)], ids=["leaky", "elu", "selu", "gelu", "swish"])
def test_parametrized_activation_blocks_have_correct_backwards(make):
    check_gradients(make(), away_from_zero((3, 5)))


def test_activation_values_match_direct_formulas():
    x = np.array([-30.0, -2.0, -0.5, 0.3, 4.0, 30.0])
    erf = np.vectorize(math.erf)
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(nn.softrelu(x), np.log1p(np.exp(x)), rtol=1e-12)
    np.testing.assert_allclose(nn.softsign(x), x / (1 + np.abs(x)))
    np.testing.assert_allclose(nn.log_sigmoid(x), -np.log1p(np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(nn.log_sigmoid(x[:4]), np.log(sig[:4]), rtol=1e-12)
    np.testing.assert_allclose(nn.mish(x), x * np.tanh(np.log1p(np.exp(x))), rtol=1e-12)
    np.testing.assert_allclose(nn.leaky_relu(x, 0.1), np.where(x > 0, x, 0.1 * x))
    np.testing.assert_allclose(nn.elu(x, 0.7), np.where(x > 0, x, 0.7 * (np.exp(x) - 1)), rtol=1e-12)
    np.testing.assert_allclose(nn.selu(x), 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1)))
    np.testing.assert_allclose(nn.gelu(x), x * 0.5 * (1 + erf(x / np.sqrt(2))), rtol=1e-12)
    np.testing.assert_allclose(nn.swish(x, 1.5), x / (1 + np.exp(-1.5 * x)), rtol=1e-12, atol=1e-15)
    big = np.array([800.0, -800.0])  # no overflow at the extremes
    assert np.all(np.isfinite(nn.softrelu(big))) and np.all(np.isfinite(nn.log_sigmoid(big)))
    assert nn.softrelu(np.float32([1.0])).dtype == np.float32 and nn.softsign(np.float32([1.0])).dtype == np.float32


@pytest.mark.parametrize("activation", ["softrelu", "softsign", "mish", "log_sigmoid"])
def test_dense_and_conv_accept_the_new_names(activation):
    x = away_from_zero((3, 4))
    check_gradients(ready(nn.Dense(3, activation=activation, dtype="float64"), x), x)
    xc = RNG.standard_normal((2, 2, 5, 5))
    check_gradients(ready(nn.Conv2D(2, 3, activation=activation, dtype="float64"), xc), xc)


def test_prelu_learns_its_slope_per_channel():
    x = away_from_zero((4, 3, 2, 2))
    layer = nn.PReLU(in_channels=3, dtype="float64")
    layer.initialize(seed=0)
    layer(x)
    np.testing.assert_array_equal(layer.alpha.data(), [0.25, 0.25, 0.25])  # Gluon's default slope
    layer.alpha.set_data([0.1, 0.2, 0.3])
    a = np.array([0.1, 0.2, 0.3]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(layer(x), np.where(x > 0, x, a * x))
    check_gradients(layer, x)
    check_gradients(ready(nn.PReLU(dtype="float64"), x), x)  # one shared slope
    with pytest.raises(ShapeError, match="in_channels"):
        layer(np.ones((2, 4)))


def test_bad_activation_arguments_name_the_argument():
    for make, needle in [(lambda: nn.Activation("leaky"), "LeakyReLU"), (lambda: nn.LeakyReLU(-1), "alpha"),
                         (lambda: nn.Swish(0), "beta"), (lambda: nn.Dense(2, activation="gelu"), "GELU")]:
        with pytest.raises(LayerError, match=needle):
            make()


# -- Dense(flatten=False) ---------------------------------------------------------------------------------

def test_dense_without_flatten_maps_the_last_axis():
    x = RNG.standard_normal((2, 3, 4))
    layer = ready(nn.Dense(5, flatten=False, dtype="float64"), x)
    assert layer.weight.shape == (5, 4)
    w, b = layer.weight.data(), layer.bias.data()
    np.testing.assert_allclose(layer(x), np.einsum("nti,oi->nto", x, w) + b, rtol=1e-12)
    assert "flatten=False" in repr(layer)
    check_gradients(layer, x)
    flat = ready(nn.Dense(5, dtype="float64"), x)
    assert flat.weight.shape == (5, 12) and flat(x).shape == (2, 5)


@pytest.mark.parametrize("activation", ["tanh", "mish"])
def test_dense_without_flatten_gradients_with_activations(activation):
    x = away_from_zero((2, 2, 3, 4))
    check_gradients(ready(nn.Dense(3, flatten=False, activation=activation, dtype="float64"), x), x)


def test_dense_flatten_must_be_a_bool():
    with pytest.raises(LayerError, match="flatten"):
        nn.Dense(3, flatten="no")


# -- Conv2D: dilation, groups, layout ---------------------------------------------------------------------

def naive_conv(x, w, b, stride, pad, dilation, groups):
    """Direct loops over every output value (independent of the layer's windowed tensordot)."""
    n, c, h, wd = x.shape
    o, cig, kh, kw = w.shape
    cog = o // groups
    xp = np.zeros((n, c, h + 2 * pad[0], wd + 2 * pad[1]))
    xp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
    ho = (h + 2 * pad[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * pad[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, ho, wo))
    for i in range(n):
        for k in range(o):
            g = k // cog
            for r in range(ho):
                for s in range(wo):
                    total = b[k]
                    for ci in range(cig):
                        for a in range(kh):
                            for bb in range(kw):
                                total += (xp[i, g * cig + ci, r * stride[0] + a * dilation[0],
                                             s * stride[1] + bb * dilation[1]] * w[k, ci, a, bb])
                    y[i, k, r, s] = total
    return y


CONV_CASES = [  # kernel, strides, padding, dilation, groups
    ((3, 3), (1, 1), (0, 0), (2, 2), 1),
    ((3, 2), (2, 1), (1, 2), (1, 2), 1),
    ((2, 2), (1, 1), (1, 1), (1, 1), 2),
    ((3, 3), (2, 2), (2, 1), (2, 1), 4),
]


@pytest.mark.parametrize("kernel,strides,padding,dilation,groups", CONV_CASES)
def test_conv_dilation_and_groups_match_direct_loops_and_finite_differences(kernel, strides, padding, dilation, groups):
    x = RNG.standard_normal((2, 4, 8, 7))
    layer = ready(nn.Conv2D(4, kernel, strides=strides, padding=padding, dilation=dilation, groups=groups,
                            dtype="float64"), x)
    assert layer.weight.shape == (4, 4 // groups, *kernel)
    expected = naive_conv(x, layer.weight.data(), layer.bias.data(), strides, padding, dilation, groups)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)
    check_gradients(layer, x)


def test_depthwise_conv_with_activation_gradients():
    x = RNG.standard_normal((2, 3, 6, 6))
    layer = ready(nn.Conv2D(6, 3, groups=3, dilation=2, activation="softrelu", dtype="float64"), x)
    assert layer.weight.shape == (6, 1, 3, 3) and "groups=3" in repr(layer) and "dilation=(2, 2)" in repr(layer)
    check_gradients(layer, x)


def test_nhwc_layout_is_the_nchw_convolution_transposed():
    x = RNG.standard_normal((2, 3, 7, 6))
    nchw = ready(nn.Conv2D(4, 3, padding=1, strides=2, dtype="float64"), x)
    nhwc = nn.Conv2D(4, 3, padding=1, strides=2, layout="NHWC", dtype="float64")
    nhwc.initialize(seed=0)
    xh = x.transpose(0, 2, 3, 1).copy()
    nhwc(xh)
    nhwc.weight.set_data(nchw.weight.data())
    nhwc.bias.set_data(nchw.bias.data())
    np.testing.assert_allclose(nhwc(xh), nchw(x).transpose(0, 2, 3, 1), rtol=1e-12)
    assert nhwc.weight.shape == (4, 3, 3, 3)  # (out, in, kh, kw) in both layouts
    check_gradients(nhwc, xh)


def test_conv_group_and_layout_errors_name_the_problem():
    with pytest.raises(LayerError, match="divisible by groups=2"):
        nn.Conv2D(3, 3, groups=2)
    with pytest.raises(LayerError, match="layout"):
        nn.Conv2D(2, 3, layout="NWHC")
    conv = nn.Conv2D(4, 3, groups=2)
    conv.initialize()
    with pytest.raises(ShapeError, match="3 channels, not divisible by groups=2"):
        conv(np.ones((1, 3, 5, 5)))
    dil = nn.Conv2D(1, 3, dilation=3)
    dil.initialize()
    with pytest.raises(ShapeError, match="dilated to 7"):
        dil(np.ones((1, 1, 5, 5)))
    assert conv.weight.state == "deferred" and dil.weight.state == "deferred"


# -- Block.cast -------------------------------------------------------------------------------------------

def test_cast_converts_values_gradients_and_deferred_parameters():
    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=3), nn.Dense(2))
    net.initialize(Constant(0.5))
    assert net.cast("float64") is net
    assert net[0].weight.data().dtype == np.float64 and net[1].weight.dtype == np.float64
    y = net(np.ones((2, 3)))
    assert y.dtype == np.float64 and net[1].weight.data().dtype == np.float64  # the deferred one drew as float64
    net.backward(np.ones_like(y))
    net.cast("float16")
    assert net[0].weight.grad().dtype == np.float16 and net(np.ones((2, 3))).dtype == np.float16


def test_cast_is_all_or_nothing(monkeypatch):
    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=3), nn.Dense(2, in_units=4))
    net.initialize(Constant(0.5))

    def refuse(dtype):
        raise DTypeError("refused")

    monkeypatch.setattr(net[1].bias, "cast", refuse)  # the last parameter refuses after the others converted
    with pytest.raises(DTypeError):
        net.cast("float64")
    assert all(p.dtype == np.float32 and p.data().dtype == np.float32 for p in net.collect_params().values())
    with pytest.raises(DTypeError, match="complex"):
        net.cast("complex64")


def test_windows_without_sliding_window_view_match():
    """The as_strided fallback (CuPy builds without sliding_window_view) gives the same dilated windows."""
    from types import SimpleNamespace

    from initreg.nn.conv import windows

    bare = SimpleNamespace(lib=SimpleNamespace(stride_tricks=SimpleNamespace(as_strided=np.lib.stride_tricks.as_strided)))
    x = RNG.standard_normal((2, 3, 9, 8))
    for kernel, strides, dilation in [((3, 3), (1, 1), (1, 1)), ((3, 2), (2, 1), (2, 3)), ((2, 2), (3, 2), (1, 2))]:
        np.testing.assert_array_equal(windows(bare, x, kernel, strides, dilation), windows(np, x, kernel, strides, dilation))
