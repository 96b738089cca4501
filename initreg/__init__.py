"""initreg: initial values for array parameters — deferred initialization, pluggable initializers,
name rules, and statistical validation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors
from .core import initializer as _initializer_module
from .core.device import Device, cpu, gpu, gpu_available
from .core.initializer import Desc, Initializer
from .core.stream import Stream, get_num_threads, get_seed, seed, set_num_threads
from .errors import *  # noqa: F401,F403 - the exception hierarchy is public API
from .parameters.parameter import Parameter
from .parameters.parameter_dict import ParameterDict
from .version import __version__

if TYPE_CHECKING:  # what __getattr__ below loads on first use, visible to type checkers
    from . import dask, init, jax, keras, nn, std, torch  # noqa: F401
    from .checkpoints.verification import verify  # noqa: F401
    from .core.fans import fans  # noqa: F401
    from .planning.explanation import explain, plan  # noqa: F401
    from .planning.precedence import Entry  # noqa: F401
    from .planning.regions import values  # noqa: F401
    from .planning.rules import Rules  # noqa: F401
    from .plugins.hookspecs import hookimpl  # noqa: F401
    from .plugins.registry import available, register_plugin, unregister_plugin  # noqa: F401
    from .plugins.specs import create  # noqa: F401
    from .std.scaling import gain  # noqa: F401
    from .validation import validate  # noqa: F401
    from .validation.arrays import check  # noqa: F401
    from .validation.forward import check_forward  # noqa: F401
    from .validation.forward_widths import check_widths  # noqa: F401


def _qualified_name(init: Initializer) -> str:
    from .plugins.registry import qualified_name

    return qualified_name(init)


def _values(*args: Any, **kwargs: Any) -> Any:
    from .planning.regions import values

    return values(*args, **kwargs)


# Initializer (core) names itself through the plugin catalog and computes through values(), layers above it:
# bound here, where every import of initreg starts, so dumps() is the same text whatever was imported first.
_initializer_module.bind(namer=_qualified_name, values=_values)

# The lazy names are listed too, so `from initreg import *` gives them (loading them then); the framework
# adapters and dask are not, since star-importing must not import torch, jax, keras or dask.
__all__ = ["Desc", "Device", "Entry", "Initializer", "Parameter", "ParameterDict", "Rules", "Stream", "available",
           "check", "check_forward", "check_widths", "cpu", "create", "errors", "explain", "fans", "gain", "get_num_threads",
           "get_seed", "gpu", "gpu_available", "hookimpl", "init", "plan", "register_plugin", "seed",
           "set_num_threads", "std", "unregister_plugin", "validate", "values", "verify", *errors.__all__]

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
    "check_forward": ("initreg.validation.forward", "check_forward"),  # imports torch when called
    "check_widths": ("initreg.validation.forward_widths", "check_widths"),  # imports torch when called
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
