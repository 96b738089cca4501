"""Name patterns: a glob over the whole name (fnmatch semantics, ``*`` crosses dots) or ``re:`` full-match regex.

A glob is matched against the whole name, case-sensitive: ``*`` matches any run of characters
*including dots* (``"*.bias"`` matches ``"features.3.bias"``), ``?`` one character, ``[...]`` /
``[!...]`` a character class. ``"re:..."`` is a regular expression that must match the whole name,
matched by RE2 (google-re2) in time linear in the name, so no rule can hang a lookup: the syntax is
Python's ``re`` without backreferences, lookaround, possessive/atomic forms and conditionals (a
pattern using them is a RuleError saying so); ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are ASCII, and a
counted repetition is at most ``{1000}``. Globs go through :func:`fnmatch.translate`, whose regex
matches in linear time too (each ``*`` is an atomic group).
Each pattern carries the literal prefix and suffix every matching name has, so an index over many
patterns tries a name only against the patterns it can match.
"""

from __future__ import annotations

import bisect
import functools
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from ..errors import RuleError


# --- patterns ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pattern:
    """A compiled pattern: ``match(name)``, plus the literal prefix/suffix every matching name carries."""

    text: str
    match: Callable[[str], bool] = field(repr=False, compare=False)
    prefix: str = field(repr=False, compare=False)
    suffix: str = field(repr=False, compare=False)
    groups: tuple[str, ...] = field(default=(), repr=False, compare=False)  # named captures, in pattern order
    capture: Callable[[str], dict[str, str]] | None = field(default=None, repr=False, compare=False)

    def captures(self, name: str) -> dict[str, str]:
        """The named captures of a matching name ({} for a pattern without any)."""
        return {} if self.capture is None else self.capture(name)


_CAPTURE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _check_glob(pattern: str) -> tuple[str, str, bool]:
    """Validate a glob; return (literal prefix, literal suffix, has wildcards)."""
    tokens: list[str | None] = []  # a literal character, or None for a wildcard
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c in "*?":
            tokens.append(None)
        elif c == "{" and (m := _CAPTURE.match(pattern, i - 1)):
            tokens.append(None)
            i = m.end()
        elif c == "[":
            j = i + (i < n and pattern[i] == "!")
            j += j < n and pattern[j] == "]"  # a ']' first in a class is a literal
            end = pattern.find("]", j)
            if end < 0:
                raise ValueError(f"'[' at position {i - 1} is never closed; write '[[]' to match a literal '['")
            body = pattern[i + (pattern[i] == "!"):end]
            k = 0
            while k + 2 < len(body):
                if body[k + 1] == "-":
                    if body[k] > body[k + 2]:
                        raise ValueError(f"character range '{body[k:k + 3]}' is empty (reversed); "
                                         f"write '{body[k + 2]}-{body[k]}'")
                    k += 3
                else:
                    k += 1
            tokens.append(None)
            i = end + 1
        else:
            tokens.append(c)
    if None not in tokens:
        return pattern, pattern, False
    first, last = tokens.index(None), len(tokens) - 1 - tokens[::-1].index(None)
    return "".join(tokens[:first]), "".join(tokens[last + 1:]), True  # type: ignore[arg-type]


def _regex_prefix(rx: str) -> str:
    """A literal prefix every full match of ``rx`` starts with ('' when unsure)."""
    if "|" in rx:
        return ""
    lit = re.match(r"[A-Za-z0-9_ ]*", rx).group(0)  # type: ignore[union-attr]
    if lit and len(rx) > len(lit) and rx[len(lit)] in "*+?{":
        lit = lit[:-1]  # the last character is quantified
    return lit


_UNSUPPORTED = ("backreferences (\\1, (?P=name)), lookahead/lookbehind ((?=, (?!, (?<=, (?<!), atomic groups, "
                "possessive quantifiers and conditionals")


def _linear_regex(body: str) -> Callable[[str], bool]:
    """A full-match test of ``body`` by RE2 (linear time); ValueError naming what RE2 refuses."""
    return _re2(body, capture=False)


def _capturer(body: str) -> Callable[[str], dict[str, str]]:
    """The named groups of a full match of ``body`` by RE2 (called only on names that match)."""
    fullmatch = _re2(body, capture=True)

    def capture(name: str) -> dict[str, str]:
        try:
            m = fullmatch(name)
        except UnicodeEncodeError:  # a lone surrogate, read as one '?' as in match()
            m = fullmatch(name.encode("utf-8", "replace").decode("utf-8"))
        return {} if m is None else {k: v for k, v in m.groupdict().items() if v is not None}
    return capture


def _re2(body: str, capture: bool) -> Callable[[str], Any]:
    import re2

    try:
        re.compile(body)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    except RecursionError:
        raise ValueError("the regular expression is nested too deeply; simplify it") from None
    options = re2.Options()
    options.log_errors = False  # RE2 would print to stderr; the RuleError says it
    options.never_capture = not capture
    try:
        rx = re2.compile(body, options)
    except re2.error as exc:
        why = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"uses syntax the linear-time matcher (RE2) does not support ({why}): rules may not use "
                         f"{_UNSUPPORTED}, or a repetition count over 1000; rewrite it without them") from None
    fullmatch = rx.fullmatch
    if capture:
        return fullmatch

    def match(name: str) -> bool:
        try:
            return fullmatch(name) is not None
        except UnicodeEncodeError:  # a lone surrogate: RE2 reads UTF-8, so it is matched as one '?' character
            return fullmatch(name.encode("utf-8", "replace").decode("utf-8")) is not None
    return match


