"""Precedence: the one place that decides which initializer each parameter gets, on plain entries.

Highest first: the parameter's own explicit request → the first rule whose pattern matches the name →
a data source given as the default (``Load``) for the names it holds → the initializer the parameter (its
layer, its module) declares → the default given to the call → the
global default ``Uniform(0.07)``. ``ParameterDict.initialize``, ``explain``, ``initreg init`` and every
framework adapter call :func:`choose`; nothing else decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from ..core.initializer import Initializer
from ..errors import RuleError, did_you_mean
from .name_maps import map_names, name_map_reads
from .patterns import checked_pattern
from .rules import Diagnostics, Rule, Rules, check_vars
from .templates import PARAMETER_VARIABLES, capture_values, is_keep, parameter_variables
from ..plugins.specs import make_initializer

EMPTY: Mapping[str, Any] = MappingProxyType({})  # one shared empty mapping: most choices have no expressions
SOURCES = ("keep", "explicit", "rule", "load", "declared", "default", "global default")


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
    groups: int | None = None  # the owning convolution's groups (initreg.torch), for expressions


@dataclass(frozen=True)
class Choice:
    """The initializer chosen for one parameter and what decided it (init None: "keep", leave the values)."""

    init: Initializer | None
    source: str  # one of SOURCES
    rule: Rule | None = None
    exprs: Mapping[str, str] | None = None  # argument → expression text, for a rule with expressions
    values: Mapping[str, Any] | None = None  # argument → the expression's value for this parameter
    variables: Mapping[str, Any] | None = None  # the variables the expressions read, with their values

    @property
    def label(self) -> str:
        """The source as recorded and printed: ``"rule 2 (*.weight)"``, ``"declared"``, ..."""
        if self.source == "keep":
            return f"keep ({self.rule})" if self.rule is not None else "keep (outside only=)"
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
    if isinstance(init, str) and init.startswith("recipe:"):
        from .recipe_files import load_recipe

        rules = load_recipe(init[len("recipe:"):])
        return rules, rules.default
    if is_keep(init):
        raise RuleError("init='keep' keeps every parameter; give only= (the parameters that may change) with rules "
                        "or an initializer instead, or a rule ('pattern', 'keep') for the ones to keep")
    return None, make_initializer(init, "init")


def seed_of(init: Any) -> int | None:
    """The seed a Rules carries (from its rule file or recipe), else None."""
    if isinstance(init, str) and init.startswith("recipe:"):
        return split_init(init)[0].seed  # type: ignore[union-attr]
    return init.seed if isinstance(init, Rules) else None


def only_mask(names: Sequence[str], only: Any) -> list[bool] | None:
    """For each name, whether ``only`` (a pattern or a list of patterns) lets it change; None for no ``only``.

    RuleError for a bad pattern, or when no name matches (nothing would change: most likely a typo).
    """
    if only is None:
        return None
    patterns = [only] if isinstance(only, str) else list(only) if isinstance(only, (list, tuple)) else None
    if not patterns:
        raise RuleError(f"only= must be a pattern such as 'head.*' or a non-empty list of patterns, got {only!r}")
    matchers = [checked_pattern(p, f"only= pattern {p!r}").match for p in patterns]
    mask = [any(m(n) for m in matchers) for n in names]
    if names and not any(mask):
        from ..errors import did_you_mean

        raise RuleError(f"only={only!r} matches no parameter, so nothing would change (nothing was changed)"
                        f"{did_you_mean(patterns[0], list(names))}; patterns are globs over the whole name "
                        f"('head.*') or 're:' regular expressions")
    return mask


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
           strict: bool = False, *, vars: Mapping[str, Any] | None = None,
           inside: Sequence[bool] | None = None) -> tuple[list[Choice], Diagnostics]:
    """Each entry's choice by precedence keep > explicit > rule > load > declared > default > global; diagnostics.

    ``strict=True`` raises RuleError for an unused or shadowed rule before anything is chosen. A default that is
    a data source (``outranks_declared``, as Load) gives the names it holds source "load", between rule and
    declared; the names it lacks fall through as usual, with the source's own ``default`` as the default, and
    its ``check_request`` refuses names it lacks or holds in excess (unless allowed) before anything is drawn.
    ``vars`` are the caller's variables for rule expressions (over the rules' own); an entry whose ``inside`` is
    False (outside ``only=``) and one a "keep" rule matches get ``Choice(None, "keep")``: nothing is drawn for them.
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
    variables = {**(rules.vars if rules is not None else {}), **check_vars(vars, "vars=")}
    base_shapes = rules.base_shapes if rules is not None else None
    choices = []
    for i, (e, k) in enumerate(zip(entries, firsts)):
        if inside is not None and not inside[i]:
            choices.append(Choice(None, "keep"))
        elif e.explicit is not None:
            choices.append(Choice(e.explicit, "explicit"))
        elif k >= 0:
            rule = rules[k]  # type: ignore[index]
            if rule.keep:
                choices.append(Choice(None, "keep", rule))
            elif rule.template is not None:
                choices.append(_resolved(rule, e, variables, base_shapes))
            else:
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


