"""Shapes, dtypes and finiteness of parameter values: the checks every entry point shares."""

from __future__ import annotations

import math
import mmap
from typing import Any

import numpy as np

from ..errors import (AllocationError, DTypeError, InitializationError, ParameterValueError, ShapeError, clipped,
                      format_shape)
from .v4_backend import finite_scan

GRAD_REQS = ("write", "add", "null")
_CHECK_CHUNK = 1 << 20
_CHECK_SMALL = 1 << 16
_SCANNED = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))

Shape = tuple  # tuple[int | None, ...]
MAX_DIMS = 64  # NumPy's limit on an array's dimensions


def check_shape(shape: Any, name: str) -> Shape | None:
    """Normalize a shape: a tuple of non-negative ints, None for each unknown dimension."""
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__"):  # a generator could be endless
        raise ShapeError(f"parameter {name!r}: shape must be a tuple of ints (None for unknown), got {clipped(shape)}")
    if len(shape) > MAX_DIMS:
        raise ShapeError(f"parameter {name!r}: shape has {len(shape):,} dimensions, more than an array can have "
                         f"({MAX_DIMS}); check the shape")
    dims = tuple(shape)
    out = []
    for d in dims:
        if d is None:
            out.append(None)
        elif isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise ShapeError(f"parameter {name!r}: shape {shape!r} has a non-integer dimension {d!r}; "
                             f"use ints, and None for a dimension not known yet")
        elif d < 0:
            raise ShapeError(f"parameter {name!r}: shape {shape!r} has a negative dimension {d}; "
                             f"use None (not -1 or 0) for a dimension not known yet")
        else:
            out.append(int(d))
    return tuple(out)


def check_dtype(dtype: Any, name: str) -> np.dtype:
    """Normalize a dtype to a floating or integer NumPy dtype."""
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, KeyError, OverflowError, RecursionError):  # np.dtype((None, False)): ValueError
        raise DTypeError(f"parameter {name!r}: {dtype!r} is not a dtype; use e.g. 'float32'"
                         f"{_narrow_hint(dtype)}") from None
    if dt.kind not in "fiu":
        raise DTypeError(f"parameter {name!r}: dtype {dt} is not a floating or integer type; use e.g. 'float32'"
                         f"{_narrow_hint(dt.name)}")
    _check_byte_order(dt, f"parameter {name!r}")
    return dt


def _narrow_hint(dtype: Any) -> str:
    """For bfloat16 and the other ml_dtypes floats: how to get them (float32 values, rounded), else ``""``."""
    text = dtype if isinstance(dtype, str) else ""
    if not text.startswith(NARROW_FLOATS):
        return ""
    return (f" and round the values with .astype(ml_dtypes.{text}), as the framework adapters do for {text} "
            f"tensors (then check for inf and NaN: a value beyond the {text} range rounds to one)")


def _check_byte_order(dt: np.dtype, what: str) -> None:
    if dt.byteorder not in "=|":  # the kernels write this machine's byte order
        raise DTypeError(f"{what}: dtype {dt.str!r} is not in this machine's byte order; use "
                         f"{dt.newbyteorder('=').name!r} and convert the result with .astype({dt.str!r})")


#: the floating storage dtypes NumPy lacks (ml_dtypes' names): their values are computed in float32, then rounded
NARROW_FLOATS = ("bfloat16", "float8", "float6", "float4")


def compute_dtype(dtype: Any, what: str, *, integers: bool = True, narrow: tuple[str, ...] = NARROW_FLOATS,
                  fix: str = "initialize it yourself or leave it out of the tree",
                  shown: str | None = None) -> np.dtype:
    """The dtype values stored in ``dtype`` are computed in: itself where NumPy fills it, float32 for ``narrow`` floats.

    Anything else (and integer dtypes unless ``integers``) is a DTypeError naming ``what``, the dtype (as ``shown``)
    and ``fix``. The JAX and Keras adapters fill integer leaves and every ml_dtypes float; the PyTorch adapter fills
    floating tensors only, bfloat16 its one narrow float (torch.int64 step counters are state, not parameters).
    """
    try:
        dt: np.dtype | None = np.dtype(dtype)
    except (TypeError, ValueError, KeyError, OverflowError, RecursionError):  # a name NumPy lacks ("bfloat16")
        dt = None
    if dt is not None and (dt.kind == "f" or integers and dt.kind in "iu"):
        _check_byte_order(dt, what)
        return dt
    if (dt is None or dt.kind == "V") and (dt.name if dt is not None else str(dtype)).startswith(narrow):
        return np.dtype(np.float32)
    kinds = "floating and integer" if integers else "floating"
    shown = shown or (str(dt) if dt is not None else repr(dtype))
    raise DTypeError(f"{what} has dtype {shown}; initreg fills {kinds} dtypes (and {', '.join(narrow)}): {fix}")


