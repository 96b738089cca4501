"""explain(): a table of which initializer each parameter gets, what decided it, and its seed key."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ..errors import RuleError, RuleTypeError, clipped, format_shape
from ..core.fans import check_layout
from ..core.names import check_name
from ..core.initializer import Initializer, encode
from .precedence import EMPTY, Entry, choose, keyed, only_mask, seed_of, split_init
from ..core.stream import Stream, choose_seed
from .rules import Diagnostics
from ..core.shapes import check_dtype, check_shape


@dataclass(frozen=True)
class Row:
    """One parameter in an explanation: what it is, what decides it, and what it will be drawn with."""

    name: str
    shape: tuple | None
    dtype: str
    state: str
    source: str  # "keep", "explicit", "rule", "load", "declared", "default", "global default"
    rule: int | None  # the rule's number when source == "rule"
    pattern: str | None
    init: str  # the initializer's registered name
    config: dict[str, Any]  # every constructor argument, JSON-ready (as in param.record["config"])
    args: dict[str, Any]  # the arguments given explicitly, JSON-ready
    seed: int | None
    key: str | None  # Stream(seed, name).key when the seed is known
    initializer: Initializer | None = field(default=None, compare=False, repr=False)
    aliases: tuple[str, ...] = ()  # other names of the same tensor (tied parameters), drawn once under ``name``
    layout: str = "OI"
    key_name: str | None = None  # the name the values are drawn under (name_map applied); None: ``name``
    exprs: Mapping[str, str] | None = None  # argument → its expression, for a rule with expressions ({} if none)
    variables: Mapping[str, Any] | None = None  # what those expressions read, with the values ({} if none)

    def __post_init__(self) -> None:
        if self.key_name is None or self.exprs is None or self.variables is None:  # plan() passes all three
            object.__setattr__(self, "key_name", self.name if self.key_name is None else self.key_name)
            object.__setattr__(self, "exprs", EMPTY if self.exprs is None else self.exprs)  # shared: most have none
            object.__setattr__(self, "variables", EMPTY if self.variables is None else self.variables)

    @property
    def kept(self) -> bool:
        """Whether the parameter keeps its values (outside only=, or a "keep" rule): nothing is drawn for it."""
        return self.source == "keep"

    @property
    def decided_by(self) -> str:
        """The source as text: ``"rule 2 (*.weight)"``, ``"declared"``, ``"keep (outside only=)"``, ..."""
        if self.source == "keep":
            return f"keep (rule {self.rule} ({self.pattern}))" if self.rule is not None else "keep (outside only=)"
        return f"rule {self.rule} ({self.pattern})" if self.source == "rule" else self.source

    @property
    def initializer_text(self) -> str:
        """``name(arg=value, ...)`` with the explicitly given arguments; an expression shows as ``expr = value``."""
        if self.source == "keep":
            return "-"
        args = ", ".join(f"{k}={self.exprs[k]} = {_short(v)}" if k in self.exprs else f"{k}={json.dumps(v)}"
                         for k, v in self.args.items())
        return f"{self.init}({args})"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        out = {"name": self.name, "shape": None if self.shape is None else list(self.shape), "dtype": self.dtype,
               "state": self.state, "source": self.source, "rule": self.rule, "pattern": self.pattern,
               "init": self.init, "config": self.config, "args": self.args, "seed": self.seed, "key": self.key}
        if self.aliases:  # tied tensors only: most tables have none
            out["aliases"] = list(self.aliases)
        if self.key_name != self.name:
            out["key_name"] = self.key_name
        if self.exprs:
            out["exprs"], out["variables"] = dict(self.exprs), dict(self.variables)
        return out


def _short(v: Any) -> str:
    """A computed argument for the table: 6 significant digits (the row's args hold the exact value)."""
    return format(v, ".6g") if isinstance(v, float) else json.dumps(v)



_COLUMNS = ("name", "shape", "dtype", "state", "source", "initializer", "key")


class Explanation:
    """The table explain() returns: one Row per parameter, plus the rule diagnostics."""

    def __init__(self, rows: Sequence[Row], seed: int | None, diagnostics: Diagnostics):
        self.rows = list(rows)
        self.seed = seed
        self.diagnostics = diagnostics
        self._by_name = {r.name: r for r in self.rows}

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __getitem__(self, key: int | str) -> Row:
        if isinstance(key, str):
            try:
                return self._by_name[key]
            except KeyError:
                from ..errors import ParameterNotFoundError, did_you_mean

                raise ParameterNotFoundError(f"no parameter named {key!r} in this explanation"
                                             f"{did_you_mean(key, list(self._by_name))}") from None
        return self.rows[key]

    def _cells(self) -> list[list[str]]:
        texts: dict[tuple[int, str], str] = {}  # rows share their initializer's args: format each once
        out = []
        for r in self.rows:
            text = texts.get((id(r.args), id(r.exprs), r.init))
            if text is None:
                text = texts[(id(r.args), id(r.exprs), r.init)] = r.initializer_text
            out.append([r.name, format_shape(r.shape), r.dtype, r.state, r.decided_by, text, r.key or "-"])
        return out

    def _seed_line(self) -> str:
        return f"seed: {self.seed}" if self.seed is not None else "seed: none (fresh entropy at initialize; pass seed= to replay)"

    def __str__(self) -> str:
        cells = [list(_COLUMNS)] + self._cells()
        widths = [max(map(len, column)) for column in zip(*cells)]
        template = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [self._seed_line()]
        lines += [template.format(*row).rstrip() for row in cells]
        lines += [f"warning: {m}" for m in self.diagnostics.messages()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Explanation of {len(self.rows)} parameters, seed={self.seed}>"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: seed, rows, unused and shadowed rules."""
        return {"seed": self.seed, "rows": [r.as_dict() for r in self.rows],
                "unused": [{"rule": r.number, "pattern": r.pattern, "closest": list(c)} for r, c in self.diagnostics.unused],
                "shadowed": [{"rule": r.number, "pattern": r.pattern, "by": [b.number for b in by]}
                             for r, by in self.diagnostics.shadowed]}

    def to_json(self, indent: int | None = 2) -> str:
        """The table as JSON."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_markdown(self) -> str:
        """The table as a GitHub-flavoured Markdown table (diagnostics as a list below)."""
        lines = [self._seed_line().replace("seed:", "**seed:**", 1), "",
                 "| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
        lines += ["| " + " | ".join(_md_code(c) if i in (0, 5) else _md_text(c) for i, c in enumerate(row)) + " |"
                  for row in self._cells()]
        msgs = self.diagnostics.messages()
        if msgs:
            lines += [""] + [f"- warning: {_md_text(m)}" for m in msgs]
        return "\n".join(lines)


def _md_text(s: str) -> str:
    """Markdown text with the characters that would start emphasis or end a cell escaped."""
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def _md_code(s: str) -> str:
    """A code span in a table cell (a '|' still ends the cell unless escaped)."""
    return "`" + s.replace("|", "\\|") + "`"


def entries_of(params: Any) -> list[Entry]:
    """Entries from a ParameterDict, a Block, a mapping name → Parameter/shape/spec, or a list of them."""
    if hasattr(params, "collect_params") and callable(params.collect_params):
        params = params.collect_params()
    if hasattr(params, "items") and callable(params.items):
        items: Iterable[Any] = params.items()
    elif isinstance(params, (str, bytes)) or not isinstance(params, Iterable):
        raise RuleTypeError(f"params must be parameters, a mapping name → shape, or a list of names/specs; got "
                            f"{clipped(params)}")
    else:
        items = (_unpack(x) for x in params)
    out, seen = [], set()
    for name, v in items:
        if name in seen:
            raise RuleError(f"parameter name {name!r} appears twice; every parameter needs its own name")
        seen.add(name)
        if isinstance(v, Entry):
            out.append(v)
        elif isinstance(v, (tuple, list)) or v is None:  # a shape: the common case of a spec list
            out.append(Entry(name, check_shape(v, name)))
        elif _is_parameter(v):
            out.append(v.entry())
        elif isinstance(v, Mapping):
            dtype = str(check_dtype(v.get("dtype", "float32"), name))
            out.append(Entry(name, check_shape(v.get("shape"), name), dtype, check_layout(v.get("layout"))))
        else:
            out.append(Entry(name, check_shape(v, name)))
    return out


def _is_parameter(x: Any) -> bool:
    """A Parameter (or anything that states its own Entry): the planner knows entries, not parameter classes."""
    return callable(getattr(x, "entry", None)) and isinstance(getattr(x, "name", None), str)


def _unpack(x: Any) -> tuple[str, Any]:
    """(name, Parameter / shape / spec dict) from one item of a list of parameters."""
    if type(x) in (tuple, list) and len(x) == 2 and isinstance(x[0], str):  # the common (name, shape) case first
        return x[0], x[1]
    if isinstance(x, Entry) or _is_parameter(x):
        return x.name, x
    if isinstance(x, str):
        return x, None
    if isinstance(x, Mapping) and isinstance(x.get("name"), str):
        return x["name"], x
    raise RuleError(f"cannot read a parameter from {x!r}; give a Parameter, an Entry, a name, a (name, shape) pair or "
                    f"a {{'name': ..., 'shape': [...]}} dict")


def plan(entries: Sequence[Entry], init: Any = None, *, seed: int | None = None, strict: bool = False,
         vars: Mapping[str, Any] | None = None, only: Any = None, name_map: Any = None) -> Explanation:
    """What each entry gets by precedence (keep > explicit > rule > load > declared > default > global), and why.

    ``vars``: variables for rule expressions (over a rule file's [vars]). ``only``: a pattern or list of patterns
    over the entries' own names; the others get source "keep" and no initializer (nothing is drawn for them).
    ``name_map``: a callable or (pattern, replacement) pairs mapping each name before rules and stream keys; a
    row keeps its name and records the mapped one as ``key_name``. Every error is raised before anything is drawn.
    """
    rules, default = split_init(init)
    seed = choose_seed(seed, seed_of(init), fresh=False)
    entries = list(entries)
    for e in entries:
        check_name(e.name)
    names = [e.name for e in entries]
    inside = only_mask(names, only)
    vars, keys = keyed(names, rules, vars, name_map)  # vars checked before anything else reads them
    mapped = [e if k == e.name else replace(e, name=k) for e, k in zip(entries, keys)]
    choices, diagnostics = choose(mapped, rules, default, strict, vars=vars, inside=inside)
    configs: dict[int, tuple[dict, dict]] = {}
    rows = []
    for e, key, c in zip(entries, keys, choices):
        rule, pattern = (c.rule.number, c.rule.pattern) if c.rule else (None, None)
        if c.init is None:
            rows.append(Row(e.name, e.shape, str(e.dtype), e.state, "keep", rule, pattern, "keep", {}, {}, seed, None,
                            None, layout=e.layout, key_name=key))
            continue
        cached = configs.get(id(c.init))
        if cached is None:
            cached = configs[id(c.init)] = ({k: encode(v) for k, v in c.init.config().items()},
                                            {k: encode(v) for k, v in c.init.explicit_config().items()})
        rows.append(Row(e.name, e.shape, str(e.dtype), e.state, c.source, rule, pattern, c.init.name, cached[0],
                        cached[1], seed, Stream(seed, key).key if seed is not None else None, c.init, layout=e.layout,
                        key_name=key, exprs=c.exprs or EMPTY, variables=c.variables or EMPTY))
    return Explanation(rows, seed, diagnostics)


def explain(params: Any, rules: Any = None, *, seed: int | None = None, strict: bool = False,
            vars: Mapping[str, Any] | None = None, only: Any = None, name_map: Any = None) -> Explanation:
    """A table of what initialize(rules, seed=seed) chooses for each parameter, and why.

    ``params``: a ParameterDict, a Block, a mapping name → Parameter/shape, or a list of names, (name, shape)
    pairs, Entries or {"name", "shape", "dtype"} dicts. ``rules``: a Rules, a {pattern: init} mapping, or a plain
    initializer (the default). The seed is ``seed``, else the rules' seed, else the global seed.
    """
    return plan(entries_of(params), rules, seed=seed, strict=strict, vars=vars, only=only, name_map=name_map)
