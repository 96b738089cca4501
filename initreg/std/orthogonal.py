"""The orthogonal initializer (Saxe et al.; MXNet's Orthogonal) with a Haar-uniform sign correction."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InitializerArgumentError, ShapeError
from ..core.initializer import Desc, Initializer, check_choice, check_number
from ._common import on_host


def orthogonalize(matrix: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Overwrite a C-contiguous 2-D float32/float64 ``matrix`` with ``scale`` × an orthonormal basis of its rows or columns.

    Rows are orthonormal when rows ≤ cols, else columns; signs follow diag(R) > 0, so a Gaussian
    input gives a Haar-distributed result. LAPACK works in place on the transposed (Fortran) view.
    """
    from scipy.linalg import lapack

    rows, cols = matrix.shape
    t = matrix.T  # (cols, rows), Fortran-contiguous: LAPACK overwrites it without a copy
    if rows == 0 or cols == 0:
        return matrix
    if rows <= cols:  # tall t = Q R: Q's columns are matrix's rows
        # geqrt factors in panels of nb columns (recursive, BLAS-3): ~1.8x faster than geqrf's 32-column panels;
        # its T blocks and workspace (2·nb·rows values, ≤ 6.25 % of the matrix) hold tau on their diagonals
        geqrt, orgqr = lapack.get_lapack_funcs(("geqrt", "orgqr"), (t,))
        nb = min(rows, max(32, min(256, cols // 32)))
        qr, blocks, info = geqrt(nb, t, overwrite_a=1)
        _check(info, "geqrt")
        tau = np.concatenate([np.diagonal(blocks[:, k:k + nb]) for k in range(0, rows, nb)])
        del blocks
        lwork = _lwork(orgqr(qr, tau, lwork=-1, overwrite_a=1)[1])  # a query: nothing is written
        signs = np.sign(np.diagonal(qr)[:rows]).astype(t.dtype)
        q, _, info = orgqr(qr, tau, lwork=lwork, overwrite_a=1)
        _check(info, "orgqr")
        signs[signs == 0] = 1
        q *= (signs * scale)[None, :]
    else:  # wide t = R Q: Q's rows are matrix's columns
        gerqf, orgrq = lapack.get_lapack_funcs(("gerqf", "orgrq"), (t,))
        lwork = _lwork(gerqf(t, lwork=-1, overwrite_a=1)[2], orgrq(t, np.ones(cols, t.dtype), lwork=-1, overwrite_a=1)[1])
        qr, tau, _, info = gerqf(t, lwork=lwork, overwrite_a=1)
        _check(info, "gerqf")
        signs = np.sign(np.diagonal(qr, offset=rows - cols)).astype(t.dtype)
        q, _, info = orgrq(qr, tau, lwork=lwork, overwrite_a=1)
        _check(info, "orgrq")
        signs[signs == 0] = 1
        q *= (signs * scale)[:, None]
    if not np.shares_memory(q, matrix):  # LAPACK wrappers copy only for unusual inputs; keep the contract
        t[...] = q
    return matrix


def _lwork(*queries: np.ndarray) -> int:
    """The workspace size that suits every queried LAPACK routine (lwork=-1 answers in work[0])."""
    return max(1, *(int(q[0]) for q in queries))


def _check(info: int, routine: str) -> None:
    if info != 0:
        raise RuntimeError(f"LAPACK {routine} failed (info={info}) while orthogonalizing a matrix")


class Orthogonal(Initializer):
    """A random (semi-)orthogonal matrix times ``scale``, as in MXNet; trailing dims are flattened.

    Formula: W = reshape(w, (shape[0], prod(shape[1:]))); W·Wᵀ = scale²·I when rows ≤ cols,
    else Wᵀ·W = scale²·I. W is the Q factor (signs fixed by diag R > 0) of a matrix with entries
    from U(-1, 1) ("uniform", MXNet's default) or N(0, 1) ("normal"). Only the sign-corrected QR of a
    Gaussian matrix is Haar-distributed: ``haar=True`` (the same as ``rand_type="normal"``) promises and
    gives that. The default promises orthogonality, fair signs, and entries lighter-tailed than Haar's.
    """

    aliases: tuple[str, ...] = ()
    portable = False  # LAPACK's QR: its last bits follow the BLAS kernel and its thread count

    def __init__(self, scale: float = 1.414, rand_type: str = "uniform", haar: bool = False):
        self.scale = check_number("Orthogonal", "scale", scale, positive=True)
        self.rand_type = check_choice("Orthogonal", "rand_type", rand_type, ("uniform", "normal"))
        if not isinstance(haar, (bool, np.bool_)):
            raise InitializerArgumentError(f"Orthogonal: haar must be True or False, got {haar!r}; haar=True draws "
                                           f"a Haar-distributed matrix (the sign-corrected QR of a Gaussian one)")
        self.haar = bool(haar)

    def tolerance(self, desc: Desc, values: Any) -> float:
        """See :func:`qr_tolerance`."""
        return qr_tolerance(values)

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        if len(desc.shape) < 1:
            raise ShapeError(f"Orthogonal: parameter {desc.name!r} is a scalar (shape ()); it needs at least 1 dimension")
        rows = desc.shape[0]
        cols = math.prod(desc.shape[1:])

        def work(host: np.ndarray) -> None:
            if host.dtype.kind != "f":
                raise TypeError(f"Orthogonal: parameter {desc.name!r} has dtype {host.dtype}; it needs a floating dtype")
            buf = host if host.dtype in (np.float32, np.float64) else np.empty(host.shape, _compute_dtype(host.dtype))
            if self.rand_type == "uniform" and not self.haar:
                rng.uniform(-1.0, 1.0, out=buf)
            else:
                rng.normal(0.0, 1.0, out=buf)
            orthogonalize(buf.reshape(rows, cols), self.scale)
            if buf is not host:
                host[...] = buf
        on_host(desc, out, work)

    def expected(self, desc: Desc) -> Any:
        from ..core.expected import Orthogonal as OrthogonalProperty

        return OrthogonalProperty(self.scale, haar=self.haar or self.rand_type == "normal")


def qr_tolerance(values: Any) -> float:
    """What two BLAS set-ups' orthogonal ``values`` may differ by: 64 units of the QR's precision times max |w|,
    plus one unit of the stored dtype (about 11·eps·max|w| was seen across OpenBLAS kernels and thread counts)."""
    a = np.abs(np.asarray(values, dtype=np.float64))
    top = float(a.max()) if a.size else 0.0
    compute = _compute_dtype(np.asarray(values).dtype)
    return 64 * float(np.finfo(compute).eps) * top + float(np.spacing(np.asarray(top, np.asarray(values).dtype)))


def _compute_dtype(dtype: Any) -> type:
    """The precision the QR runs in: float64 for float64 and wider (longdouble), float32 for the rest."""
    return np.float64 if np.dtype(dtype).itemsize >= 8 else np.float32
