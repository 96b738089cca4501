"""Provenance in a .safetensors ``__metadata__``: what reproduces each tensor (version, bit algorithm, seed,
rules, and per tensor its initializer spec, source, layout and stream key), written and read back.

safetensors metadata values are strings: the structured ones are JSON text. Keys::

    format              "pt" (transformers refuses a file whose metadata lacks it)
    initreg.version     the initreg that wrote the file
    initreg.algorithm   initreg.core.stream.ALGORITHM: the bit-level contract of the streams
    initreg.seed        the seed, as decimal text
    initreg.rules       the rule document (Rules.to_document()) as JSON, or "null"
    initreg.tensors     JSON {name: {"init": spec, "plugin", "source", "rule", "pattern", "layout", "key"}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..errors import CheckpointError

PREFIX = "initreg."
KEYS = ("initreg.version", "initreg.algorithm", "initreg.seed", "initreg.rules", "initreg.tensors")


class ProvenanceError(CheckpointError):
    """A file whose metadata does not say how to reproduce it (missing, malformed or incomplete provenance)."""


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

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready form stored in the file."""
        return {"init": self.init, "plugin": self.plugin, "source": self.source, "rule": self.rule,
                "pattern": self.pattern, "layout": self.layout, "key": self.key}


@dataclass(frozen=True)
class Provenance:
    """What a file's metadata says reproduces it."""

    version: str
    algorithm: str
    seed: int
    rules: Any  # the rule document, or None
    tensors: Mapping[str, TensorRecord]


def record(row: Any) -> TensorRecord:
    """The TensorRecord of one row of an Explanation (initreg.plan)."""
    from ..planning.regions import plugin_of

    return TensorRecord(row.name, json.loads(row.initializer.dumps()), plugin_of(row.initializer), row.source,
                        row.rule, row.pattern, row.layout, row.key)


def metadata(rows: Iterable[Any], seed: int, rules: Any = None) -> dict[str, str]:
    """The ``__metadata__`` strings for a file holding ``rows`` (Explanation rows) drawn with ``seed`` and ``rules``."""
    from ..core.stream import ALGORITHM
    from ..version import __version__

    doc = rules.to_document() if rules is not None and hasattr(rules, "to_document") else rules
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    return {"format": "pt", "initreg.version": __version__, "initreg.algorithm": ALGORITHM,
            "initreg.seed": str(seed), "initreg.rules": json.dumps(doc, **compact),
            "initreg.tensors": json.dumps({r.name: record(r).as_dict() for r in rows}, **compact)}


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
                                      t.get("rule"), t.get("pattern"), t.get("layout"), t.get("key"))
                   for name, t in tensors.items()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ProvenanceError(f"{where}: malformed initreg provenance ({type(exc).__name__}: {exc})") from None
    return Provenance(meta["initreg.version"], meta["initreg.algorithm"], seed, rules, records)
