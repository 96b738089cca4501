"""Provenance in a .safetensors ``__metadata__``: what reproduces each tensor (version, bit algorithm, seed,
rules, and per tensor its initializer spec, source, layout and stream key), written and read back.

safetensors metadata values are strings: the structured ones are JSON text. Keys::

    format              "pt" (transformers refuses a file whose metadata lacks it)
    initreg.version     the initreg that wrote the file
    initreg.algorithm   initreg.core.stream.ALGORITHM: the bit-level contract of the streams
    initreg.seed        the seed, as decimal text
    initreg.rules       the rule document (Rules.to_document()) as JSON, or "null"
    initreg.tensors     JSON {name: {"init": spec, "plugin", "source", "rule", "pattern", "layout", "key"}}
    initreg.run         the run id: a hash of what defines the whole checkpoint (seed, algorithm, rules, every
                        tensor's record and the file plan), the same in every file of one run, --shard tasks too
    initreg.plugins     JSON {distribution: version} of the plugins whose initializers drew the file's tensors
    initreg.vars        JSON {name: value}: the caller's vars= over the rules' [vars] (absent when none were given)

Provenance comes from files others wrote: reading it never names a file outside the checkpoint (``confine``)
and the recorded rules are bounded (``MAX_RULES``) before they are parsed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..core.initializer import file_readers
from ..errors import CheckpointError, ProvenanceError
from ..planning.rulefile import MAX_RULES  # rules in a recorded rule document, as in a rule file

PREFIX = "initreg."
KEYS = ("initreg.version", "initreg.algorithm", "initreg.seed", "initreg.rules", "initreg.tensors")
RUN_KEY = "initreg.run"  # optional: files written before it was recorded have none
PLUGINS_KEY, VARS_KEY = "initreg.plugins", "initreg.vars"  # optional, as RUN_KEY
RULES_KEY, SEED_KEY = "initreg.rules", "initreg.seed"
_SEED = re.compile(r"0|[1-9][0-9]*")  # str(seed) of a non-negative int


@dataclass(frozen=True)
class TensorRecord:
    """How one tensor was drawn: initializer spec (name and arguments), where it came from, layout and stream key."""

    name: str
    init: Any  # the spec initreg.create takes: ["normal", {"sigma": 0.02}]
    plugin: str  # the distribution that registered the initializer
    source: str
    rule: int | None
    pattern: str | None
    layout: str | None
    key: str | None
    shape: tuple[int, ...] | None = None  # as written (files written before these were recorded: None)
    dtype: str | None = None
    portable: bool = True  # False: the bits depend on the machine (a BLAS/LAPACK routine), verify within tolerance
    key_name: str | None = None  # the name the values were drawn under (name_map), when it is not ``name``
    exprs: Mapping[str, str] | None = None  # argument → the rule's expression, for a rule with expressions
    variables: Mapping[str, Any] | None = None  # what those expressions read, with the values

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form stored in the file (key_name, exprs and variables only when there are any)."""
        out = {"init": self.init, "plugin": self.plugin, "source": self.source, "rule": self.rule,
               "pattern": self.pattern, "layout": self.layout, "key": self.key,
               "shape": None if self.shape is None else list(self.shape), "dtype": self.dtype,
               "portable": self.portable}
        if self.key_name is not None and self.key_name != self.name:
            out["key_name"] = self.key_name
        if self.exprs:
            out["exprs"], out["variables"] = dict(self.exprs), dict(self.variables or {})
        return out


@dataclass(frozen=True)
class Provenance:
    """What a file's metadata says reproduces it."""

    version: str
    algorithm: str
    seed: int
    rules: Any  # the rule document, or None
    tensors: Mapping[str, TensorRecord]
    run: str | None = None
    plugins: Mapping[str, str | None] = dataclasses.field(default_factory=dict)  # distribution → version written with
    vars: Mapping[str, Any] | None = None  # the caller's vars=, when given
    rules_text: str | None = dataclasses.field(default=None, compare=False)  # canonical JSON of ``rules``, if known

    def identity(self) -> tuple[str, int, str, str | None]:
        """What every file of one checkpoint shares: bit algorithm, seed, rules and run id (not the version: shard
        tasks may run on patch releases of one algorithm)."""
        rules = self.rules_text if self.rules_text is not None else json.dumps(self.rules, sort_keys=True)
        return (self.algorithm, self.seed, rules, self.run)


