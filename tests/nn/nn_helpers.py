"""Helpers shared by the nn tests: finite-difference gradients and a counting initializer."""

from __future__ import annotations

import numpy as np
import initreg


class Counting(initreg.Initializer):
    """Writes ``value`` and counts calls per parameter name."""

    def __init__(self, value: float = 0.5):
        self.value = value
        self.calls: dict[str, int] = {}

    def fill(self, desc, out, rng):
        self.calls[desc.name] = self.calls.get(desc.name, 0) + 1
        out[...] = self.value


def numeric_grad(loss, arr, eps=1e-6):
    """Central differences of ``loss()`` with respect to every element of ``arr`` (perturbed in place)."""
    g = np.zeros(arr.shape, dtype=np.float64)
    for idx in np.ndindex(arr.shape):
        orig = arr[idx]
        arr[idx] = orig + eps
        up = loss()
        arr[idx] = orig - eps
        down = loss()
        arr[idx] = orig
        g[idx] = (up - down) / (2 * eps)
    return g


def check_gradients(net, x, seed=0, rtol=1e-6, atol=1e-8):
    """Compare backward()'s parameter and input gradients with central differences of sum(net(x) * r)."""
    x = np.array(x, dtype=np.float64)
    r = np.random.default_rng(seed).standard_normal(net(x).shape)

    def loss():
        return float(np.sum(net(x) * r))

    net(x)
    dx = net.backward(r)
    params = {k: p for k, p in net.collect_params().items() if p.grad_req != "null"}
    assert params or not net.collect_params(), "nothing to check"
    for name, p in params.items():
        np.testing.assert_allclose(p.grad(), numeric_grad(loss, p.data()), rtol=rtol, atol=atol, err_msg=name)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=rtol, atol=atol, err_msg="input")
    return dx
