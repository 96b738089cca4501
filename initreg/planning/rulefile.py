"""Rule files (TOML and JSON): read them into Rules, write Rules back in the same canonical form.

A rule file holds ``seed``, ``default``, ``requires`` (plugin versions, see initreg.planning.requirements),
``base_shapes``, an ``[about]`` and a ``[vars]`` table and a list of
``[[rule]]`` tables, each with ``pattern``, ``init`` and the initializer's arguments as further keys (an
argument ``{ expr = "..." }`` is an expression, see initreg.planning.expressions). ``dumps(load(text))`` is the canonical text.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import InitregError, RuleError, RuleTypeError, clipped
from ..core.initializer import Initializer, encode, file_readers, spec_name
from ..core.paths import escape_reason, read_text_bounded
from ..core.stream import check_seed
from .patterns import checked_pattern
from .templates import KEEP
from ..plugins.specs import make_initializer

FORMATS = {".toml": "toml", ".json": "json"}
MAX_FILE_BYTES = 16 << 20  # a rule file of 10,000 rules is about 1 MB
MAX_RULES = 10_000
_FILE_KEYS = ("seed", "default", "requires", "about", "vars", "base_shapes", "rule")
_RULE_KEYS = ("pattern", "init", "optional")  # a rule's own keys; the others are the initializer's arguments


def load(path: str | os.PathLike, cls: type) -> Any:
    """Read a rule file (.toml or .json); errors name the file and the rule number."""
    if not isinstance(path, (str, os.PathLike)):
        raise RuleTypeError(f"a rule file is named by a path (str or pathlib.Path), got {type(path).__name__}")
    path = Path(os.fspath(path))
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise RuleError(f"rule file {str(path)!r}: unknown format {path.suffix or '(no extension)'!r}; "
                        f"name it *.toml or *.json")
    try:
        text = read_text_bounded(path, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise RuleError(f"rule file {str(path)!r} does not exist; check the path "
                        f"(relative paths are read from {os.getcwd()!r})") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise RuleError(f"rule file {str(path)!r} cannot be read: {exc}") from None
    return loads(text, fmt, str(path), cls, path.parent)


Vet = Callable[[Any, str], None]  # checks (and points) the files an initializer reads; raises when one may not be read


def loads(text: str, format: str, source: str, cls: type, root: str | os.PathLike | None = None,
          vet: Vet | None = None) -> Any:
    """Parse rule-file text (``format`` "toml" or "json"); ``source`` names it in errors. With ``root``, the files
    it reads (``base_shapes``, a ``load``'s path) are taken inside that folder, each initializer's through ``vet``
    when given."""
    if format == "toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        parse, kind = tomllib.loads, "TOML"
    elif format == "json":
        parse, kind = json.loads, "JSON"
    else:
        raise RuleError(f"{source}: format must be 'toml' or 'json', got {format!r}")
    if not isinstance(text, str):
        raise RuleError(f"{source}: rule-file text must be a str, got {type(text).__name__}")
    try:
        doc = parse(text)
    except RecursionError:
        raise RuleError(f"{source}: invalid {kind}: nested too deeply; a rule file is a flat table of rules") from None
    except ValueError as exc:  # a syntax error, or an integer over Python's 4300-digit conversion limit
        raise RuleError(f"{source}: invalid {kind}: {exc}") from None
    try:
        home = None if root is None else Path(os.fspath(root))
        if home is not None and vet is None:
            vet = functools.partial(_confine, root=home)
        return _from_document(cls, doc, source, home, vet)
    except RecursionError:  # nesting the parser allowed but building the initializers did not
        raise RuleError(f"{source}: an argument is nested too deeply; a rule file is a flat table of rules") from None
    except InitregError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:  # a plugin's constructor, unchecked
        raise RuleError(f"{source}: {type(exc).__name__}: {exc}") from exc


def to_document(rules: Rules) -> dict[str, Any]:
    """The rule file as plain data: {"seed", "default", "rule": [{"pattern", "init", **kwargs}, ...]}."""
    doc: dict[str, Any] = {}
    if rules.seed is not None:
        doc["seed"] = rules.seed
    if rules.default is not None:
        spec, kwargs = _fields(rules.default, ("init",))
        doc["default"] = {"init": spec, **kwargs} if kwargs else spec
    if rules.requires:
        doc["requires"] = list(rules.requires)
    if rules.about:
        doc["about"] = rules.about
    if rules.vars:
        doc["vars"] = rules.vars
    if rules.base_shapes is not None:
        doc["base_shapes"] = {k: list(v) for k, v in rules.base_shapes.items()}
    if len(rules):
        doc["rule"] = []
        for r in rules:
            flag = {"optional": True} if r.optional else {}
            if r.keep:
                doc["rule"].append({"pattern": r.pattern, "init": KEEP, **flag})
                continue
            if r.template is not None:
                spec, kwargs = r.template.spec, r.template.arguments()
            else:
                spec, kwargs = _fields(r.init, _RULE_KEYS)
            doc["rule"].append({"pattern": r.pattern, "init": spec, **kwargs, **flag})
    return doc


def dumps(rules: Rules, format: str = "toml") -> str:
    """The rule file text ("toml" or "json"); ``loads(dumps(rules, f), f) == rules``."""
    doc = to_document(rules)
    if format == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if format != "toml":
        raise RuleError(f"format must be 'toml' or 'json', got {format!r}")
    return _toml_document(rules, doc)


def _fields(init: Initializer, reserved: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """(name, encoded explicit arguments); the JSON spec and no arguments when an argument name is reserved."""
    kwargs = {k: encode(v) for k, v in init.explicit_config().items()}
    if any(k in reserved for k in kwargs):
        return init.dumps(), {}
    return spec_name(init), kwargs


def _from_document(cls: type, doc: Any, source: str, root: Path | None, vet: Vet | None) -> Rules:
    """Rules from parsed rule-file data; errors name ``source`` and the rule number."""
    if not isinstance(doc, dict):
        raise RuleError(f"{source}: a rule file is a table with 'seed', 'default' and a list of 'rule' tables, "
                        f"got {type(doc).__name__}")
    unknown = [k for k in doc if k not in _FILE_KEYS]
    if unknown:
        raise RuleError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; a rule file has 'seed', "
                        f"'default', 'requires', 'base_shapes', [about] and [vars] tables and [[rule]] tables (in "
                        f"JSON: a list under \"rule\")")
    from .requirements import check_requires

    requires = check_requires(doc.get("requires"), source)  # before any rule names a plugin's initializer
    seed = doc.get("seed")
    if seed is not None:
        try:
            seed = check_seed(seed)
        except InitregError as exc:
            raise RuleError(f"{source}: {exc}") from None
    default = doc.get("default")
    if default is not None:
        if isinstance(default, dict):
            if "init" not in default:
                raise RuleError(f"{source}: default is a table without 'init'; write default = \"uniform\" or "
                                f"default = {{ init = \"normal\", sigma = 0.01 }}")
            args = dict(default)
            default = make_initializer(args.pop("init"), f"{source}: default", args)
        else:
            default = make_initializer(default, f"{source}: default")
    variables = doc.get("vars")
    if variables is not None and not isinstance(variables, dict):
        raise RuleError(f"{source}: 'vars' must be a table of numbers ([vars] in TOML), got {type(variables).__name__}")
    from .templates import check_vars, make_rule

    known = None if variables is None else frozenset(check_vars(variables, f"{source}: [vars]"))
    base_shapes = doc.get("base_shapes")
    if isinstance(base_shapes, str) and root is not None:  # a .bsh path, read beside the rule file
        base_shapes = str(_inside(root, base_shapes, f"{source}: base_shapes"))
    elif isinstance(base_shapes, str) and source != "<string>":
        base_shapes = str(Path(source).parent / base_shapes)
    entries = doc.get("rule", [])
    if not isinstance(entries, list):
        raise RuleError(f"{source}: 'rule' must be a list of tables ([[rule]] in TOML), got {type(entries).__name__}")
    if len(entries) > MAX_RULES:
        raise RuleError(f"{source}: {len(entries):,} rules, over initreg's limit of {MAX_RULES:,}; match many names "
                        f"with one pattern ('*', '{{name}}' captures, 're:')")
    rules = []
    for number, entry in enumerate(entries, 1):
        where = f"{source}: rule {number}"
        if not isinstance(entry, dict):
            raise RuleError(f"{where}: expected a table with 'pattern' and 'init', got {entry!r}")
        missing = [k for k in ("pattern", "init") if k not in entry]
        if missing:
            raise RuleError(f"{where}: missing {' and '.join(map(repr, missing))}; every rule needs "
                            f"pattern = \"...\" and init = \"...\"")
        args = {k: v for k, v in entry.items() if k not in _RULE_KEYS}
        compiled = checked_pattern(entry["pattern"], where)
        rule = make_rule(number, entry["pattern"], entry["init"], compiled.groups, f"{where} ({entry['pattern']!r})",
                         known, args)
        optional = entry.get("optional", False)
        if not isinstance(optional, bool):
            raise RuleError(f"{where}: optional must be true or false (a rule that may match nothing), got {optional!r}")
        rule = dataclasses.replace(rule, optional=optional)
        if vet is not None and rule.template is not None:  # its initializers are made per parameter: vetted then
            rule = dataclasses.replace(rule, template=dataclasses.replace(rule.template, vet=vet))
        elif vet is not None and rule.init is not None:
            vet(rule.init, f"{where} ({entry['pattern']!r})")
        rules.append(rule)
    if vet is not None and default is not None:
        vet(default, f"{source}: default")
    try:
        return cls(rules, default=default, seed=seed, vars=variables, base_shapes=base_shapes, about=doc.get("about"),
                   requires=requires or None)
    except RuleError as exc:
        raise RuleError(f"{source}: {exc}") from None


def _inside(root: Path, entry: Any, where: str) -> Path:
    why = escape_reason(root, entry)
    if why is not None:
        raise RuleError(f"{where} names the file {clipped(entry)}, {why}; a rule file reads only files inside its own folder "
                        f"{str(root)!r} (copy or move the file there; from Python, Rules([...]) reads any path)")
    return root / entry


def _confine(init: Any, where: str, root: Path) -> None:
    """Point every file ``init`` reads (a ``load``'s path, nested ones too) inside ``root``, or raise RuleError."""
    for reader in file_readers(init):
        reader.path = str(_inside(root, reader.path, f"{where}: {spec_name(reader)}"))


# --- writing TOML (the small subset rule files use) -----------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def _toml_str(s: str) -> str:
    controls = any(ord(c) < 32 or ord(c) == 127 for c in s)
    if "\\" in s and "'" not in s and not controls:
        return f"'{s}'"  # a literal string: regexes stay readable
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(v: Any, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x, where) for x in v) + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x, where)}" for k, x in v.items()) + " }"
    raise RuleError(f"{where}: the value {v!r} cannot be written as TOML (TOML has no null); "
                    f"write the rules as JSON with dumps(format='json')")


