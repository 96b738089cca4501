"""Helpers for crafted-checkpoint tests: real small initreg checkpoints, and safetensors files taken apart and
put back together byte by byte (header JSON and data section), so a test can change any field."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from initreg.cli import main

RULES = 'seed = 3\n[[rule]]\npattern = "*.weight"\ninit = "xavier"\n[[rule]]\npattern = "*.bias"\ninit = "zeros"\n'
SPEC = [{"name": "a.weight", "shape": [24, 16]}, {"name": "a.bias", "shape": [24]},
        {"name": "b.weight", "shape": [16, 24], "dtype": "float64"}, {"name": "s", "shape": []},
        {"name": "e.weight", "shape": [0, 5]}]


def make_checkpoints(d: Path) -> Path:
    """``d`` holding ``one.safetensors`` (one file), ``ckpt/`` (sharded, 3+ files) and ``one.npz``, all from SPEC."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "rules.toml").write_text(RULES)
    (d / "spec.json").write_text(json.dumps(SPEC))
    base = ["init", "--params", str(d / "spec.json"), "--rules", str(d / "rules.toml"), "-q", "-o"]
    assert main(base + [str(d / "one.safetensors")]) == 0
    assert main(base + [str(d / "ckpt"), "--max-shard-size", "1KB"]) == 0
    assert main(base + [str(d / "one.npz")]) == 0
    return d


def split(raw: bytes) -> tuple[dict, bytes]:
    """(header as a dict, data section) of a .safetensors file's bytes."""
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def join(header: dict | bytes, data: bytes) -> bytes:
    """The bytes of a .safetensors file with ``header`` (a dict, or raw JSON bytes) and ``data``."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def rewrite(path: Path, change) -> Path:
    """Apply ``change(header, data) -> (header, data)`` to the safetensors file at ``path`` in place."""
    header, data = split(path.read_bytes())
    header, data = change(header, data)
    path.write_bytes(join(header, data))
    return path


def set_tensor_record(path: Path, name: str, **fields) -> Path:
    """Change fields of tensor ``name``'s provenance record in the file's metadata."""
    def change(header, data):
        tensors = json.loads(header["__metadata__"]["initreg.tensors"])
        tensors[name].update(fields)
        header["__metadata__"]["initreg.tensors"] = json.dumps(tensors)
        return header, data
    return rewrite(path, change)


def copy_tree(src: Path, dst: Path) -> Path:
    """A plain copy of a checkpoint directory (files only)."""
    dst.mkdir(parents=True)
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst
