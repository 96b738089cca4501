"""``initreg verify PATH``: recompute a checkpoint from the provenance in its metadata and compare the bits."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .output import emit_json, int_at_least, printable


def add_parser(sub: Any) -> None:
    """Add the ``verify`` subcommand."""
    p = sub.add_parser("verify", help="check that a checkpoint holds what its recorded rules and seed produce",
                       description="Recompute every tensor of a .safetensors checkpoint written by initreg init (a "
                                   "file, an index, or a directory with model.safetensors.index.json) from the "
                                   "provenance in its metadata alone, and compare the bits. Exit 0: identical; 1: a "
                                   "tensor differs (named, with its first differing index); 2: the input cannot be "
                                   "checked (no provenance, another bit algorithm, a plugin that is not installed).")
    p.add_argument("path", metavar="PATH", help="a .safetensors file, an *.index.json, or a directory holding one")
    p.add_argument("--sample", metavar="K", type=_positive, default=None,
                   help="compare K random regions per tensor (through the region API) instead of every value")
    p.add_argument("--sample-seed", metavar="S", type=_seed, default=0, help="seed of the region choice (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="print only problems and mismatches")
    p.set_defaults(func=run_verify)


_positive = int_at_least("--sample", 1, "positive")
_seed = int_at_least("--sample-seed", 0, "non-negative")


def run_verify(args: argparse.Namespace) -> int:
    """Print the verdict; exit 0 identical, 1 mismatch, 2 not checkable."""
    from ..checkpoints.verification import verify

    result = verify(args.path, sample=args.sample, sample_seed=args.sample_seed)
    if args.json:
        emit_json(json.dumps({"path": result.path, "status": result.status, "files": result.files,
                              "tensors": result.tensors, "values": result.values, "sample": result.sample,
                              "problems": result.problems, "within_tolerance": result.tolerated,
                              "notes": result.notes,
                              "mismatches": [{"file": m.file, "tensor": m.tensor, "index": m.index, "why": m.why}
                                             for m in result.mismatches]}, indent=2))
        return result.status
    text = [printable(line) for line in result.lines()]  # checkpoint-derived text, escaped once here
    for line in text[:-1]:
        print(f"initreg verify: {line}", file=sys.stderr)
    if not args.quiet or result.status:
        print(text[-1])
    return result.status
