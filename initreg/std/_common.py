"""Helpers shared by the standard initializers: fans, host staging, block-sharded streams."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from ..fans import fans
from ..initializer import Desc
from ..random import BLOCK, get_num_threads

_FILLS = frozenset({"random", "uniform", "normal", "truncated_normal", "integers", "bernoulli", "map_blocks"})
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def fans_of(desc: Desc) -> tuple[int, int]:
    """(fan_in, fan_out) of ``desc``; ShapeError naming the parameter when it has fewer than 2 dimensions."""
    if desc.fan_in is not None and desc.fan_out is not None:
        return desc.fan_in, desc.fan_out
    return fans(desc.shape, desc.layout, desc.name)


def on_host(desc: Desc, out: Any, fn: Callable[[np.ndarray], None]) -> None:
    """Run ``fn`` on a C-contiguous NumPy array that ends up in ``out`` (staged on the host for CuPy)."""
    if isinstance(out, np.ndarray) and out.flags.c_contiguous:
        fn(out)
        return
    host = np.empty(tuple(out.shape), dtype=np.dtype(str(out.dtype)))
    fn(host)
    out[...] = desc.xp.asarray(host) if not isinstance(out, np.ndarray) else host


class Shard:
    """A view of a Stream that starts at element ``start`` (block-aligned): fills draw that shard's values."""

    __slots__ = ("stream", "start")

    def __init__(self, stream: Any, start: int):
        self.stream = stream
        self.start = int(start)

    def child(self, tag: str) -> "Shard":
        """The same shard of a child stream."""
        return Shard(self.stream.child(tag), self.start)

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self.stream, attr)
        if attr not in _FILLS:
            return value

        def shifted(*args: Any, start: int = 0, **kwargs: Any) -> Any:
            return value(*args, start=self.start + start, **kwargs)
        return shifted

    def __repr__(self) -> str:
        return f"Shard({self.stream!r}, start={self.start})"


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="initreg-std")
            _pool_size = n
        return _pool


def for_blocks(size: int, work: Callable[[int, int], None]) -> None:
    """Call ``work(first_block, end_block)`` over the BLOCK-sized blocks of ``size`` elements, on threads."""
    nblocks = -(-size // BLOCK)
    threads = min(get_num_threads(), nblocks)
    if threads <= 1 or threading.current_thread().name.startswith(("initreg-std", "initreg-fill")):
        if nblocks:
            work(0, nblocks)
        return
    bounds = [nblocks * k // threads for k in range(threads + 1)]
    futures = [_executor(threads).submit(work, bounds[k], bounds[k + 1]) for k in range(threads)]
    for f in futures:
        f.result()
