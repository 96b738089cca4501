"""``initreg.verify(path)``: recompute a checkpoint's tensors from the provenance in its metadata alone and
compare the bits: every value, or ``sample`` random regions per tensor through the region API.

Status 0: identical; 1: some tensor differs (each named with its first differing index); 2: the input
cannot be checked (no provenance, another bit algorithm, an initializer whose plugin is not installed).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError, InitregError

PIECE_BYTES = 32 << 20
SAMPLE_VALUES = 4096  # at most this many values in one sampled region


@dataclass(frozen=True)
class Mismatch:
    """A tensor whose stored bits differ from the recomputed ones, at ``index`` first (C order of the checked part)."""

    file: str
    tensor: str
    index: tuple[int, ...] | None  # None: the tensor is missing or has another shape/dtype
    stored: Any = None
    expected: Any = None
    why: str = ""

    def __str__(self) -> str:
        if self.index is None:
            return f"{self.file}: tensor {self.tensor!r}: {self.why}"
        return (f"{self.file}: tensor {self.tensor!r} differs first at index {self.index}: the file holds "
                f"{self.stored!r}, the provenance gives {self.expected!r}")


@dataclass
class VerifyResult:
    """What verify() found: ``status`` 0 identical, 1 mismatch, 2 not checkable (``problems`` say why)."""

    path: str
    files: list[str] = field(default_factory=list)
    tensors: int = 0  # tensors checked
    values: int = 0  # values compared
    sample: int | None = None
    mismatches: list[Mismatch] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> int:
        """The exit status of ``initreg verify``: 2 if it could not check, 1 on a mismatch, else 0."""
        return 2 if self.problems else 1 if self.mismatches else 0

    @property
    def ok(self) -> bool:
        """Whether every checked value is identical and nothing was left unchecked."""
        return self.status == 0

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        how = f"{self.sample} random region(s) per tensor" if self.sample else "every value"
        lines = [f"cannot check: {p}" for p in self.problems] + [f"mismatch: {m}" for m in self.mismatches]
        verdict = {0: "identical", 1: "DIFFERENT", 2: "NOT CHECKED"}[self.status]
        lines.append(f"{self.path}: {verdict} ({self.tensors} tensor(s) in {len(self.files)} file(s), "
                     f"{self.values:,} values compared, {how})")
        return "\n".join(lines)


class _Unverifiable(Exception):
    """Input verify cannot check: ends the check of the file with status 2."""


def _files(path: Path) -> tuple[list[Path], dict[str, str] | None]:
    """The .safetensors files to check and the index's weight_map (None without an index)."""
    from .shards import FILENAME_PATTERN, INDEX_NAME

    if path.is_dir():
        index = path / INDEX_NAME
        if not index.exists():
            single = path / FILENAME_PATTERN.format(suffix="")
            if single.exists():
                return [single], None
            raise _Unverifiable(f"directory {str(path)!r} holds neither {INDEX_NAME} nor model.safetensors")
        path = index
    if path.name.endswith(".index.json"):
        try:
            weight_map = json.loads(path.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise _Unverifiable(f"{str(path)!r} is not a readable safetensors index ({exc})") from None
        return [path.parent / n for n in names], weight_map
    if path.suffix.lower() != ".safetensors":
        raise _Unverifiable(f"{str(path)!r} is not a .safetensors file, an index or a directory with one; only "
                            f".safetensors files carry provenance")
    return [path], None


def _initializer(spec: Any, plugin: str, tensor: str, where: str) -> Any:
    from ..errors import UnknownInitializerError
    from ..plugins.specs import as_initializer

    try:
        return as_initializer(spec)
    except UnknownInitializerError as exc:
        raise _Unverifiable(f"{where}: tensor {tensor!r} was drawn with {json.dumps(spec)} from plugin {plugin!r}, "
                            f"which is not installed here ({exc}); install {plugin} to check it") from None
    except InitregError as exc:
        raise _Unverifiable(f"{where}: tensor {tensor!r}: its initializer {json.dumps(spec)} cannot be rebuilt "
                            f"({exc})") from None


def _bits(a: np.ndarray) -> np.ndarray:
    """The values as unsigned integers of the same width: compared bit for bit (NaN, -0.0 included)."""
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.itemsize in (1, 2, 4, 8) else a.view(np.uint8)


def _first_difference(stored: np.ndarray, expected: np.ndarray) -> int | None:
    """The flat position of the first value whose bits differ, or None."""
    diff = _bits(np.ascontiguousarray(stored)).reshape(-1) != _bits(np.ascontiguousarray(expected)).reshape(-1)
    k = int(np.argmax(diff)) if diff.size else 0
    return k if diff.size and diff[k] else None


def _regions(shape: tuple[int, ...], k: int, rng: np.random.Generator) -> list[tuple[slice, ...]]:
    """``k`` random boxes inside ``shape`` of at most SAMPLE_VALUES values each."""
    out = []
    for _ in range(k):
        budget, box = SAMPLE_VALUES, []
        for d in reversed(shape):
            n = int(rng.integers(1, max(1, min(d, budget)) + 1))
            start = int(rng.integers(0, d - n + 1))
            box.append(slice(start, start + n))
            budget = max(1, budget // n)
        out.append(tuple(reversed(box)))
    return out


def _check_file(path: Path, result: VerifyResult, sample: int | None, rng: np.random.Generator,
                expected_names: list[str] | None) -> None:
    from .files import safetensors_layout
    from .provenance import read
    from ..core.stream import ALGORITHM
    from ..planning.regions import region_mode, values

    where = path.name
    try:
        meta, layout = safetensors_layout(path)
    except CheckpointError as exc:
        raise _Unverifiable(str(exc)) from None
    try:
        prov = read(meta, where)
    except CheckpointError as exc:
        raise _Unverifiable(str(exc)) from None
    if prov.algorithm != ALGORITHM:
        raise _Unverifiable(f"{where} was drawn with bit algorithm {prov.algorithm!r} (initreg {prov.version}); this "
                            f"initreg implements {ALGORITHM!r}: check it with initreg {prov.version}")
    for name in expected_names or []:
        if name not in layout:
            result.mismatches.append(Mismatch(where, name, None, why="listed in the index but not in this file"))
    unknown = [n for n in layout if n not in prov.tensors]
    if unknown:
        raise _Unverifiable(f"{where}: tensor(s) {', '.join(map(repr, unknown[:5]))} have no provenance record")
    inits = {n: _initializer(prov.tensors[n].init, prov.tensors[n].plugin, n, where) for n in layout}
    for name, (shape, dtype, start, end) in layout.items():
        rec = prov.tensors[name]
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise _Unverifiable(f"{where}: tensor {name!r} has dtype {dtype}, which NumPy cannot hold") from None
        args = dict(name=name, seed=prov.seed, dtype=dt, layout=rec.layout)
        result.tensors += 1
        if end - start != math.prod(shape) * dt.itemsize:
            result.mismatches.append(Mismatch(where, name, None, why="its byte range does not match its shape"))
            continue

        whole = region_mode(inits[name]) == "whole" or not shape
        full = values(inits[name], shape, **args) if whole else None
        if sample and shape:
            _compare_sampled(path, where, name, (shape, dt, start), sample, rng, result,
                             lambda box: full[box] if full is not None else values(inits[name], shape, index=box, **args))
            continue
        rows, row = (shape[0], math.prod(shape[1:])) if shape else (1, 1)
        step = max(1, PIECE_BYTES // max(1, row * dt.itemsize))
        for r0 in range(0, rows, step):
            r1 = min(rows, r0 + step)
            exp = full.reshape(rows, row)[r0:r1] if full is not None else values(inits[name], shape, index=(slice(r0, r1),), **args)
            got = np.fromfile(path, dtype=dt.newbyteorder("<"), count=(r1 - r0) * row, offset=start + r0 * row * dt.itemsize)
            result.values += got.size
            k = _first_difference(got, exp)
            if k is not None:
                index = tuple(int(i) for i in np.unravel_index(r0 * row + k, shape))
                result.mismatches.append(Mismatch(where, name, index, got[k].item(),
                                                  np.ascontiguousarray(exp).reshape(-1)[k].item()))
                break


def _compare_sampled(path: Path, where: str, name: str, layout: tuple, sample: int, rng: np.random.Generator,
                     result: VerifyResult, expected: Any) -> None:
    """Compare ``sample`` random boxes of one tensor; record the first differing index."""
    shape, dt, start = layout
    mm = np.memmap(path, dtype=dt.newbyteorder("<"), mode="r", offset=start, shape=shape)
    for box in _regions(shape, sample, rng):
        exp = np.ascontiguousarray(expected(box))
        got = np.ascontiguousarray(mm[box])
        result.values += exp.size
        k = _first_difference(got, exp)
        if k is not None:
            local = np.unravel_index(k, exp.shape)
            index = tuple(int(b.start + i) for b, i in zip(box, local))
            result.mismatches.append(Mismatch(where, name, index, got[local].item(), exp[local].item()))
            return


def verify(path: str | os.PathLike, *, sample: int | None = None, sample_seed: int = 0) -> VerifyResult:
    """Recompute the checkpoint at ``path`` (a file, an index, or a directory) from its provenance and compare bits."""
    path = Path(os.fspath(path))
    result = VerifyResult(str(path), sample=sample)
    rng = np.random.default_rng(sample_seed)
    if not path.exists():
        result.problems.append(f"{str(path)!r} does not exist")
        return result
    try:
        files, weight_map = _files(path)
    except _Unverifiable as exc:
        result.problems.append(str(exc))
        return result
    for f in files:
        result.files.append(f.name)
        if not f.exists():
            result.problems.append(f"{f.name}, listed in the index, does not exist")
            continue
        names = None if weight_map is None else [n for n, fn in weight_map.items() if fn == f.name]
        try:
            _check_file(f, result, sample, rng, names)
        except _Unverifiable as exc:
            result.problems.append(str(exc))
    return result
