"""Rules: choose an initializer per parameter by name (glob or ``re:`` regex, first match wins), explain it.

A glob is matched against the whole name with fnmatch semantics, case-sensitive: ``*`` matches any
run of characters *including dots* (``"*.bias"`` matches ``"features.3.bias"``), ``?`` one character,
``[...]`` / ``[!...]`` a character class. ``"re:..."`` is a regular expression that must match the
whole name. Patterns are compiled once per Rules; a name is tested only against the rules whose
literal prefix and suffix it carries.
"""

from __future__ import annotations

import difflib
import functools
import operator
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from .errors import InitregError, RuleError, ShadowedRuleWarning, UnusedRuleWarning
from .initializer import Initializer, as_initializer
from .random import check_seed

_DIGITS = re.compile(r"\d+")
_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


# --- patterns ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pattern:
    """A compiled pattern: ``match(name)``, plus the literal prefix/suffix every matching name carries."""

    text: str
    match: Callable[[str], bool] = field(repr=False, compare=False)
    prefix: str = field(repr=False, compare=False)
    suffix: str = field(repr=False, compare=False)


def _check_glob(pattern: str) -> tuple[str, str, bool]:
    """Validate a glob; return (literal prefix, literal suffix, has wildcards)."""
    tokens: list[str | None] = []  # a literal character, or None for a wildcard
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c in "*?":
            tokens.append(None)
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


@functools.lru_cache(maxsize=4096)
def _compile(pattern: str) -> Pattern:
    """Compile one pattern (cached: a pattern string is compiled once); raise ValueError when invalid."""
    if pattern.startswith("re:"):
        body = pattern[3:]
        if not body:
            raise ValueError("the regular expression after 're:' is empty")
        try:
            rx = re.compile(body)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return Pattern(pattern, _fullmatcher(rx), _regex_prefix(body), "")
    prefix, suffix, wild = _check_glob(pattern)
    if not wild:  # no wildcard: exactly one name
        return Pattern(pattern, functools.partial(operator.eq, pattern), pattern, pattern)
    import fnmatch

    return Pattern(pattern, _fullmatcher(re.compile(fnmatch.translate(pattern))), prefix, suffix)


def _fullmatcher(rx: re.Pattern) -> Callable[[str], bool]:
    fullmatch = rx.fullmatch
    return lambda name: fullmatch(name) is not None


def checked_pattern(pattern: Any, where: str = "") -> Pattern:
    """A compiled pattern, or RuleError naming ``where`` (e.g. "rule 3") and the pattern."""
    lead = f"{where}: " if where else ""
    if not isinstance(pattern, str) or not pattern:
        raise RuleError(f"{lead}a pattern must be a non-empty string such as '*.weight' or 're:.*\\.bias', "
                        f"got {pattern!r}")
    try:
        return _compile(pattern)
    except ValueError as exc:
        raise RuleError(f"{lead}pattern {pattern!r} is invalid: {exc}") from None


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """A matcher for a glob over the full name (case-sensitive) or a ``re:`` full-match regex."""
    return checked_pattern(pattern).match


class _Index:
    """First-match lookup over many rules: only rules whose literal prefix and suffix a name carries are tried."""

    def __init__(self, patterns: Sequence[Pattern]):
        by_len: dict[int, dict[str, list[int]]] = {}
        for k, p in enumerate(patterns):
            by_len.setdefault(len(p.prefix), {}).setdefault(p.prefix, []).append(k)
        self._tables = sorted(by_len.items())
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

    def matching(self, k: int, names: Iterable[str]) -> Iterator[int]:
        """Positions of the names rule ``k`` matches."""
        match, suffix = self._match[k], self._suffix[k]
        for i, name in enumerate(names):
            if name.endswith(suffix) and match(name):
                yield i


# --- rules ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """One rule: its 1-based number, its pattern, and the initializer it assigns."""

    number: int
    pattern: str
    init: Initializer

    def matches(self, name: str) -> bool:
        """Whether the pattern matches the whole name."""
        return _compile(self.pattern).match(name)

    def __str__(self) -> str:
        return f"rule {self.number} ({self.pattern})"


