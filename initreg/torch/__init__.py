"""initreg for PyTorch: rules, declared defaults and reproducible-by-name values for any ``torch.nn.Module``.

``initialize(module, init, seed=...)`` fills every parameter (meta-device models are materialized,
lazy modules are filled after the forward that gives their shape); ``plan(module, init)`` is the
same table without drawing. Parameter ``n`` of shape ``s`` ends up exactly
``initreg.values(row.initializer, s, name=n, seed=seed, dtype=...)`` (bfloat16: those float32 values
rounded to nearest even). See docs/torch.md.
"""

from __future__ import annotations

from typing import Any

from . import init
from .defaults import AxesVarianceScaling, InvSqrtUniform, PaddedNormal, XavierNormal, XavierUniform, declared
from .filling import initialize
from .placement import compute_dtype
from .planning import plan_module
from .walk import buffer_defaults, is_dtensor

__all__ = ["AxesVarianceScaling", "InvSqrtUniform", "PaddedNormal", "XavierNormal", "XavierUniform", "buffer_defaults", "compute_dtype",
           "declared", "explain", "init", "initialize", "is_dtensor", "plan", "plan_module"]


def plan(module: Any, init: Any = None, *, seed: int | None = None, strict: bool = False, default: Any = None,
         prefix: str | None = None, vars: Any = None, only: Any = None, name_map: Any = None) -> Any:
    """The table initialize(module, init, seed=seed) follows, without drawing or allocating anything."""
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
    return plan_module(module, init, seed=seed, default=default, strict=strict)
