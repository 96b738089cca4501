"""Writing a planned .safetensors checkpoint: pre-sized temporary files (header written once), each piece's
values computed and written at its own byte offset, then all files renamed onto their targets at once.

Any process can write any piece: the values come from ``initreg.values`` for the piece's region, and the
offset from the plan. A run of consecutive pieces (a file, or a Dask task's part of one) is written front to
back: values are drawn into two staging buffers that take turns, one written with ``O_DIRECT`` on a writer
thread while the next values are drawn into the other (``direct.py``): memory stays at two pieces, plus a
whole tensor for initializers that can only be drawn whole.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .direct import StagedFile
from .files import fsync_directory, is_bfloat16, temp_file, write_at, write_error
from ..errors import CheckpointWriteError
from .shards import PIECE_BYTES, CheckpointPlan, FilePlan, Piece, pieces


def drawn_whole(row: Any) -> bool:
    """Whether ``row``'s initializer computes only whole tensors (regions = "whole"), so it is one piece."""
    from ..planning.regions import region_mode

    return region_mode(row.initializer) == "whole"


def plan_pieces(plan: CheckpointPlan, rows: Mapping[str, Any], numbers: Iterable[int] | None = None,
                piece_bytes: int = PIECE_BYTES) -> list[Piece]:
    """Every piece of the files ``numbers`` (default: all) of ``plan``, in file order."""
    chosen = [plan.file(n) for n in numbers] if numbers is not None else plan.files
    return [p for f in chosen for p in pieces(f, plan.specs, lambda n: drawn_whole(rows[n]), piece_bytes)]


def piece_values(piece: Piece, row: Any, seed: int, buffer: np.ndarray | None = None) -> np.ndarray:
    """The values of ``piece`` (in ``buffer``'s memory when it is given and the piece is a region)."""
    from ..planning.regions import values, values_into

    args = dict(name=row.key_name or row.name, seed=seed, dtype=row.dtype, layout=row.layout)
    if is_bfloat16(row.dtype):  # as the adapters do: float32 values rounded to nearest even, stored as bits
        from ..core.v4_reference import f32_to_bf16

        return f32_to_bf16(values(row.initializer, row.shape, index=piece.index, **{**args, "dtype": "float32"}))
    if piece.index is None:
        data = values(row.initializer, row.shape, **args)
    else:
        out = None
        if buffer is not None:
            out = buffer[:piece.nbytes].view(np.dtype(row.dtype)).reshape(piece.shape)
        data = values_into(row.initializer, row.shape, index=piece.index, out=out, **args)  # a scratch buffer
    if data.dtype.byteorder == ">" or (data.dtype.byteorder == "=" and np.little_endian is False):
        data = data.astype(data.dtype.newbyteorder("<"))  # safetensors is little-endian
    return data


