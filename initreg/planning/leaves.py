"""What every framework adapter shares: one seed policy, the call's default, the uncovered-name error, and leaves.

The seed policy (:func:`adapter_seed`), the default (:func:`with_default`, ``"keep"`` included) and the error for
names nothing covers (:func:`uncovered_error`) are used by initreg.torch, initreg.jax and initreg.keras alike.
The JAX and Keras adapters plan through :func:`plan_leaves` and compute through :func:`leaf_values`, so a leaf holds exactly ``initreg.values(row.initializer, shape, name=..., seed=...,
dtype=..., layout=...)``. Dtypes NumPy cannot fill (bfloat16, the float8 kinds of ml_dtypes) are computed
in float32 and rounded to nearest even, as ``jnp.asarray(f32).astype(jnp.bfloat16)`` does.
"""

from __future__ import annotations

import errno
from typing import Any, Sequence

import numpy as np

from ..errors import ParameterValueError, RuleError
from .explanation import Explanation, Row, plan
from .precedence import Entry, seed_of, split_init
from ..core.shapes import aligned, compute_dtype, mapped, narrowed, nbytes, out_of_memory
from ..core.stream import choose_seed
from .regions import locate, values, values_into

#: ``default="keep"``: what nothing else covers keeps the values it holds
KEEP = "keep"

#: XLA's CPU client adopts a host buffer without copying when it is aligned to this many bytes
ALIGN = 64
#: from this size NumPy advises transparent huge pages for its arrays; a leaf this large gets its own mapping instead
MAPPED_BYTES = 1 << 22


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialized C-ordered array whose data starts on an ALIGN-byte boundary (so JAX can adopt it)."""
    if nbytes(shape, dtype) >= MAPPED_BYTES:
        # no huge-page advice, as XLA's own buffers: a VM's returned huge pages are slow to touch again (docs/jax.md)
        return mapped(shape, dtype)
    return aligned(shape, dtype, ALIGN)


def leaf_values(row: Row, dtype: Any, index: Any = None) -> np.ndarray:
    """The values (or ``those[index]``) of a planned row in ``dtype``, drawn under ``row.key_name``, in aligned memory."""
    dt = np.dtype(dtype)
    computed = compute_dtype(dt, f"parameter {row.name!r}")
    shape = tuple(row.shape) if index is None else locate(tuple(row.shape), index)[0]
    try:
        out = aligned_empty(shape, dt)
    except (MemoryError, OSError) as exc:  # mmap's ENOMEM is an OSError
        if isinstance(exc, OSError) and exc.errno != errno.ENOMEM:
            raise
        raise out_of_memory(row.name, shape, dt) from None
    if computed == dt:  # out is this call's own memory: nothing to keep on an error
        return values_into(row.initializer, row.shape, name=row.key_name, seed=row.seed, dtype=dt,
                           layout=row.layout, index=index, out=out)
    wide = values(row.initializer, row.shape, name=row.key_name, seed=row.seed, dtype=computed, layout=row.layout,
                  index=index)
    return narrowed(wide, dt, row.name, out)


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


def adapter_seed(seed: Any, init: Any, *, fresh: bool = True) -> int | None:
    """The seed of an adapter call: ``seed=``, else the rules' seed, else the global seed, else fresh entropy (or None)."""
    return choose_seed(seed, seed_of(init), fresh=fresh)


def deprecated_keyword(where: str, old: str, new: str) -> None:
    """A DeprecationWarning for an old keyword name that still works for one release."""
    import warnings

    from ..errors import user_stacklevel

    warnings.warn(f"{where}({old}=...) is deprecated and will be removed in the next release; use {new}= (the same "
                  f"meaning, the name every initreg adapter uses)", DeprecationWarning, stacklevel=user_stacklevel())


def is_keep(default: Any) -> bool:
    """Whether ``default`` asks to keep the values of what nothing else covers."""
    return isinstance(default, str) and default == KEEP


def with_default(init: Any, default: Any) -> Any:
    """``init`` with ``default`` as the initializer of what nothing else covers (``"keep"``: leave it as is)."""
    if default is None or is_keep(default):
        return init
    rules, current = split_init(init)
    if current is not None:
        raise RuleError(f"default={default!r} given, but init={init!r} already sets a default ({current!r}); "
                        f"give one of them (a plain initializer as init is the default)")
    if rules is None:
        return default
    return rules.replace(default=default)  # keeps the rules' vars, base shapes and [about]


def suggest(name: str, shape: Sequence[Any] | None = None, dtype: str = "float32") -> Any:
    """A plausible initializer for a raw parameter, by its last name segment and, when known, its rank and dtype."""
    last = name.replace("/", ".").rsplit(".", 1)[-1].lower()
    if "bias" in last or last in ("beta", "shift") or str(dtype).startswith(("int", "uint", "bool")):  # counters, masks
        return "zeros"
    if last in ("gamma", "scale", "gain") or "norm" in name.lower():
        return "ones"
    if "emb" in name.lower() or (shape is not None and len(shape) < 2):  # fan-based initializers need 2 dimensions
        return ["normal", {"sigma": 0.02}]
    return "xavier_uniform"


def uncovered_error(rows: Sequence[Row], what: str, fix: str = "") -> RuleError:
    """The error for parameters that no rule, declared initializer or default covers (the global default never applies silently)."""
    names = [r.name for r in rows]
    shown = "\n".join(f"  {r.name!r}: {suggest(r.name, r.shape, r.dtype)!r}," for r in rows[:8])
    more = f"\n  ... ({len(names) - 8} more)" if len(names) > 8 else ""
    listed = ", ".join(map(repr, names[:20])) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    return RuleError(f"{len(names)} parameter(s) have no rule, no declared initializer ({what}) and no default: "
                     f"{listed}. Add rules such as\n{{\n{shown}{more}\n}}\nor pass default= (an "
                     f"initializer, or 'keep' to leave their values){fix}; nothing was changed")


def plan_leaves(entries: Sequence[Entry], init: Any, seed: int | None, strict: bool, *, vars: Any = None,
                only: Any = None, name_map: Any = None) -> Explanation:
    """The plan of ``entries`` under one concrete seed (so every shard and every leaf replays), rule warnings emitted."""
    table = plan(entries, init, seed=adapter_seed(seed, init), strict=strict, vars=vars, only=only, name_map=name_map)
    table.diagnostics.warn()
    return table
