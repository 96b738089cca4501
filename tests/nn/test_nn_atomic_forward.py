"""Issue 16 item 4 and issue 17 item 8: a forward call changes parameters all or nothing; BatchNorm statistics."""

from __future__ import annotations

import numpy as np
import pytest

from initreg import init, nn
from initreg.errors import InitializationError, ShapeError


class FailsOn(init.Initializer):
    """Fails for parameters whose name ends with ``suffix``; 0.25 elsewhere."""

    def __init__(self, suffix):
        self.suffix = suffix

    def fill(self, desc, out, rng):
        if desc.name.endswith(self.suffix):
            raise RuntimeError("boom")
        out[...] = 0.25


def test_a_later_layer_failing_leaves_every_earlier_parameter_as_it_was():
    net = nn.Sequential()
    net.add(nn.Dense(4), nn.BatchNorm(), nn.Dense(3), nn.Dense(2))
    net.initialize(FailsOn("3.weight"))
    before = {k: (p.state, p.shape) for k, p in net.collect_params().items()}
    with pytest.raises(InitializationError, match="'3.weight'"):
        net(np.ones((2, 5)))
    assert {k: (p.state, p.shape) for k, p in net.collect_params().items()} == before
    assert net[0].weight.state == "deferred" and net[2].weight.shape == (3, None)


def test_a_shape_error_after_a_draw_undoes_the_draw():
    net = nn.Sequential()
    net.add(nn.Dense(4), nn.Dense(3, in_units=5))  # the second layer cannot take 4 features
    net.initialize()
    with pytest.raises(ShapeError, match="in_units is 5"):
        net(np.ones((2, 6)))
    assert net[0].weight.state == "deferred" and net[0].weight.shape == (4, None)


def test_running_statistics_move_only_when_the_whole_call_succeeds():
    net = nn.Sequential()
    net.add(nn.BatchNorm(in_channels=3), nn.Dense(2, weight_initializer=FailsOn("weight")))
    net.initialize()
    x = np.random.default_rng(0).normal(3.0, 1.0, size=(8, 3))
    with pytest.raises(InitializationError):
        net(x)  # BatchNorm (complete since initialize()) ran in training mode before the Dense failed
    assert not net[0].running_mean.data().any() and np.all(net[0].running_var.data() == 1)
    net[1].weight.init = "zeros"
    net[1].initialize(force_reinit=True)
    net(x)
    np.testing.assert_allclose(net[0].running_mean.data(), 0.1 * x.mean(axis=0), rtol=1e-6)


def test_the_shape_inferring_pass_keeps_the_initial_statistics():
    bn = nn.BatchNorm()
    bn.initialize()
    x = np.random.default_rng(1).normal(5.0, 2.0, size=(16, 4, 3, 3))
    bn(x)  # completes the shapes: a "forced initialization" pass, as in Gluon outside autograd.record()
    assert not bn.running_mean.data().any() and np.all(bn.running_var.data() == 1)
    bn(x)  # a training pass
    np.testing.assert_allclose(bn.running_mean.data(), 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-6)
    moved = bn.running_mean.data().copy()
    bn.eval()(x)  # inference leaves them alone
    np.testing.assert_array_equal(bn.running_mean.data(), moved)


def test_a_shared_batchnorm_used_twice_in_one_call_moves_twice():
    bn = nn.BatchNorm(in_channels=2, momentum=0.5)
    net = nn.Sequential()
    net.add(bn, bn)
    net.initialize()
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    net(x)
    # first use: batch mean (2, 4); the second sees the normalized batch, mean 0: 0.5 * (0.5 * m) + 0
    np.testing.assert_allclose(bn.running_mean.data(), [0.5, 1.0], rtol=1e-6)
