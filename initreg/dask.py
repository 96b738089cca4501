"""Dask: parameters as lazy ``dask.array`` arrays computed region by region, and checkpoints written by a
Dask distributed cluster, each task writing its own byte range of its pre-sized file.

Every chunk is ``initreg.values(..., index=chunk)``: any chunking gives the same bits as one process.
A task's writes are idempotent (the same bytes at the same offsets), so a task Dask re-runs after a
worker died, or after an error, changes nothing; the files are renamed onto their targets only after
every task finished, so a failed run leaves no partial file there. Workers must see the output
directory at the same path (one host, or a shared file system).
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

from .checkpoints.dask_writer import RETRIES, TASK_BYTES, share_cores, tasks, write  # noqa: F401 - public here
from .errors import MissingDependencyError, SchedulerUnreachableError  # noqa: F401 - public here

__all__ = ["arrays", "client", "write", "tasks", "share_cores", "RETRIES", "TASK_BYTES", "MissingDependencyError",
           "SchedulerUnreachableError"]

def _require() -> None:
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("initreg.dask needs dask[distributed]; install it with: "
                                     "pip install 'initreg[dask]'") from exc


def _chunk(init: Any, shape: tuple, name: str, seed: int, dtype: str, layout: str, index: tuple) -> Any:
    from .planning.regions import values

    return values(init, shape, name=name, seed=seed, dtype=dtype, layout=layout, index=index)


def _planned(params: Any, init: Any, seed: int | None) -> Any:
    from .planning.explanation import entries_of, plan
    from .core.stream import choose_seed

    entries = entries_of(params)
    table = plan(entries, init, seed=seed)  # seed=, else the rules', else the global seed
    chosen = choose_seed(table.seed)  # else fresh: every chunk must draw from one seed
    if chosen != table.seed:
        table = plan(entries, init, seed=chosen)
    return table


def arrays(params: Any, init: Any = None, *, seed: int | None = None, chunks: Any = "auto") -> dict[str, Any]:
    """{name: dask.array.Array} of the initial values ``initialize(init, seed=seed)`` gives, chunk by chunk.

    ``chunks``: anything ``dask.array`` takes ("auto", a size, a tuple per dimension), or {name: chunks}.
    """
    _require()
    import dask.array as da
    import numpy as np
    from dask.base import tokenize
    from dask.blockwise import blockwise
    from dask.layers import ArraySliceDep

    from .errors import ShapeError
    from .core.shapes import is_complete

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
        # one lazy layer, as dask.array.zeros builds: each block's slices are made when the graph is, not here
        axes = tuple(range(len(normalized)))
        chunk = functools.partial(_chunk, r.initializer, tuple(r.shape), r.name, table.seed, r.dtype, r.layout)
        graph = blockwise(chunk, key, axes, ArraySliceDep(normalized), axes, numblocks={})
        out[r.name] = da.Array(graph, key, normalized, dtype=r.dtype, meta=np.empty((0,) * len(axes), r.dtype))
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