def write_pieces(path: str | os.PathLike, todo: Sequence[Piece], rows: Mapping[str, Any], seed: int,
                 progress: Callable[[Piece], None] | None = None, header: bytes = b"",
                 piece_bytes: int = PIECE_BYTES) -> None:
    """Compute the consecutive pieces ``todo`` and write them, front to back, into the existing, pre-sized file
    ``path`` (after ``header``, written at offset 0 first, when given)."""
    start = 0 if header else todo[0].offset if todo else 0
    ends = [start + len(header)] + [p.offset + p.nbytes for p in todo]
    if any(p.offset != at for p, at in zip(todo, ends)):
        raise ValueError("write_pieces takes consecutive pieces of one file, in file order")
    if ends[-1] == start:
        return
    staged = StagedFile(path, min(piece_bytes, ends[-1] - start), start)
    try:
        staged.put(header)
        for piece in todo:
            count = math.prod(piece.shape)
            out = staged.reserve(piece.nbytes, piece.nbytes // count) if piece.index is not None and count else None
            data = piece_values(piece, rows[piece.name], seed, out)
            if out is None:
                staged.put(data)
            elif not np.shares_memory(data, out):  # bfloat16 bits, or a byte-order change: computed elsewhere
                out[:] = data.reshape(-1).view(np.uint8)
            if progress is not None:
                progress(piece)
    except BaseException:
        staged.abort()
        raise
    staged.close()


@dataclass(frozen=True)
class Temp:
    """A temporary file being written: its name, and the open descriptor that holds its lock until it is renamed."""

    path: str
    fd: int


def prepare(target: Path, file: FilePlan) -> Temp:
    """A locked temporary file beside ``target`` holding ``file``'s header, sized to the whole file."""
    fd, tmp = temp_file(target)
    try:
        write_at(fd, 0, file.header)
        try:
            os.ftruncate(fd, file.size)
        except OverflowError:  # over 2**63 bytes: no file system holds it
            raise write_error(target, OSError(errno.EFBIG, f"the file would hold {file.size:,} bytes, more than a file "
                                                           f"can"), "sizing the file") from None
    except BaseException:
        discard([Temp(tmp, fd)])
        raise
    return Temp(tmp, fd)


def sync(temp: Temp) -> None:
    """Flush ``temp``'s data to disk (what any process wrote into it on this host)."""
    os.fsync(temp.fd)


def discard(temps: Iterable[Temp]) -> None:
    """Remove temporary files (ignoring those already gone) and release their locks."""
    for t in temps:
        try:
            os.unlink(t.path)
        except OSError:
            pass
        try:
            os.close(t.fd)
        except OSError:
            pass


def discard_own(targets: Iterable[Path]) -> None:
    """Remove this process's temporary files for ``targets``, also one a signal left unrecorded (Ctrl-C in mkstemp)."""
    for target in targets:
        directory = target.parent if str(target.parent) else Path(".")
        for stray in directory.glob(f".{glob.escape(target.name[:100])}.initreg-{os.getpid()}-*.tmp"):
            try:
                stray.unlink()
            except OSError:
                pass


@contextlib.contextmanager
def directory_lock(directories: Iterable[Path]) -> Iterator[None]:
    """Exclusive flocks on ``directories`` (in a fixed order): two writers' renames into one directory never
    interleave. Where a directory cannot be locked (no flock, some network file systems) it is not."""
    fds = []
    try:
        import fcntl

        for directory in sorted({os.path.abspath(d) for d in directories}):
            try:
                fd = os.open(directory, os.O_RDONLY)
            except OSError:
                continue
            fds.append(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                pass
    except ImportError:  # pragma: no cover - Windows
        pass
    try:
        yield
    finally:
        for fd in fds:
            os.close(fd)  # releases its lock


def commit(temps: Mapping[Path, Temp], synced: bool = False) -> None:
    """Flush every temporary file (unless already ``synced``), rename each onto its target, release the locks.

    All or nothing: the renames of one commit run under a lock of their directories (two runs at once end as
    one run's files, never a mix), and when one rename fails every target already replaced gets its old file
    back (kept as a backup until every rename succeeded) before the error is raised.
    """
    if not synced:
        for t in temps.values():
            sync(t)
    with directory_lock(target.parent if str(target.parent) else Path(".") for target in temps):
        backups = _backups(temps)
        done: list[Path] = []
        try:
            for target, t in temps.items():
                os.replace(t.path, target)
                done.append(target)
        except OSError as exc:
            _put_back(done, backups, target, exc)
        except BaseException:  # Ctrl-C between two renames: the same undo, then the interrupt goes on
            _undo(done, backups)
            raise
        discard(backups.values())
    for t in temps.values():
        os.close(t.fd)
    for directory in {target.parent for target in temps}:
        fsync_directory(directory)


def _backups(temps: Mapping[Path, Temp]) -> dict[Path, Temp]:
    """Target → a second, locked name of its old file (for targets that exist); a failure here changes no target."""
    backups: dict[Path, Temp] = {}
    target = next(iter(temps), Path("."))
    try:
        for target in temps:
            if os.path.lexists(target):
                backups[target] = _keep(target)
    except OSError as exc:
        for t, b in backups.items():
            if not os.path.lexists(t):  # kept by renaming: give the name back
                os.replace(b.path, t)
        discard(backups.values())
        raise write_error(target, exc, "keeping the old file until every file is written") from exc
    return backups


def _keep(target: Path) -> Temp:
    """The old file at ``target`` under a second name: a hard link (no moment without the file), else a rename."""
    import secrets
    import stat

    # a temporary name: locked, stale-cleaning leaves it alone while this process lives, and removes it after
    backup = target.with_name(f".{target.name[:100]}.initreg-{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        os.link(target, backup, follow_symlinks=False)
    except OSError:
        mode = os.lstat(target).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise
        os.rename(target, backup)  # a file system without hard links: the old file moves aside until the rename
    return Temp(str(backup), _locked(backup))


def _locked(path: Path) -> int:
    """An open descriptor of ``path`` holding its flock (where flock exists), as a temporary file's writer holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:  # a symlink kept as itself: nothing to lock (discard's close of -1 is ignored)
        return -1
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (ImportError, OSError):  # pragma: no cover - no flock here: the backup lives only for the commit
        pass
    return fd


def _put_back(done: Sequence[Path], backups: Mapping[Path, Temp], failed: Path, exc: OSError) -> None:
    """Undo the renames ``done`` after ``failed``'s rename raised ``exc``: each target holds its old file again."""
    lost = _undo(done, backups)
    if lost:
        kept = "; ".join(f"{str(t)!r} is in {backups[t].path!r}" for t in lost if t in backups)
        raise CheckpointWriteError(
            f"cannot save {str(failed)!r}: renaming the new file onto it failed: {exc.strerror or exc} (errno "
            f"{exc.errno}); {len(done) - len(lost)} of the {len(done)} file(s) already replaced were put back, but "
            f"{', '.join(map(repr, map(str, lost)))} could not be: they hold the new run's file"
            f"{f' (the old one: {kept})' if kept else ''}; write the checkpoint again") from exc
    tail = (f"Nothing was written: the {len(done)} other file(s) already replaced were put back, so every file of "
            f"this write holds what it held before" if done else None)
    raise write_error(failed, exc, "renaming the new file onto it", tail) from exc


def _undo(done: Sequence[Path], backups: Mapping[Path, Temp]) -> list[Path]:
    """Put back the old file of every target in ``done`` (and of those kept aside by renaming); the ones that could
    not be put back, whose backups stay."""
    lost = []
    aside = [t for t in backups if t not in done and not os.path.lexists(t)]  # kept by renaming, never replaced
    for target in [*reversed(done), *aside]:
        try:
            if target in backups:
                os.replace(backups[target].path, target)
            else:
                os.unlink(target)  # there was no file at this path before
        except OSError:
            lost.append(target)
    discard(b for t, b in backups.items() if t not in lost)
    for t in lost:
        if t in backups and backups[t].fd >= 0:
            os.close(backups[t].fd)  # its file stays: it holds the old file the error names
    return lost


def text_temp(target: Path, text: str) -> Temp:
    """A locked temporary file beside ``target`` holding ``text``, flushed to disk: to be committed with others."""
    fd, tmp = temp_file(target)
    try:
        write_at(fd, 0, text.encode("utf-8"))
        os.fsync(fd)
    except BaseException as exc:
        discard([Temp(tmp, fd)])
        if isinstance(exc, OSError):  # a full disk names the file
            raise write_error(target, exc, "writing") from exc
        raise
    return Temp(tmp, fd)


def write_plan(plan: CheckpointPlan, targets: Mapping[int, Path], rows: Mapping[str, Any], seed: int,
               progress: Callable[[Piece], None] | None = None, piece_bytes: int = PIECE_BYTES,
               also: Callable[[], Mapping[Path, Temp]] | None = None) -> None:
    """Write files ``targets`` (number → path) of ``plan`` in this process, committed in one step with the files
    ``also()`` makes once they are written (an index); a failure leaves no target changed."""
    temps: dict[Path, Temp] = {}
    extra: Mapping[Path, Temp] = {}
    current = next(iter(targets.values()), None)  # the file being written: a full disk names it
    try:
        # each file is flushed to disk on a thread while the next one is drawn
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="initreg-sync") as flusher:
            flushes = []
            for number, target in targets.items():
                current = target
                temps[target] = prepare(target, plan.file(number))
                write_pieces(temps[target].path, plan_pieces(plan, rows, [number], piece_bytes), rows, seed, progress,
                             plan.file(number).header, piece_bytes)
                flushes.append((target, flusher.submit(sync, temps[target])))
            for current, f in flushes:
                f.result()
            extra = also() if also is not None else {}
        commit({**temps, **extra}, synced=True)
    except BaseException as exc:
        discard([*temps.values(), *extra.values()])
        discard_own(targets.values())
        if isinstance(exc, OSError) and not isinstance(exc, CheckpointWriteError) and current is not None:
            raise write_error(current, exc, "writing") from exc
        raise
