"""Region truth: regions recomputed through ``values(index=)`` equal the whole array at the same positions.

A shard of a sharded checkpoint, a tensor-parallel slice or a resumed fill is computed as a region; an
initializer whose region path lies about where it is (wrong offset, wrong order) gives a different tensor
there than in one piece. Three regions per array, drawn from a seed derived from the run's: a rectangle, a
column slice (all rows, some columns) and an unaligned strided one (odd starts, steps 1–3).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .outcome import Outcome

#: mixed into the run seed for the choice of regions (so they are not the values' own stream)
REGION_SEED = 0x2E610
#: the regions per array
REGIONS = 3


def regions(shape: tuple[int, ...], seed: int) -> list[tuple]:
    """A rectangle, a column slice and an unaligned strided region of ``shape`` (fixed by ``seed``)."""
    rng = np.random.default_rng([REGION_SEED, seed])

    def span(d: int) -> tuple[int, int]:
        a = int(rng.integers(0, d))
        return a, int(rng.integers(a + 1, d + 1))

    rect = tuple(slice(*span(d)) for d in shape)
    if len(shape) >= 2:
        column = (slice(None), slice(*span(shape[1])), Ellipsis)
    else:
        column = (slice(*span(shape[0])),) if shape else ()
    odd = tuple(slice(min(d - 1, 2 * int(rng.integers(0, max(1, d // 4))) + 1) if d > 1 else 0, None,
                      int(rng.integers(1, 4))) for d in shape)
    return [rect, column, odd]


def region_check(init: Any, x: np.ndarray, name: str, seed: int, layout: str | None) -> list[Outcome]:
    """Whether ``REGIONS`` regions of ``values(init, x.shape, name=, seed=, index=)`` equal ``x`` there, bit for bit;
    no row for an empty array or an initializer whose regions are slices of the whole tensor (regions='whole')."""
    if x.size == 0 or getattr(init, "regions", "whole") == "whole":
        return []
    return [_region_outcome(init, x, name, seed, layout)]


def _region_outcome(init: Any, x: np.ndarray, name: str, seed: int, layout: str | None) -> Outcome:
    from ..planning.regions import values

    bits = np.dtype(f"u{x.dtype.itemsize}")
    shown = []
    for index in regions(x.shape, seed):
        try:
            got = np.asarray(values(init, x.shape, name=name, seed=seed, dtype=x.dtype, layout=layout, index=index))
        except Exception as exc:
            return Outcome("regions", passed=False, detail=f"values(index={_text(index)}) raised "
                                                           f"{type(exc).__name__}: {exc}")
        want = np.ascontiguousarray(x[index])
        if got.shape != want.shape:
            return Outcome("regions", passed=False, detail=f"values(index={_text(index)}) has shape {got.shape}, the "
                                                           f"whole array there {want.shape}")
        differ = int(np.count_nonzero(np.ascontiguousarray(got).reshape(-1).view(bits) != want.reshape(-1).view(bits)))
        if differ:
            return Outcome("regions", statistic=float(differ), passed=False,
                           detail=f"values(index={_text(index)}) differs from the whole array there in {differ} of "
                                  f"{want.size} values: the region path computes other positions than it claims")
        shown.append(_text(index))
    return Outcome("regions", statistic=0.0, passed=True,
                   detail=f"{len(shown)} regions recomputed through values(index=) equal the whole array: "
                          f"{'; '.join(shown)}")


def _text(index: tuple) -> str:
    def one(s: Any) -> str:
        if s is Ellipsis:
            return "..."
        if isinstance(s, slice):
            step = "" if s.step in (None, 1) else f":{s.step}"
            return f"{'' if s.start is None else s.start}:{'' if s.stop is None else s.stop}{step}"
        return str(s)
    return "[" + ", ".join(one(s) for s in index) + "]"


__all__ = ["regions", "region_check", "REGIONS", "REGION_SEED"]
