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

Provenance comes from files others wrote: reading it never names a file outside the checkpoint (``confine``)
and the recorded rules are bounded (``MAX_RULES``) before they are parsed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ..errors import CheckpointError, ProvenanceError

PREFIX = "initreg."
KEYS = ("initreg.version", "initreg.algorithm", "initreg.seed", "initreg.rules", "initreg.tensors")
RUN_KEY = "initreg.run"  # optional: files written before it was recorded have none
RULES_KEY, SEED_KEY = "initreg.rules", "initreg.seed"
MAX_RULES = 10_000  # rules in a recorded rule document (a checkpoint's rules are its own; real ones are dozens)



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

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form stored in the file."""
        return {"init": self.init, "plugin": self.plugin, "source": self.source, "rule": self.rule,
                "pattern": self.pattern, "layout": self.layout, "key": self.key,
                "shape": None if self.shape is None else list(self.shape), "dtype": self.dtype,
                "portable": self.portable}


@dataclass(frozen=True)
class Provenance:
    """What a file's metadata says reproduces it."""

    version: str
    algorithm: str
    seed: int
    rules: Any  # the rule document, or None
    tensors: Mapping[str, TensorRecord]
    run: str | None = None

    def identity(self) -> tuple[str, int, str, str | None]:
        """What every file of one checkpoint shares: bit algorithm, seed, rules and run id (not the version: shard
        tasks may run on patch releases of one algorithm)."""
        return (self.algorithm, self.seed, json.dumps(self.rules, sort_keys=True), self.run)


def record(row: Any) -> TensorRecord:
    """The TensorRecord of one row of an Explanation (initreg.plan)."""
    from ..planning.regions import plugin_of

    return TensorRecord(row.name, json.loads(row.initializer.dumps()), plugin_of(row.initializer), row.source,
                        row.rule, row.pattern, row.layout, row.key, tuple(row.shape), str(row.dtype),
                        bool(row.initializer.portable))


def _document(rules: Any) -> Any:
    return rules.to_document() if rules is not None and hasattr(rules, "to_document") else rules


def run_id(rows: Iterable[Any], seed: int, rules: Any = None, plan: Any = None) -> str:
    """The id of one checkpoint run: a hash of everything that defines its files (``plan``: the file layout).

    Every ``--shard`` task of one run computes the same id; another seed, rule set, model or layout gives
    another, so files of two runs mixed in one directory are told apart.
    """
    from ..core.stream import ALGORITHM

    doc = {"algorithm": ALGORITHM, "seed": seed, "rules": _document(rules), "plan": plan,
           "tensors": [[r.name, list(r.shape), str(r.dtype), record(r).as_dict()] for r in rows]}
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def metadata(rows: Iterable[Any], seed: int, rules: Any = None, run: str | None = None) -> dict[str, str]:
    """The ``__metadata__`` strings for a file holding ``rows`` (Explanation rows) drawn with ``seed`` and ``rules``."""
    from ..core.stream import ALGORITHM
    from ..version import __version__

    compact = {"separators": (",", ":"), "ensure_ascii": False}
    meta = {"format": "pt", "initreg.version": __version__, "initreg.algorithm": ALGORITHM,
            "initreg.seed": str(seed), "initreg.rules": json.dumps(_document(rules), **compact),
            "initreg.tensors": json.dumps({r.name: record(r).as_dict() for r in rows}, **compact)}
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
        seed = int(meta["initreg.seed"])
        rules = json.loads(meta["initreg.rules"])
        tensors = json.loads(meta["initreg.tensors"])
        records = {name: TensorRecord(name, t["init"], str(t.get("plugin", "?")), str(t.get("source", "?")),
                                      t.get("rule"), t.get("pattern"), t.get("layout"), t.get("key"),
                                      None if t.get("shape") is None else tuple(t["shape"]), t.get("dtype"),
                                      t.get("portable", True) is not False)
                   for name, t in tensors.items()}
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise ProvenanceError(f"{where}: malformed initreg provenance ({type(exc).__name__}: {exc})") from None
    run = meta.get(RUN_KEY)
    return Provenance(meta["initreg.version"], meta["initreg.algorithm"], seed, rules, records,
                      None if run is None else str(run))


def recorded_rules(meta: Mapping[str, str], where: str, directory: Path, own: Iterable[Path] = (),
                   ) -> tuple[Any, int | None]:
    """(Rules, seed) recorded in a file's metadata, or (None, None); the rules read no file outside ``directory``
    and none of the checkpoint's ``own`` files."""
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
    rules = Rules.loads(text, format=fmt, source=f"{where}: metadata {RULES_KEY!r}")
    for rule in rules:
        confine(rule.init, directory, f"{where}: recorded rule {rule.number} ({rule.pattern!r})", own)
    if rules.default is not None:
        confine(rules.default, directory, f"{where}: the recorded rules' default", own)
    seed = meta.get(SEED_KEY)
    return rules, (int(seed) if seed is not None and str(seed).isdigit() and len(str(seed)) < 40 else rules.seed)


def _file_readers(value: Any, seen: set[int]) -> Iterator[Any]:
    """Initializers in ``value`` (nested ones too) that read a file (``reads_file``, e.g. ``load``)."""
    from ..core.initializer import Initializer

    if isinstance(value, Initializer):
        if id(value) in seen:
            return
        seen.add(id(value))
        if getattr(value, "reads_file", False):
            yield value
        for v in value.config().values():
            yield from _file_readers(v, seen)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _file_readers(v, seen)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _file_readers(v, seen)


def confine(init: Any, directory: Path, where: str, own: Iterable[Path] = ()) -> Any:
    """``init`` with every file it reads (a ``load``'s path, nested ones too) taken inside ``directory``.

    A recorded path is read relative to the checkpoint's directory: the file must be part of the
    checkpoint, and not one of its ``own`` files (a tensor loaded from the file that holds it would vouch
    for itself). An absolute path, ``..``, a symlink out or an own file is a ProvenanceError naming ``where``.
    """
    import os

    from .checkpoint import inside

    mine = {os.path.realpath(f) for f in own}
    for reader in _file_readers(init, set()):
        try:
            target = inside(directory, reader.path, f"{where}: {reader.name}")
        except CheckpointError as exc:
            raise ProvenanceError(f"{exc}; it is not checked") from None
        if os.path.realpath(target) in mine:
            raise ProvenanceError(f"{where}: {reader.name} reads {str(target)!r}, a file of the checkpoint being "
                                  f"checked: its values would be compared with themselves; it is not checked")
        reader.path = str(target)
    return init
