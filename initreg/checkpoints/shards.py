"""The file plan of a .safetensors checkpoint: which tensors go in which file, each file's header bytes,
each tensor's byte range, and the pieces (row ranges) in which the values are computed and written.

Everything here is known before a value is drawn: a safetensors header depends only on names, dtypes,
shapes and metadata. Sharded plans split the tensors in the model's order with huggingface_hub's own
planner (``split_state_dict_into_shards_factory``), so the same tensors land in the same files as
``huggingface_hub.split_torch_state_dict_into_shards`` puts them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .checkpoint import INDEX_NAME, read_index
from ..core.shapes import row_slabs
from .files import safetensors_header, stored_dtype
from ..errors import CheckpointError, MissingDependencyError, ShardError

FILENAME_PATTERN = "model{suffix}.safetensors"
DEFAULT_MAX_SHARD_SIZE = "5GB"
PIECE_BYTES = 32 << 20  # values are computed and written this many bytes at a time (two such buffers per process)
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]B)?\s*\Z", re.I)
SHARD_NAME = re.compile(r"model(-\d{5}-of-\d{5})?\.safetensors\Z")

Specs = Mapping[str, tuple[tuple[int, ...], str]]



def parse_size(text: Any, what: str = "--max-shard-size") -> int:
    """Bytes from a size such as ``"5GB"``, ``"500MB"`` or ``"1048576"`` (decimal units, as huggingface_hub reads them)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = _SIZE.match(str(text))
        if not m:
            raise ShardError(f"{what}: cannot read {text!r} as a size; write a number of bytes or a number with KB, MB, "
                             f"GB or TB (decimal units: 5GB = 5,000,000,000 bytes), e.g. 5GB or 500MB")
        from huggingface_hub.serialization._base import parse_size_to_int  # the planner's own reading of units

        value = parse_size_to_int(m.group(1) + m.group(2).upper()) if m.group(2) else int(float(m.group(1)))
    if value <= 0:
        raise ShardError(f"{what}: the size must be positive, got {text!r}; e.g. 5GB")
    return value


@dataclass(frozen=True)
class FilePlan:
    """One file of a checkpoint: its name, number (1-based) of ``count``, header bytes and tensors' byte ranges."""

    filename: str
    number: int
    count: int
    names: tuple[str, ...]  # in the model's order
    header: bytes  # the 8-byte length, the JSON header and its padding
    ranges: Mapping[str, tuple[int, int]]  # name -> (start, end) byte in the file, in file order
    size: int  # bytes of the whole file


@dataclass(frozen=True)
class Piece:
    """A contiguous byte range of one tensor: rows ``index`` of its first dimension (None: the whole tensor)."""

    file: int  # the file's number
    name: str
    index: Any  # a tuple of one slice, () for a 0-d tensor, None for the whole tensor at once
    shape: tuple[int, ...]  # of the region
    offset: int  # byte in the file
    nbytes: int


@dataclass(frozen=True)
class CheckpointPlan:
    """Every file of a checkpoint, in order, and its index when it is sharded."""

    files: tuple[FilePlan, ...]
    specs: Specs
    sharded: bool

    @property
    def total_size(self) -> int:
        """Bytes of tensor data in all files (the index's ``metadata.total_size``)."""
        return sum(math.prod(s) * stored_dtype(d).itemsize for s, d in self.specs.values())

    def index(self) -> dict[str, Any]:
        """The ``model.safetensors.index.json`` document: metadata.total_size and weight_map."""
        return {"metadata": {"total_size": self.total_size},
                "weight_map": {n: f.filename for f in self.files for n in f.names}}

    def index_text(self) -> str:
        """The index file's text, as transformers writes it (indent 2, sorted keys, final newline)."""
        return json.dumps(self.index(), indent=2, sort_keys=True) + "\n"

    def file(self, number: int) -> FilePlan:
        """File ``number`` (1-based)."""
        if not 1 <= number <= len(self.files):
            raise ShardError(f"--shard {number}/{len(self.files)}: this checkpoint has {len(self.files)} file(s); "
                             f"give a shard number from 1 to {len(self.files)}")
        return self.files[number - 1]


