"""initreg.torch's declared initializers as a plugin (entry point ``torch``): rule files and records can name them."""

from __future__ import annotations

from typing import Any, Callable

from ..plugins.hookspecs import hookimpl
from .defaults import INITIALIZERS


@hookimpl
def initreg_register_initializers(register: Callable[..., Any]) -> None:
    """Register inv_sqrt_uniform, padded_normal, xavier_normal, xavier_uniform and axes_variance_scaling (no torch import)."""
    for cls in INITIALIZERS:
        register(cls, aliases=vars(cls).get("aliases", ()))
