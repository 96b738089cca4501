"""The exception and warning hierarchy: every error is an InitregError and the matching builtin."""

from __future__ import annotations

import os
import sys


__all__ = [
    "SchedulerUnreachableError",
    "NoWorkersError",
    "ProvenanceError",
    "ShardError",
    "KernelUnavailableWarning",
    "InitregError",
    "InitregWarning",
    "PromiseTypeError",
    "PluginTypeError",
    "ParameterError",
    "ParameterValueError",
    "ParameterNotFoundError",
    "UninitializedError",
    "DeferredInitializationError",
    "ShapeError",
    "DTypeError",
    "GradientError",
    "InitializationError",
    "AllocationError",
    "RegionError",
    "SeedError",
    "FillArgumentError",
    "FillTypeError",
    "ReinitializationWarning",
    "DeviceError",
    "DeviceUnavailableError",
    "DeviceMismatchError",
    "InitializerArgumentError",
    "InitializerTypeError",
    "UnknownInitializerError",
    "AmbiguousInitializerError",
    "PluginError",
    "PluginWarning",
    "RuleError",
    "RuleTypeError",
    "UnusedRuleWarning",
    "ShadowedRuleWarning",
    "ValidationError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointKeyError",
    "CheckpointWriteError",
    "VerifyArgumentError",
    "MissingDependencyError",
    "FactoryError",
    "LayerError",
    "EmptySelectionWarning",
    "SharedStreamWarning",
    "TreeError",
    "ShardingError",
]


def did_you_mean(word: str, candidates: "list[str] | tuple[str, ...]", n: int = 3) -> str:
    """``"; did you mean 'a', 'b'?"`` for the candidates close to ``word``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=n)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


def clipped(value: object, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters: a message must not repeat a huge input whole."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit] + "..."


def format_shape(shape: "tuple | None") -> str:
    """A shape as text, None for each unknown dimension: ``(256, None)``."""
    if shape is None:
        return "None"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class InitregError(Exception):
    """Base class of every error initreg raises."""


class InitregWarning(UserWarning):
    """Base class of every warning initreg emits."""


# --- parameters -----------------------------------------------------------------------

class ParameterError(InitregError):
    """A parameter was used in a way its current state does not allow."""


class ParameterValueError(ParameterError, ValueError):
    """An argument to a Parameter (name, grad_req, ...) is invalid."""


class ParameterNotFoundError(ParameterError, KeyError):
    """No parameter of that name is in the dict."""


class UninitializedError(ParameterError, RuntimeError):
    """Values were requested from a parameter that was never initialized."""


class DeferredInitializationError(ParameterError, RuntimeError):
    """Values were requested from a parameter whose shape is not known yet."""


class ShapeError(ParameterError, ValueError):
    """A shape is invalid, incomplete where it must be complete, or conflicts with a known one."""


class DTypeError(ParameterError, TypeError):
    """A dtype initreg cannot draw or write: not a floating or integer NumPy dtype, or not in this machine's byte order."""


class GradientError(ParameterError, RuntimeError):
    """A gradient was requested where none is kept (grad_req='null' or not initialized)."""


class InitializationError(ParameterError, RuntimeError):
    """An initializer failed or produced invalid values; the parameter is unchanged."""


class AllocationError(ParameterError, MemoryError):
    """A parameter's values need more memory than this machine can give."""


class RegionError(InitregError, IndexError):
    """An index that is not a basic index, or does not fit the shape (values(index=...))."""


class SeedError(InitregError, ValueError, TypeError):
    """A seed is not a non-negative integer (a bad value or a bad type)."""


class FillArgumentError(InitregError, ValueError):
    """A Stream fill got a bad argument (bounds, positions, sizes)."""


class FillTypeError(InitregError, TypeError):
    """A Stream fill got an array or dtype it cannot fill."""


class ReinitializationWarning(InitregWarning):
    """initialize() was called on an initialized parameter without force_reinit=True."""


# --- devices --------------------------------------------------------------------------

class DeviceError(InitregError, ValueError):
    """A device is invalid or not one the parameter lives on."""


class DeviceUnavailableError(InitregError, RuntimeError):
    """A GPU was requested but CuPy or CUDA is missing."""


class DeviceMismatchError(DeviceError):
    """Arrays on different devices were combined."""


# --- initializers and the registry ------------------------------------------------------

class InitializerArgumentError(InitregError, ValueError):
    """An initializer was constructed with an invalid argument."""