def _file(filename: str, number: int, count: int, names: Sequence[str], specs: Specs,
          metadata: Mapping[str, str] | None) -> FilePlan:
    header, ranges = safetensors_header({n: specs[n] for n in names}, metadata)
    size = max([len(header)] + [end for _, end in ranges.values()])
    return FilePlan(filename, number, count, tuple(names), header, ranges, size)


def plan_file(filename: str, specs: Specs, metadata_of: Callable[[Sequence[str]], Mapping[str, str]] | None = None,
              ) -> CheckpointPlan:
    """A one-file plan: every tensor in ``filename``."""
    names = list(specs)
    return CheckpointPlan((_file(filename, 1, 1, names, specs, metadata_of(names) if metadata_of else None),),
                          dict(specs), False)


def split(specs: Specs, max_shard_size: int) -> dict[str, list[str]]:
    """Filename → tensor names, split in order exactly as huggingface_hub splits a state dict of these tensors."""
    try:
        from huggingface_hub import split_state_dict_into_shards_factory
    except ImportError as exc:
        raise MissingDependencyError("sharded checkpoints need huggingface_hub (its planner decides the split); "
                                     "install it with: pip install 'initreg[dask]'") from exc
    split = split_state_dict_into_shards_factory(
        dict(specs), get_storage_size=lambda spec: math.prod(spec[0]) * stored_dtype(spec[1]).itemsize,
        filename_pattern=FILENAME_PATTERN, max_shard_size=max_shard_size)
    return split.filename_to_tensors


def plan_shards(specs: Specs, max_shard_size: int,
                metadata_of: Callable[[Sequence[str]], Mapping[str, str]] | None = None) -> CheckpointPlan:
    """Hugging Face-style files ``model-XXXXX-of-YYYYY.safetensors`` of at most ``max_shard_size`` bytes each."""
    files = split(specs, max_shard_size) if specs else {FILENAME_PATTERN.format(suffix=""): []}
    count = len(files)
    plans = tuple(_file(name, i, count, names, specs, metadata_of(names) if metadata_of else None)
                  for i, (name, names) in enumerate(files.items(), 1))
    return CheckpointPlan(plans, dict(specs), count > 1)


def pieces(file: FilePlan, specs: Specs, whole: Callable[[str], bool] = lambda name: False,
           piece_bytes: int = PIECE_BYTES) -> list[Piece]:
    """The pieces of ``file`` in file order: row ranges of at most ``piece_bytes`` (at least one row each)."""
    out = []
    for name, (start, end) in file.ranges.items():
        shape, dtype = specs[name]
        if end == start:
            continue
        if whole(name) or not shape:
            out.append(Piece(file.number, name, None if shape else (), tuple(shape), start, end - start))
            continue
        row = (end - start) // shape[0]
        for r0, r1 in row_slabs(shape[0], row, piece_bytes):
            out.append(Piece(file.number, name, (slice(r0, r1),), (r1 - r0, *shape[1:]), start + r0 * row,
                             (r1 - r0) * row))
    return out


def check_directory(directory: Path, plan: CheckpointPlan) -> None:
    """ShardError when ``directory`` already holds a checkpoint other than ``plan`` (other files or another index)."""
    from .files import file_kind

    kind = file_kind(directory, "output directory")
    if kind is None:
        return
    if kind != "directory":
        raise ShardError(f"output {str(directory)!r} exists and is not a directory; give a directory for a sharded "
                         f"checkpoint, or a path ending in .safetensors for one file")
    ours = {f.filename for f in plan.files}
    others = sorted(p.name for p in directory.iterdir() if SHARD_NAME.match(p.name) and p.name not in ours)
    if others:
        raise ShardError(f"output directory {str(directory)!r} already holds another model ({', '.join(others[:3])}"
                         f"{', ...' if len(others) > 3 else ''} is not a file of this checkpoint); use an empty "
                         f"directory or remove those files")
    index = directory / INDEX_NAME
    if file_kind(index, "index") is not None:
        try:
            weight_map = read_index(index).weight_map
        except CheckpointError as exc:
            raise ShardError(f"output directory {str(directory)!r} holds an unreadable {INDEX_NAME} ({exc}); "
                             f"use an empty directory or remove it") from None
        if weight_map != plan.index()["weight_map"]:
            raise ShardError(f"output directory {str(directory)!r} already holds another model: its {INDEX_NAME} "
                             f"maps other tensors to other files; use an empty directory or remove it")
