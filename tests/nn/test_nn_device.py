"""Forward runs where the parameters live; an input elsewhere is a DeviceMismatchError naming both devices."""

from __future__ import annotations

import types

import numpy as np
import pytest

import initreg
from initreg import cpu, gpu, nn
from initreg.core.device import device_of
from initreg.errors import DeviceMismatchError, DeviceUnavailableError, InitregError


class OnGpu:
    """Looks like a CuPy array on gpu(0) to initreg.core.device.device_of (no CUDA needed)."""

    __module__ = "cupy._core.fake"

    def __init__(self, array):
        self.array = np.asarray(array)
        self.shape = self.array.shape
        self.device = types.SimpleNamespace(id=0)


def test_input_on_another_device_names_both_and_draws_nothing():
    net = nn.Sequential()
    net.add(nn.Dense(4), nn.Dense(2))
    net.initialize(device=cpu(0))
    with pytest.raises(DeviceMismatchError, match=r"Dense '0'.*input is on gpu\(0\).*'0.weight' is on cpu\(0\)") as err:
        net(OnGpu(np.ones((3, 5))))
    assert isinstance(err.value, InitregError) and isinstance(err.value, ValueError)
    assert net[0].weight.state == "deferred"  # the check comes before shape inference


def test_backward_gradient_on_another_device_is_refused():
    layer = nn.Dense(2, in_units=3)
    layer.initialize()
    layer(np.ones((1, 3)))
    with pytest.raises(DeviceMismatchError, match=r"gpu\(0\).*cpu\(0\)"):
        layer.backward(OnGpu(np.ones((1, 2))))


def test_outputs_live_where_the_parameters_live():
    layer = nn.Conv2D(1, (3, 3))
    layer.initialize(device=[cpu(1), cpu(0)], seed=0)
    y = layer(np.random.default_rng(0).uniform(size=(1, 3, 9, 9)))
    assert device_of(y) == cpu(0) and isinstance(y, np.ndarray) and y.shape == (1, 1, 7, 7)
    np.testing.assert_array_equal(layer.weight.data(cpu(0)), layer.weight.data(cpu(1)))


def test_asking_for_a_gpu_without_one_fails_before_any_change():
    if initreg.gpu_available(0):
        pytest.skip("this machine has a GPU")
    layer = nn.Dense(2)
    with pytest.raises(DeviceUnavailableError):
        layer.initialize(device=gpu(0))
    assert layer.weight.state == "declared"


@pytest.mark.gpu
def test_gpu_forward_backward_match_cpu():
    if not initreg.gpu_available(0):
        pytest.skip("needs CuPy and a CUDA GPU")
    import cupy

    def build(device):
        net = nn.Sequential()
        net.add(nn.Conv2D(3, 3, padding=1, activation="relu", dtype="float64"), nn.BatchNorm(dtype="float64"),
                nn.Dense(4, activation="tanh", dtype="float64"))
        net.initialize(initreg.std.Normal(0.3), device=device, seed=5)
        return net

    x = np.random.default_rng(1).standard_normal((2, 2, 5, 5))
    dy = np.random.default_rng(2).standard_normal((2, 4))
    host, dev = build(cpu(0)), build(gpu(0))
    host(x)
    dev(cupy.asarray(x))
    for name, p in host.collect_params().items():  # the same values on both (GPU fills may use other bits)
        dev.collect_params()[name].set_data(p.data())
    y_host, y_dev = host(x), dev(cupy.asarray(x))
    assert isinstance(y_dev, cupy.ndarray) and device_of(y_dev) == gpu(0)
    np.testing.assert_allclose(cupy.asnumpy(y_dev), y_host, rtol=1e-10, atol=1e-12)
    dx_host, dx_dev = host.backward(dy), dev.backward(cupy.asarray(dy))
    np.testing.assert_allclose(cupy.asnumpy(dx_dev), dx_host, rtol=1e-9, atol=1e-12)
    for name, p in host.collect_params().items():
        if p.grad_req != "null":
            np.testing.assert_allclose(cupy.asnumpy(dev.collect_params()[name].grad(gpu(0))), p.grad(), rtol=1e-9,
                                       atol=1e-12, err_msg=name)
    with pytest.raises(DeviceMismatchError, match=r"cpu\(0\).*gpu\(0\)"):
        dev(x)


@pytest.mark.gpu
def test_gpu_gluon_layers_match_cpu():
    """Issue 17's layers (dilated, grouped NHWC convolution, PReLU, GELU, Dense(flatten=False)) on CuPy."""
    if not initreg.gpu_available(0):
        pytest.skip("needs CuPy and a CUDA GPU")
    import cupy

    def build(device):
        net = nn.Sequential()
        net.add(nn.Conv2D(4, 3, padding=2, dilation=2, groups=2, layout="NHWC", activation="softrelu",
                          dtype="float64"),
                nn.PReLU(dtype="float64"), nn.GELU(), nn.Dense(3, flatten=False, activation="mish", dtype="float64"))
        net.initialize(initreg.std.Normal(0.3), device=device, seed=5)
        return net

    x = np.random.default_rng(1).standard_normal((2, 5, 5, 2))
    host, dev = build(cpu(0)), build(gpu(0))
    host(x)
    dev(cupy.asarray(x))
    for name, p in host.collect_params().items():
        dev.collect_params()[name].set_data(p.data())
    y_host, y_dev = host(x), dev(cupy.asarray(x))
    np.testing.assert_allclose(cupy.asnumpy(y_dev), y_host, rtol=1e-10, atol=1e-12)
    dy = np.random.default_rng(2).standard_normal(y_host.shape)
    np.testing.assert_allclose(cupy.asnumpy(dev.backward(cupy.asarray(dy))), host.backward(dy), rtol=1e-9, atol=1e-12)
    for name, p in host.collect_params().items():
        np.testing.assert_allclose(cupy.asnumpy(dev.collect_params()[name].grad(gpu(0))), p.grad(), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
