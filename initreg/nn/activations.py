"""Activation functions with their derivatives, the Activation block, and the parametrized activation blocks."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, NamedTuple

from ..core.device import device_of, on_device
from ..errors import LayerError
from ..core.initializer import check_number
from .block import Block, Grads, as_input, check_size, shape_of

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _xp(x: Any) -> Any:
    return device_of(x).xp


def relu(x: Any) -> Any:
    """max(x, 0), elementwise."""
    xp = _xp(x)
    return xp.maximum(xp.asarray(x), 0)


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)), elementwise."""
    xp = _xp(x)
    return 0.5 * (xp.tanh(0.5 * xp.asarray(x)) + 1)  # tanh form: no overflow for large |x|


def tanh(x: Any) -> Any:
    """tanh(x), elementwise."""
    return _xp(x).tanh(x)


def softrelu(x: Any) -> Any:
    """log(1 + exp(x)) (softplus), elementwise."""
    xp = _xp(x)
    return xp.logaddexp(0, xp.asarray(x))  # no overflow for large x


def softsign(x: Any) -> Any:
    """x / (1 + |x|), elementwise."""
    xp = _xp(x)
    x = xp.asarray(x)
    return x / (1 + xp.abs(x))


def log_sigmoid(x: Any) -> Any:
    """log(sigmoid(x)) = -log(1 + exp(-x)), elementwise."""
    xp = _xp(x)
    return -xp.logaddexp(0, -xp.asarray(x))


def mish(x: Any) -> Any:
    """x * tanh(softrelu(x)), elementwise."""
    xp = _xp(x)
    x = xp.asarray(x)
    return x * xp.tanh(xp.logaddexp(0, x))


def leaky_relu(x: Any, alpha: float = 0.01) -> Any:
    """x where x > 0, else alpha * x."""
    xp = _xp(x)
    x = xp.asarray(x)
    return xp.where(x > 0, x, x * alpha)


def elu(x: Any, alpha: float = 1.0) -> Any:
    """x where x > 0, else alpha * (exp(x) - 1)."""
    xp = _xp(x)
    x = xp.asarray(x)
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))