def _with_context(exc: Exception, prefix: str) -> Exception:
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
            from .initializer import decode
            from .registry import create

            return create(spec, **decode(dict(kwargs), create))
        return as_initializer(spec)
    except (InitregError, ValueError, TypeError, KeyError) as exc:
        raise _with_context(exc, where) from exc


class Rules:
    """Ordered (pattern, initializer) rules — first match wins — with an optional default and seed."""

    def __init__(self, rules: Iterable[Any] | Mapping[str, Any] = (), default: Any = None, seed: int | None = None):
        if isinstance(rules, Mapping):
            items: list[Any] = list(rules.items())
        elif isinstance(rules, (str, bytes)):
            raise RuleError(f"Rules takes a list of (pattern, initializer) pairs or a mapping {{pattern: initializer}}, "
                            f"got the string {rules!r}")
        else:
            items = list(rules)
        parsed: list[Rule] = []
        for number, item in enumerate(items, 1):
            if isinstance(item, Rule):
                pattern, init = item.pattern, item.init
            elif isinstance(item, (tuple, list)) and len(item) == 2:
                pattern, init = item
            else:
                raise RuleError(f"rule {number}: expected a (pattern, initializer) pair such as ('*.bias', 'zeros'), "
                                f"got {item!r}")
            checked_pattern(pattern, f"rule {number}")
            parsed.append(Rule(number, pattern, make_initializer(init, f"rule {number} ({pattern!r})")))
        self._rules = tuple(parsed)
        self._default = None if default is None else make_initializer(default, "default")
        try:
            self._seed = None if seed is None else check_seed(seed)
        except InitregError as exc:
            raise RuleError(f"Rules: {exc}") from None
        self._index = _Index([_compile(r.pattern) for r in parsed])

    # -- the sequence -------------------------------------------------------------------------------
    @property
    def default(self) -> Initializer | None:
        """The initializer for parameters no rule matches and that declare none."""
        return self._default

    @property
    def seed(self) -> int | None:
        """The seed initialize() uses when it gets none."""
        return self._seed

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules)

    def __getitem__(self, i: int) -> Rule:
        return self._rules[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rules):
            return NotImplemented
        return (self._rules == other._rules and self._default == other._default and self._seed == other._seed)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = ", ".join(f"({r.pattern!r}, {r.init!r})" for r in self._rules)
        extra = "".join(f", {k}={v!r}" for k, v in (("default", self._default), ("seed", self._seed)) if v is not None)
        return f"Rules([{body}]{extra})"

    # -- matching ------------------------------------------------------------------------------------
    def match(self, name: str) -> Rule | None:
        """The first rule whose pattern matches ``name``, or None."""
        k = self._index.first(name)
        return None if k < 0 else self._rules[k]

    def first_matches(self, names: Iterable[str]) -> list[Rule | None]:
        """For each name, the first rule matching it (or None)."""
        first, rules = self._index.first, self._rules
        return [None if k < 0 else rules[k] for k in map(first, names)]

    def check(self, names: Iterable[str]) -> "Diagnostics":
        """Which rules match none of ``names`` (unused) or only names earlier rules take (shadowed)."""
        names = list(names)
        return _diagnose(self, names, list(map(self._index.first, names)))

    # -- files (initreg.rulefile) ---------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> "Rules":
        """Read a rule file (.toml or .json); errors name the file and the rule number."""
        from .rulefile import load

        return load(path, cls)

    @classmethod
    def loads(cls, text: str, format: str = "toml", source: str = "<string>") -> "Rules":
        """Parse rule-file text (``format`` "toml" or "json"); ``source`` names it in errors."""
        from .rulefile import loads

        return loads(text, format, source, cls)

    def to_document(self) -> dict[str, Any]:
        """The rule file as plain data: {"seed", "default", "rule": [{"pattern", "init", **kwargs}, ...]}."""
        from .rulefile import to_document

        return to_document(self)

    def dumps(self, format: str = "toml") -> str:
        """The rule file text ("toml" or "json"); ``Rules.loads(rules.dumps(f), f) == rules``."""
        from .rulefile import dumps

        return dumps(self, format)


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
        level = _user_stacklevel()
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


