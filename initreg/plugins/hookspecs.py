"""The plugin contract: hook specifications of the ``initreg`` project (pluggy)."""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("initreg")
hookimpl = pluggy.HookimplMarker("initreg")


@hookspec
def initreg_register_initializers(register: Callable[..., Any]) -> None:
    """Register initializers: call ``register(cls, aliases=(...), override=False)`` once per Initializer subclass."""


@hookspec
def initreg_validation_configs(cls: type) -> Any:
    """Configurations of the initializer class ``cls`` that ``initreg validate`` checks besides its default one.

    Return a list of keyword-argument dicts (``[{"sparsity": 0.5}]``) or ``(label, Initializer)`` pairs for a
    class this plugin registered, and None for any other class.
    """
