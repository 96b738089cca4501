"""Arithmetic expressions in rule arguments: parsed once with ``ast``, checked against a whitelist, evaluated per name.

An expression is numbers, names, ``+ - * / // % **``, unary minus, parentheses, ``shape[i]`` and calls of
``sqrt log exp min max abs floor ceil``; nothing else parses (no attributes, no other calls, no strings).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import RuleError

FUNCTIONS = {"sqrt": math.sqrt, "log": math.log, "exp": math.exp, "min": min, "max": max, "abs": abs,
             "floor": math.floor, "ceil": math.ceil}
MAX_LENGTH = 1000  # longer text is refused before parsing: deep nesting would exhaust ast's recursion
_MAX_BITS = 4096  # integers stay within this many bits (10 ** 10 ** 10 and chained powers must not hang)
_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b}
_ALLOWED = "numbers, names, + - * / // % **, unary minus, parentheses, shape[i] and " + ", ".join(FUNCTIONS)


class Expr(str):
    """A rule argument that is an expression, not a string: ``Expr("0.02 / sqrt(2 * (layer + 1))")``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Expr({str.__repr__(self)})"


def expr(text: str) -> Expr:
    """Mark ``text`` as an expression argument (what ``{"expr": text}`` means in a rule file)."""
    if not isinstance(text, str):
        raise RuleError(f"an expression is a string such as '0.02 / sqrt(2 * n_layers)', got {text!r}")
    return Expr(text)


def as_expression_arg(value: Any) -> Expr | None:
    """The expression a rule argument stands for (an Expr, or a {"expr": text} table), else None."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, Mapping) and set(value) == {"expr"} and isinstance(value["expr"], str):
        return Expr(value["expr"])
    return None


@dataclass(frozen=True)
class Expression:
    """A parsed, whitelisted expression: its text, the names it reads, and evaluate(variables)."""

    text: str
    names: frozenset[str]
    tree: ast.Expression = field(repr=False, compare=False)

    def evaluate(self, variables: Mapping[str, Any], where: str) -> Any:
        """The value with ``variables``; RuleError naming ``where``, the expression and what went wrong."""
        missing = sorted(n for n in self.names if n not in variables)
        if missing:
            known = ", ".join(sorted(variables)) or "none"
            raise RuleError(f"{where}: expression {self.text!r} uses unknown variable(s) {', '.join(map(repr, missing))}; "
                            f"known here: {known}. Pass it with vars={{{missing[0]!r}: ...}}, a [vars] table in the "
                            f"rule file, or a named capture in the pattern")
        try:
            value = _eval(self.tree.body, variables)
        except RuleError as exc:
            raise RuleError(f"{where}: expression {self.text!r}: {exc}") from None
        except RecursionError:
            raise RuleError(f"{where}: expression {self.text!r} is nested too deeply to evaluate") from None
        except (ArithmeticError, ValueError, TypeError) as exc:  # 1/0, log(0), sqrt(-1), "a" + 1
            raise RuleError(f"{where}: expression {self.text!r} cannot be computed: {type(exc).__name__}: {exc}; "
                            f"check the variables it reads ({_shown(self.names, variables)})") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise RuleError(f"{where}: expression {self.text!r} gives {value} ({_shown(self.names, variables)}); "
                            f"an argument must be finite")
        return value


def _shown(names: frozenset[str], variables: Mapping[str, Any]) -> str:
    return ", ".join(f"{n}={variables[n]!r}" for n in sorted(names) if n in variables) or "no variables"


def parse(text: Any, where: str) -> Expression:
    """A checked Expression; RuleError naming ``where``, the text and the construct that is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError(f"{where}: an expression must be a non-empty string such as '0.02 / sqrt(2 * n_layers)', "
                        f"got {text!r}")
    text = str.__str__(text)  # a plain str (not an Expr), so messages and documents show the text itself
    if len(text) > MAX_LENGTH:
        raise RuleError(f"{where}: expression of {len(text)} characters is too long (at most {MAX_LENGTH}); "
                        f"split it with variables")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        why = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise RuleError(f"{where}: expression {text!r} is not valid: {why}; it may use {_ALLOWED}") from None
    names: set[str] = set()
    try:
        _check(tree.body, text, where, names)
    except RecursionError:  # "- - - ... 1": the parser took it, the walk is deeper than Python's stack
        raise RuleError(f"{where}: expression {text!r} is nested too deeply; write it with fewer operators in a "
                        f"row") from None
    return Expression(text, frozenset(names), tree)


def _check(node: ast.AST, text: str, where: str, names: set[str]) -> None:
    """Refuse every node outside the whitelist; collect the variable names read."""
    def refuse(what: str) -> RuleError:
        return RuleError(f"{where}: expression {text!r} uses {what}, which is not allowed; it may use {_ALLOWED}")

    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise refuse(f"the constant {node.value!r}")
    elif isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise refuse(f"the function {node.id!r} without calling it")
        names.add(node.id)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY and not isinstance(node.op, ast.Pow):
            raise refuse(f"the operator {type(node.op).__name__}")
        _check(node.left, text, where, names)
        _check(node.right, text, where, names)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise refuse(f"the operator {type(node.op).__name__}")
        _check(node.operand, text, where, names)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise refuse(f"a call of {called!r}")
        if node.keywords or not node.args or any(isinstance(a, ast.Starred) for a in node.args):
            raise refuse(f"{node.func.id}() with keyword, starred or no arguments")
        for a in node.args:
            _check(a, text, where, names)
    elif isinstance(node, ast.Subscript):
        if not (isinstance(node.value, ast.Name) and node.value.id == "shape") or isinstance(node.slice, ast.Slice):
            raise refuse("indexing other than shape[i]")
        names.add("shape")
        _check(node.slice, text, where, names)
    else:
        raise refuse(f"a {type(node).__name__}")


def _number(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise RuleError(f"{v!r} is not a number")
    return v


def _bounded(v: Any) -> Any:
    if isinstance(v, int) and v.bit_length() > _MAX_BITS:
        raise OverflowError(f"an integer of {v.bit_length()} bits is too large (at most {_MAX_BITS})")
    return v


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp):
        a, b = _number(_eval(node.left, env)), _number(_eval(node.right, env))
        if isinstance(node.op, ast.Pow):
            if isinstance(a, int) and isinstance(b, int) and 0 <= b and (abs(a).bit_length() - 1) * b < _MAX_BITS:
                return _bounded(a ** b)  # at most twice _MAX_BITS long before the check
            return math.pow(a, b)  # floats: raises OverflowError instead of building a huge integer
        return _bounded(_BINARY[type(node.op)](a, b))
    if isinstance(node, ast.UnaryOp):
        v = _number(_eval(node.operand, env))
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*(_number(_eval(a, env)) for a in node.args))  # type: ignore[union-attr]
    if isinstance(node, ast.Subscript):
        shape, i = env["shape"], _eval(node.slice, env)
        if shape is None or not isinstance(i, int) or not -len(shape) <= i < len(shape) or shape[i] is None:
            raise RuleError(f"shape[{i!r}] is not known for a parameter of shape {shape}")
        return shape[i]
    raise RuleError(f"cannot evaluate {type(node).__name__}")  # pragma: no cover - _check refuses it first
