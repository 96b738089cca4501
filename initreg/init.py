"""Initializer classes by class name (``init.Xavier``, ``init.Normal``, third-party ones too), via the registry."""

from __future__ import annotations

from typing import Any

from .core.initializer import Initializer

__all__ = ["Initializer"]


def __getattr__(name: str) -> Any:
    if name.startswith("__"):  # module protocol probes (__path__, __wrapped__, ...) must not load plugins
        raise AttributeError(f"module 'initreg.init' has no attribute {name!r}")
    from .plugins.registry import lookup_class

    return lookup_class(name)


def __dir__() -> list[str]:
    from .plugins.registry import available

    return sorted({"Initializer", *(e.cls.__name__ for e in available())})
