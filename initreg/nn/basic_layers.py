"""Dense: a fully connected layer, y = act(x W^T + b), over x flattened past the batch axis or over its last axis."""

from __future__ import annotations

import math
from typing import Any

from ..core.device import on_device
from ..errors import LayerError, ShapeError
from .activations import get as get_activation
from .block import Block, Grads, as_input, check_size, shape_of


class Dense(Block):
    """Fully connected layer with weight (units, in_units); in_units is inferred from the first batch if None.

    ``flatten=True`` (the default) treats everything past the batch axis as features: (N, ...) -> (N, units).
    ``flatten=False`` applies the layer to the last axis only: (..., in_units) -> (..., units).
    """

    def __init__(self, units: int, activation: str | None = None, use_bias: bool = True, in_units: int | None = None,
                 weight_initializer: Any = None, bias_initializer: Any = "zeros", dtype: Any = "float32",
                 params: Any = None, flatten: bool = True):
        super().__init__()
        if not isinstance(flatten, bool):
            raise LayerError(f"Dense: flatten must be True or False, got {flatten!r}")
        self.flatten = flatten
        self.units = check_size("Dense", "units", units)
        in_units = check_size("Dense", "in_units", in_units, none_ok=True)
        self.act = get_activation(activation, "Dense")
        self._declare([("weight", (self.units, in_units), dtype, weight_initializer, "write")]
                      + ([("bias", (self.units,), dtype, bias_initializer, "write")] if use_bias else []), params)
        if not use_bias:
            self.bias = None

    def infer_shape(self, x: Any) -> None:
        shape = shape_of(x)
        if not self.flatten:
            if len(shape) < 1:
                raise ShapeError(f"{self._where()}: cannot infer in_units from a scalar input; Dense(flatten=False) "
                                 f"expects (..., features)")
            in_units = shape[-1]
        elif len(shape) < 2:
            raise ShapeError(f"{self._where()}: cannot infer in_units from an input of shape {shape}; Dense expects "
                             f"(batch, features, ...): pass a batch, or build the layer with in_units=")
        else:
            in_units = math.prod(shape[1:])
        known = self.weight.shape[1]
        if known is not None and known != in_units:
            raise ShapeError(f"{self._where()}: the input of shape {shape} has {in_units} features per sample but "
                             f"in_units is {known} (weight {self.weight.name!r} has shape {self.weight.shape})")
        self._complete_layer((self.units, in_units), self.units, shape)

    def forward(self, x: Any) -> Any:
        dev = self._place(x)
        w = self.weight.data(dev)
        b = self.bias.data(dev) if self.bias is not None else None
        with on_device(dev):
            x = as_input(x, dev, w.dtype)
            x2 = x.reshape(x.shape[0], -1) if self.flatten else x.reshape(-1, x.shape[-1])  # rows of features
            z = x2 @ w.T
            if b is not None:
                z += b
            y = z if self.act is None else self.act.forward(z)
        self._record(dev, x.shape, x2, z if self.act is not None and self.act.uses_input else None, y)
        return y if self.flatten else y.reshape(x.shape[:-1] + (self.units,))

    def vjp(self, dy: Any, grads: Grads) -> Any:
        dev, x_shape, x2, z, y = self._recall()
        w = self.weight.data(dev)
        with on_device(dev):
            dy = as_input(dy, dev, y.dtype).reshape(y.shape)
            if self.act is not None:
                dy = self.act.backward(dy, z, y)
            if grads.wants(self.weight):
                grads.add(self.weight, dev, dy.T @ x2)
            if grads.wants(self.bias):
                grads.add(self.bias, dev, dy.sum(axis=0))
            return (dy @ w).reshape(x_shape)

    def _describe(self) -> str:
        in_units = self.weight.shape[1]
        return (f"{in_units} -> {self.units}, {self.act.name if self.act else 'linear'}"
                f"{'' if self.flatten else ', flatten=False'}")
