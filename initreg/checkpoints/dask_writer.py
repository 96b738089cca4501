"""Checkpoint pieces written by a Dask cluster: the writer pipeline's pieces, run as Dask tasks."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ..errors import CheckpointError, NoWorkersError

TASK_BYTES = 256 << 20  # consecutive pieces of one file are grouped into tasks of about this many bytes
RETRIES = 3


def share_cores(n: int) -> None:
    """Set initreg's fill threads to this host's cores divided among ``n`` worker processes."""
    from ..core.stream import set_num_threads

    set_num_threads(max(1, (os.cpu_count() or 1) // n))


@contextmanager
def _heap_for_fills() -> Iterator[None]:
    """glibc malloc keeping freed memory for the task's duration, then trimmed as the worker had it.

    Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also fixes malloc's mmap threshold
    at 128 KiB: every scratch array of a fill is then a fresh mmap, faulted in page by page, and fills
    run at half speed. Elsewhere (not glibc) this does nothing.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        yield
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    before = int(os.environ.get("MALLOC_TRIM_THRESHOLD_", 128 << 10))
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 1 << 30)
    try:
        yield
    finally:
        mallopt(M_TRIM_THRESHOLD, before)
        mallopt(M_MMAP_THRESHOLD, 128 << 10)
        trim(0)


def _write_task(path: str, todo: Sequence[Any], rows: Mapping[str, Any], seed: int) -> int:
    from .filewriter import write_pieces

    with _heap_for_fills():
        write_pieces(path, todo, rows, seed)
    return sum(p.nbytes for p in todo)


def tasks(todo: Sequence[Any], task_bytes: int = TASK_BYTES) -> list[list[Any]]:
    """Consecutive pieces of one file grouped into lists of about ``task_bytes`` bytes."""
    groups: list[list[Any]] = []
    size = 0
    for piece in todo:
        if not groups or groups[-1][0].file != piece.file or size + piece.nbytes > task_bytes:
            groups.append([])
            size = 0
        groups[-1].append(piece)
        size += piece.nbytes
    return groups


def _workers_alive(client: Any) -> bool:
    """Whether the scheduler knows a live worker (False when the scheduler itself cannot be asked)."""
    try:
        return bool(client.scheduler_info().get("workers"))
    except Exception:  # a dead scheduler fails with comm errors of several kinds: no worker can be reached either
        return False


def _result(future: Any, client: Any, deadline: float | None, worker_timeout: float | None) -> Any:
    """``future``'s result, waited for until ``deadline``, giving up once no worker was alive for ``worker_timeout`` s."""
    alone_since = None
    step = 1.0 if worker_timeout is None else max(0.05, min(1.0, worker_timeout / 4))
    while True:
        wait = step if deadline is None else max(0.0, min(step, deadline - time.monotonic()))
        try:
            return future.result(timeout=wait)
        except TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise
        if worker_timeout is None:
            continue
        if _workers_alive(client):
            alone_since = None
        elif alone_since is None:
            alone_since = time.monotonic()
        elif time.monotonic() - alone_since >= worker_timeout:
            raise NoWorkersError(f"--dask: no Dask worker has been alive for {worker_timeout:g} s (--dask-timeout), so "
                                 f"the write cannot finish; start workers (dask worker ADDRESS) and run again. "
                                 f"Nothing was written to the output paths")


def write(plan: Any, targets: Mapping[int, Path], rows: Mapping[str, Any], seed: int, dask_client: Any, *,
          task_bytes: int = TASK_BYTES, piece_bytes: int | None = None, retries: int = RETRIES,
          timeout: float | None = None, worker_timeout: float | None = None,
          also: Callable[[], Mapping[Path, Any]] | None = None) -> int:
    """Write files ``targets`` (number → path) of ``plan`` with a Dask cluster, committed in one step with the files
    ``also()`` makes once they are written (an index); returns the number of tasks run.

    ``timeout`` bounds the whole wait; ``worker_timeout`` gives up once no worker has been alive that long.
    """
    from .filewriter import commit, discard, discard_own, plan_pieces, prepare, sync
    from .shards import PIECE_BYTES

    temps: dict[Path, Any] = {}
    extra: Mapping[Path, Any] = {}
    futures: list[Any] = []
    try:
        for number, target in targets.items():
            temps[target] = prepare(target, plan.file(number))
        by_number = dict(zip(targets, temps.values()))
        todo = plan_pieces(plan, rows, list(targets), piece_bytes or PIECE_BYTES)
        groups = tasks(todo, task_bytes)
        for k, group in enumerate(groups):
            needed = {p.name: rows[p.name] for p in group}
            futures.append(dask_client.submit(_write_task, str(Path(by_number[group[0].file].path).resolve()), group,
                                              needed, seed,
                                              key=f"initreg-write-{os.getpid()}-{id(plan)}-{k}", pure=False,
                                              retries=retries))
        last = {group[0].file: k for k, group in enumerate(groups)}  # a file is complete after its last task
        # each file is flushed to disk here, on a thread, once its tasks are done, while the others are written
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="initreg-sync") as flusher:
            flushes = []
            try:
                deadline = None if timeout is None else time.monotonic() + timeout
                for k, f in enumerate(futures):
                    _result(f, dask_client, deadline, worker_timeout)
                    for number, final in last.items():
                        if final == k:
                            flushes.append(flusher.submit(sync, by_number[number]))
            except NoWorkersError:
                raise
            except Exception as exc:
                where = ", ".join(sorted({str(t.parent if len(targets) > 1 else t) for t in targets.values()}))
                raise CheckpointError(f"--dask: a write task for {where!r} failed ({type(exc).__name__}: {exc}); "
                                      f"nothing was written to the output paths") from exc
            flushes += [flusher.submit(sync, temp) for number, temp in by_number.items() if number not in last]
            for done in flushes:
                done.result()
        extra = also() if also is not None else {}
        commit({**temps, **extra}, synced=True)
        return len(groups)
    except BaseException as exc:
        for f in futures:
            f.cancel()
        discard([*temps.values(), *extra.values()])
        discard_own(targets.values())
        if isinstance(exc, OSError) and not isinstance(exc, CheckpointError) and targets:
            from .files import write_error

            first = next(iter(targets.values()))
            raise write_error(first if len(targets) == 1 else first.parent, exc, "writing") from exc
        raise
