"""One reader of checkpoints that come from others: ``Checkpoint.open(path)`` — a file, an index, or a directory
holding one — treats its input as hostile. Every file it opens lies inside the checkpoint's directory (no
absolute path, no ``..``, no symlink out); the index is bounded in size and checked entry by entry; headers go
through the one header parser (``files.safetensors_layout``) with its limits.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..core.paths import escape_reason
from ..errors import CheckpointError, CheckpointKeyError, CheckpointNotFoundError, clipped
from .files import SAFETENSORS, existing_file, file_kind, safetensors_layout, unique_keys

INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"
MAX_INDEX_BYTES = 64 << 20  # the largest public index (about 90,000 tensors) is under 10 MB


def inside(directory: Path, entry: Any, what: str) -> Path:
    """``directory / entry`` when it resolves inside ``directory``; else a CheckpointError naming ``what`` and the entry.

    Refused: whatever :func:`initreg.core.paths.escape_reason` says leads out (absolute, ``..``, too long, a
    symlink out).
    """
    def refuse(why: str) -> CheckpointError:
        return CheckpointError(f"{what} names the file {clipped(entry)}, {why}; a checkpoint may only name files inside its "
                               f"own directory {str(directory)!r} — the checkpoint is damaged or crafted")

    why = escape_reason(directory, entry)
    if why is not None:
        raise refuse(why)
    return directory / entry


@dataclass(frozen=True)
class Index:
    """A sharded checkpoint's index: tensor → file (``weight_map``), the files in name order, its ``metadata``."""

    path: Path
    weight_map: Mapping[str, str]
    metadata: Mapping[str, Any]
    files: Mapping[str, tuple[str, ...]]  # file name -> its tensors, in index order; files sorted by name


