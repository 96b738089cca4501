"""What an initializer's ``expected(desc)`` may return, besides a scipy frozen distribution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import math
import numbers

import numpy as np

from ..errors import PromiseTypeError, ValidationError

__all__ = ["Atom", "Embedded", "Exact", "Mixture", "Orthogonal", "Sparse"]


@dataclass(frozen=True, eq=False)
class Exact:
    """Every value is known exactly: ``values`` (broadcast to the parameter's shape)."""

    values: Any


@dataclass(frozen=True)
class Atom:
    """A point mass at ``value`` (a component of a Mixture, e.g. Zero inside one)."""

    value: float

    def __post_init__(self) -> None:
        _finite_real("Atom", "value", self.value)

    def mean(self) -> float:
        return float(self.value)

    def var(self) -> float:
        return 0.0


@dataclass(frozen=True)
class Mixture:
    """Each value independently from component i with probability ``weights[i]``."""

    components: tuple  # ((weight, scipy frozen distribution or Atom), ...)

    def __post_init__(self) -> None:
        pairs = self.components
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, (tuple, list)) or not all(
                isinstance(c, (tuple, list)) and len(c) == 2 for c in pairs):
            raise PromiseTypeError(f"Mixture components must be a sequence of (weight, distribution) pairs, got "
                                   f"{pairs!r}; e.g. Mixture(((0.9, Atom(0.0)), (0.1, stats.norm(0, 1))))")

    @property
    def weights(self) -> np.ndarray:
        return np.array([w for w, _ in self.components], dtype=float)


@dataclass(frozen=True)
class Orthogonal:
    """The parameter reshaped to (shape[0], rest) has orthogonal rows (rows ≤ cols) or columns, times ``scale``.

    ``haar=True`` promises more: the matrix is Haar-distributed (uniform over the semi-orthogonal matrices),
    as the sign-corrected QR of a Gaussian matrix is. Without it the promise is orthogonality, signs of rows
    and columns that are fair coins, and entries no heavier-tailed than Haar's.
    """

    scale: float
    haar: bool = False

    def __post_init__(self) -> None:
        _finite_real("Orthogonal", "scale", self.scale)
        if not self.scale > 0:
            raise ValidationError(f"Orthogonal scale must be > 0 (the rows' or columns' norm), got {self.scale!r}; "
                                  f"e.g. Orthogonal(1.0)")


@dataclass(frozen=True, eq=False)
class Sparse:
    """Reshaped to (shape[0], rest), every slice along ``axis`` has exactly ``nonzeros`` non-zero values.

    ``np.count_nonzero(w, axis=axis) == nonzeros`` everywhere: ``axis=1`` counts per row (per output unit in
    the "OI" layout), ``axis=0`` per column. The positions are uniformly random within each slice and the
    non-zero values follow ``dist`` (a scipy frozen distribution or a Mixture).
    """

    nonzeros: int
    dist: Any
    axis: int = 1

    def __post_init__(self) -> None:
        k = self.nonzeros
        if isinstance(k, bool) or not isinstance(k, numbers.Integral):
            raise PromiseTypeError(f"Sparse nonzeros must be an int (non-zero values per slice), got {k!r}")
        if k < 0:
            raise ValidationError(f"Sparse nonzeros must be ≥ 0 (non-zero values per slice), got {k!r}")


@dataclass(frozen=True, eq=False)
class Embedded:
    """The sub-array ``param[index]`` follows ``inner`` (any expected type); every other value equals ``rest``.

    Example: a delta-orthogonal convolution kernel is ``Embedded((slice(None), slice(None), kh // 2, kw // 2),
    Orthogonal(gain))``: an orthogonal matrix at the centre tap, zeros elsewhere.
    """

    index: tuple
    inner: Any
    rest: float = 0.0


def _finite_real(kind: str, field: str, value: Any) -> None:
    """Refuse a promise field that is not a finite real number, naming the type, the field and the value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise PromiseTypeError(f"{kind} {field} must be a real number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(float(value)):
        raise ValidationError(f"{kind} {field} must be finite, got {value!r}")
