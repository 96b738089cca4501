"""Rules: ordered (pattern, initializer) pairs, first match wins; their diagnostics (unused, shadowed rules).

Patterns are those of initreg.planning.patterns; they are compiled once per Rules and indexed by literal prefix
and suffix. Rules know names only: which parameter gets what is decided in initreg.planning.precedence.
"""

from __future__ import annotations

import dataclasses

import difflib
import os
import re
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..errors import (InitregError, RuleError, RuleTypeError, ShadowedRuleWarning, UnusedRuleWarning, clipped,
                      did_you_mean, user_stacklevel)
from ..core.initializer import Initializer
from .patterns import PatternIndex, SortedNames, checked_pattern, compile_cached, compile_pattern  # noqa: F401 - re-exported
from .templates import KEEP, Rule, check_vars, make_rule  # noqa: F401 - Rule, KEEP re-exported
from ..core.stream import check_seed
from ..plugins.specs import make_initializer

_DIGITS = re.compile(r"\d+")


# --- rules ------------------------------------------------------------------------------------------

class Rules:
    """Ordered (pattern, initializer) rules — first match wins — with an optional default and seed."""

    def __init__(self, rules: Iterable[Any] | Mapping[str, Any] = (), default: Any = None, seed: int | None = None,
                 vars: Mapping[str, Any] | None = None, base_shapes: Any = None, about: Mapping[str, str] | None = None,
                 requires: Sequence[str] | None = None):
        from .requirements import check_requires

        self._requires = check_requires(requires, "Rules")
        self._vars = check_vars(vars, "Rules: vars")
        self._about = check_about(about)
        from .base_shapes import check_base_shapes

        self._base_shapes = None if base_shapes is None else check_base_shapes(base_shapes, "Rules")
        if isinstance(rules, Mapping):
            items: list[Any] = list(rules.items())
        elif isinstance(rules, (str, bytes)) or not isinstance(rules, Iterable):
            raise RuleTypeError(f"Rules takes a list of (pattern, initializer) pairs or a mapping {{pattern: "
                                f"initializer}}, got {'the string ' if isinstance(rules, (str, bytes)) else ''}{clipped(rules)}")
        else:
            items = list(rules)
        parsed: list[Rule] = []
        for number, item in enumerate(items, 1):
            optional = False
            if isinstance(item, Rule):
                pattern, init, optional = item.pattern, item.target, item.optional
            elif isinstance(item, (tuple, list)) and len(item) == 2:
                pattern, init = item
            else:
                raise RuleError(f"rule {number}: expected a (pattern, initializer) pair such as ('*.bias', 'zeros'), "
                                f"got {item!r}")
            compiled = checked_pattern(pattern, f"rule {number}")
            rule = make_rule(number, pattern, init, compiled.groups, f"rule {number} ({pattern!r})",
                             None if vars is None else frozenset(self._vars))
            parsed.append(dataclasses.replace(rule, optional=True) if optional else rule)
        self._rules = tuple(parsed)
        self._default = None if default is None else make_initializer(default, "default")
        try:
            self._seed = None if seed is None else check_seed(seed)
        except InitregError as exc:
            raise RuleError(f"Rules: {exc}") from None
        self._index = PatternIndex([compile_cached(r.pattern) for r in parsed])

    # -- the sequence -------------------------------------------------------------------------------
    @property
    def default(self) -> Initializer | None:
        """The initializer for parameters no rule matches and that declare none."""
        return self._default

    @property
    def seed(self) -> int | None:
        """The seed initialize() uses when it gets none."""
        return self._seed

    @property
    def vars(self) -> dict[str, Any]:
        """The variables expressions read (a rule file's [vars]); a caller's vars= overrides them."""
        return dict(self._vars)

    @property
    def about(self) -> dict[str, str]:
        """Where the rules come from (a recipe's library, version and source), as a rule file's [about] says."""
        return dict(self._about)

    @property
    def base_shapes(self) -> dict[str, tuple] | None:
        """muP base shapes (name → shape, None for a dimension that does not scale), or None."""
        return None if self._base_shapes is None else dict(self._base_shapes)

    @property
    def requires(self) -> tuple[str, ...]:
        """The plugin versions the rules need (``requires = ["initreg-structured>=0.2"]``), checked when made."""
        return self._requires

    def replace(self, **changes: Any) -> "Rules":
        """A copy, the rules kept, with ``default``, ``seed``, ``vars``, ``base_shapes``, ``about`` or ``requires`` new."""
        kwargs = {"default": self._default, "seed": self._seed, "vars": self._vars or None,
                  "base_shapes": self._base_shapes, "about": self._about or None, "requires": self._requires or None}
        unknown = sorted(set(changes) - set(kwargs))
        if unknown:
            raise RuleTypeError(f"Rules.replace() takes {', '.join(kwargs)}, not {unknown[0]!r}"
                                f"{did_you_mean(unknown[0], list(kwargs))}")
        kwargs.update(changes)
        return Rules(list(self._rules), **kwargs)

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules)

    def __getitem__(self, i: int) -> Rule:
        return self._rules[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rules):
            return NotImplemented
        return (self._rules == other._rules and self._default == other._default and self._seed == other._seed
                and self._vars == other._vars and self._base_shapes == other._base_shapes and self._about == other._about
                and self._requires == other._requires)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = ", ".join(f"({r.pattern!r}, {r.target!r})" for r in self._rules)
        extra = "".join(f", {k}={v!r}" for k, v in (("default", self._default), ("seed", self._seed),
                                                     ("vars", self._vars or None)) if v is not None)
        return f"Rules([{body}]{extra})"

    # -- matching ------------------------------------------------------------------------------------
    def match(self, name: str) -> Rule | None:
        """The first rule whose pattern matches ``name``, or None."""
        k = self._index.first(_checked_name(name))
        return None if k < 0 else self._rules[k]

    def first_matches(self, names: Iterable[str]) -> list[Rule | None]:
        """For each name, the first rule matching it (or None)."""
        rules = self._rules
        return [None if k < 0 else rules[k] for k in self.first_indices(names)]

    def first_indices(self, names: Iterable[str]) -> list[int]:
        """For each name, the 0-based position of the first rule matching it, or -1."""
        return list(map(self._index.first, _checked_names(names)))

    def check(self, names: Iterable[str], firsts: Sequence[int] | None = None) -> "Diagnostics":
        """Which rules match none of ``names`` (unused) or only names earlier rules take (shadowed)."""
        names = _checked_names(names)
        return _diagnose(self, names, self.first_indices(names) if firsts is None else firsts)

    # -- files (initreg.planning.rulefile) ---------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "Rules":
        """Read a rule file (.toml or .json); errors name the file and the rule number."""
        from .rulefile import load

        return load(path, cls)

    @classmethod
    def loads(cls, text: str, format: str = "toml", source: str = "<string>",
              root: str | os.PathLike | None = None) -> "Rules":
        """Parse rule-file text (``format`` "toml" or "json"); ``source`` names it in errors; with ``root``, the files
        it reads are taken inside that folder, as :meth:`load` takes them inside the rule file's."""
        from .rulefile import loads

        return loads(text, format, source, cls, root)

    def to_document(self) -> dict[str, Any]:
        """The rule file as plain data: its top-level keys that are set, and "rule": [{"pattern", "init", **kwargs}]."""
        from .rulefile import to_document

        return to_document(self)

    def dumps(self, format: str = "toml") -> str:
        """The rule file text ("toml" or "json"); ``Rules.loads(rules.dumps(f), f) == rules``."""
        from .rulefile import dumps

        return dumps(self, format)