def _toml_key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _toml_str(k)


def _toml_items(init: Initializer | None, table: dict[str, Any], where: str) -> dict[str, Any]:
    """``table`` without None arguments whose default is None (TOML has no null; leaving them out is the same)."""
    out = {}
    params = inspect.signature(type(init)).parameters if init is not None else {}
    for k, v in table.items():
        if v is None and k in params and params[k].default is None:
            continue
        out[k] = v
    return out


def _toml_document(rules: Rules, doc: dict[str, Any]) -> str:
    lines = []
    if "seed" in doc:
        lines.append(f"seed = {doc['seed']}")
    if "default" in doc:
        default = doc["default"]
        if isinstance(default, dict):
            default = _toml_items(rules.default, default, "default")
        lines.append(f"default = {_toml_value(default, 'default')}")
    if "requires" in doc:
        lines.append(f"requires = {_toml_value(doc['requires'], 'requires')}")
    for table in ("about", "vars", "base_shapes"):
        if table in doc:
            if lines:
                lines.append("")
            lines.append(f"[{table}]")
            lines += [f"{_toml_key(k)} = {_toml_value(v, table)}" for k, v in doc[table].items()]
    for r, entry in zip(rules, doc.get("rule", [])):
        if lines:
            lines.append("")
        lines.append("[[rule]]")
        for k, v in _toml_items(r.init, entry, str(r)).items():
            lines.append(f"{_toml_key(k)} = {_toml_value(v, str(r))}")
    return "\n".join(lines) + "\n" if lines else ""
