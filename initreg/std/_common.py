"""Helpers shared by the standard initializers: fans, host staging, block-sharded streams."""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ..errors import InitializerArgumentError
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


def check_uniform(owner: str, low: float, high: float, desc: Desc, *, from_fans: bool = False) -> None:
    """InitializerArgumentError when U[low, high) is narrower than ``desc.dtype`` resolves near ``high``: the stream
    keeps its values below ``high`` in the dtype, so every one of them would then lie below ``low``."""
    stuck = _stuck_value(float(low), float(high), desc.dtype)
    if stuck is not None:
        source = f" (the bound from fans {fans_of(desc)})" if from_fans else ""
        raise InitializerArgumentError(
            f"{owner}: parameter {desc.name!r}: U[{low!r}, {high!r}){source} is narrower than {desc.dtype} resolves "
            f"there, so every value would be {stuck!r}, below low; use a wider interval or a wider dtype")


@functools.lru_cache(maxsize=256)  # fills run once per block: decide once per (interval, dtype)
def _stuck_value(low: float, high: float, dtype: np.dtype) -> float | None:
    """The value every element of a U[low, high) fill of ``dtype`` would take below ``low``, or None when none does."""
    from ..core.v4_reference import uniform_clamp

    if dtype.kind != "f" or not high > low:
        return None
    if dtype in (np.float16, np.float32):  # the kernel's own kinds; other floats are float64 values, cast
        stored, kind = dtype.type, dtype.name
    else:
        stored, kind = np.float64, "float64"
    with np.errstate(over="ignore"):  # a bound beyond the dtype's range rounds to inf: no warning, no refusal
        top = stored(np.float32(uniform_clamp(low, high, kind)) if kind == "float16" else uniform_clamp(low, high, kind))
        return float(top) if top < stored(np.float32(low) if kind == "float16" else low) else None