def check_grad_req(grad_req: Any, name: str) -> str:
    """Validate grad_req: "write", "add" or "null"."""
    if grad_req not in GRAD_REQS:
        raise ParameterValueError(f"parameter {name!r}: grad_req must be 'write', 'add' or 'null', got {grad_req!r}")
    return grad_req


def row_slabs(rows: int, row_size: int, budget: int) -> list[tuple[int, int]]:
    """``(start, stop)`` runs of whole leading rows, at most ``budget`` each (one row at least); a row costs ``row_size``."""
    step = max(1, budget // max(1, row_size))  # a zero-sized row (a 0 in the trailing dims) costs as one value
    return [(r, min(r + step, rows)) for r in range(0, rows, step)]


_MAX_BYTES = np.iinfo(np.intp).max


def check_size(shape: tuple[int, ...], dtype: Any, name: str) -> None:
    """ShapeError when an array of ``shape`` and ``dtype`` (parameter ``name``) has more bytes than NumPy can address."""
    if max(shape, default=0) > _MAX_BYTES or math.prod(shape) * np.dtype(dtype).itemsize > _MAX_BYTES:
        raise ShapeError(f"parameter {name!r}: shape {format_shape(shape)} of {np.dtype(dtype)} is larger than any array "
                         f"can be (2**63 - 1 bytes, and as many elements along a dimension); check the shape")


def out_of_memory(name: str, shape: tuple[int, ...], dtype: Any, whole_only: bool = False) -> AllocationError:
    """The error for parameter ``name`` whose values (``shape``, ``dtype``) do not fit in this machine's memory."""
    gib = math.prod(shape) * np.dtype(dtype).itemsize / 2**30
    fix = ("its initializer computes any region from the whole tensor, so no region or shard fits either: use a "
           "smaller shape, a narrower dtype or a machine with more memory" if whole_only else
           "compute it by regions (values(..., index=)) or shards, or write it to a checkpoint with `initreg init`")
    return AllocationError(f"parameter {name!r}: shape {format_shape(shape)} of {np.dtype(dtype)} needs {gib:,.1f} GiB, "
                           f"more memory than this machine gives; {fix}. Nothing was changed")


def nbytes(shape: tuple[int, ...], dtype: Any) -> int:
    """The bytes of a C-ordered array of ``shape`` and ``dtype``."""
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def aligned(shape: tuple[int, ...], dtype: Any, align: int) -> np.ndarray:
    """An uninitialized C-ordered array of ``shape`` and ``dtype`` whose data starts on an ``align``-byte boundary."""
    dtype = np.dtype(dtype)
    n = nbytes(shape, dtype)
    raw = np.empty(n + align, dtype=np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + n].view(dtype).reshape(shape)


def mapped(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialized C-ordered array of ``shape`` and ``dtype`` (at least one byte) in its own private anonymous
    mapping; a page-aligned NumPy array where the OS has no anonymous mappings."""
    if not hasattr(mmap, "MAP_ANONYMOUS"):
        return aligned(shape, dtype, mmap.PAGESIZE)
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    buf = mmap.mmap(-1, nbytes(shape, dtype), flags=flags)  # unmapped with the array's last view
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def is_complete(shape: Shape | None) -> bool:
    """Whether every dimension of a shape is known."""
    return shape is not None and all(d is not None for d in shape)


def merge_shapes(old: Shape | None, new: Shape | None, name: str) -> Shape | None:
    """Fill the unknown dimensions of ``old`` from ``new``; raise ShapeError on a conflict."""
    if new is None:
        return old
    if old is None:
        return new
    if len(old) != len(new):
        raise ShapeError(f"parameter {name!r} has shape {format_shape(old)}; shape {format_shape(new)} has a different rank "
                         f"({len(new)} vs {len(old)}); a known rank never changes")
    out = []
    for i, (a, b) in enumerate(zip(old, new)):
        if a is not None and b is not None and a != b:
            raise ShapeError(f"parameter {name!r} has shape {format_shape(old)}; dimension {i} is already {a} and cannot "
                             f"become {b} (shape {format_shape(new)}); a known dimension never changes — create a new parameter")
        out.append(a if a is not None else b)
    return tuple(out)



def all_finite(xp: Any, arr: Any) -> bool:
    """Whether every value is finite, checked in chunks so no full-size temporary is made."""
    if arr.dtype.kind != "f" or arr.size == 0:
        return True
    if xp is not np:
        return bool(xp.isfinite(arr).all())
    if arr.size <= _CHECK_SMALL:  # small: the kernel's scan, else a bool temporary (beats entering errstate, ~5 µs)
        scan = finite_scan() if arr.dtype in _SCANNED and arr.flags.c_contiguous else None
        return scan(arr) if scan is not None else bool(np.isfinite(arr).all())
    flat = arr.reshape(-1)
    blas = arr.dtype in (np.float32, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(0, flat.size, _CHECK_CHUNK):
            chunk = flat[i:i + _CHECK_CHUNK]
            # one pass: a finite sum of squares proves every value finite; else (NaN, inf or overflow) look exactly
            if blas and np.isfinite(np.dot(chunk, chunk)):
                continue
            if not (np.isfinite(chunk.min()) and np.isfinite(chunk.max())):
                return False
    return True


def narrowed(wide: np.ndarray, dtype: Any, name: str, out: np.ndarray | None = None) -> np.ndarray:
    """float32 ``wide`` rounded to a narrow float ``dtype`` (bfloat16, float8...), into ``out`` when given;
    InitializationError naming parameter ``name`` when a value overflows it (to inf, or NaN where it has no inf)."""
    if out is None:
        out = wide.astype(dtype)
    else:
        out[...] = wide  # NumPy's cast to ml_dtypes rounds to nearest even
    flat = out.reshape(-1)
    for i in range(0, flat.size, _CHECK_CHUNK):
        if not np.isfinite(flat[i:i + _CHECK_CHUNK].astype(np.float32)).all():
            raise narrow_overflow(name, out.dtype)
    return out


def narrow_overflow(name: str, dtype: Any) -> InitializationError:
    """The error for values of parameter ``name`` that overflow its narrow float ``dtype`` once rounded to it."""
    return InitializationError(f"initializing parameter {name!r}: its values are finite in float32 but overflow "
                               f"{dtype} (NaN or inf once rounded); use a smaller scale or a wider dtype. The parameter "
                               f"is unchanged.")


def shares_elements(shape: tuple[int, ...], strides: tuple[int, ...], itemsize: int) -> bool:
    """Whether two elements of an array with ``shape`` and byte ``strides`` overlap in memory (stride 0, as_strided)."""
    if int(np.prod(shape, dtype=np.int64)) <= 1:
        return False
    reach = itemsize
    for stride, n in sorted((abs(s), n) for n, s in zip(shape, strides) if n > 1):
        if stride < reach:
            break
        reach = stride * n
    else:
        return False  # each dimension steps past everything the smaller ones reach
    offsets = np.zeros((), dtype=np.int64)
    for n, s in zip(shape, strides):
        offsets = np.add.outer(offsets, np.arange(n, dtype=np.int64) * s)
    return bool((np.diff(np.sort(offsets, axis=None)) < itemsize).any())


def check_values(array: Any, dtype: Any, name: str, what: str = "set_data") -> np.ndarray:
    """``array`` as a NumPy array of ``dtype``: numbers only, finite, and each value representable (else an error)."""
    dt = np.dtype(dtype)
    lead = f"parameter {name!r}: {what}"
    if isinstance(array, (str, bytes)) or array is None:
        raise DTypeError(f"{lead} got {array!r}, not numbers; pass a numeric array (e.g. np.asarray(values, "
                         f"dtype={str(dt)!r}))")
    try:
        src = np.asarray(array)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ParameterValueError(f"{lead} got values that do not form a numeric array ({exc}); pass a "
                                  f"rectangular array of numbers") from None
    if src.dtype.kind not in "biuf":
        kinds = {"c": "complex numbers (the imaginary part would be lost)", "m": "timedeltas", "M": "datetimes",
                 "U": "strings", "S": "bytes", "O": "Python objects (None, ragged lists, ...)"}
        raise DTypeError(f"{lead} got an array of {kinds.get(src.dtype.kind, f'dtype {src.dtype}')}; pass real "
                         f"numbers (dtype {dt})")
    if src.dtype.kind == "f" and not all_finite(np, src):
        raise ParameterValueError(f"{lead} got NaN or inf; pass finite values (initialize() refuses them too)")
    if dt.kind in "iu" and src.size and not np.can_cast(src.dtype, dt, casting="safe"):
        info = np.iinfo(dt)
        low, high = src.min(), src.max()
        if src.dtype.kind == "f":  # compared as Python floats: float(2**63 - 1) rounds up to 2**63
            outside = float(low) < info.min or float(high) >= float(info.max) + 1
        else:
            outside = int(low) < info.min or int(high) > info.max
        if outside:
            bad = low if low < info.min else high
            raise ParameterValueError(f"{lead} got {bad!r}, outside the range of {dt} ({info.min}..{info.max}); "
                                      f"pass values within it, or use a wider dtype")
        if src.dtype.kind == "f" and not np.array_equal(src, np.trunc(src)):
            raise ParameterValueError(f"{lead} got non-integer values for dtype {dt}; round them first "
                                      f"(np.rint) or use a floating dtype")
    with np.errstate(over="ignore", invalid="ignore"):
        out = src.astype(dt, copy=False)
    if dt.kind == "f" and out is not src and not all_finite(np, out):
        raise ParameterValueError(f"{lead} got values too large for {dt} (largest {np.finfo(dt).max}); they would "
                                  f"become inf; pass smaller values or use a wider dtype")
    return out