def _resolved(rule: Rule, entry: Entry, variables: Mapping[str, Any], base_shapes: Mapping[str, tuple] | None) -> Choice:
    """The Choice of a rule whose arguments are expressions, evaluated for one entry."""
    template = rule.template
    assert template is not None
    where = f"{rule}, parameter {entry.name!r}"
    own = parameter_variables(entry.shape, entry.layout, None if base_shapes is None else base_shapes.get(entry.name),
                              entry.groups)
    env = {**own, **variables, **capture_values(rule.captures(entry.name))}
    missing = [n for n in template.names if n not in env and n in PARAMETER_VARIABLES]
    if missing:
        why = (f"{entry.name!r} is not a parameter of a PyTorch convolution (initreg.torch gives a Conv*d's weight "
               f"and bias its groups)" if missing[0] == "groups" else
               "its shape is not known yet; give the full shape (in_units=, in_channels=) or write the argument "
               "without shape variables" if entry.shape is None or None in entry.shape else
               f"no base shape for {entry.name!r}: give base_shapes with an entry for it" if missing[0].startswith(
                   ("base_", "width")) else f"{missing[0]} needs at least 2 dimensions, the shape is {entry.shape}")
        raise RuleError(f"{where}: {', '.join(map(repr, missing))} cannot be computed: {why}")
    init, values = template.resolve(env, where)
    return Choice(init, "rule", rule, template.texts, values, {n: env[n] for n in sorted(template.names)})


def applied_rules(init: Any, vars: Mapping[str, Any] | None = None) -> Rules | None:
    """The Rules a call applies (a recipe read, a mapping made Rules) with the caller's ``vars`` merged over its own.

    What a checkpoint's provenance should record: its ``to_document()`` holds the expressions and every value
    they read, so the file can be recomputed from it alone. None when ``init`` is a plain initializer.
    """
    rules, _ = split_init(init)
    if rules is None:
        return None
    given = caller_vars(rules, vars)
    return rules.replace(vars={**rules.vars, **given}) if given else rules


def keyed(names: Sequence[str], rules: Rules | None, vars: Mapping[str, Any] | None,
          name_map: Any) -> tuple[dict[str, Any], list[str]]:
    """(the caller's ``vars=``, checked against what the rules and the name map read; the name each of ``names`` is
    drawn under, through ``name_map``)."""
    given = caller_vars(rules, vars, name_map_reads(name_map))
    return given, map_names(names, name_map, {**(rules.vars if rules is not None else {}), **given})


def caller_vars(rules: Rules | None, vars: Mapping[str, Any] | None,
                also: frozenset[str] | None = frozenset()) -> dict[str, Any]:
    """The caller's ``vars=``, checked; RuleError for one that neither the rules nor ``also`` (a name map's
    variables; None: any) read or declare: a misspelling would silently leave a recipe's default in place."""
    given = check_vars(vars, "vars=")
    if rules is None or not given or also is None:
        return given
    known = set(rules.vars).union(also, *(rule.template.names for rule in rules if rule.template is not None))
    unknown = sorted(set(given) - known)
    if unknown:
        shown = ", ".join(map(repr, sorted(known))) or "none"
        raise RuleError(f"vars=: {unknown[0]!r} is not a variable of these rules (no expression reads it and their "
                        f"[vars] do not declare it){did_you_mean(unknown[0], sorted(known))}; their variables: {shown}")
    return given
