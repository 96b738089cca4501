"""What initialize() and select() say around their work: ctx=, verbose= tables, empty selections, shared streams."""

from __future__ import annotations

import re
import threading
import warnings
import weakref
from typing import Any, Iterable, Sequence

from ..errors import (DeviceError, EmptySelectionWarning, ReinitializationWarning, SharedStreamWarning, did_you_mean,
                      user_stacklevel,
                     format_shape)

_REGEX_HINTS = re.compile(r"\.\*|\.\+|\\.|[\^$+()|{}]")  # what globs never need but regular expressions do

# (global seed, name) -> the parameter last initialized from it: a second parameter there would get equal values
_streams: dict[tuple[int, str], "weakref.ref[Any]"] = {}
_streams_lock = threading.Lock()




def device_argument(device: Any, ctx: Any) -> Any:
    """``device``, or Gluon's ``ctx=`` spelling of it; both at once is an error."""
    if ctx is None:
        return device
    if device is not None:
        raise DeviceError(f"pass the device once: got device={device!r} and ctx={ctx!r} (ctx= is Gluon's name for "
                          f"device=); keep device=")
    return ctx


def warn_empty_selection(pattern: str, names: Iterable[str]) -> None:
    """Warn that ``pattern`` selected nothing; say how to write it when it reads like a regular expression."""
    names = list(names)
    hint = ""
    if pattern.startswith("re:"):
        try:
            inside = [n for n in names if re.search(pattern[3:], n)]
        except re.error:
            inside = []
        if inside:
            hint = (f"; this one only matches inside {', '.join(map(repr, inside[:3]))}"
                    f"{', ...' if len(inside) > 3 else ''}: write 're:.*{pattern[3:]}'")
        kind = "'re:' patterns are regular expressions that must match the whole name"
    else:
        kind = "patterns are globs over the whole name: '*' any run, '.' a literal dot"
    if not hint and not pattern.startswith("re:") and _REGEX_HINTS.search(pattern):
        try:
            rx = re.compile(pattern)
        except re.error:
            rx = None
        hits = [n for n in names if rx is not None and rx.match(n)]  # Gluon matched from the start of the name
        if hits:
            shown = ", ".join(map(repr, hits[:3])) + (", ..." if len(hits) > 3 else "")
            hint = (f"; it reads like a regular expression (Gluon's form), which would select {len(hits)} "
                    f"({shown}): write 're:{pattern}' for a regular expression, or a glob such as '*weight'")
    if not hint:
        hint = did_you_mean(pattern, names) or (f"; the names look like {', '.join(map(repr, names[:3]))}" if names
                                                else "; there are no parameters to select from")
    warnings.warn(f"pattern {pattern!r} selects no parameter ({kind}){hint}", EmptySelectionWarning,
                  stacklevel=user_stacklevel())


def warn_empty_initialize() -> None:
    """Warn that initialize() was called on no parameters at all."""
    warnings.warn("initialize() was called on no parameters, so nothing was initialized; if they came from "
                  "collect_params(pattern), check the pattern (a glob, or 're:' and a regular expression)",
                  EmptySelectionWarning, stacklevel=user_stacklevel())


def check_streams(params: Sequence[Any], choices: Sequence[Any], seed: int, force_reinit: bool) -> None:
    """Under the global seed, warn when values repeat: another parameter of the same name, or force_reinit redrawing."""
    twins, again = [], []
    with _streams_lock:
        for p in params:
            key = (seed, p.name)
            ref = _streams.get(key)
            other = ref() if ref is not None else None
            if other is not None and other is not p:
                twins.append(p.name)
            if other is not p:
                _streams[key] = weakref.ref(p, lambda r, key=key: _forget(key, r))
    if force_reinit:
        for p, choice in zip(params, choices):
            init = choice.init
            record = p.record if p.state == "initialized" else None
            if record and record.get("seed") == seed and record.get("initializer") == init.name and not init.deterministic:
                again.append(p.name)
    level = user_stacklevel()
    if twins:
        warnings.warn(f"{_few(twins)} {'is' if len(twins) == 1 else 'are'} also the name(s) of another network's "
                      f"parameters initialized from the global seed {seed}: one stream per (seed, name), so both get "
                      f"the same values. Give one network a prefix (nn.Sequential(prefix='decoder')) or pass seed=",
                      SharedStreamWarning, stacklevel=level)
    if again:
        warnings.warn(f"force_reinit=True draws the same values again for {_few(again)}: the global seed {seed} and "
                      f"the names are unchanged (one stream per (seed, name)); pass another seed= for new values",
                      ReinitializationWarning, stacklevel=level)


def _forget(key: tuple[int, str], ref: Any) -> None:
    with _streams_lock:
        if _streams.get(key) is ref:
            del _streams[key]


def _few(names: list[str]) -> str:
    return ", ".join(map(repr, names[:3])) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def report(params: Sequence[Any], choices: Sequence[Any], kept: set[str], seed: int) -> str:
    """The verbose=True table: each parameter's shape, state after the call, what decided it, and its initializer."""
    rows = [("name", "shape", "state", "source", "initializer")]
    for p, choice in zip(params, choices):
        name = p.name
        rows.append((name, format_shape(p.shape), p.state,
                     "kept (already initialized)" if name in kept else choice.label,
                     "-" if name in kept else repr(choice.init)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"seed: {seed}"] + ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
