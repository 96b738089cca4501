"""Specs to initializers: the one create() that turns anything (an instance, a class, a name, dumps() JSON,
a dict, a [name, kwargs] pair) into an Initializer, as Keras's ``initializers.get``."""

from __future__ import annotations

import functools
import inspect
import json
from typing import Any, Mapping

from ..core.initializer import Initializer, decode
from ..errors import InitializerTypeError, InitregError, RuleError, clipped, did_you_mean


def create(spec: Any, /, **kwargs: Any) -> Initializer:
    """An Initializer from an instance, a class, a name, a ``dumps()`` JSON string, ``{"name": ...}`` or ``[name, kwargs]``."""
    try:
        return _create(spec, kwargs)
    except RecursionError:  # a spec nested thousands deep (a Mixture of Mixtures...), from a file or a caller
        raise InitializerTypeError("initializer spec is nested too deeply; real specs nest a few levels") from None


def _create(spec: Any, kwargs: dict[str, Any]) -> Initializer:
    if isinstance(spec, Initializer):
        if kwargs:
            raise InitializerTypeError(f"create() got the instance {spec!r} and keyword arguments {sorted(kwargs)}; "
                                       f"pass a name instead: create({spec.name!r}, ...)")
        return spec
    if isinstance(spec, type) and issubclass(spec, Initializer):
        return _construct(spec, kwargs, spec.__name__)
    if isinstance(spec, str) and spec.strip()[:1] in ("[", "{"):
        try:
            spec = json.loads(spec)
        except ValueError as exc:  # JSONDecodeError, or an integer over Python's 4300-digit limit
            raise InitializerTypeError(f"initializer spec {clipped(spec)} is not valid JSON ({str(exc)[:200]}); expected what "
                                       f"Initializer.dumps() writes, such as '[\"normal\", {{\"sigma\": 0.01}}]'") from None
    if isinstance(spec, str):
        name, args = spec, {}
    elif isinstance(spec, dict) and isinstance(spec.get("name"), str):
        name, args = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    elif (isinstance(spec, (list, tuple)) and len(spec) in (1, 2) and isinstance(spec[0], str)
          and (len(spec) == 1 or isinstance(spec[1], dict))):
        name, args = spec[0], dict(spec[1]) if len(spec) == 2 else {}
    else:
        raise InitializerTypeError(f"cannot make an initializer from {spec!r}; pass an Initializer, a name such as "
                                   f"'xavier', a dict {{'name': 'normal', 'sigma': 0.01}} or a pair ['normal', {{...}}]")
    from .catalog import norm
    from .registry import lookup  # loads the plugins: only when a name must be looked up

    info = lookup(name)
    bad = [k for k in args if not isinstance(k, str)]
    if bad:
        raise InitializerTypeError(f"initializer {name!r}: argument names are strings, got {bad[0]!r}")
    obj = _construct(info.cls, {**decode(args, create), **kwargs}, name)
    if ":" in name and isinstance(obj, Initializer):  # asked for by dist:name: dumps() keeps the qualifier
        object.__setattr__(obj, "_initreg_qualified", f"{norm(info.distribution)}:{info.name}")
    return obj


def _construct(cls: type, kwargs: dict[str, Any], label: str) -> Initializer:
    """``cls(**kwargs)``, with arguments it does not take reported by name before the constructor runs."""
    sig = _signature(cls)
    if sig is None:  # a signature Python cannot read: let the constructor judge
        return cls(**kwargs)
    try:
        sig.bind(**kwargs)
    except TypeError as exc:
        params = [p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        hint = "".join(did_you_mean(k, params, n=1) for k in kwargs if k not in params)
        raise InitializerTypeError(f"initializer {label!r} ({cls.__name__}): {exc}; it accepts "
                                   f"{', '.join(params) or 'no arguments'}{hint}") from None
    return cls(**kwargs)


@functools.lru_cache(maxsize=512)  # reading a signature costs more than a small fill; a class keeps its own
def _signature(cls: type) -> inspect.Signature | None:
    try:
        return inspect.signature(cls)
    except (TypeError, ValueError):
        return None


def with_context(exc: Exception, prefix: str) -> Exception:
    """The same kind of error with ``prefix`` in front of its message (RuleError if it cannot be rebuilt)."""
    msg = f"{prefix}: {exc}"
    try:
        new = type(exc)(msg)
    except Exception:
        new = RuleError(msg)
    return new


def make_initializer(spec: Any, where: str, kwargs: Mapping[str, Any] | None = None) -> Initializer:
    """create(spec, **kwargs) with JSON-ready (tagged) arguments; errors keep their kind and name ``where``."""
    try:
        return create(spec, **decode(dict(kwargs), create)) if kwargs else create(spec)
    except (InitregError, ValueError, TypeError, KeyError) as exc:
        raise with_context(exc, where) from exc

