"""initreg: initial values for array parameters — deferred initialization, pluggable initializers,
name rules, and statistical validation."""

from __future__ import annotations

from typing import Any

from . import errors
from .core import initializer as _initializer_module
from .core.device import Device, cpu, gpu, gpu_available
from .errors import *  # noqa: F401,F403 - the exception hierarchy is public API
from .core.initializer import Desc, Initializer
from .parameters.parameter import Parameter
from .parameters.parameter_dict import ParameterDict
from .core.stream import Stream, get_num_threads, get_seed, seed, set_num_threads

from .version import __version__


def _qualified_name(init: Initializer) -> str:
    from .plugins.registry import qualified_name

    return qualified_name(init)


def _values(*args: Any, **kwargs: Any) -> Any:
    from .planning.regions import values

    return values(*args, **kwargs)


# Initializer (core) names itself through the plugin catalog and computes through values(), layers above it:
# bound here, where every import of initreg starts, so dumps() is the same text whatever was imported first.
_initializer_module.bind(namer=_qualified_name, values=_values)

__all__ = ["Desc", "Device", "Initializer", "Parameter", "ParameterDict", "Stream", "cpu", "errors", "get_num_threads",
           "get_seed", "gpu", "gpu_available", "seed", "set_num_threads", *errors.__all__]

# Heavier pieces load on first use so `import initreg` stays light (no scipy, no plugins).
_LAZY = {
    "std": ("initreg.std", None),
    "init": ("initreg.init", None),
    "fans": ("initreg.core.fans", "fans"),
    "create": ("initreg.plugins.specs", "create"),
    "available": ("initreg.plugins.registry", "available"),
    "register_plugin": ("initreg.plugins.registry", "register_plugin"),
    "unregister_plugin": ("initreg.plugins.registry", "unregister_plugin"),
    "hookimpl": ("initreg.plugins.hookspecs", "hookimpl"),
    "gain": ("initreg.std.scaling", "gain"),
    "Rules": ("initreg.planning.rules", "Rules"),
    "explain": ("initreg.planning.explanation", "explain"),
    "plan": ("initreg.planning.explanation", "plan"),
    "Entry": ("initreg.planning.precedence", "Entry"),
    "values": ("initreg.planning.regions", "values"),
    "validate": ("initreg.validation", "validate"),
    "verify": ("initreg.checkpoints.verification", "verify"),
    "dask": ("initreg.dask", None),
    "check": ("initreg.validation.arrays", "check"),
    "nn": ("initreg.nn", None),
    "torch": ("initreg.torch", None),
    "jax": ("initreg.jax", None),  # imports jax (and flax only when its trees are given)
    "keras": ("initreg.keras", None),  # imports keras: set KERAS_BACKEND first
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'initreg' has no attribute {name!r}") from None
    import importlib

    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
