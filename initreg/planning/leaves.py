"""Leaves of a framework (a JAX pytree, a Keras model) as planned parameters: names checked, one seed, values by dtype.

Both adapters (initreg.jax, initreg.keras) plan through :func:`plan_leaves` and compute through
:func:`leaf_values`, so a leaf holds exactly ``initreg.values(row.initializer, shape, name=..., seed=...,
dtype=..., layout=...)``. Dtypes NumPy cannot fill (bfloat16, the float8 kinds of ml_dtypes) are computed
in float32 and rounded to nearest even, as ``jnp.asarray(f32).astype(jnp.bfloat16)`` does.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import DTypeError, ParameterValueError
from .explanation import Explanation, Row, plan
from .precedence import Entry, seed_of
from ..core.stream import resolve_seed
from .regions import locate, values

#: XLA's CPU client adopts a host buffer without copying when it is aligned to this many bytes
ALIGN = 64


def fill_dtype(dtype: Any, name: str) -> np.dtype:
    """The dtype initreg computes a leaf of ``dtype`` in: itself when NumPy fills it, float32 for bfloat16/float8."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"parameter {name!r}: {dtype!r} is not a dtype; use a floating or integer dtype") from None
    if dt.kind in "fiu":
        return dt
    if dt.kind == "V" and dt.name.startswith(("bfloat16", "float8", "float6", "float4")):  # ml_dtypes floats
        return np.dtype(np.float32)
    raise DTypeError(f"parameter {name!r}: dtype {dt} is not a floating or integer type; initialize it yourself "
                     f"or leave it out of the tree")


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialized C-ordered array whose data starts on an ALIGN-byte boundary (so JAX can adopt it)."""
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(n + ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    return raw[start:start + n].view(dtype).reshape(shape)


def leaf_values(row: Row, dtype: Any, index: Any = None) -> np.ndarray:
    """The values (or ``those[index]``) of a planned row in ``dtype``, computed as ``initreg.values`` does, in aligned memory."""
    dt = np.dtype(dtype)
    computed = fill_dtype(dt, row.name)
    shape = tuple(row.shape) if index is None else locate(tuple(row.shape), index)[0]
    out = aligned_empty(shape, dt)
    if computed == dt:
        return values(row.initializer, row.shape, name=row.name, seed=row.seed, dtype=dt, layout=row.layout,
                      index=index, out=out)
    wide = values(row.initializer, row.shape, name=row.name, seed=row.seed, dtype=computed, layout=row.layout,
                  index=index)
    out[...] = wide  # NumPy's cast to ml_dtypes rounds to nearest even
    return out


def check_names(names: Sequence[str], origins: Sequence[str], hint: str) -> None:
    """ParameterValueError when two leaves get the same name (naming both, with ``hint`` as the fix)."""
    seen: dict[str, str] = {}
    for name, origin in zip(names, origins):
        if not name:
            raise ParameterValueError(f"the leaf at {origin} has an empty name; {hint}")
        if name in seen:
            raise ParameterValueError(f"the leaves at {seen[name]} and {origin} are both named {name!r}; every "
                                      f"parameter needs its own name: {hint}")
        seen[name] = origin


def plan_leaves(entries: Sequence[Entry], init: Any, seed: int | None, strict: bool) -> Explanation:
    """The plan of ``entries`` under one concrete seed (so every shard and every leaf replays), rule warnings emitted."""
    seed = resolve_seed(seed if seed is not None else seed_of(init))
    table = plan(entries, init, seed=seed, strict=strict)
    table.diagnostics.warn()
    return table