def _checked_names(names: Any) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise RuleTypeError(f"names must be a list of parameter names, got {clipped(names)}")
    return [_checked_name(n) for n in names]


def _checked_name(name: Any) -> str:
    if not isinstance(name, str):
        raise RuleTypeError(f"a parameter name is a str such as 'encoder.0.weight', got {clipped(name)}")
    return name


def check_about(about: Mapping[str, str] | None) -> dict[str, str]:
    """A rule file's [about] table: text fields only; RuleError otherwise."""
    if about is None:
        return {}
    if not isinstance(about, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in about.items()):
        raise RuleError(f"about must be a table of text fields such as {{library = \"transformers\"}}, got {about!r}")
    return dict(about)


# --- diagnostics ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Diagnostics:
    """Rules that match no name (with the closest names) and rules whose every match an earlier rule takes."""

    unused: tuple[tuple[Rule, tuple[str, ...]], ...] = ()
    shadowed: tuple[tuple[Rule, tuple[Rule, ...]], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.unused or self.shadowed)

    def messages(self) -> list[str]:
        """One sentence per problem, in rule order."""
        found = [(r.number, _unused_message(r, close)) for r, close in self.unused]
        found += [(r.number, _shadowed_message(r, by)) for r, by in self.shadowed]
        return [m for _, m in sorted(found)]

    def warn(self) -> None:
        """Emit UnusedRuleWarning / ShadowedRuleWarning for each problem."""
        level = user_stacklevel()
        for r, close in self.unused:
            warnings.warn(_unused_message(r, close), UnusedRuleWarning, stacklevel=level)
        for r, by in self.shadowed:
            warnings.warn(_shadowed_message(r, by), ShadowedRuleWarning, stacklevel=level)

    def raise_if_any(self) -> None:
        """Raise RuleError listing every problem (strict mode)."""
        if self:
            msgs = self.messages()
            raise RuleError(f"{len(msgs)} rule problem(s) (strict=True; nothing was changed): " + "; ".join(msgs))


