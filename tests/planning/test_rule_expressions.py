"""The expression language of rule arguments: what it computes, and every construct it refuses."""

from __future__ import annotations

import math
import time

import pytest

import initreg
from initreg.planning.expressions import parse


def value(text, **env):
    return parse(text, "rule 1").evaluate(env, "rule 1")


@pytest.mark.parametrize("text, env, expected", [
    ("0.02 / sqrt(2 * (layer + 1))", {"layer": 3}, 0.02 / math.sqrt(8)),
    ("-2 ** 2", {}, -4),
    ("7 // 2 + 7 % 2", {}, 4),
    ("min(a, b) + max(a, b) + abs(-a)", {"a": 1, "b": 5}, 7),
    ("floor(2.7) + ceil(2.1) + exp(0) + log(1)", {}, 6.0),
    ("shape[0] * shape[-1]", {"shape": (3, 4, 5)}, 15),
    ("fan_in ** -0.5", {"fan_in": 64}, 0.125),
    ("2 ** 3", {}, 8),
    ("(2 ** 64) ** 63 // 2 ** 4031", {}, 2),  # exact integer powers up to 4096 bits
])
def test_expressions_compute(text, env, expected):
    got = value(text, **env)
    assert got == pytest.approx(expected) and type(got) is type(expected)


@pytest.mark.parametrize("text, what", [
    ("x.__class__", "Attribute"),
    ("__import__('os')", "call of '__import__'"),
    ("open('f')", "call of 'open'"),
    ("(lambda: 1)()", "call of"),
    ("a if b else c", "IfExp"),
    ("a < b", "Compare"),
    ("'text'", "constant 'text'"),
    ("True", "constant True"),
    ("sqrt", "without calling it"),
    ("sqrt(x=1)", "keyword"),
    ("sqrt()", "no arguments"),
    ("v[0]", "indexing other than shape[i]"),
    ("shape[0:2]", "indexing other than shape[i]"),
    ("a @ b", "MatMult"),
    ("a << 2", "LShift"),
    ("~a", "Invert"),
    ("[1, 2]", "List"),
])
def test_refused_constructs_name_the_rule_and_expression(text, what):
    with pytest.raises(initreg.RuleError) as err:
        parse(text, "rule 4 ('*.w')")
    assert isinstance(err.value, ValueError)
    assert "rule 4 ('*.w')" in str(err.value) and repr(text) in str(err.value) and what in str(err.value)


@pytest.mark.parametrize("text", ["0.02 / (", "", "   ", "x" * 1001, "(" * 500 + "1" + ")" * 500])
def test_syntax_errors_length_and_nesting_are_rule_errors(text):
    with pytest.raises(initreg.RuleError, match="rule 1"):
        parse(text, "rule 1")


def test_unknown_variable_names_the_expression_the_name_and_the_known_ones():
    with pytest.raises(initreg.RuleError) as err:
        parse("init_std / sqrt(2 * n_layers)", "rule 2 ('*.wo')").evaluate({"init_std": 0.02, "layer": 1}, "rule 2 ('*.wo')")
    msg = str(err.value)
    assert "'n_layers'" in msg and "'init_std / sqrt(2 * n_layers)'" in msg and "rule 2" in msg
    assert "init_std, layer" in msg and "vars=" in msg


@pytest.mark.parametrize("text, env, why", [
    ("1 / (layer - 3)", {"layer": 3}, "ZeroDivisionError"),
    ("log(x)", {"x": 0}, "ValueError"),
    ("sqrt(x)", {"x": -1}, "ValueError"),
    ("x + 1", {"x": "attn"}, "not a number"),
    ("10 ** 10 ** 10", {}, "OverflowError"),
    ("((((99 ** 99) ** 99) ** 99) ** 99) ** 2", {}, "OverflowError"),  # each power's exponent is small
    ("floor(x) ** 1024 ** 1", {"x": 1e308}, "OverflowError"),
    ("(2 ** 2000) * (2 ** 2000) * (2 ** 2000)", {}, "OverflowError"),
    ("exp(1000)", {}, "OverflowError"),
    ("shape[3]", {"shape": (2, 2)}, r"shape\[3\] is not known"),
])
def test_failed_computations_are_rule_errors(text, env, why):
    start = time.perf_counter()
    with pytest.raises(initreg.RuleError, match=why):
        value(text, **env)
    assert time.perf_counter() - start < 1.0  # a huge power is refused, not computed


def test_non_finite_results_are_refused():
    with pytest.raises(initreg.RuleError, match="must be finite"):
        value("1e308 * 10")
