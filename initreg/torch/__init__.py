"""initreg for PyTorch: rules, declared defaults and reproducible-by-name values for any ``torch.nn.Module``.

``initialize(module, init, seed=...)`` fills every parameter (meta-device models are materialized,
lazy modules are filled after the forward that gives their shape); ``plan(module, init)`` is the
same table without drawing. Parameter ``n`` of shape ``s`` ends up exactly
``initreg.values(row.initializer, s, name=n, seed=seed, dtype=...)`` (bfloat16: those float32 values
rounded to nearest even). See docs/torch.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what __getattr__ below loads on first use, visible to type checkers
    from . import init  # noqa: F401
    from .defaults import AxesVarianceScaling, InvSqrtUniform, PaddedNormal, XavierNormal, XavierUniform, declared  # noqa: F401
    from .filling import initialize  # noqa: F401
    from .placement import compute_dtype  # noqa: F401
    from .planning import plan_module  # noqa: F401
    from .walk import buffer_defaults, is_dtensor  # noqa: F401

# The adapter loads on first use: the plugin entry point (initreg.torch.plugin), which the registry imports in every
# process that creates an initializer, then imports only the declared initializers (first create 22-28 ms faster).
_LAZY = {"init": ("init", None), "initialize": ("filling", "initialize"), "compute_dtype": ("placement", "compute_dtype"),
         "plan_module": ("planning", "plan_module"), "buffer_defaults": ("walk", "buffer_defaults"),
         "is_dtensor": ("walk", "is_dtensor"),
         **{n: ("defaults", n) for n in ("AxesVarianceScaling", "InvSqrtUniform", "PaddedNormal", "XavierNormal",
                                         "XavierUniform", "declared")}}

__all__ = ["AxesVarianceScaling", "InvSqrtUniform", "PaddedNormal", "XavierNormal", "XavierUniform", "buffer_defaults", "compute_dtype",
           "declared", "explain", "init", "initialize", "is_dtensor", "plan", "plan_module"]


def plan(module: Any, init: Any = None, *, seed: int | None = None, strict: bool = False, default: Any = None,
         prefix: str | None = None, vars: Any = None, only: Any = None, name_map: Any = None) -> Any:
    """The table initialize(module, init, seed=seed) follows, without drawing or allocating anything."""
    from .planning import plan_module

    return plan_module(module, init, seed=seed, default=default, strict=strict, prefix=prefix, vars=vars, only=only,
                       name_map=name_map)


def explain(module: Any, init: Any = None, *, seed: int | None = None, default: Any = None,
            strict: bool = False) -> Any:
    """Deprecated name of :func:`plan` (every adapter calls it plan); works for one more release."""
    import warnings

    from ..errors import user_stacklevel

    warnings.warn("initreg.torch.explain is deprecated and will be removed in the next release; use "
                  "initreg.torch.plan (the same table, the name every initreg adapter uses)", DeprecationWarning,
                  stacklevel=user_stacklevel())
    from .planning import plan_module

    return plan_module(module, init, seed=seed, default=default, strict=strict)


def __getattr__(name: str) -> Any:
    try:
        sub, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'initreg.torch' has no attribute {name!r}") from None
    import importlib

    mod = importlib.import_module(f"{__name__}.{sub}")
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
