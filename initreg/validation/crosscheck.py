"""Cross-tensor check: no two parameters of a run hold the same values, shifted by a constant or scaled."""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np

from . import stats as st
from .outcome import Outcome

#: values compared per pair of arrays (their first, in memory order): a copy gives r = ±1, z = √PREFIX = 64
PREFIX = 4096
#: arrays with fewer values are not compared
MIN_SIZE = 1000


def copies_check(arrays: Mapping[str, np.ndarray], ties: Iterable[tuple[str, str]] = ()) -> dict[str, Outcome]:
    """Per array, the largest correlation of its first values with another array's (Bonferroni over the others).

    Affine copies (a·x + b, a ≠ 0) give |r| = 1. Pairs in ``ties``, and arrays that share memory (a tied
    PyTorch weight appears under two names), are expected to match and are left out.
    """
    names = [n for n, x in arrays.items() if x.size >= MIN_SIZE]
    tied = {frozenset(t) for t in ties}
    heads = {}
    for n in names:
        head = np.asarray(arrays[n]).reshape(-1)[:PREFIX].astype(np.float64)
        if not np.isfinite(head).all():  # its own "finite" row fails it; a NaN correlation says nothing
            continue
        head = head - head.mean()
        norm = math.sqrt(float(np.dot(head, head)))
        if norm > 0:
            heads[n] = head
    out: dict[str, Outcome] = {}
    keys = list(heads)
    for i, a in enumerate(keys):
        best = (0.0, 1.0, None)
        others = 0
        for b in keys:
            if b == a or frozenset((a, b)) in tied or np.shares_memory(arrays[a], arrays[b]):
                continue
            k = min(heads[a].size, heads[b].size)
            x, y = heads[a][:k], heads[b][:k]
            r, p = st.product_test(x, y)
            others += 1
            if p < best[1]:
                best = (r, p, b)
        if others:
            r, p, b = best
            out[a] = Outcome("copies", statistic=r, p_value=min(1.0, others * p),
                             detail=f"largest correlation of the first {min(PREFIX, heads[a].size)} values with another "
                                    f"array's: r = {r:.3g} with {b!r} (Bonferroni over {others}; a copy, shifted or "
                                    f"scaled, gives ±1; tie the names with ties= if they should match)")
    return out


__all__ = ["copies_check", "PREFIX"]