class InitializerTypeError(InitregError, TypeError):
    """An object that is not an initializer (or a spec of one) was given where one is needed."""


class UnknownInitializerError(InitregError, KeyError):
    """No installed plugin provides an initializer of this name."""


class AmbiguousInitializerError(InitregError, KeyError):
    """Two plugins claim one initializer name."""


class PluginError(InitregError, RuntimeError):
    """A plugin failed to import or register (raised under INITREG_STRICT_PLUGINS=1)."""


class PluginTypeError(PluginError, TypeError):
    """``register_plugin``/``unregister_plugin`` got something that is no plugin or plugin name."""


class PluginWarning(InitregWarning):
    """A plugin failed to import or register and was skipped."""


# --- rules -------------------------------------------------------------------------------

class RuleError(InitregError, ValueError):
    """A rule is invalid, or (strict=True) unused or shadowed."""


class RuleTypeError(RuleError, TypeError):
    """Rules, names or a rule file path of the wrong type."""


class UnusedRuleWarning(InitregWarning):
    """A rule matched no parameter."""


class ShadowedRuleWarning(InitregWarning):
    """Every parameter a rule matches is taken by an earlier rule."""


class EmptySelectionWarning(InitregWarning):
    """A pattern selected no parameter, or initialize() was called on none."""


class SharedStreamWarning(InitregWarning):
    """Two different parameters draw from one (seed, name) stream, so they get the same values."""


# --- validation ----------------------------------------------------------------------------

class ValidationError(InitregError, ValueError):
    """A validation request is invalid (unknown case, bad alpha, ...)."""


class PromiseTypeError(ValidationError, TypeError):
    """A field of a promised distribution (Orthogonal, Atom, Mixture, Sparse, ...) has the wrong type."""


# --- checkpoints (named arrays on disk) ----------------------------------------------------

class CheckpointError(InitregError, ValueError):
    """A checkpoint file is unreadable, of an unsupported format, or holds unsupported data."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint file does not exist."""


class CheckpointKeyError(CheckpointError, KeyError):
    """A checkpoint holds no array of the requested name."""


class CheckpointWriteError(CheckpointError, OSError):
    """Writing a checkpoint failed in the operating system (disk full, no permission); nothing was changed."""


class VerifyArgumentError(InitregError, ValueError, TypeError):
    """An argument to ``verify()`` is invalid: ``sample`` (None or an int >= 1), ``sample_seed`` (an int >= 0)."""


class MissingDependencyError(InitregError, ImportError):
    """An optional dependency (an extra such as ``safetensors``) is not installed."""


class FactoryError(InitregError, ValueError):
    """A ``PKG.MODULE:FACTORY`` model factory cannot be found, fails, or builds no model."""


# --- layers ---------------------------------------------------------------------------------

class LayerError(InitregError, ValueError):
    """A layer (initreg.nn) was built or wired with an invalid argument."""


# --- framework adapters (initreg.jax, initreg.keras) ------------------------------------------

class TreeError(InitregError, TypeError):
    """A leaf of a parameter tree (or a model variable) that is not an array initreg can fill."""


class ShardingError(InitregError, ValueError):
    """A leaf's sharding that this process cannot build (for instance: none of its devices are addressable here)."""


class SchedulerUnreachableError(CheckpointError, ConnectionError):
    """No Dask scheduler answered at the address given."""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning raised by the caller at the first frame outside initreg."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep):
        frame, level = frame.f_back, level + 1
    return level


class ProvenanceError(CheckpointError):
    """A file whose metadata does not say how to reproduce it (missing, malformed or incomplete provenance)."""


class ShardError(CheckpointError):
    """A shard plan or request that cannot be carried out (a bad size, shard number or output directory)."""


class KernelUnavailableWarning(InitregWarning, RuntimeWarning):
    """initreg's compiled v4 kernel could not be loaded: fills use the NumPy reference (same values, slower)."""


class NoWorkersError(CheckpointError, TimeoutError):
    """``--dask``: no Dask worker has been alive for the time allowed (``--dask-timeout``); nothing was written."""


def _message(self: BaseException) -> str:
    """The message as given (what ``str()`` of these errors shows)."""
    return str(self.args[0]) if self.args else ""


# KeyError would repr() the message and OSError format it as (errno, strerror): these keep it readable
for _readable in (ParameterNotFoundError, UnknownInitializerError, AmbiguousInitializerError, CheckpointNotFoundError,
                  CheckpointKeyError, CheckpointWriteError):
    _readable.__str__ = _message  # type: ignore[method-assign]
del _readable