def _unused_message(rule: Rule, close: Sequence[str]) -> str:
    hint = f"closest names: {', '.join(map(repr, close))}" if close else "no parameter name is close"
    return f"{rule} matches no parameter; {hint}. Fix the pattern or remove the rule"


def _shadowed_message(rule: Rule, by: Sequence[Rule]) -> str:
    return (f"{rule} is shadowed: every parameter it matches is taken by {', '.join(map(str, by))} "
            f"(first match wins); move it above them or remove it")




def _templates(names: Iterable[str]) -> dict[str, str]:
    """Names with digit runs as '#' → the first name of that form (so a 1000-layer model is a few templates)."""
    templates: dict[str, str] = {}
    for name in names:
        templates.setdefault(_DIGITS.sub("#", name), name)
    return templates


def _closest(pattern: str, templates: Mapping[str, str], n: int = 3, cutoff: float = 0.6) -> tuple[str, ...]:
    """Up to ``n`` parameter names closest to a pattern."""
    core = _DIGITS.sub("#", pattern[3:] if pattern.startswith("re:") else pattern)
    lead, trail = core.startswith("*"), core.endswith("*")
    core = core.strip("*") or core
    sm = difflib.SequenceMatcher()
    sm.set_seq2(core)
    scored = []
    for template, name in templates.items():
        parts = [template]
        if lead:
            parts.append(template[-len(core):])
        if trail:
            parts.append(template[:len(core)])
        best = 0.0
        for part in parts:
            sm.set_seq1(part)
            if sm.real_quick_ratio() >= cutoff and sm.quick_ratio() >= cutoff:
                best = max(best, sm.ratio())
        if best >= cutoff:
            scored.append((-best, name))
    return tuple(name for _, name in sorted(scored)[:n])


def _diagnose(rules: Rules, names: Sequence[str], firsts: Sequence[int]) -> Diagnostics:
    used = set(firsts)
    unused, shadowed = [], []
    templates: dict[str, str] | None = None
    table: SortedNames | None = None
    for k, rule in enumerate(rules):
        if k in used:
            continue
        table = table or SortedNames(names)
        by = sorted({firsts[i] for i in rules._index.matching(k, table)})
        if by:
            shadowed.append((rule, tuple(rules[j] for j in by)))
        elif not rule.optional:
            if templates is None:
                templates = _templates(names)
            unused.append((rule, _closest(rule.pattern, templates)))
    return Diagnostics(tuple(unused), tuple(shadowed))
