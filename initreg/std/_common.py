"""Helpers shared by the standard initializers: fans, host staging, block-sharded streams."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..core.fans import fans
from ..core.initializer import Desc
from ..core.stream import Shard  # noqa: F401 - the shard view Mixture fills components through



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
