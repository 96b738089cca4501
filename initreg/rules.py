"""Rules: choose an initializer per parameter by name pattern (glob or ``re:`` regex), first match wins."""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Callable

from .errors import RuleError
from .initializer import Initializer, as_initializer


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """A matcher for a glob over the full name (case-sensitive) or a ``re:`` full-match regex."""
    if not isinstance(pattern, str) or not pattern:
        raise RuleError(f"a pattern must be a non-empty string, got {pattern!r}")
    if pattern.startswith("re:"):
        try:
            rx = re.compile(pattern[3:])
        except re.error as exc:
            raise RuleError(f"invalid regular expression in pattern {pattern!r}: {exc}") from None
    else:
        rx = re.compile(fnmatch.translate(pattern))
    return lambda name: rx.fullmatch(name) is not None


def plan_choices(params: Any, init: Any = None) -> dict[str, tuple[Initializer, str]]:
    """For each parameter name: (initializer, source) by precedence rule > declared > default > global."""
    from .parameter import default_initializer

    default = as_initializer(init) if init is not None else None
    fallback = default_initializer()
    out: dict[str, tuple[Initializer, str]] = {}
    for name, p in params.items():
        if p.init is not None:
            out[name] = (as_initializer(p.init), "declared")
        elif default is not None:
            out[name] = (default, "default")
        else:
            out[name] = (fallback, "global default")
    return out
