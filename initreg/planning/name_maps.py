"""Name maps: rename parameters before rules and stream keys (a pipeline stage's local names → the whole model's).

A name map is a callable ``str -> str`` or a list of ``(pattern, replacement)`` pairs. Each pair is applied in
turn to the result of the previous one, replacing every match of ``pattern`` (a Python regular expression, as
``re.sub`` replaces) by ``replacement``: text in which ``{expression}`` is computed from the match
(named groups, digit-only ones as integers, and ``vars``), ``{N}`` is group N's text and ``{{`` / ``}}`` are braces.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Sequence

from ..errors import RuleError
from ..core.names import check_name
from .expressions import Expression, parse
from .templates import capture_values, check_vars

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def compile_name_map(name_map: Any, vars: Mapping[str, Any] | None = None) -> Callable[[str], str] | None:
    """A function mapping one name, from a callable or a list of (pattern, replacement) pairs; RuleError if bad."""
    if name_map is None:
        return None
    if callable(name_map):
        return name_map
    if isinstance(name_map, (str, bytes)) or not isinstance(name_map, Sequence):
        raise RuleError(f"name_map must be a callable or a list of (pattern, replacement) pairs such as "
                        f"[(r'layers\\.(?P<i>\\d+)\\.', 'layers.{{i + 8}}.')], got {name_map!r}")
    variables = check_vars(vars, "name_map vars=")
    steps = [_pair(k, item, variables) for k, item in enumerate(name_map, 1)]

    def mapped(name: str) -> str:
        for step in steps:
            name = step(name)
        return name
    return mapped


def _pair(number: int, item: Any, variables: dict[str, Any]) -> Callable[[str], str]:
    where = f"name_map pair {number}"
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
        raise RuleError(f"{where}: expected a (pattern, replacement) pair of strings, got {item!r}")
    pattern, replacement = item
    if not pattern:
        raise RuleError(f"{where}: the pattern is empty; it would match everywhere")
    try:
        rx = re.compile(pattern)  # Python's re: a name map is the caller's own code, never read from a file
    except (re.error, RecursionError) as exc:
        raise RuleError(f"{where}: pattern {pattern!r} is invalid: {exc}") from None
    groups = rx.groups
    parts = _template(replacement, groups, where)

    def substitute(m: Any) -> str:
        env = {**variables, **capture_values({k: v for k, v in m.groupdict().items() if v is not None})}
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, int):
                out.append(m.group(part) or "")
            else:
                out.append(_text(part.evaluate(env, f"{where} ({pattern!r} → {replacement!r})"), part, where))
        return "".join(out)

    def step(name: str) -> str:
        return rx.sub(substitute, name)
    return step


def _template(replacement: str, groups: int, where: str) -> list[str | int | Expression]:
    """The replacement as literal text, group numbers and expressions; RuleError for a stray brace or bad field."""
    parts: list[str | int | Expression] = []
    at = 0
    for m in _FIELD.finditer(replacement):
        parts.append(replacement[at:m.start()])
        at = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
        elif m.group(1) is None:
            raise RuleError(f"{where}: replacement {replacement!r} has a single {token!r} at {m.start()}; write "
                            f"{token * 2!r} for a literal brace or {{expression}} for a computed part")
        elif m.group(1).strip().isascii() and m.group(1).strip().isdigit():
            n = int(m.group(1))
            if n > groups:
                raise RuleError(f"{where}: replacement {replacement!r} refers to group {n}, the pattern has {groups}")
            parts.append(n)
        else:
            parts.append(parse(m.group(1), f"{where}, replacement {replacement!r}"))
    parts.append(replacement[at:])
    return [p for p in parts if p != ""]


def _text(value: Any, expression: Expression, where: str) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, float):
        raise RuleError(f"{where}: {{{expression.text}}} gives {value}, not a whole number; a name part must be "
                        f"text or an integer (use // for integer division)")
    return str(value)


def name_map_reads(name_map: Any) -> frozenset[str] | None:
    """The variables a name map's replacements read (None for a callable: it may read any)."""
    if name_map is None:
        return frozenset()
    if callable(name_map) or isinstance(name_map, (str, bytes)) or not isinstance(name_map, Sequence):
        return None  # a callable; anything else is refused by compile_name_map
    reads: set[str] = set()
    for number, item in enumerate(name_map, 1):
        if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            parts = _template(item[1], 99, f"name_map pair {number}")
            reads.update(*(p.names for p in parts if isinstance(p, Expression)))
    return frozenset(reads)


def map_names(names: Sequence[str], name_map: Any, vars: Mapping[str, Any] | None = None) -> list[str]:
    """Each name mapped (the names themselves when ``name_map`` is None); RuleError when two map to one name."""
    mapper = compile_name_map(name_map, vars)
    if mapper is None:
        return list(names)
    out, seen = [], {}
    for name in names:
        try:
            new = mapper(name)
        except RuleError:
            raise
        except Exception as exc:  # a user callable: say which name it failed on
            raise RuleError(f"name_map failed on {name!r}: {type(exc).__name__}: {exc}") from None
        if not isinstance(new, str):
            raise RuleError(f"name_map mapped {name!r} to {new!r}; it must return a string")
        check_name(new)
        if new in seen:
            raise RuleError(f"name_map maps both {seen[new]!r} and {name!r} to {new!r}; two parameters would draw the "
                            f"same values. Fix the map so each name has its own (nothing was changed)")
        seen[new] = name
        out.append(new)
    return out
