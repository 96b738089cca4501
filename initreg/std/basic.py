"""Constant-valued and elementwise-random initializers: Zero, One, Constant, Uniform, Normal."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InitializerArgumentError, ParameterValueError, ShapeError
from ..core.initializer import Desc, Initializer, check_number
from ..core.shapes import check_values
from ..core.stream import NORMAL_MAX
from ._common import check_uniform


class Constant(Initializer):
    """Every value equals ``value``; an array value is broadcast to the parameter's shape.

    Formula: w[i] = value (w = broadcast(value, shape) for an array value).
    """

    deterministic = True
    aliases: tuple[str, ...] = ()
    #: each value is drawn independently of its position (lets Mixture fill block by block)
    elementwise = True
    regions = "blocks"
    addressable = True

    def __init__(self, value: Any = 0.0):
        if isinstance(value, (list, tuple, np.ndarray)):
            try:
                arr = np.asarray(value)
            except ValueError:
                arr = np.asarray([], dtype=object)
            if arr.dtype.kind not in "fiub" or not np.all(np.isfinite(arr)):
                raise InitializerArgumentError(f"Constant: value must be a finite number or a numeric array of "
                                               f"finite numbers, got {value!r}")
            self.value: Any = arr
            self.elementwise = arr.ndim == 0
            self.regions = "blocks" if arr.ndim == 0 else "direct"
        else:
            self.value = check_number("Constant", "value", value)
            if isinstance(value, (int, np.integer)) and -2**63 <= value < 2**64:
                self.value = int(value)  # exact for integer parameters: 2**53 + 1 stays itself

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        if isinstance(self.value, np.ndarray):
            self._check_broadcast(desc)
            out[...] = desc.xp.asarray(self._checked(desc))
        elif desc.dtype.kind in "iu":  # a float value must be a whole number inside the int range
            out.fill(self._checked(desc)[()])
        else:
            if abs(float(self.value)) > float(np.finfo(desc.dtype).max):  # it may round to inf: say so before writing
                self._check_finite(desc)
            out.fill(float(self.value))

    def max_abs(self, desc: Desc) -> float:
        return math.inf if isinstance(self.value, np.ndarray) else abs(float(self.value))

    def _check_finite(self, desc: Desc) -> None:
        """ParameterValueError when the scalar value rounds to inf in the parameter's float dtype."""
        with np.errstate(over="ignore"):
            rounded = desc.dtype.type(float(self.value))
        if not np.isfinite(rounded):
            raise ParameterValueError(f"parameter {desc.name!r}: Constant value {self.value!r} is too large for "
                                      f"{desc.dtype} (largest {float(np.finfo(desc.dtype).max)!r}): it would be "
                                      f"non-finite (inf); use a smaller value or a wider dtype")

    def _checked(self, desc: Desc) -> np.ndarray:
        """The value as an array of the parameter's dtype; an error when a value would wrap, round or overflow."""
        return check_values(self.value, desc.dtype, desc.name, "Constant value")

    def _check_broadcast(self, desc: Desc) -> None:
        try:
            if np.broadcast_shapes(self.value.shape, desc.shape) == desc.shape:
                return
        except ValueError:
            pass
        raise ShapeError(f"Constant: value of shape {self.value.shape} does not broadcast to parameter "
                         f"{desc.name!r} of shape {desc.shape}")

    def fill_region(self, desc: Desc, out: Any, index: Any) -> None:
        self._check_broadcast(desc)
        out[...] = desc.xp.asarray(np.broadcast_to(self._checked(desc), desc.shape)[index])  # a view: no whole tensor

    def expected(self, desc: Desc) -> Any:
        from ..core.expected import Exact

        return Exact(np.broadcast_to(np.asarray(self.value, dtype=desc.dtype), desc.shape))


class Zero(Constant):
    """Every value is 0.  Formula: w[i] = 0."""

    aliases = ("zeros",)

    def __init__(self) -> None:
        super().__init__(0.0)


class One(Constant):
    """Every value is 1.  Formula: w[i] = 1."""

    aliases = ("ones",)

    def __init__(self) -> None:
        super().__init__(1.0)


class Uniform(Initializer):
    """Values from U(-scale, scale), or U(low, high) when both bounds are given.

    Formula: w[i] ~ U[low, high) with low = -scale, high = scale unless both bounds are given.
    """

    aliases: tuple[str, ...] = ()
    elementwise = True
    regions = "blocks"
    addressable = True

    def __init__(self, scale: float = 0.07, *, low: float | None = None, high: float | None = None):
        if not (isinstance(scale, float) and scale == 0.07):  # a number first: an array would make `!=` ambiguous
            scale = check_number("Uniform", "scale", scale, nonneg=True)
        if (low is None) != (high is None):
            raise InitializerArgumentError(f"Uniform: give both low and high, or neither (got low={low!r}, high={high!r})")
        if low is not None and scale != 0.07:
            raise InitializerArgumentError(f"Uniform: give scale or low/high, not both (got scale={scale!r}, "
                                           f"low={low!r}, high={high!r})")
        if low is None:
            scale = check_number("Uniform", "scale", scale, nonneg=True)
            self.low, self.high = -scale, scale
        else:
            self.low = check_number("Uniform", "low", low)
            self.high = check_number("Uniform", "high", high)
            if not self.low < self.high:
                raise InitializerArgumentError(f"Uniform: low must be < high, got low={low!r}, high={high!r}")
        if not math.isfinite(self.high - self.low):  # the draw is low + (high - low)·u, in float64
            raise InitializerArgumentError(f"Uniform: high - low must be finite in float64, got low={self.low!r}, "
                                           f"high={self.high!r}; use a narrower interval")

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        check_uniform("Uniform", self.low, self.high, desc)
        rng.uniform(self.low, self.high, out=out)

    def max_abs(self, desc: Desc) -> float:
        return max(abs(self.low), abs(self.high))

    def expected(self, desc: Desc) -> Any:
        from scipy import stats

        if self.high == self.low:  # scale=0: every value is 0
            from ..core.expected import Exact

            return Exact(np.zeros((), dtype=desc.dtype))
        return stats.uniform(loc=self.low, scale=self.high - self.low)


class Normal(Initializer):
    """Values from N(mean, sigma²).  Formula: w[i] ~ N(mean, sigma²)."""

    aliases: tuple[str, ...] = ()
    elementwise = True
    regions = "blocks"
    addressable = True

    def __init__(self, sigma: float = 0.01, mean: float = 0.0):
        self.sigma = check_number("Normal", "sigma", sigma, nonneg=True)
        self.mean = check_number("Normal", "mean", mean)

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        rng.normal(self.mean, self.sigma, out=out)

    def max_abs(self, desc: Desc) -> float:
        return abs(self.mean) + self.sigma * NORMAL_MAX

    def expected(self, desc: Desc) -> Any:
        from scipy import stats

        if self.sigma == 0:  # degenerate: every value is the mean
            from ..core.expected import Exact

            return Exact(np.asarray(self.mean, dtype=desc.dtype))
        return stats.norm(loc=self.mean, scale=self.sigma)