@functools.lru_cache(maxsize=4096)
def compile_cached(pattern: str) -> Pattern:
    """Compile one pattern (cached: a pattern string is compiled once); raise ValueError when invalid."""
    if pattern.startswith("re:"):
        body = pattern[3:]
        if not body:
            raise ValueError("the regular expression after 're:' is empty")
        match = _linear_regex(body)  # validates first: a bad regex is a ValueError naming why
        groups = tuple(re.compile(body).groupindex)
        if groups:
            return Pattern(pattern, match, _regex_prefix(body), "", groups, _capturer(body))
        return Pattern(pattern, match, _regex_prefix(body), "")
    prefix, suffix, wild = _check_glob(pattern)
    if not wild:  # no wildcard: exactly one name
        return Pattern(pattern, functools.partial(operator.eq, pattern), pattern, pattern)
    groups = tuple(m.group(1) for m in _CAPTURE.finditer(pattern))
    if groups:
        body = _glob_regex(pattern)
        return Pattern(pattern, _linear_regex(body), prefix, suffix, groups, _capturer(body))
    import fnmatch

    return Pattern(pattern, _fullmatcher(re.compile(fnmatch.translate(pattern))), prefix, suffix)


def _glob_regex(pattern: str) -> str:
    """The regular expression of a glob with ``{name}`` captures (each one dotted part: ``[^.]+``)."""
    out, seen, i, n = [], set(), 0, len(pattern)
    while i < n:
        c = pattern[i]
        m = _CAPTURE.match(pattern, i) if c == "{" else None
        if m:
            if m.group(1) in seen:
                raise ValueError(f"capture {{{m.group(1)}}} appears twice; give each capture its own name")
            seen.add(m.group(1))
            out.append(f"(?P<{m.group(1)}>[^.]+)")
            i = m.end()
        elif c == "*":
            out.append(".*")
            i += 1
        elif c == "?":
            out.append(".")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2 + (pattern[i + 1:i + 2] == "!"))  # a class is never empty: its first "]" is literal
            body = pattern[i + 1:end]
            neg = body.startswith("!")
            body = body[1:] if neg else body
            out.append("[" + ("^" if neg else "") + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _fullmatcher(rx: re.Pattern) -> Callable[[str], bool]:
    fullmatch = rx.fullmatch
    return lambda name: fullmatch(name) is not None


def checked_pattern(pattern: Any, where: str = "") -> Pattern:
    """A compiled pattern, or RuleError naming ``where`` (e.g. "rule 3") and the pattern."""
    lead = f"{where}: " if where else ""
    if not isinstance(pattern, str) or not pattern:
        raise RuleError(f"{lead}a pattern must be a non-empty string such as '*.weight' or 're:.*\\.bias', "
                        f"got {pattern!r}")
    shown = repr(pattern) if len(pattern) <= 200 else f"{pattern[:200]!r}... ({len(pattern)} characters)"
    try:
        pattern.encode("utf-8")  # a lone surrogate matches no valid name and cannot be written to a file
    except UnicodeEncodeError as exc:
        raise RuleError(f"{lead}pattern {shown} is invalid: {exc.reason} at position {exc.start}; write the "
                        f"character as a valid one (names are UTF-8 text)") from None
    try:
        return compile_cached(pattern)
    except RecursionError:  # Python's re parser recurses once per nesting level
        raise RuleError(f"{lead}pattern {shown} is invalid: it is nested too deeply; simplify it") from None
    except ValueError as exc:
        raise RuleError(f"{lead}pattern {shown} is invalid: {exc}") from None


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """A matcher for a glob over the full name (case-sensitive) or a ``re:`` full-match regex."""
    return checked_pattern(pattern).match


class PatternIndex:
    """First-match lookup over many rules: only rules whose literal prefix and suffix a name carries are tried."""

    def __init__(self, patterns: Sequence[Pattern]):
        by_len: dict[int, dict[str, list[int]]] = {}
        for k, p in enumerate(patterns):
            by_len.setdefault(len(p.prefix), {}).setdefault(p.prefix, []).append(k)
        self._tables = sorted(by_len.items())
        self._prefix = [p.prefix for p in patterns]
        self._suffix = [p.suffix for p in patterns]
        self._match = [p.match for p in patterns]

    def first(self, name: str) -> int:
        """Index of the first rule matching ``name``, or -1."""
        best = -1
        size, suffix, match = len(name), self._suffix, self._match
        for length, table in self._tables:
            if length > size:
                break
            hit = table.get(name[:length])
            if hit:
                for k in hit:  # ascending: the first match in a list is that list's best
                    if 0 <= best < k:
                        break
                    if name.endswith(suffix[k]) and match[k](name):
                        best = k
                        break
        return best

    def matching(self, k: int, names: "SortedNames") -> Iterator[int]:
        """Positions of the names rule ``k`` matches (only those carrying its literal prefix are tried)."""
        match, suffix = self._match[k], self._suffix[k]
        for i in names.with_prefix(self._prefix[k]):
            name = names.names[i]
            if name.endswith(suffix) and match(name):
                yield i


class SortedNames:
    """Names sorted once, so those carrying a literal prefix are found by bisection, not by trying every one."""

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        self._order = sorted(range(len(self.names)), key=self.names.__getitem__)
        self._sorted = [self.names[i] for i in self._order]

    def with_prefix(self, prefix: str) -> list[int]:
        """Positions of the names that start with ``prefix``."""
        if not prefix:
            return self._order
        def head(s: str) -> str:
            return s[:len(prefix)]
        lo = bisect.bisect_left(self._sorted, prefix, key=head)
        return self._order[lo:bisect.bisect_right(self._sorted, prefix, lo, key=head)]
