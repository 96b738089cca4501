"""Writing a planned .safetensors checkpoint: pre-sized temporary files (header written once), each piece's
values computed and written at its own byte offset, then all files renamed onto their targets at once.

Any process can write any piece: the values come from ``initreg.values`` for the piece's region, and the
offset from the plan. In one process the next piece is drawn while the last one is written (``os.pwrite``
on a writer thread releases the GIL), into two reused buffers: memory stays at two pieces, plus a whole
tensor for initializers that can only be drawn whole.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .checkpoint import temp_file, write_at
from .shards import PIECE_BYTES, CheckpointPlan, FilePlan, Piece, pieces


def drawn_whole(row: Any) -> bool:
    """Whether ``row``'s initializer computes only whole tensors (regions = "whole"), so it is one piece."""
    from .regions import region_mode

    return region_mode(row.initializer) == "whole"


def plan_pieces(plan: CheckpointPlan, rows: Mapping[str, Any], numbers: Iterable[int] | None = None,
                piece_bytes: int = PIECE_BYTES) -> list[Piece]:
    """Every piece of the files ``numbers`` (default: all) of ``plan``, in file order."""
    chosen = [plan.file(n) for n in numbers] if numbers is not None else plan.files
    return [p for f in chosen for p in pieces(f, plan.specs, lambda n: drawn_whole(rows[n]), piece_bytes)]


def piece_values(piece: Piece, row: Any, seed: int, buffer: np.ndarray | None = None) -> np.ndarray:
    """The values of ``piece`` (in ``buffer``'s memory when it is given and the piece is a region)."""
    from .regions import values

    args = dict(name=row.name, seed=seed, dtype=row.dtype, layout=row.layout)
    if piece.index is None:
        data = values(row.initializer, row.shape, **args)
    else:
        out = None
        if buffer is not None:
            out = buffer[:piece.nbytes].view(np.dtype(row.dtype)).reshape(piece.shape)
        data = values(row.initializer, row.shape, index=piece.index, out=out, **args)
    if data.dtype.byteorder == ">" or (data.dtype.byteorder == "=" and np.little_endian is False):
        data = data.astype(data.dtype.newbyteorder("<"))  # safetensors is little-endian
    return data


def write_pieces(path: str | os.PathLike, todo: Sequence[Piece], rows: Mapping[str, Any], seed: int,
                 progress: Callable[[Piece], None] | None = None) -> None:
    """Compute and write each piece at its offset of the existing, pre-sized file ``path``."""
    if not todo:
        return
    size = max((p.nbytes for p in todo if p.index is not None), default=0)
    buffers = [np.empty(size, dtype=np.uint8), np.empty(size, dtype=np.uint8)] if size else [None, None]
    fd = os.open(path, os.O_WRONLY)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="initreg-write") as writer:
            pending = None
            for k, piece in enumerate(todo):
                data = piece_values(piece, rows[piece.name], seed, buffers[k % 2])
                if pending is not None:
                    pending.result()  # the buffer drawn into next is the one this write used
                pending = writer.submit(write_at, fd, piece.offset, data)
                if progress is not None:
                    progress(piece)
            pending.result()
    finally:
        os.close(fd)


def prepare(target: Path, file: FilePlan) -> str:
    """A temporary file beside ``target`` holding ``file``'s header, sized to the whole file; returns its name."""
    fd, tmp = temp_file(target)
    try:
        write_at(fd, 0, file.header)
        os.ftruncate(fd, file.size)
    except BaseException:
        os.close(fd)
        discard([tmp])
        raise
    os.close(fd)
    return tmp


def sync(path: str) -> None:
    """Flush ``path``'s data to disk (what any process wrote into it on this host)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def discard(paths: Iterable[str]) -> None:
    """Remove temporary files, ignoring those already gone."""
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass


def commit(temps: Mapping[Path, str], synced: bool = False) -> None:
    """Flush every temporary file (unless already ``synced``), then rename each onto its target."""
    if not synced:
        for tmp in temps.values():
            sync(tmp)
    for target, tmp in temps.items():
        os.replace(tmp, target)


def write_text(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically (a temporary file, then a rename)."""
    fd, tmp = temp_file(target)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        discard([tmp])
        raise


def write_plan(plan: CheckpointPlan, targets: Mapping[int, Path], rows: Mapping[str, Any], seed: int,
               progress: Callable[[Piece], None] | None = None, piece_bytes: int = PIECE_BYTES) -> None:
    """Write files ``targets`` (number → path) of ``plan`` in this process; a failure leaves no target changed."""
    temps: dict[Path, str] = {}
    try:
        # each file is flushed to disk on a thread while the next one is drawn
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="initreg-sync") as flusher:
            flushes = []
            for number, target in targets.items():
                temps[target] = prepare(target, plan.file(number))
                write_pieces(temps[target], plan_pieces(plan, rows, [number], piece_bytes), rows, seed, progress)
                flushes.append(flusher.submit(sync, temps[target]))
            for f in flushes:
                f.result()
        commit(temps, synced=True)
    except BaseException:
        discard(temps.values())
        raise
