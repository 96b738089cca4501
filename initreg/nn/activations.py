"""Activation functions (relu, sigmoid, tanh), their derivatives, and the Activation block."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

from ..device import device_of
from ..errors import LayerError
from .block import Block, Grads, as_input, on_device


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


def _relu_grad(dy: Any, y: Any) -> Any:
    return dy * (y > 0)


def _sigmoid_grad(dy: Any, y: Any) -> Any:
    return dy * y * (1 - y)


def _tanh_grad(dy: Any, y: Any) -> Any:
    return dy * (1 - y * y)


class Act(NamedTuple):
    """An activation: its name, forward function, and d(input) from (d(output), output)."""

    name: str
    forward: Callable[[Any], Any]
    backward: Callable[[Any, Any], Any]


ACTIVATIONS = {
    "relu": Act("relu", relu, _relu_grad),  # module-level functions: layers pickle
    "sigmoid": Act("sigmoid", sigmoid, _sigmoid_grad),
    "tanh": Act("tanh", tanh, _tanh_grad),
}


def get(activation: Any, owner: str) -> Act | None:
    """The Act for a name ("relu", "sigmoid", "tanh"), or None for None/"linear"."""
    if activation is None or activation == "linear":
        return None
    if isinstance(activation, str) and activation.lower() in ACTIVATIONS:
        return ACTIVATIONS[activation.lower()]
    raise LayerError(f"{owner}: activation={activation!r} is not supported; use one of "
                     f"{', '.join(map(repr, ACTIVATIONS))} or None")


class Activation(Block):
    """An activation function as a block: ``Activation("relu")``."""

    def __init__(self, activation: str):
        super().__init__()
        act = get(activation, "Activation")
        if act is None:
            raise LayerError(f"Activation: activation={activation!r} names no function; use one of "
                             f"{', '.join(map(repr, ACTIVATIONS))}")
        self.act = act

    def forward(self, x: Any) -> Any:
        dev = device_of(x)
        with on_device(dev):
            y = self.act.forward(dev.xp.asarray(x))
        self._record(dev, y)
        return y

    def vjp(self, dy: Any, grads: Grads) -> Any:
        dev, y = self._recall()
        with on_device(dev):
            return self.act.backward(as_input(dy, dev), y)

    def _describe(self) -> str:
        return self.act.name
