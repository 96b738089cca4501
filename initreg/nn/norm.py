"""BatchNorm: normalize over every axis but the channel axis, then scale (gamma) and shift (beta)."""

from __future__ import annotations

import functools
import math
from typing import Any

from ..core.device import on_device
from ..errors import LayerError, ShapeError
from ..core.initializer import check_number
from .block import Block, Grads, as_input, check_size, shape_of


class BatchNorm(Block):
    """Batch normalization over ``axis`` with gamma, beta and running statistics (grad_req "null").

    In training mode (the default, ``net.train()``) it normalizes with the batch's mean and biased variance and
    moves the running statistics: running = momentum * running + (1 - momentum) * batch. In inference mode
    (``net.eval()``) it normalizes with the running statistics and leaves them alone. The pass that completes the
    layer's shapes (its deferred initialization) never moves them: they keep their initial values, as after a
    shape-inferring call in Gluon. The statistics are written when the outermost call succeeds.
    """

    def __init__(self, axis: int = 1, momentum: float = 0.9, epsilon: float = 1e-5, in_channels: int | None = None,
                 gamma_initializer: Any = "ones", beta_initializer: Any = "zeros",
                 running_mean_initializer: Any = "zeros", running_variance_initializer: Any = "ones",
                 dtype: Any = "float32", params: Any = None):
        super().__init__()
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise LayerError(f"BatchNorm: axis must be an int, got {axis!r}")
        self.axis = axis
        self.momentum = _checked("momentum", momentum, 0.0, 1.0)
        self.epsilon = _checked("epsilon", epsilon, 0.0, None)
        in_channels = check_size("BatchNorm", "in_channels", in_channels, none_ok=True)
        shape = (in_channels,)
        self._declare([("gamma", shape, dtype, gamma_initializer, "write"), ("beta", shape, dtype, beta_initializer, "write"),
                       ("running_mean", shape, dtype, running_mean_initializer, "null"),
                       ("running_var", shape, dtype, running_variance_initializer, "null")], params)
        self._initializing = False  # True between infer_shape and forward of the pass that completed the shapes

    def _axis(self, shape: tuple[int, ...]) -> int:
        if not -len(shape) <= self.axis < len(shape):
            raise ShapeError(f"{self._where()}: cannot infer in_channels from an input of shape {shape}: it has no "
                             f"axis {self.axis}; pass inputs with a channel axis, or build with another axis=")
        return self.axis % len(shape)

    def infer_shape(self, x: Any) -> None:
        shape = shape_of(x)
        channels = shape[self._axis(shape)]
        known = self.gamma.shape[0]
        if known is not None and known != channels:
            raise ShapeError(f"{self._where()}: the input of shape {shape} has {channels} channels on axis "
                             f"{self.axis} but in_channels is {known}")
        self._initializing = self._complete({k: (channels,) for k in ("gamma", "beta", "running_mean", "running_var")},
                                            f"an input of shape {shape}")

    def forward(self, x: Any) -> Any:
        dev = self._place(x)
        gamma, beta = self.gamma.data(dev), self.beta.data(dev)
        rmean, rvar = self.running_mean.data(dev), self.running_var.data(dev)
        xp = dev.xp
        with on_device(dev):
            x = as_input(x, dev, gamma.dtype)
            axis = self._axis(x.shape)
            reduce = tuple(i for i in range(x.ndim) if i != axis)
            bshape = tuple(x.shape[axis] if i == axis else 1 for i in range(x.ndim))
            if self.training:
                mean, var = x.mean(axis=reduce), x.var(axis=reduce)
            else:
                mean, var = rmean.copy(), rvar.copy()
            invstd = 1 / xp.sqrt(var + self.epsilon)
            xhat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
            y = gamma.reshape(bshape) * xhat + beta.reshape(bshape)
        if self.training and not self._initializing:
            self._on_success(functools.partial(_move, self.momentum, dev, rmean, rvar, mean, var))
        self._initializing = False
        self._record(dev, xhat, invstd.reshape(bshape), reduce, self.training)
        return y

    def vjp(self, dy: Any, grads: Grads) -> Any:
        dev, xhat, invstd, reduce, training = self._recall()
        gamma = self.gamma.data(dev)
        with on_device(dev):
            dy = as_input(dy, dev, xhat.dtype)
            if grads.wants(self.gamma):
                grads.add(self.gamma, dev, (dy * xhat).sum(axis=reduce))
            if grads.wants(self.beta):
                grads.add(self.beta, dev, dy.sum(axis=reduce))
            dxhat = dy * gamma.reshape(invstd.shape)
            if not training:
                return dxhat * invstd
            m = math.prod(xhat.shape[i] for i in reduce)
            return invstd / m * (m * dxhat - dxhat.sum(axis=reduce, keepdims=True)
                                 - xhat * (dxhat * xhat).sum(axis=reduce, keepdims=True))

    def _describe(self) -> str:
        return f"axis={self.axis}, eps={self.epsilon}, momentum={self.momentum}, in_channels={self.gamma.shape[0]}"


def _move(momentum: float, dev: Any, rmean: Any, rvar: Any, mean: Any, var: Any) -> None:
    """running = momentum * running + (1 - momentum) * batch, in place."""
    with on_device(dev):
        rmean[...] = momentum * rmean + (1 - momentum) * mean
        rvar[...] = momentum * rvar + (1 - momentum) * var


def _checked(arg: str, value: Any, low: float, high: float | None) -> float:
    from ..errors import InitializerArgumentError

    try:
        v = check_number("BatchNorm", arg, value, nonneg=True)
    except InitializerArgumentError as exc:
        raise LayerError(str(exc)) from None
    if v < low or (high is not None and v > high):
        raise LayerError(f"BatchNorm: {arg} must be in [{low}, {high if high is not None else 'inf'}], got {value!r}")
    return v
