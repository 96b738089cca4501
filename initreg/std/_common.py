"""Helpers shared by the standard initializers: fans, host staging, block-sharded streams."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..fans import fans
from ..initializer import Desc

_FILLS = frozenset({"random", "uniform", "normal", "truncated_normal", "integers", "bernoulli", "map_blocks"})


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