def read_index(path: Path) -> Index:
    """The index at ``path``, every entry checked (a .safetensors file inside its directory); CheckpointError if not."""
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{str(path)!r} is not a valid safetensors index: {why}; the checkpoint is damaged "
                               f"or crafted — re-save it")

    if file_kind(path, "index") not in ("file", None):  # a FIFO or device would block or never end
        raise bad("it is not a regular file")
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_INDEX_BYTES:
                raise bad(f"it holds {size:,} bytes, over initreg's limit of {MAX_INDEX_BYTES:,}")
            doc = json.loads(fh.read(MAX_INDEX_BYTES + 1).decode("utf-8"), object_pairs_hook=unique_keys)
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"index {str(path)!r} does not exist; check the path") from None
    except CheckpointError:
        raise
    except (OSError, ValueError, RecursionError) as exc:
        raise bad(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("weight_map"), dict):
        raise bad("it needs a 'weight_map' table of tensor name -> file name")
    weight_map, metadata = doc["weight_map"], doc.get("metadata", {})
    if not weight_map:
        raise bad("its weight_map is empty (a checkpoint of no tensor)")
    if not isinstance(metadata, dict):
        raise bad("its 'metadata' is not a table")
    files: dict[str, list[str]] = {}
    for name, file in weight_map.items():  # names are checked where they matter: against the files' headers
        if not isinstance(file, str) or not file.endswith(".safetensors"):
            raise bad(f"tensor {name[:200]!r} is mapped to {str(file)[:200]!r}, not a .safetensors file name")
        files.setdefault(file, []).append(name)
    for file in files:
        inside(path.parent, file, f"{str(path)!r}")
    return Index(path, weight_map, metadata, {f: tuple(files[f]) for f in sorted(files)})


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint on disk: its ``files`` (each inside ``directory``) and, when sharded, its ``index``."""

    path: Path  # as given
    directory: Path
    files: tuple[Path, ...]
    index: Index | None = None
    format: Any = None  # files.Format of its files: SAFETENSORS unless a single .npz
    _names: Mapping[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _entries: Mapping[str, str] = field(default_factory=dict, repr=False)  # file → its index entry, as written

    @classmethod
    def open(cls, path: Any) -> "Checkpoint":
        """The checkpoint at ``path``: a .safetensors/.npz file, an ``*.index.json``, or a directory holding one."""
        path = Path(os.fspath(path))
        if file_kind(path, "checkpoint") == "directory":
            found = path / INDEX_NAME
            if not found.is_file():
                others = sorted(p.name for p in path.glob("*.index.json") if p.is_file())
                if len(others) == 1:
                    found = path / others[0]
                elif (path / SINGLE_NAME).is_file():
                    return cls(path, path, (inside(path, SINGLE_NAME, f"directory {str(path)!r}"),), None, SAFETENSORS)
                else:
                    raise CheckpointNotFoundError(
                        f"directory {str(path)!r} holds neither {INDEX_NAME} nor {SINGLE_NAME}; point at a checkpoint "
                        f"file, or at a sharded directory with its index")
            return cls._of_index(path, inside(path, found.name, f"directory {str(path)!r}"))
        if path.name.endswith(".index.json"):
            return cls._of_index(path, path)
        path, fmt = existing_file(path)
        return cls(path, path.parent if str(path.parent) else Path("."), (path,), None, fmt)

    @classmethod
    def _of_index(cls, given: Path, index_path: Path) -> "Checkpoint":
        index = read_index(index_path)
        directory = index_path.parent if str(index_path.parent) else Path(".")
        files = tuple(directory / name for name in index.files)
        return cls(given, directory, files, index, SAFETENSORS, {str(directory / n): t for n, t in index.files.items()},
                   {str(directory / n): n for n in index.files})

    def entry(self, file: Path) -> str:
        """How the checkpoint names ``file``: its index entry as written (``sub/x.safetensors``), else its name."""
        return self._entries.get(str(file), file.name)

    def names(self, file: Path) -> tuple[str, ...] | None:
        """The tensors the index maps to ``file`` (None without an index)."""
        return None if self.index is None else self._names.get(str(file), ())

    def layout(self, file: Path) -> tuple[dict[str, str] | None, dict[str, tuple[tuple[int, ...], str, int, int]]]:
        """``file``'s (metadata, name → (shape, dtype, start, end)) through the one header parser."""
        return safetensors_layout(file)

    def metadata(self, file: Path) -> dict[str, str]:
        """``file``'s ``__metadata__`` (empty for .npz and for a file without one)."""
        if self.format is not SAFETENSORS:
            return {}
        return dict(self.layout(file)[0] or {})

    def specs(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Name → (shape, dtype name) of every tensor, without reading values (sharded: those its index lists)."""
        if self.index is None:
            return self.format.layout(self.files[0])
        out: dict[str, tuple[tuple[int, ...], str]] = {}
        for file in self.files:
            layout = self.format.layout(file)
            missing = [n for n in self.names(file) or () if n not in layout]
            if missing:
                raise CheckpointError(f"{str(file)!r} lacks tensor(s) {', '.join(map(repr, missing[:5]))} that the "
                                      f"index maps to it; the checkpoint is not valid (its index and files disagree)")
            out.update({n: layout[n] for n in self.names(file) or ()})
        return {name: out[name] for name in self.index.weight_map}

    def arrays(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """Name → array of ``names`` (None: every tensor; sharded: those its index lists, in index order)."""
        wanted = None if names is None else list(dict.fromkeys(names))
        if self.index is None:
            return self.format.load(self.files[0], wanted)
        weight_map = self.index.weight_map
        wanted = list(weight_map) if wanted is None else wanted
        unknown = [n for n in wanted if n not in weight_map]
        if unknown:
            raise CheckpointKeyError(f"{str(self.index.path)!r} lists no tensor named "
                                     f"{', '.join(map(repr, unknown[:10]))}; it lists {len(weight_map):,}")
        out: dict[str, Any] = {}
        for file in self.files:
            held = set(self.names(file) or ())
            mine = [n for n in wanted if n in held]
            if mine:
                out.update(self.format.load(file, mine))
        return {name: out[name] for name in wanted}


def own_files(ckpt: Checkpoint) -> tuple[Path, ...]:
    """The files that make up ``ckpt``: its data files and its index."""
    return ckpt.files + ((ckpt.index.path,) if ckpt.index is not None else ())
