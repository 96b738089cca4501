"""The rule options ``explain``, ``init`` and ``check`` share: ``--recipe NAME``, ``--var NAME=VALUE``, ``--only PATTERN``."""

from __future__ import annotations

import argparse
import math
from typing import Any

RECIPE = "recipe:"


def parse_var(text: str) -> tuple[str, int | float]:
    """``NAME=VALUE`` with VALUE an integer or a finite float; argparse's error naming the flag, value and fix."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE; write e.g. --var n_layers=32")
    try:
        number: int | float = int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a number; a variable is an integer or a "
                                             f"float, e.g. --var {name}=32 or --var {name}=0.02") from None
        if not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a finite number; give e.g. --var {name}=0.02")
    return name, number


def add_rule_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --recipe, --var (repeatable) and --only (repeatable) to a subcommand that takes rules."""
    g = parser.add_argument_group("rules")
    g.add_argument("--recipe", metavar="NAME", default=None,
                   help="a shipped recipe as the rules (the same as rules 'recipe:NAME'; see initreg.recipes)")
    g.add_argument("--var", metavar="NAME=VALUE", action="append", type=parse_var, default=[],
                   help="a variable for the rules' expressions, over the rule file's [vars] (repeatable)")
    g.add_argument("--only", metavar="PATTERN", action="append", default=None,
                   help="only the parameters whose name matches PATTERN (a glob, or re:REGEX; repeatable)")


def rule_source(args: argparse.Namespace, given: str | None, flag: str) -> str | None:
    """The rules to read: ``given`` (a file or 'recipe:NAME') or --recipe NAME; UsageError-like RuleError if both."""
    from ..errors import RuleError

    if args.recipe is not None:
        if given:
            raise RuleError(f"--recipe {args.recipe} and {flag} {given} both give the rules; give one of them")
        return RECIPE + args.recipe
    return given


def load_rules(source: str | None) -> Any:
    """Rules from a rule file or ``recipe:NAME`` (a shipped recipe), or None for no source."""
    if source is None:
        return None
    if source.startswith(RECIPE):
        from ..planning.recipe_files import load_recipe

        return load_recipe(source[len(RECIPE):])
    from ..planning.rules import Rules

    return Rules.load(source)


def rule_vars(args: argparse.Namespace) -> dict[str, Any]:
    """The --var values by name, checked as rules check vars=; RuleError for a name given twice or not allowed."""
    from ..errors import RuleError
    from ..planning.templates import check_vars

    out: dict[str, Any] = {}
    for name, value in args.var:
        if name in out:
            raise RuleError(f"--var {name} is given twice ({out[name]} and {value}); give each variable once")
        out[name] = value
    return check_vars(out, "--var")


def options(args: argparse.Namespace) -> dict[str, Any]:
    """``vars=`` and ``only=`` for initreg.plan from the parsed flags."""
    return {"vars": rule_vars(args) or None, "only": args.only}


def with_vars(rules: Any, args: argparse.Namespace) -> Any:
    """The rules with the --var values merged in: what a checkpoint's provenance records, so it recomputes alone."""
    from ..planning.precedence import applied_rules

    return applied_rules(rules, rule_vars(args)) if rules is not None else None


def drawn_rows(table: Any) -> Any:
    """The table without its kept rows (outside --only, or a "keep" rule): what ``init`` writes."""
    from ..checkpoints.writing import drawn_rows as drawn

    rows = drawn(table)
    if len(rows) == len(table):
        return table
    from ..planning.explanation import Explanation

    return Explanation(rows, table.seed, table.diagnostics)


def selected(arrays: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The arrays whose names --only lets through (all of them without --only); RuleError when none matches."""
    if not args.only:
        return arrays
    from ..planning.precedence import only_mask

    names = list(arrays)
    return {n: arrays[n] for n, inside in zip(names, only_mask(names, args.only)) if inside}
