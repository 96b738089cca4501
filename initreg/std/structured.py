"""Initializers with fixed structure: Bilinear (upsampling kernels) and LSTMBias (forget-gate bias)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ParameterValueError, ShapeError
from ..core.initializer import Desc, Initializer, check_number
from ..core.shapes import check_values


def bilinear_kernel(size: int) -> np.ndarray:
    """The 1-D bilinear interpolation weights of a kernel of ``size`` taps (float64)."""
    f = math.ceil(size / 2.0)
    c = (2 * f - 1 - f % 2) / (2.0 * f)
    return 1.0 - np.abs(np.arange(size, dtype=np.float64) / f - c)


class Bilinear(Initializer):
    """A bilinear upsampling kernel in every (out, in) slice of a convolution weight, as in MXNet.

    Formula: for each spatial axis of size k, f = ceil(k / 2), c = (2f - 1 - f mod 2) / (2f),
    k(x) = 1 - |x / f - c|; w[o, i, y, x] = k(y)·k(x) for every o, i (one factor per spatial axis).
    Spatial axes follow the layout: shape[2:] for "OI…", shape[:-2] for "…IO". Typical weight:
    (C, 1, 2s, 2s) for a depthwise ×s upsampling (MXNet fills every slice, so (C, C, k, k) works too).
    """

    aliases: tuple[str, ...] = ()
    deterministic = True
    regions = "direct"

    def __init__(self) -> None:
        pass

    def kernel(self, desc: Desc) -> np.ndarray:
        """The spatial kernel (float64), shaped to broadcast against the parameter."""
        if desc.ndim < 3:
            raise ShapeError(f"Bilinear: parameter {desc.name!r} has shape {desc.shape}; it needs a convolution "
                             f"weight with spatial dims, e.g. (channels, 1, 4, 4) in the 'OI' layout")
        spatial = desc.shape[2:] if desc.layout == "OI" else desc.shape[:-2]
        kernel = np.ones((), dtype=np.float64)
        for k in spatial:
            kernel = np.multiply.outer(kernel, bilinear_kernel(k))
        return kernel if desc.layout == "OI" else kernel[..., None, None]

    def _typed(self, desc: Desc) -> np.ndarray:
        """The kernel in the parameter's dtype; an error where an integer dtype would truncate its fractions to 0."""
        kernel = self.kernel(desc)
        if desc.dtype.kind in "iu" and not np.array_equal(kernel, np.trunc(kernel)):
            spatial = kernel.shape[:-2] if desc.layout != "OI" else kernel.shape
            raise ParameterValueError(f"Bilinear: parameter {desc.name!r} has dtype {desc.dtype}, but its kernel of "
                                      f"spatial size {spatial} has fractional weights (such as "
                                      f"{float(kernel[kernel != np.trunc(kernel)].reshape(-1)[0])!r}) that an "
                                      f"integer dtype would truncate; use a floating dtype")
        return kernel.astype(desc.dtype)

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        out[...] = desc.xp.asarray(self._typed(desc))

    def fill_region(self, desc: Desc, out: Any, index: Any) -> None:
        whole = np.broadcast_to(self._typed(desc), desc.shape)  # a view of the small kernel
        out[...] = desc.xp.asarray(whole[index])

    def expected(self, desc: Desc) -> Any:
        from ..core.expected import Exact

        return Exact(np.broadcast_to(self._typed(desc), desc.shape))


class LSTMBias(Initializer):
    """LSTM gate biases as in MXNet: 0, except ``forget_bias`` on the forget gate.

    Formula: with shape[0] = 4n and gates ordered (input, forget, cell, output),
    b[n:2n] = forget_bias and every other value is 0 (along the first axis).
    """

    aliases = ("lstm_bias",)
    deterministic = True
    regions = "direct"

    def __init__(self, forget_bias: float = 1.0):
        self.forget_bias: float | int = check_number("LSTMBias", "forget_bias", forget_bias)
        if isinstance(forget_bias, (int, np.integer)) and -2**63 <= forget_bias < 2**64:
            self.forget_bias = int(forget_bias)  # exact for integer parameters, as Constant's value

    def _bias(self, desc: Desc) -> Any:
        """forget_bias in the parameter's dtype; an error where it would wrap, lose its fraction or overflow."""
        given = self.forget_bias if desc.dtype.kind in "iu" else float(self.forget_bias)
        return check_values(given, desc.dtype, desc.name, "LSTMBias forget_bias")[()]

    def _hidden(self, desc: Desc) -> int:
        if desc.ndim < 1 or desc.shape[0] % 4:
            raise ShapeError(f"LSTMBias: parameter {desc.name!r} has shape {desc.shape}; its first dimension must "
                             f"be 4 × hidden size (gates input, forget, cell, output)")
        return desc.shape[0] // 4

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        n = self._hidden(desc)
        bias = self._bias(desc)
        out.fill(0)
        out[n:2 * n] = bias

    def fill_region(self, desc: Desc, out: Any, index: Any) -> None:
        n = self._hidden(desc)
        gates = np.zeros(desc.shape[0], dtype=desc.dtype)
        gates[n:2 * n] = self._bias(desc)
        whole = np.broadcast_to(gates.reshape((-1,) + (1,) * (desc.ndim - 1)), desc.shape)  # a view along axis 0
        out[...] = desc.xp.asarray(whole[index])

    def expected(self, desc: Desc) -> Any:
        from ..core.expected import Exact

        n = self._hidden(desc)
        values = np.zeros(desc.shape, dtype=desc.dtype)
        values[n:2 * n] = self._bias(desc)
        return Exact(values)
