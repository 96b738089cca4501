"""initreg: initial values for array parameters — deferred initialization, pluggable initializers,
name rules, and statistical validation."""

from __future__ import annotations

from typing import Any

from . import errors
from .device import Device, cpu, gpu, gpu_available
from .errors import *  # noqa: F401,F403 - the exception hierarchy is public API
from .initializer import Desc, Initializer
from .parameter import Parameter
from .parameter_dict import ParameterDict
from .random import Stream, get_num_threads, get_seed, seed, set_num_threads

from .version import __version__

__all__ = ["Desc", "Device", "Initializer", "Parameter", "ParameterDict", "Stream", "cpu", "errors", "get_num_threads",
           "get_seed", "gpu", "gpu_available", "seed", "set_num_threads", *errors.__all__]

# Heavier pieces load on first use so `import initreg` stays light (no scipy, no plugins).
_LAZY = {
    "std": ("initreg.std", None),
    "init": ("initreg.init", None),
    "fans": ("initreg.fans", "fans"),
    "create": ("initreg.registry", "create"),
    "available": ("initreg.registry", "available"),
    "register_plugin": ("initreg.registry", "register_plugin"),
    "unregister_plugin": ("initreg.registry", "unregister_plugin"),
    "hookimpl": ("initreg.hookspecs", "hookimpl"),
    "gain": ("initreg.std.scaling", "gain"),
    "Rules": ("initreg.rules", "Rules"),
    "explain": ("initreg.explanation", "explain"),
    "plan": ("initreg.explanation", "plan"),
    "Entry": ("initreg.precedence", "Entry"),
    "values": ("initreg.regions", "values"),
    "validate": ("initreg.validation", "validate"),
    "verify": ("initreg.verification", "verify"),
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
