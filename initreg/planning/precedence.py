"""Precedence: the one place that decides which initializer each parameter gets, on plain entries.

Highest first: the parameter's own explicit request → the first rule whose pattern matches the name →
a data source given as the default (``Load``) for the names it holds → the initializer the parameter (its
layer, its module) declares → the default given to the call → the
global default ``Uniform(0.07)``. ``ParameterDict.initialize``, ``explain``, ``initreg init`` and every
framework adapter call :func:`choose`; nothing else decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..core.initializer import Initializer
from .rules import Diagnostics, Rule, Rules
from ..plugins.specs import make_initializer

SOURCES = ("explicit", "rule", "load", "declared", "default", "global default")


@dataclass(frozen=True)
class Entry:
    """A parameter as the planner sees it: name, shape, dtype, layout, and its declared and explicit initializers."""

    name: str
    shape: tuple | None = None
    dtype: Any = "float32"  # a dtype name or a NumPy dtype
    layout: str = "OI"
    declared: Any = None  # an Initializer or a spec, from the layer or module that owns the parameter
    explicit: Initializer | None = None  # wins over every rule (a parameter's own pending initialize(init))
    state: str = "declared"


@dataclass(frozen=True)
class Choice:
    """The initializer chosen for one parameter and what decided it."""

    init: Initializer
    source: str  # one of SOURCES
    rule: Rule | None = None

    @property
    def label(self) -> str:
        """The source as recorded and printed: ``"rule 2 (*.weight)"``, ``"declared"``, ..."""
        return str(self.rule) if self.rule is not None else self.source


def default_initializer() -> Initializer:
    """The global default, Uniform(scale=0.07), used when nothing else chooses."""
    return make_initializer("initreg:uniform", "the global default", {"scale": 0.07})


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


def _declared(entry: Entry, cache: dict[str, Initializer]) -> Initializer | None:
    spec = entry.declared
    if spec is None or isinstance(spec, Initializer):
        return spec
    if isinstance(spec, str):
        if spec not in cache:
            cache[spec] = make_initializer(spec, f"parameter {entry.name!r}: declared init")
        return cache[spec]
    return make_initializer(spec, f"parameter {entry.name!r}: declared init")


def choose(entries: Sequence[Entry], rules: Rules | None, default: Initializer | None,
           strict: bool = False) -> tuple[list[Choice], Diagnostics]:
    """The choice for every entry by precedence explicit > rule > declared > default > global; diagnostics.

    ``strict=True`` raises RuleError for an unused or shadowed rule before anything is chosen. A default that is
    a data source (``outranks_declared``, as Load) gives the names it holds source "load", between rule and
    declared; the names it lacks fall through as usual, with the source's own ``default`` as the default, and
    its ``check_request`` refuses names it lacks or holds in excess (unless allowed) before anything is drawn.
    """
    names = [e.name for e in entries]
    firsts = rules.first_indices(names) if rules is not None else [-1] * len(names)
    diagnostics = rules.check(names, firsts) if rules is not None else Diagnostics()
    if strict:
        diagnostics.raise_if_any()
    cache: dict[str, Initializer] = {}
    fallback: Initializer | None = None
    source = default if getattr(default, "outranks_declared", False) else None  # a data source such as Load
    held = source.names() if source is not None else frozenset()  # what it holds is loaded, above declared inits
    if source is not None:
        default = source.default
    choices = []
    for e, k in zip(entries, firsts):
        if e.explicit is not None:
            choices.append(Choice(e.explicit, "explicit"))
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
                fallback = default_initializer()
            choices.append(Choice(fallback, "global default"))
    if source is not None:
        source.check_request(entries, choices)  # a data source is strict: missing, extra, misfit names, before any draw
    return choices, diagnostics