def selu(x: Any) -> Any:
    """scale * elu(x, alpha) with the self-normalizing constants (alpha ≈ 1.6733, scale ≈ 1.0507)."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def _erf(xp: Any, x: Any) -> Any:
    if xp.__name__ == "numpy":
        from scipy.special import erf  # scipy is a dependency; imported only when GELU runs
    else:  # pragma: no cover - needs a GPU
        from cupyx.scipy.special import erf
    return erf(x)


def gelu(x: Any) -> Any:
    """x * Φ(x), Φ the standard normal CDF (the exact, erf form)."""
    xp = _xp(x)
    x = xp.asarray(x)
    return 0.5 * x * (1 + _erf(xp, x * (1 / math.sqrt(2))))


def swish(x: Any, beta: float = 1.0) -> Any:
    """x * sigmoid(beta * x)."""
    return x * sigmoid(beta * _xp(x).asarray(x))


# d(input) from (d(output), input, output); module-level functions so that layers pickle

def _relu_grad(dy: Any, x: Any, y: Any) -> Any:
    return dy * (y > 0)


def _sigmoid_grad(dy: Any, x: Any, y: Any) -> Any:
    return dy * y * (1 - y)


def _tanh_grad(dy: Any, x: Any, y: Any) -> Any:
    return dy * (1 - y * y)


def _softrelu_grad(dy: Any, x: Any, y: Any) -> Any:
    return dy * -_xp(y).expm1(-y)  # sigmoid(x) = 1 - exp(-y), without cancellation for small y


def _softsign_grad(dy: Any, x: Any, y: Any) -> Any:
    r = 1 - _xp(y).abs(y)  # 1 / (1 + |x|)
    return dy * r * r


def _log_sigmoid_grad(dy: Any, x: Any, y: Any) -> Any:
    return dy * -_xp(y).expm1(y)  # sigmoid(-x) = 1 - exp(y)


def _mish_grad(dy: Any, x: Any, y: Any) -> Any:
    xp = _xp(x)
    t = xp.tanh(xp.logaddexp(0, x))
    return dy * (t + x * (1 - t * t) * sigmoid(x))


def _leaky_grad(alpha: float, dy: Any, x: Any, y: Any) -> Any:
    return dy * _xp(y).where(y > 0, 1, alpha)  # alpha >= 0: y > 0 exactly where x > 0


def _elu_grad(alpha: float, scale: float, dy: Any, x: Any, y: Any) -> Any:
    return dy * _xp(y).where(y > 0, scale, y + scale * alpha)  # below 0: d/dx scale·alpha·(e^x − 1) = y + scale·alpha


def _gelu_grad(dy: Any, x: Any, y: Any) -> Any:
    xp = _xp(x)
    cdf = 0.5 * (1 + _erf(xp, x * (1 / math.sqrt(2))))
    return dy * (cdf + x * xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi)))


def _swish_grad(beta: float, dy: Any, x: Any, y: Any) -> Any:
    s = sigmoid(beta * x)
    return dy * (s + beta * x * s * (1 - s))


class Act(NamedTuple):
    """An activation: its name, forward function, d(input) from (d(output), input, output), and whether it reads input."""

    name: str
    forward: Callable[[Any], Any]
    backward: Callable[[Any, Any, Any], Any]
    uses_input: bool = False  # False: the derivative follows from the output alone, so layers keep only that


ACTIVATIONS = {
    "relu": Act("relu", relu, _relu_grad),
    "sigmoid": Act("sigmoid", sigmoid, _sigmoid_grad),
    "tanh": Act("tanh", tanh, _tanh_grad),
    "softrelu": Act("softrelu", softrelu, _softrelu_grad),
    "softsign": Act("softsign", softsign, _softsign_grad),
    "log_sigmoid": Act("log_sigmoid", log_sigmoid, _log_sigmoid_grad),
    "mish": Act("mish", mish, _mish_grad, True),
}


def get(activation: Any, owner: str) -> Act | None:
    """The Act for a name (see ACTIVATIONS) or an Act, or None for None/"linear"."""
    if activation is None or activation == "linear":
        return None
    if isinstance(activation, Act):
        return activation
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        return ACTIVATIONS[activation.lower()]
    raise LayerError(f"{owner}: activation={activation!r} is not supported; use one of "
                     f"{', '.join(map(repr, ACTIVATIONS))} or None (LeakyReLU, ELU, SELU, GELU, Swish and PReLU "
                     f"are blocks of their own: nn.LeakyReLU(0.1))")


class _Elementwise(Block):
    """A block applying one activation elementwise (no parameters)."""

    act: Act

    def forward(self, x: Any) -> Any:
        dev = device_of(x)
        with on_device(dev):
            x = dev.xp.asarray(x)
            y = self.act.forward(x)
        self._record(dev, x if self.act.uses_input else None, y)
        return y

    def vjp(self, dy: Any, grads: Grads) -> Any:
        dev, x, y = self._recall()
        with on_device(dev):
            return self.act.backward(as_input(dy, dev), x, y)

    def _describe(self) -> str:
        return self.act.name


class Activation(_Elementwise):
    """An activation function as a block: ``Activation("relu")`` (any name in ACTIVATIONS)."""

    def __init__(self, activation: str):
        super().__init__()
        act = get(activation, "Activation")
        if act is None:
            raise LayerError(f"Activation: activation={activation!r} names no function; use one of "
                             f"{', '.join(map(repr, ACTIVATIONS))}")
        self.act = act


def _slope(owner: str, arg: str, value: Any, positive: bool = False) -> float:
    from ..errors import InitializerArgumentError

    try:
        return check_number(owner, arg, value, nonneg=not positive, positive=positive)
    except InitializerArgumentError as exc:
        raise LayerError(str(exc)) from None


class LeakyReLU(_Elementwise):
    """x where x > 0, else alpha * x (alpha >= 0)."""

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = _slope("LeakyReLU", "alpha", alpha)
        self.act = Act(f"leaky_relu(alpha={self.alpha})", functools.partial(_leaky, self.alpha),
                       functools.partial(_leaky_grad, self.alpha))

    def _describe(self) -> str:
        return f"alpha={self.alpha}"


class ELU(_Elementwise):
    """x where x > 0, else alpha * (exp(x) - 1) (alpha >= 0)."""

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = _slope("ELU", "alpha", alpha)
        self.act = Act(f"elu(alpha={self.alpha})", functools.partial(_elu, self.alpha, 1.0),
                       functools.partial(_elu_grad, self.alpha, 1.0))

    def _describe(self) -> str:
        return f"alpha={self.alpha}"


class SELU(_Elementwise):
    """Scaled ELU with the self-normalizing constants."""

    def __init__(self) -> None:
        super().__init__()
        self.act = Act("selu", functools.partial(_elu, _SELU_ALPHA, _SELU_SCALE),
                       functools.partial(_elu_grad, _SELU_ALPHA, _SELU_SCALE))

    def _describe(self) -> str:
        return ""


class GELU(_Elementwise):
    """x * Φ(x) with Φ the standard normal CDF."""

    def __init__(self) -> None:
        super().__init__()
        self.act = Act("gelu", gelu, _gelu_grad, True)

    def _describe(self) -> str:
        return ""


class Swish(_Elementwise):
    """x * sigmoid(beta * x)."""

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = _slope("Swish", "beta", beta, positive=True)
        self.act = Act(f"swish(beta={self.beta})", functools.partial(_swish, self.beta),
                       functools.partial(_swish_grad, self.beta), True)

    def _describe(self) -> str:
        return f"beta={self.beta}"


def _leaky(alpha: float, x: Any) -> Any:
    return leaky_relu(x, alpha)


def _elu(alpha: float, scale: float, x: Any) -> Any:
    return elu(x, alpha) * scale if scale != 1.0 else elu(x, alpha)


def _swish(beta: float, x: Any) -> Any:
    return swish(x, beta)


class PReLU(Block):
    """Leaky ReLU with a learned slope ``alpha``: one (in_channels=1) or one per channel of axis 1."""

    def __init__(self, alpha_initializer: Any = None, in_channels: int = 1, dtype: Any = "float32",
                 params: Any = None):
        super().__init__()
        from ..std.basic import Constant

        self.in_channels = check_size("PReLU", "in_channels", in_channels)
        init = Constant(0.25) if alpha_initializer is None else alpha_initializer
        self._declare([("alpha", (self.in_channels,), dtype, init, "write")], params)

    def _shape(self, x_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.in_channels == 1:
            return (1,) * len(x_shape)
        if len(x_shape) < 2 or x_shape[1] != self.in_channels:
            from ..errors import ShapeError

            raise ShapeError(f"{self._where()}: an input of shape {x_shape} has no axis 1 of size {self.in_channels} "
                             f"(in_channels); pass (batch, {self.in_channels}, ...) inputs")
        return tuple(self.in_channels if i == 1 else 1 for i in range(len(x_shape)))

    def infer_shape(self, x: Any) -> None:
        self._shape(shape_of(x))

    def forward(self, x: Any) -> Any:
        dev = self._place(x)
        alpha = self.alpha.data(dev)
        with on_device(dev):
            x = as_input(x, dev, alpha.dtype)
            a = alpha.reshape(self._shape(x.shape))
            y = dev.xp.where(x > 0, x, a * x)
        self._record(dev, x, a)
        return y

    def vjp(self, dy: Any, grads: Grads) -> Any:
        dev, x, a = self._recall()
        xp = dev.xp
        with on_device(dev):
            dy = as_input(dy, dev, x.dtype)
            neg = x <= 0
            if grads.wants(self.alpha):
                da = dy * xp.where(neg, x, 0)
                axes = tuple(i for i in range(x.ndim) if a.shape[i] == 1)
                grads.add(self.alpha, dev, da.sum(axis=axes).reshape(self.alpha.shape))
            return dy * xp.where(neg, a, 1)

    def _describe(self) -> str:
        return f"in_channels={self.in_channels}"