def record(row: Any) -> TensorRecord:
    """The TensorRecord of one row of an Explanation (initreg.plan)."""
    from ..planning.regions import plugin_of

    from ..core.initializer import encode

    exprs = dict(getattr(row, "exprs", None) or {})
    return TensorRecord(row.name, json.loads(row.initializer.dumps()), plugin_of(row.initializer), row.source,
                        row.rule, row.pattern, row.layout, row.key, tuple(row.shape), str(row.dtype),
                        bool(row.initializer.portable), getattr(row, "key_name", None) or row.name, exprs or None,
                        {k: encode(v) for k, v in row.variables.items()} if exprs else None)


def _document(rules: Any) -> Any:
    return rules.to_document() if rules is not None and hasattr(rules, "to_document") else rules


def run_id(rows: Iterable[Any], seed: int, rules: Any = None, plan: Any = None,
           vars: Mapping[str, Any] | None = None) -> str:
    """The id of one checkpoint run: a hash of everything that defines its files (``plan``: the file layout).

    Every ``--shard`` task of one run computes the same id; another seed, rule set, model or layout gives
    another, so files of two runs mixed in one directory are told apart.
    """
    from ..core.stream import ALGORITHM

    doc = {"algorithm": ALGORITHM, "seed": seed, "rules": _document(rules), "plan": plan,
           "tensors": [[r.name, list(r.shape), str(r.dtype), record(r).as_dict()] for r in rows]}
    if vars:
        doc["vars"] = dict(vars)
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def plugin_versions(rows: Iterable[Any]) -> dict[str, str | None]:
    """Distribution → version of the plugins whose initializers draw ``rows``, sorted by distribution."""
    from ..plugins.registry import provider_of

    found = dict(provider_of(r.initializer) for r in rows if r.initializer is not None)
    return dict(sorted(found.items()))


def metadata(rows: Iterable[Any], seed: int, rules: Any = None, run: str | None = None,
             vars: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The ``__metadata__`` strings for a file holding ``rows`` (Explanation rows) drawn with ``seed``, ``rules``
    and the caller's ``vars`` (recorded when given: with the rules they reproduce each expression's value)."""
    from ..core.stream import ALGORITHM
    from ..version import __version__

    rows = list(rows)
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    meta = {"format": "pt", "initreg.version": __version__, "initreg.algorithm": ALGORITHM,
            "initreg.seed": str(seed), "initreg.rules": json.dumps(_document(rules), **compact),
            "initreg.tensors": json.dumps({r.name: record(r).as_dict() for r in rows}, **compact),
            PLUGINS_KEY: json.dumps(plugin_versions(rows), **compact)}
    if vars:
        meta[VARS_KEY] = json.dumps(dict(vars), **compact)
    return meta if run is None else {**meta, RUN_KEY: run}


def read(meta: Mapping[str, str] | None, where: str) -> Provenance:
    """The Provenance in a file's metadata; ProvenanceError naming ``where`` when it has none or it is malformed."""
    if not meta or not any(k in meta for k in KEYS):
        raise ProvenanceError(f"{where} has no initreg provenance in its metadata (it was not written by initreg init, "
                              f"or was re-saved without its metadata); nothing to check it against")
    missing = [k for k in KEYS if k not in meta]
    if missing:
        raise ProvenanceError(f"{where}: provenance incomplete, metadata lacks {', '.join(missing)}")
    try:
        seed = recorded_seed(meta["initreg.seed"])
        rules = json.loads(meta["initreg.rules"])
        rules_text = json.dumps(rules, sort_keys=True)  # here, where a record nested too deeply is malformed provenance
        tensors = json.loads(meta["initreg.tensors"])
        records = {name: TensorRecord(name, t["init"], str(t.get("plugin", "?")), str(t.get("source", "?")),
                                      t.get("rule"), t.get("pattern"), t.get("layout"), t.get("key"),
                                      None if t.get("shape") is None else tuple(t["shape"]), t.get("dtype"),
                                      t.get("portable", True) is not False, t.get("key_name"), t.get("exprs"),
                                      t.get("variables"))
                   for name, t in tensors.items()}
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise ProvenanceError(f"{where}: malformed initreg provenance ({type(exc).__name__}: {exc})") from None
    run = meta.get(RUN_KEY)
    return Provenance(meta["initreg.version"], meta["initreg.algorithm"], seed, rules, records,
                      None if run is None else str(run), _optional_json(meta, PLUGINS_KEY, where) or {},
                      _optional_json(meta, VARS_KEY, where), rules_text)


