"""Dask: parameters as lazy ``dask.array`` arrays computed region by region, and checkpoints written by a
Dask distributed cluster, each task writing its own byte range of its pre-sized file.

Every chunk is ``initreg.values(..., index=chunk)``: any chunking gives the same bits as one process.
A task's writes are idempotent (the same bytes at the same offsets), so a task Dask re-runs after a
worker died, or after an error, changes nothing; the files are renamed onto their targets only after
every task finished, so a failed run leaves no partial file there. Workers must see the output
directory at the same path (one host, or a shared file system).
"""

from __future__ import annotations

import itertools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from .errors import CheckpointError, MissingDependencyError

TASK_BYTES = 256 << 20  # consecutive pieces of one file are grouped into tasks of about this many bytes
RETRIES = 3


class SchedulerUnreachableError(CheckpointError, ConnectionError):
    """No Dask scheduler answered at the address given."""


def _require() -> None:
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("initreg.dask needs dask[distributed]; install it with: "
                                     "pip install 'initreg[dask]'") from exc


def _chunk(init: Any, shape: tuple, name: str, seed: int, dtype: str, layout: str, index: tuple) -> Any:
    from .regions import values

    return values(init, shape, name=name, seed=seed, dtype=dtype, layout=layout, index=index)


def _planned(params: Any, init: Any, seed: int | None) -> Any:
    from .explanation import entries_of, plan
    from .random import fresh_seed

    entries = entries_of(params)
    table = plan(entries, init, seed=seed)
    if table.seed is None:  # every chunk must draw from one seed
        table = plan(entries, init, seed=fresh_seed())
    return table


def arrays(params: Any, init: Any = None, *, seed: int | None = None, chunks: Any = "auto") -> dict[str, Any]:
    """{name: dask.array.Array} of the initial values ``initialize(init, seed=seed)`` gives, chunk by chunk.

    ``chunks``: anything ``dask.array`` takes ("auto", a size, a tuple per dimension), or {name: chunks}.
    """
    _require()
    import dask.array as da
    from dask.base import tokenize

    from .errors import ShapeError
    from .shapes import is_complete

    table = _planned(params, init, seed)
    out = {}
    for r in table:
        if r.shape is None or not is_complete(r.shape):
            raise ShapeError(f"initreg.dask.arrays: parameter {r.name!r} has shape {r.shape}; give every dimension")
        wanted = chunks.get(r.name, "auto") if isinstance(chunks, Mapping) else chunks
        try:
            normalized = da.core.normalize_chunks(wanted, r.shape, dtype=r.dtype)
        except ValueError as exc:
            raise ShapeError(f"initreg.dask.arrays: chunks={wanted!r} do not fit parameter {r.name!r} of shape "
                             f"{tuple(r.shape)} ({exc}); give chunks per parameter as {{name: chunks}}") from None
        key = f"initreg-{r.name}-" + tokenize(r.name, r.shape, r.dtype, r.layout, r.initializer.dumps(), table.seed,
                                                  normalized)
        graph = {}
        starts = [list(itertools.accumulate((0,) + c)) for c in normalized]
        for ij in itertools.product(*(range(len(c)) for c in normalized)):
            index = tuple(slice(starts[d][i], starts[d][i + 1]) for d, i in enumerate(ij))
            graph[(key, *ij)] = (_chunk, r.initializer, tuple(r.shape), r.name, table.seed, r.dtype, r.layout, index)
        out[r.name] = da.Array(graph, key, normalized, dtype=r.dtype)
    return out


# --- writing checkpoints ----------------------------------------------------------------------------

@contextmanager
def client(address: str | None = None, *, workers: int | None = None, timeout: float = 30.0) -> Iterator[Any]:
    """A distributed Client: of the scheduler at ``address``, or of a LocalCluster of ``workers`` processes here."""
    _require()
    from distributed import Client, LocalCluster

    if address:
        try:
            c = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SchedulerUnreachableError(f"--dask {address}: no Dask scheduler answered there within {timeout:g} s "
                                  f"({type(exc).__name__}: {exc}); start one (dask scheduler) or check the "
                                  f"address") from None
        with c:
            yield c
        return
    n = workers or min(os.cpu_count() or 1, 8)
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster, set_as_default=False) as c:
        c.run(share_cores, n)  # n workers on one host: each fills with its share of the cores
        yield c


def share_cores(n: int) -> None:
    """Set initreg's fill threads to this host's cores divided among ``n`` worker processes."""
    from .random import set_num_threads

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


def write(plan: Any, targets: Mapping[int, Path], rows: Mapping[str, Any], seed: int, dask_client: Any, *,
          task_bytes: int = TASK_BYTES, piece_bytes: int | None = None, retries: int = RETRIES,
          timeout: float | None = None) -> int:
    """Write files ``targets`` (number → path) of ``plan`` with a Dask cluster; returns the number of tasks run."""
    from .filewriter import commit, discard, discard_own, plan_pieces, prepare, sync
    from .shards import PIECE_BYTES

    temps: dict[Path, Any] = {}
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
                    f.result(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
                    for number, final in last.items():
                        if final == k:
                            flushes.append(flusher.submit(sync, by_number[number]))
            except Exception as exc:
                raise CheckpointError(f"--dask: a write task failed ({type(exc).__name__}: {exc}); nothing was "
                                      f"written to the output paths") from exc
            flushes += [flusher.submit(sync, temp) for number, temp in by_number.items() if number not in last]
            for done in flushes:
                done.result()
        commit(temps, synced=True)
        return len(groups)
    except BaseException:
        for f in futures:
            f.cancel()
        discard(temps.values())
        discard_own(targets.values())
        raise
