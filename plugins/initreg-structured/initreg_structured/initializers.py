"""Sparse, DeltaOrthogonal and Identity: initializers written against initreg's public API only."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from initreg import Initializer
from initreg.errors import InitializerArgumentError, ShapeError
from initreg.core.initializer import Desc, check_number, make_desc
from initreg.core.shapes import check_values


def _matrix(desc: Desc, owner: str) -> tuple[int, int]:
    """(rows, cols) of the parameter seen as shape[0] × prod(shape[1:]); ShapeError below 2 dimensions."""
    if desc.ndim < 2:
        raise ShapeError(f"{owner}: parameter {desc.name!r} has shape {desc.shape}; it needs at least 2 dimensions")
    return desc.shape[0], math.prod(desc.shape[1:])


def _centre(desc: Desc, owner: str) -> tuple[Any, ...]:
    """The index of the (out, in) matrix at the kernel centre of a convolution weight (centre = k // 2)."""
    if desc.ndim < 3:
        raise ShapeError(f"{owner}: parameter {desc.name!r} has shape {desc.shape}; it needs a convolution weight "
                         f"(out, in, k, ...) in the 'OI' layout or (k, ..., in, out) in 'IO'")
    if desc.layout == "OI":
        return (slice(None), slice(None)) + tuple(k // 2 for k in desc.shape[2:])
    return tuple(k // 2 for k in desc.shape[:-2]) + (slice(None), slice(None))


class Sparse(Initializer):
    """Each column gets exactly round(sparsity · rows) zeros at random rows; every other value is N(0, sigma²).

    Formula: W = reshape(w, (rows, cols)) with rows = shape[0]; z = floor(sparsity · rows + 1/2);
    in every column j a uniformly random set of z rows is 0, the rest W[i, j] ~ N(0, sigma²)
    (Martens 2010; PyTorch's sparse_ rounds z up instead). The other values are never 0 (initreg's
    normals never are; a sigma·z that underflows is written as the smallest subnormal), so every
    column has exactly z zeros.
    """

    def __init__(self, sparsity: float = 0.1, sigma: float = 0.01):
        self.sparsity = check_number("Sparse", "sparsity", sparsity, nonneg=True)
        if self.sparsity > 1:
            raise InitializerArgumentError(f"Sparse: sparsity is the fraction of zeros per column, in [0, 1]; "
                                           f"got {sparsity!r}")
        self.sigma = check_number("Sparse", "sigma", sigma, positive=True)

    def zeros_per_column(self, rows: int) -> int:
        """How many zeros each column of ``rows`` values gets."""
        return min(rows, math.floor(self.sparsity * rows + 0.5))

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        rows, cols = _matrix(desc, "Sparse")
        rng.normal(0.0, self.sigma, out=out)
        # initreg's normals are never 0, but sigma·z can underflow: keep every drawn value non-zero so the
        # count of zeros is exactly the promised one
        tiny = np.finfo(desc.dtype).smallest_subnormal if desc.dtype.kind == "f" else 1
        out[out == 0] = tiny
        z = self.zeros_per_column(rows)
        if z == 0 or out.size == 0:
            return
        if z == rows:
            out.fill(0)
            return
        xp = desc.xp
        w = out.reshape(rows, cols)
        keys_stream = rng.child("zeros")
        step = max(1, (1 << 16) // rows)  # columns per chunk: about one block of random keys
        for chunk, c0 in enumerate(range(0, cols, step)):
            c1 = min(cols, c0 + step)
            keys = keys_stream.generator(chunk).random((rows, c1 - c0))
            # the z smallest keys of a column are a uniformly random z-subset of its rows
            picked = np.argpartition(keys, z - 1, axis=0)[:z]
            w[xp.asarray(picked), xp.arange(c0, c1)[None, :]] = 0

    def expected(self, desc: Desc) -> Any:
        from scipy import stats

        from initreg.validation.expected import Sparse as SparseProperty

        rows, _ = _matrix(desc, "Sparse")
        return SparseProperty(nonzeros=rows - self.zeros_per_column(rows), dist=stats.norm(0.0, self.sigma), axis=0)


class DeltaOrthogonal(Initializer):
    """A convolution weight that is 0 except at the kernel centre, which holds a random orthogonal matrix × scale.

    Formula: w[:, :, c…] = scale · H with c = k // 2 on each spatial axis ("OI" layout; "IO": w[c…, :, :]),
    H Haar-orthogonal of shape (out, in): Hᵀ·H = I when out ≥ in (the convolution preserves norms,
    Xiao et al. 2018), H·Hᵀ = I when out < in; 0 everywhere else.
    """

    portable = False  # its centre is initreg's Orthogonal: a LAPACK QR

    def tolerance(self, desc: Desc, values: Any) -> float:
        """The tolerance of the orthogonal centre (initreg.std.orthogonal.qr_tolerance)."""
        from initreg.std.orthogonal import qr_tolerance

        return qr_tolerance(values)

    def __init__(self, scale: float = 1.0):
        self.scale = check_number("DeltaOrthogonal", "scale", scale, positive=True)

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        from initreg.std import Orthogonal

        index = _centre(desc, "DeltaOrthogonal")
        out.fill(0)
        centre = np.empty(_sub_shape(desc.shape, index), dtype=desc.dtype)
        Orthogonal(self.scale, rand_type="normal").fill(make_desc(desc.name, centre.shape, desc.dtype), centre, rng)
        out[index] = desc.xp.asarray(centre)

    def expected(self, desc: Desc) -> Any:
        from initreg.validation.expected import Embedded, Orthogonal

        return Embedded(_centre(desc, "DeltaOrthogonal"), Orthogonal(self.scale), rest=0.0)


def _sub_shape(shape: tuple[int, ...], index: tuple[Any, ...]) -> tuple[int, ...]:
    return tuple(d for d, i in zip(shape, index) if isinstance(i, slice))


class Identity(Initializer):
    """The identity map × scale: an eye for a 2-D weight, a Dirac delta for a convolution weight.

    Formula: 2-D: w[i, i] = scale for i < min(rows, cols), else 0. Convolution ("OI"): w[i, i, c…] = scale
    for i < min(out, in) with c = k // 2 ("IO": w[c…, i, i]), else 0.
    """

    deterministic = True

    def __init__(self, scale: float = 1.0):
        self.scale = check_number("Identity", "scale", scale)

    def _index(self, desc: Desc) -> tuple[Any, ...]:
        _matrix(desc, "Identity")
        if desc.ndim == 2:
            d = np.arange(min(desc.shape))
            return (d, d)
        centre = _centre(desc, "Identity")
        pair = desc.shape[:2] if desc.layout == "OI" else desc.shape[-2:]
        d = np.arange(min(pair))
        return tuple(d if isinstance(i, slice) else i for i in centre)

    def _scale(self, desc: Desc) -> Any:
        """scale in the parameter's dtype; an error where it would wrap, lose its fraction or overflow."""
        return check_values(self.scale, desc.dtype, desc.name, "Identity scale")[()]

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        index, scale = self._index(desc), self._scale(desc)
        out.fill(0)
        out[tuple(desc.xp.asarray(i) if isinstance(i, np.ndarray) else i for i in index)] = scale

    def expected(self, desc: Desc) -> Any:
        from initreg.validation.expected import Exact

        values = np.zeros(desc.shape, dtype=desc.dtype)
        values[self._index(desc)] = self._scale(desc)
        return Exact(values)