def recorded_seed(text: Any) -> int:
    """The seed in a file's metadata, exactly as initreg writes it (``str(seed)``: ASCII digits, no sign, space or
    leading zero); ValueError for anything else (" 3", "+3", "0003", "٣" and "1_000" are not what was written)."""
    if not isinstance(text, str) or not _SEED.fullmatch(text):
        raise ValueError(f"the recorded seed {text[:60] if isinstance(text, str) else text!r} is not a seed as "
                         f"initreg writes it (decimal digits without sign, spaces or leading zeros)")
    return int(text)


def _optional_json(meta: Mapping[str, str], key: str, where: str) -> Any:
    """The JSON object under an optional metadata ``key`` (None when absent); ProvenanceError when it is not one."""
    text = meta.get(key)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProvenanceError(f"{where}: malformed initreg provenance: {key!r} is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ProvenanceError(f"{where}: malformed initreg provenance: {key!r} must be a JSON object, got "
                              f"{type(value).__name__}")
    return value


def recorded_rules(meta: Mapping[str, str], where: str, directory: Path, own: "Iterable[Path] | OwnFiles" = (),
                   ) -> tuple[Any, int | None]:
    """(Rules, seed) recorded in a file's metadata, or (None, None); the rules read no file outside ``directory``
    and none of the checkpoint's ``own`` files."""
    from ..planning.rulefile import loads
    from ..planning.rules import Rules

    text = meta.get(RULES_KEY)
    if not text or text == "null":
        return None, None
    fmt = "json" if text.lstrip().startswith("{") else "toml"
    try:  # parsed once here to count the rules before any is built
        if fmt == "json":
            doc = json.loads(text)
        else:
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            doc = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        raise ProvenanceError(f"{where}: the recorded rules ({RULES_KEY!r}) are not valid {fmt.upper()} "
                              f"({type(exc).__name__}: {exc}); pass the rules with --rules FILE") from None
    count = len(doc["rule"]) if isinstance(doc, dict) and isinstance(doc.get("rule"), list) else 0
    if count > MAX_RULES:
        raise ProvenanceError(f"{where}: the recorded rules hold {count:,} rules, over initreg's limit of "
                              f"{MAX_RULES:,}; pass the rules with --rules FILE")
    own = own if isinstance(own, OwnFiles) else OwnFiles(own)  # resolved at most once for all the rules

    def vet(init: Any, what: str) -> None:  # every file a rule reads, a rule with expressions' too (per parameter)
        confine(init, directory, what, own)
    rules = loads(text, fmt, f"{where}: metadata {RULES_KEY!r}", Rules, root=directory, vet=vet)
    seed = meta.get(SEED_KEY)
    try:
        return rules, recorded_seed(seed) if seed is not None else rules.seed
    except ValueError as exc:  # "٣".isdigit() is true, int() then took it as 3
        raise ProvenanceError(f"{where}: malformed initreg provenance ({exc})") from None


class OwnFiles:
    """A checkpoint's own files, their real paths resolved once, on the first question (none for most checks)."""

    def __init__(self, files: Iterable[Path]):
        self.files = tuple(files)
        self._real: frozenset[str] | None = None

    def __contains__(self, path: object) -> bool:
        import os

        if self._real is None:
            self._real = frozenset(os.path.realpath(f) for f in self.files)
        return os.path.realpath(path) in self._real  # type: ignore[arg-type]


def confine(init: Any, directory: Path, where: str, own: Iterable[Path] | OwnFiles = ()) -> Any:
    """``init`` with every file it reads (a ``load``'s path, nested ones too) taken inside ``directory``.

    A recorded path is read relative to the checkpoint's directory: the file must be part of the
    checkpoint, and not one of its ``own`` files (a tensor loaded from the file that holds it would vouch
    for itself). An absolute path, ``..``, a symlink out or an own file is a ProvenanceError naming ``where``.
    Pass one ``OwnFiles`` for many calls: the own files are then resolved once, and only if something reads a file.
    """
    from .checkpoint import inside

    mine = own if isinstance(own, OwnFiles) else OwnFiles(own)
    for reader in file_readers(init):
        try:
            target = inside(directory, reader.path, f"{where}: {reader.name}")
        except CheckpointError as exc:
            raise ProvenanceError(f"{exc}; it is not checked") from None
        if target in mine:
            raise ProvenanceError(f"{where}: {reader.name} reads {str(target)!r}, a file of the checkpoint being "
                                  f"checked: its values would be compared with themselves; it is not checked")
        reader.path = str(target)
    return init
