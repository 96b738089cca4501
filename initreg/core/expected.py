"""What an initializer's ``expected(desc)`` may return, besides a scipy frozen distribution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Atom", "Embedded", "Exact", "Mixture", "Orthogonal", "Sparse"]


@dataclass(frozen=True, eq=False)
class Exact:
    """Every value is known exactly: ``values`` (broadcast to the parameter's shape)."""

    values: Any


@dataclass(frozen=True)
class Atom:
    """A point mass at ``value`` (a component of a Mixture, e.g. Zero inside one)."""

    value: float

    def mean(self) -> float:
        return float(self.value)

    def var(self) -> float:
        return 0.0


@dataclass(frozen=True)
class Mixture:
    """Each value independently from component i with probability ``weights[i]``."""

    components: tuple  # ((weight, scipy frozen distribution or Atom), ...)

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


@dataclass(frozen=True, eq=False)
class Embedded:
    """The sub-array ``param[index]`` follows ``inner`` (any expected type); every other value equals ``rest``.

    Example: a delta-orthogonal convolution kernel is ``Embedded((slice(None), slice(None), kh // 2, kw // 2),
    Orthogonal(gain))``: an orthogonal matrix at the centre tap, zeros elsewhere.
    """

    index: tuple
    inner: Any
    rest: float = 0.0
