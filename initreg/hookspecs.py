"""The plugin contract: hook specifications of the ``initreg`` project (pluggy)."""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("initreg")
hookimpl = pluggy.HookimplMarker("initreg")


@hookspec
def initreg_register_initializers(register: Callable[..., Any]) -> None:
    """Register initializers: call ``register(cls, aliases=(...), override=False)`` once per Initializer subclass."""
