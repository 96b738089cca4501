"""Specs to initializers: anything ``initreg.create`` takes (a name, JSON, a dict, a class) becomes an Initializer."""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import InitializerTypeError, InitregError, RuleError
from ..core.initializer import Initializer, decode


def as_initializer(obj: Any) -> Initializer:
    """An Initializer from an instance or anything initreg.create takes (a name, JSON, a dict)."""
    if isinstance(obj, Initializer):
        return obj
    if isinstance(obj, type) and issubclass(obj, Initializer):
        return obj()
    if isinstance(obj, (str, dict, list, tuple)):
        from .registry import create  # the registry loads plugins: only when a spec needs it

        return create(obj)
    raise InitializerTypeError(f"{obj!r} is not an initializer; pass an initreg.Initializer instance or a registered name such as 'xavier'")


def with_context(exc: Exception, prefix: str) -> Exception:
    """The same kind of error with ``prefix`` in front of its message (RuleError if it cannot be rebuilt)."""
    msg = f"{prefix}: {exc}"
    try:
        new = type(exc)(msg)
    except Exception:
        new = RuleError(msg)
    return new


def make_initializer(spec: Any, where: str, kwargs: Mapping[str, Any] | None = None) -> Initializer:
    """An Initializer from anything initreg.create takes; errors keep their kind and name ``where``."""
    try:
        if kwargs:  # JSON-ready arguments from a file: nested initializers and arrays are tagged
            from .registry import create

            return create(spec, **decode(dict(kwargs), create))
        return as_initializer(spec)
    except (InitregError, ValueError, TypeError, KeyError) as exc:
        raise with_context(exc, where) from exc
