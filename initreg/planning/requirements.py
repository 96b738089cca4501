"""``requires = ["initreg-structured>=0.2"]`` in a rule file: the plugin versions its rules need, checked at load.

A requirement is PEP 508's ``name`` and version specifiers (``>=0.2,<1``), checked with ``packaging`` when it is
installed (pip brings it) and otherwise by a small parser of the same syntax for plain release numbers (``1.2.3``:
comparisons ``== != >= <= > < ~=``, ``==1.*``; no markers, extras or pre-releases). The installed version is the
distribution's metadata version (initreg's own for ``initreg``).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from ..errors import RuleError

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)\Z")
_CLAUSE = re.compile(r"\s*(===|==|!=|~=|>=|<=|>|<)\s*([0-9][0-9.]*(?:\.\*)?)\s*\Z")


MAX_REQUIRES = 100  # a rule file names the few plugins it uses


def check_requires(requires: Any, where: str) -> tuple[str, ...]:
    """The requirement strings, each met by the installed distribution; RuleError naming the one that is not."""
    if requires is None:
        return ()
    if isinstance(requires, str) or not isinstance(requires, (list, tuple)) or not all(
            isinstance(r, str) for r in requires):
        raise RuleError(f"{where}: 'requires' must be a list of requirement strings such as "
                        f"[\"initreg-structured>=0.2\"], got {requires!r}")
    if len(requires) > MAX_REQUIRES:
        raise RuleError(f"{where}: 'requires' lists {len(requires):,} requirements, over initreg's limit of "
                        f"{MAX_REQUIRES}; list the plugins the rules use")
    for text in dict.fromkeys(requires):
        name, allows = _parse(text, where)
        have = installed(name)
        if have is None:
            raise RuleError(f"{where}: requires {text!r}, but {name} is not installed; install it: "
                            f"pip install '{text}'")
        if not allows(have):
            raise RuleError(f"{where}: requires {text!r}, but {name} {have} is installed; install a matching "
                            f"version: pip install '{text}'")
    return tuple(requires)


def installed(name: str) -> str | None:
    """The installed version of distribution ``name``, or None (initreg: its own version without metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        if re.sub(r"[-_.]+", "-", name).lower() == "initreg":
            from ..version import __version__

            return __version__
        return None


def _parse(text: str, where: str) -> tuple[str, Callable[[str], bool]]:
    """(distribution name, a test of a version string) of one requirement."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging comes with pip
        return _parse_plain(text, where)
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise RuleError(f"{where}: requirement {text!r} is not valid ({str(exc).splitlines()[0]}); write e.g. "
                        f"\"initreg-structured>=0.2\"") from None
    if req.marker is not None or req.extras or req.url:
        raise RuleError(f"{where}: requirement {text!r}: only a name and version specifiers are allowed")
    return req.name, lambda v: req.specifier.contains(v, prereleases=True)


def _parse_plain(text: str, where: str) -> tuple[str, Callable[[str], bool]]:
    """The same for plain release numbers, without packaging."""
    m = _NAME.match(text)
    clauses = [] if m is None or not m.group(2).strip() else m.group(2).split(",")
    parsed = [_CLAUSE.match(c) for c in clauses]
    if m is None or not all(parsed):
        raise RuleError(f"{where}: requirement {text!r} is not valid; write e.g. \"initreg-structured>=0.2\"")
    tests = [_clause(p.group(1), p.group(2)) for p in parsed if p is not None]
    return m.group(1), lambda v: all(t(_release(v)) for t in tests)


def _release(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", re.split(r"[^0-9.]", v, maxsplit=1)[0]))


def _clause(op: str, v: str) -> Callable[[tuple[int, ...]], bool]:
    if v.endswith(".*"):
        prefix = _release(v[:-2])
        same = (lambda have: have[:len(prefix)] == prefix)
        return same if op == "==" else (lambda have: not same(have))
    want = _release(v)

    def pad(have: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        n = max(len(have), len(want))
        return have + (0,) * (n - len(have)), want + (0,) * (n - len(want))

    compare: dict[str, Callable[[Any, Any], bool]] = {
        "==": lambda a, b: a == b, "===": lambda a, b: a == b, "!=": lambda a, b: a != b, ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
        "~=": lambda a, b: a >= b and a[:len(want) - 1] == b[:len(want) - 1]}
    return lambda have: compare[op](*pad(have))
