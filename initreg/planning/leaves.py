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


#: path segments of a layer scale (DeiT III's and DINOv2's ls1/ls2, BEiT's and CaiT's gamma_1/gamma_2, FastViT's)
_LAYER_SCALE = ("ls1", "ls2", "ls", "layer_scale", "layerscale", "gamma_1", "gamma_2")


def suggest(name: str, shape: Sequence[Any] | None = None, dtype: str = "float32") -> Any:
    """A plausible initializer for a raw parameter, by its last name segment and, when known, its rank and dtype."""
    parts = name.replace("/", ".").lower().split(".")
    last = parts[-1]
    if str(dtype).startswith(("int", "uint", "bool")):  # counters, masks
        return "zeros"
    if "position" in last:  # relative position bias tables (Swin, BEiT): a small normal, as the libraries draw them
        return ["normal", {"sigma": 0.02}]
    if "bias" in last or last in ("beta", "shift"):
        return "zeros"
    if any(p in _LAYER_SCALE for p in parts):  # a residual branch scaled down at the start, not a norm's 1
        return ["constant", {"value": 1e-5}]
    if last in ("gamma", "scale", "gain") or "norm" in name.lower():
        return "ones"
    if "emb" in name.lower() or "token" in last or (shape is not None and len(shape) < 2):  # fans need 2 dimensions
        return ["normal", {"sigma": 0.02}]
    return "xavier_uniform"


def suggested_rules(rows: Sequence[Row], names: Sequence[str]) -> dict[str, Any]:
    """Rules for ``rows``: names that differ only in their index segments share one glob (``blocks.*.ls1.gamma``)
    when it matches exactly them among ``names`` (every name of the plan) and they get the same suggestion."""
    from .patterns import compile_pattern

    groups: dict[tuple[str, str], list[str]] = {}
    guesses: dict[str, Any] = {}
    for r in rows:
        guess = suggest(r.name, r.shape, r.dtype)
        glob = ".".join("*" if part.isdigit() else part for part in r.name.split("."))
        groups.setdefault((glob, repr(guess)), []).append(r.name)
        guesses[r.name] = guess
    out: dict[str, Any] = {}
    for (glob, _), members in groups.items():
        if len(members) > 1 and sorted(filter(compile_pattern(glob), names)) == sorted(members):
            out[glob] = guesses[members[0]]
        else:
            out.update((m, guesses[m]) for m in members)
    return out


def uncovered_error(rows: Sequence[Row], what: str, fix: str = "", names: Sequence[str] = ()) -> RuleError:
    """The error for parameters that no rule, declared initializer or default covers (the global default never applies
    silently). ``names``: every name of the plan, so a suggested glob covers no other."""
    listed = [r.name for r in rows]
    rules = suggested_rules(rows, [*names, *(n for n in listed if n not in set(names))])
    shown = "\n".join(f"  {k!r}: {v!r}," for k, v in list(rules.items())[:8])
    more = f"\n  ... ({len(rules) - 8} more)" if len(rules) > 8 else ""
    text = ", ".join(map(repr, listed[:20])) + (f" and {len(listed) - 20} more" if len(listed) > 20 else "")
    return RuleError(f"{len(listed)} parameter(s) have no rule, no declared initializer ({what}) and no default: "
                     f"{text}. Add rules such as\n{{\n{shown}{more}\n}}\nor pass default= (an "
                     f"initializer, or 'keep' to leave their values){fix}; nothing was changed")


def plan_leaves(entries: Sequence[Entry], init: Any, seed: int | None, strict: bool, *, vars: Any = None,
                only: Any = None, name_map: Any = None) -> Explanation:
    """The plan of ``entries`` under one concrete seed (so every shard and every leaf replays), rule warnings emitted."""
    table = plan(entries, init, seed=adapter_seed(seed, init), strict=strict, vars=vars, only=only, name_map=name_map)
    table.diagnostics.warn()
    return table