def _user_stacklevel() -> int:
    """The stacklevel that points a warning at the first frame outside initreg."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PKG_DIR + os.sep):
        frame, level = frame.f_back, level + 1
    return level


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
    for k, rule in enumerate(rules):
        if k in used:
            continue
        by = sorted({firsts[i] for i in rules._index.matching(k, names)})
        if by:
            shadowed.append((rule, tuple(rules[j] for j in by)))
        else:
            if templates is None:
                templates = _templates(names)
            unused.append((rule, _closest(rule.pattern, templates)))
    return Diagnostics(tuple(unused), tuple(shadowed))


# --- choosing: precedence ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    """The initializer chosen for one parameter and what decided it."""

    init: Initializer
    source: str  # "explicit", "rule", "load", "declared", "default" or "global default"
    rule: Rule | None = None

    @property
    def label(self) -> str:
        """The source as recorded and printed: ``"rule 2 (*.weight)"``, ``"declared"``, ..."""
        return str(self.rule) if self.rule is not None else self.source


def _explicit_of(p: Any) -> Initializer | None:
    """The initializer a deferred ``p.initialize(init)`` call asked for explicitly and still waits to draw."""
    pending = getattr(p, "_pending", None)
    if p.state == "deferred" and pending is not None and pending[1] == "explicit":
        return pending[0]
    return None


def split_init(init: Any) -> tuple[Rules | None, Initializer | None]:
    """(rules, default) from what initialize() takes: an Initializer, a name, a Rules or a {pattern: init} mapping."""
    if init is None:
        return None, None
    if isinstance(init, Rules):
        return init, init.default
    if isinstance(init, Mapping) and not ("name" in init and isinstance(init.get("name"), str)):
        rules = Rules(init)  # a {"name": ...} mapping is an initializer spec, as initreg.create reads it
        return rules, rules.default
    return None, make_initializer(init, "init")


def seed_of(init: Any) -> int | None:
    """The seed a Rules carries (from its rule file), else None."""
    return init.seed if isinstance(init, Rules) else None


@dataclass
class Entry:
    """A parameter as rules see it: name, shape, dtype, state, and the Parameter itself when there is one."""

    name: str
    shape: tuple | None
    dtype: str
    state: str
    param: Any = None


def _declared(entry: Entry, cache: dict[str, Initializer]) -> Initializer | None:
    spec = None if entry.param is None else entry.param.init
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in cache:
            cache[spec] = make_initializer(spec, f"parameter {entry.name!r}: declared init")
        return cache[spec]
    return make_initializer(spec, f"parameter {entry.name!r}: declared init")


def choose(entries: Sequence[Entry], rules: Rules | None, default: Initializer | None,
           strict: bool, force_reinit: bool = False) -> tuple[list[Choice], Diagnostics]:
    """The choice for every entry by precedence explicit > rule > declared > default > global; diagnostics.

    "explicit" is a deferred parameter's own pending ``param.initialize(init)`` request: a later call without
    ``force_reinit`` keeps it (as it keeps an initialized parameter's values); ``force_reinit=True`` replaces it.
    A default that is a data source (``outranks_declared``, as Load) gives the names it holds source "load",
    between rule and declared; the names it lacks fall through with its own ``default`` as the default.
    """
    names = [e.name for e in entries]
    firsts = list(map(rules._index.first, names)) if rules is not None else [-1] * len(names)
    diagnostics = _diagnose(rules, names, firsts) if rules is not None else Diagnostics()
    if strict:
        diagnostics.raise_if_any()
    cache: dict[str, Initializer] = {}
    fallback: Initializer | None = None
    source = default if getattr(default, "outranks_declared", False) else None  # a data source such as Load
    held = source.names() if source is not None else frozenset()  # what it holds is loaded, above declared inits
    if source is not None:
        default = source.default  # the names it lacks: declared, else its own default, else the global default
    choices = []
    for e, k in zip(entries, firsts):
        explicit = _explicit_of(e.param) if e.param is not None and not force_reinit else None
        if explicit is not None:
            choices.append(Choice(explicit, "explicit"))
        elif k >= 0:
            rule = rules[k]  # type: ignore[index]
            choices.append(Choice(rule.init, "rule", rule))
        elif e.name in held:
            choices.append(Choice(source, "load"))  # type: ignore[arg-type]
        elif (declared := _declared(e, cache)) is not None:
            choices.append(Choice(declared, "declared"))
        elif default is not None:
            choices.append(Choice(default, "default"))
        else:
            if fallback is None:
                from .parameter import default_initializer

                fallback = default_initializer()
            choices.append(Choice(fallback, "global default"))
    return choices, diagnostics


def plan_choices(params: Any, init: Any = None, *, strict: bool = False,
                 force_reinit: bool = False) -> dict[str, tuple[Initializer, str]]:
    """For each parameter name: (initializer, source) by precedence explicit > rule > declared > default > global.

    Unused or shadowed rules warn (UnusedRuleWarning / ShadowedRuleWarning); ``strict=True`` raises RuleError
    instead, before anything is drawn.
    """
    rules, default = split_init(init)
    entries = entries_of(params)
    choices, diagnostics = choose(entries, rules, default, strict, force_reinit)
    if getattr(default, "outranks_declared", False):
        default.check_request(entries, choices)  # type: ignore[union-attr]  # Load is strict: before any draw
    diagnostics.warn()
    return {e.name: (c.init, c.label) for e, c in zip(entries, choices)}


# --- explain --------------------------------------------------------------------------------------

def entries_of(params: Any) -> list[Entry]:
    """Entries from a ParameterDict, a Block, a mapping name → Parameter/shape/spec, or a list of them."""
    from .parameter import Parameter, check_dtype, check_shape

    if hasattr(params, "collect_params") and callable(params.collect_params):
        params = params.collect_params()
    if hasattr(params, "items") and callable(params.items):
        items: Iterable[Any] = params.items()
    elif isinstance(params, (str, bytes)):
        raise RuleError(f"params must be parameters, a mapping name → shape, or a list of names/specs; got {params!r}")
    else:
        items = (_unpack(x) for x in params)
    out, seen = [], set()
    for name, v in items:
        if name in seen:
            raise RuleError(f"parameter name {name!r} appears twice; every parameter needs its own name")
        seen.add(name)
        if isinstance(v, (tuple, list)) or v is None:  # a shape: the common case of a spec list
            out.append(Entry(name, check_shape(v, name), "float32", "declared"))
        elif isinstance(v, Parameter):
            out.append(Entry(name, v.shape, str(v.dtype), v.state, v))
        elif isinstance(v, Mapping):
            dtype = str(check_dtype(v.get("dtype", "float32"), name))
            out.append(Entry(name, check_shape(v.get("shape"), name), dtype, "declared"))
        else:
            out.append(Entry(name, check_shape(v, name), "float32", "declared"))
    return out


def _unpack(x: Any) -> tuple[str, Any]:
    """(name, Parameter / shape / spec dict) from one item of a list of parameters."""
    from .parameter import Parameter

    if type(x) in (tuple, list) and len(x) == 2 and isinstance(x[0], str):  # the common (name, shape) case first
        return x[0], x[1]
    if isinstance(x, Parameter):
        return x.name, x
    if isinstance(x, str):
        return x, None
    if isinstance(x, Mapping) and isinstance(x.get("name"), str):
        return x["name"], x
    raise RuleError(f"cannot read a parameter from {x!r}; give a Parameter, a name, a (name, shape) pair or "
                    f"a {{'name': ..., 'shape': [...]}} dict")


def explain(params: Any, rules: Any = None, *, seed: int | None = None, strict: bool = False) -> Any:
    """A table (initreg.explanation.Explanation) of what initialize(rules, seed=seed) picks for each parameter, and why."""
    from .explanation import explain as _explain

    return _explain(params, rules, seed=seed, strict=strict)
