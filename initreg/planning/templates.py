"""Rule targets: an initializer, "keep", or a template whose arguments are expressions evaluated per parameter.

A template is an initializer name, its fixed arguments and its expression arguments. ``resolve`` evaluates the
expressions over one parameter's variables (pattern captures, rule-file and caller ``vars``, ``shape``,
``fan_in``, ``fan_out`` and the muP base-shape variables) and builds the initializer, once per distinct value.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..errors import RuleError
from ..core.fans import try_fans
from ..core.initializer import Initializer
from ..plugins.specs import make_initializer
from .expressions import Expr, Expression, as_expression_arg, parse
from .patterns import compile_cached

KEEP = "keep"
#: what every expression may read about its parameter; variables and captures may not take these names
PARAMETER_VARIABLES = ("shape", "fan_in", "fan_out", "groups", "base_fan_in", "base_fan_out", "width_mult", "ninf")


def is_keep(init: Any) -> bool:
    """Whether a rule target is ``"keep"`` (leave the parameter's values as they are)."""
    return isinstance(init, str) and init.strip().lower() == KEEP


def split_spec(init: Any) -> tuple[Any, dict[str, Any]] | None:
    """(name, arguments) of a spec holding an expression argument ({"name", ...} or [name, {...}]), else None."""
    if isinstance(init, Mapping) and isinstance(init.get("name"), str):
        name, args = init["name"], {k: v for k, v in init.items() if k != "name"}
    elif isinstance(init, (tuple, list)) and len(init) == 2 and isinstance(init[0], str) and isinstance(init[1], Mapping):
        name, args = init[0], dict(init[1])
    else:
        return None
    return (name, args) if any(as_expression_arg(v) is not None for v in args.values()) else None


@dataclass(frozen=True, eq=False)
class Template:
    """An initializer name with fixed and expression arguments; ``resolve(variables)`` builds the initializer."""

    spec: str
    fixed: Mapping[str, Any]
    exprs: Mapping[str, Expression]
    where: str = field(default="", compare=False)
    vet: Callable[[Initializer, str], None] | None = field(default=None, compare=False, repr=False)  # files it reads
    _made: dict = field(default_factory=dict, repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Template):
            return NotImplemented
        return (self.spec, dict(self.fixed), self.texts) == (other.spec, dict(other.fixed), other.texts)

    __hash__ = None  # type: ignore[assignment]

    @property
    def texts(self) -> dict[str, str]:
        """Each expression argument's text."""
        return {k: e.text for k, e in self.exprs.items()}

    @property
    def names(self) -> frozenset[str]:
        """Every variable the expressions read."""
        return frozenset().union(*(e.names for e in self.exprs.values()))

    def arguments(self) -> dict[str, Any]:
        """The arguments as a rule file writes them: fixed values, and {"expr": text} for expressions."""
        return {**self.fixed, **{k: {"expr": e.text} for k, e in self.exprs.items()}}

    def resolve(self, variables: Mapping[str, Any], where: str) -> tuple[Initializer, dict[str, Any]]:
        """(the initializer, each expression's value) for one parameter's variables; RuleError naming ``where``."""
        values = {k: e.evaluate(variables, where) for k, e in self.exprs.items()}
        key = tuple((k, type(v), v) for k, v in values.items())
        with self._lock:
            made = self._made.get(key)
        if made is None:
            made = make_initializer(self.spec, where, {**self.fixed, **values})
            if self.vet is not None:
                self.vet(made, where)
            with self._lock:
                if len(self._made) < 100_000:  # a model has few distinct values; a bound keeps memory flat anyway
                    self._made[key] = made
        return made, values

    def __repr__(self) -> str:
        args = ", ".join([f"{k}={v!r}" for k, v in self.fixed.items()] + [f"{k}={Expr(e.text)!r}" for k, e in self.exprs.items()])
        return f"{self.spec}({args})"


def make_template(name: Any, args: Mapping[str, Any], where: str, captures: tuple[str, ...],
                  known: frozenset[str] | None) -> Template:
    """A checked Template; RuleError (naming ``where``) for a bad expression, argument name or unknown variable.

    ``known``: the variables a rule file declares; when given, a name that is neither one of them, a capture nor a
    parameter variable is an error now rather than when the rule is applied.
    """
    fixed = {k: v for k, v in args.items() if as_expression_arg(v) is None}
    exprs = {k: parse(as_expression_arg(v), f"{where}, argument {k!r}") for k, v in args.items() if k not in fixed}
    if not isinstance(name, str):
        raise RuleError(f"{where}: an initializer with expression arguments is named by a string such as 'normal', "
                        f"got {name!r}")
    _check_arguments(name, list(args), where)
    for k, e in exprs.items():
        unknown = sorted(n for n in e.names if n not in captures and n not in PARAMETER_VARIABLES
                         and (known is None or n not in known))
        if known is not None and unknown:
            raise RuleError(f"{where}, argument {k!r}: expression {e.text!r} uses unknown variable(s) "
                            f"{', '.join(map(repr, unknown))}; declare it in the rule file's [vars] table, capture it "
                            f"in the pattern ({{name}} or (?P<name>...)), or use one of {', '.join(PARAMETER_VARIABLES)}")
    return Template(name, fixed, exprs, where)


def _check_arguments(name: str, arg_names: list[str], where: str) -> None:
    """Refuse an argument the initializer does not take, now (not at the first matching parameter)."""
    from ..plugins.registry import lookup

    try:
        cls = lookup(name).cls
    except Exception as exc:
        raise RuleError(f"{where}: {exc}") from None
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):  # pragma: no cover - a signature Python cannot read: the constructor judges
        return
    params = [p.name for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    wrong = [a for a in arg_names if a not in params]
    if wrong:
        from ..errors import did_you_mean

        raise RuleError(f"{where}: initializer {name!r} ({cls.__name__}) takes no argument "
                        f"{', '.join(map(repr, wrong))}; it accepts {', '.join(params) or 'no arguments'}"
                        f"{did_you_mean(wrong[0], params, n=1)}")


def parameter_variables(shape: Any, layout: str, base_shape: Any = None, groups: int | None = None) -> dict[str, Any]:
    """``shape``, ``fan_in``, ``fan_out`` of a parameter, a convolution's ``groups``, with a base shape the muP ones."""
    shape = None if shape is None else tuple(shape)
    fan_in, fan_out = try_fans(shape, layout)
    out: dict[str, Any] = {"shape": shape}
    if fan_in is not None:
        out["fan_in"], out["fan_out"] = fan_in, fan_out
    if groups is not None:
        out["groups"] = groups
    if base_shape is not None and shape is not None and None not in shape:
        from .base_shapes import mup_variables

        out.update(mup_variables(shape, base_shape, layout))
    return out


def capture_values(captures: Mapping[str, str]) -> dict[str, Any]:
    """Captured name parts as variables: an integer where the part is digits (a layer index), else the text."""
    return {k: int(v) if v.isascii() and v.isdigit() and len(v) <= 100 else v for k, v in captures.items()}


@dataclass(frozen=True)
class Rule:
    """One rule: its 1-based number, its pattern, and what it assigns.

    ``init`` is the initializer; None when the rule keeps the parameter (target ``"keep"``) or when its
    arguments are expressions, evaluated per parameter from ``template``.
    """

    number: int
    pattern: str
    init: Initializer | None
    template: Template | None = None
    optional: bool = False  # a rule for a variant of the model family: matching nothing is no problem

    @property
    def keep(self) -> bool:
        """Whether the rule's target is "keep": matching parameters keep their values."""
        return self.init is None and self.template is None

    @property
    def target(self) -> Any:
        """What the rule assigns: the initializer, the template, or "keep"."""
        return KEEP if self.keep else (self.template if self.init is None else self.init)

    def matches(self, name: str) -> bool:
        """Whether the pattern matches the whole name."""
        return compile_cached(self.pattern).match(name)

    def captures(self, name: str) -> dict[str, str]:
        """The pattern's named captures in a matching name."""
        return compile_cached(self.pattern).captures(name)

    def __str__(self) -> str:
        return f"rule {self.number} ({self.pattern})"


def make_rule(number: int, pattern: str, init: Any, captures: tuple[str, ...], where: str,
              known: frozenset[str] | None, args: Mapping[str, Any] | None = None) -> Rule:
    """A Rule for ``init`` ("keep", an initializer, or a spec whose arguments hold expressions), checked now."""
    if is_keep(init) and not args:
        return Rule(number, pattern, None)
    if isinstance(init, Template):
        return Rule(number, pattern, None, init)
    clash = [c for c in captures if c in PARAMETER_VARIABLES]
    if clash:
        raise RuleError(f"{where}: capture {{{clash[0]}}} has the name of a parameter variable; rename it "
                        f"(captures may not be called {', '.join(PARAMETER_VARIABLES)})")
    spec = (init, dict(args)) if args else init
    parts = split_spec(spec)
    if parts is not None:
        return Rule(number, pattern, None, make_template(parts[0], parts[1], where, captures, known))
    return Rule(number, pattern, make_initializer(init, where, args))


def check_vars(values: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """Variables for expressions: identifiers → numbers, none named like a parameter variable; else RuleError."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise RuleError(f"{where} must be a mapping name → number such as {{'n_layers': 32}}, got {values!r}")
    out = {}
    for k, v in values.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise RuleError(f"{where}: variable name {k!r} is not an identifier; use letters, digits and '_'")
        if k in PARAMETER_VARIABLES:
            raise RuleError(f"{where}: {k!r} is computed from each parameter and cannot be set; rename the variable")
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise RuleError(f"{where}: variable {k!r} must be a number, got {v!r}")
        out[k] = v
    return out
