"""The standard catalog as a plugin: registered through the ``initreg`` entry-point group like any other."""

from __future__ import annotations

from typing import Any, Callable

from .. import std
from ..plugins.hookspecs import hookimpl
from ..core.initializer import Initializer


@hookimpl
def initreg_register_initializers(register: Callable[..., Any]) -> None:
    """Register every Initializer class of ``initreg.std.__all__`` with its own ``aliases`` attribute."""
    for attr in std.__all__:
        obj = getattr(std, attr)
        if isinstance(obj, type) and issubclass(obj, Initializer):
            register(obj, aliases=vars(obj).get("aliases", ()))
