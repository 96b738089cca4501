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
    keys = list(heads)
    best = _best_matches(arrays, heads, keys, tied)
    out: dict[str, Outcome] = {}
    for a, (others, _, r, p, b) in best.items():
        if others:
            out[a] = Outcome("copies", statistic=r, p_value=min(1.0, others * p),
                             detail=f"largest correlation of the first {min(PREFIX, heads[a].size)} values with another "
                                    f"array's: r = {r:.3g} with {b!r} (Bonferroni over {others}; a copy, shifted or "
                                    f"scaled, gives ±1; tie the names with ties= if they should match)")
    return out


def _best_matches(arrays: Mapping[str, np.ndarray], heads: dict[str, np.ndarray], keys: list[str],
                  tied: set[frozenset]) -> dict[str, list]:
    """Per array: [others compared, position, r, p, name] of its most correlated other array (the first of equal p).

    Full-length heads are compared all at once, a block of rows at a time: Σ a'b' and Σ a'²b'² for every pair are
    two matrix products (thousands of arrays: seconds, where one pair at a time took hours); pairs with a shorter
    head, compared on the shorter length, one at a time as product_test does it.
    """
    position = {k: i for i, k in enumerate(keys)}
    skip = tied | _sharing_memory(arrays, keys)
    best = {a: [0, len(keys), 0.0, 1.0, None] for a in keys}

    def offer(a: str, b: str, r: float, p: float) -> None:
        entry = best[a]
        if p < entry[3] or (p == entry[3] and position[b] < entry[1] and entry[4] is not None):
            entry[1:] = [position[b], r, p, b]

    full = [k for k in keys if heads[k].size == PREFIX]
    if full:
        h = np.stack([heads[k] for k in full])
        h -= h.mean(axis=1, keepdims=True)  # as product_test centres each
        sq = h * h
        norms = np.sqrt(sq.sum(axis=1))
        at = {k: i for i, k in enumerate(full)}
        partners: dict[str, list[int]] = {}
        for pair in skip:
            a, b = tuple(pair) if len(pair) == 2 else (next(iter(pair)),) * 2
            if a in at and b in at:
                partners.setdefault(a, []).append(at[b])
                partners.setdefault(b, []).append(at[a])
        for lo in range(0, len(full), 256):
            num, den = h[lo:lo + 256] @ h.T, np.sqrt(sq[lo:lo + 256] @ sq.T)
            for i, a in enumerate(full[lo:lo + 256], lo):
                allowed = np.ones(len(full), dtype=bool)
                allowed[[i, *partners.get(a, [])]] = False
                if not allowed.any():
                    continue
                with np.errstate(divide="ignore", invalid="ignore"):
                    z = np.where(den[i - lo] > 0, num[i - lo] / den[i - lo], np.where(num[i - lo] == 0, 0.0, np.inf))
                p = np.where(allowed, 2.0 * st.special.ndtr(-np.abs(z)), np.inf)
                j = int(np.argmin(p))  # the first of the smallest p, as one pair at a time in key order
                best[a][0] += int(allowed.sum())
                offer(a, full[j], float(num[i - lo, j] / (norms[i] * norms[j])), float(p[j]))
    short = {k for k in keys if heads[k].size < PREFIX}
    for a in keys:
        for b in keys:
            if (a in short or b in short) and b != a and frozenset((a, b)) not in skip:
                k = min(heads[a].size, heads[b].size)
                r, p = st.product_test(heads[a][:k], heads[b][:k])
                best[a][0] += 1
                offer(a, b, r, p)
    return best


def _sharing_memory(arrays: Mapping[str, np.ndarray], keys: list[str]) -> set[frozenset]:
    """The pairs of arrays that share memory (a tied weight under two names), found by sorting their byte spans."""
    bounds = getattr(getattr(np.lib, "array_utils", np), "byte_bounds")  # NumPy 2 moved it
    spans = sorted((*bounds(np.asarray(arrays[k])), k) for k in keys)
    pairs: set[frozenset] = set()
    for i, (lo, hi, a) in enumerate(spans):
        for lo2, hi2, b in spans[i + 1:]:
            if lo2 >= hi:
                break
            if np.shares_memory(arrays[a], arrays[b]):
                pairs.add(frozenset((a, b)))
    return pairs

#: a window of this many consecutive values (memory order) identifies a displaced copy
WINDOW = 4
#: chance bound that two windows of correct values coincide: 2⁻¹⁶ per value, far above the resolution test's bound
WINDOW_CHANCE = 2.0 ** (-16 * WINDOW)
#: values scanned per pass over a large array (bounds the temporary memory)
CHUNK = 1 << 22
#: size (bits) of the lookup that filters the positions where a listed window may start
LOOKUP_BITS = 24
_MIX = np.uint64(0x9E3779B97F4A7C15)


def displaced_check(arrays: Mapping[str, np.ndarray], atoms: Mapping[str, Iterable[float]],
                    ties: Iterable[tuple[str, str]] = ()) -> dict[str, Outcome]:
    """Per float32/float64 array: windows of its first PREFIX values found anywhere in another array (any offset).

    A stream drawn with another tensor's offset, or a tensor copied one row further on, holds the other's values
    displaced, which the aligned ``copies`` correlation cannot see. A window counts when its 4 values are distinct,
    non-zero and none of the array's promised atoms (``atoms``), so only continuous values can coincide by chance:
    Poisson against (windows compared)·2⁻⁶⁴. Pairs in ``ties`` and arrays sharing memory are left out.
    """
    from scipy import stats

    names = [n for n, x in arrays.items() if x.size >= MIN_SIZE and x.dtype in (np.float32, np.float64)]
    if not names:
        return {}
    skip = {frozenset(t) for t in ties} | _sharing_memory(arrays, names)
    flats = {n: np.asarray(arrays[n]).reshape(-1) for n in names}
    table, owner, first = [], [], {}
    lookup = np.zeros(1 << LOOKUP_BITS, dtype=bool)  # which first values can start a listed window: a cheap filter
    for i, n in enumerate(names):
        head = flats[n][:PREFIX + WINDOW - 1]
        bits = _bits(head)
        keys, pos = _hashed(head, bits, np.arange(max(head.size - WINDOW + 1, 0)), atoms.get(n, ()))
        lookup[_slot(bits[pos])] = True
        table.append(keys)
        owner.append(np.full(keys.size, i))
        first[n] = keys.size
    keys = np.concatenate(table)
    order = np.argsort(keys, kind="stable")
    keys, owner_of = keys[order], np.concatenate(owner)[order]
    found = np.zeros((len(names), len(names)), dtype=np.int64)
    where: dict[tuple[int, int], int] = {}
    windows = {n: max(flats[n].size - WINDOW + 1, 0) for n in names}
    for j, n in enumerate(names):
        flat = flats[n]
        for lo in range(0, windows[n], CHUNK):
            part = flat[lo:lo + CHUNK + WINDOW - 1]
            bits = _bits(part)
            starts = np.flatnonzero(lookup[_slot(bits[:part.size - WINDOW + 1])])
            h, pos = _hashed(part, bits, starts, atoms.get(n, ()))
            if not h.size:
                continue
            at = np.minimum(np.searchsorted(keys, h), keys.size - 1)
            hit = keys[at] == h
            for i in np.unique(owner_of[at[hit]]):
                if i == j or frozenset((names[i], n)) in skip:
                    continue
                mine = hit & (owner_of[at] == i)
                found[i, j] += int(np.count_nonzero(mine))
                where.setdefault((i, j), lo + int(pos[np.argmax(mine)]))
    out = {}
    for i, a in enumerate(names):
        others = [j for j in range(len(names)) if j != i and frozenset((a, names[j])) not in skip]
        if not others:
            continue
        count = sum(int(found[i, j] + found[j, i]) for j in others)
        mu = WINDOW_CHANCE * sum(first[a] * windows[names[j]] + first[names[j]] * windows[a] for j in others)
        detail = (f"{count} windows of {WINDOW} values shared with other arrays at any offset, against {mu:.2g} "
                  f"expected by chance")
        if count:
            worst = max(others, key=lambda j: found[i, j] + found[j, i])
            b = names[worst]
            src, dst = (a, b) if found[i, worst] else (b, a)
            at = where[(i, worst) if found[i, worst] else (worst, i)]
            detail += (f"; most with {b!r}: the first values of {src!r} appear in {dst!r} from index {at} (a displaced "
                       f"copy, or a stream drawn with another's offset; tie the names with ties= if they should match)")
        out[a] = Outcome("displaced-copies", statistic=float(count),
                         p_value=float(stats.poisson.sf(count - 1, mu)) if count else 1.0, detail=detail)
    return out


def _bits(flat: np.ndarray) -> np.ndarray:
    """The values' bit patterns as uint64."""
    return flat.view(np.uint32 if flat.dtype.itemsize == 4 else np.uint64).astype(np.uint64)


def _slot(bits: np.ndarray) -> np.ndarray:
    """A LOOKUP_BITS-bit index of each bit pattern (multiplicative hashing)."""
    with np.errstate(over="ignore"):
        return ((bits * _MIX) >> np.uint64(64 - LOOKUP_BITS)).astype(np.int64)


def _hashed(flat: np.ndarray, bits: np.ndarray, starts: np.ndarray, atoms: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, starts) of the windows beginning at ``starts`` whose values may identify a copy (see displaced_check)."""
    starts = starts[starts <= flat.size - WINDOW]
    listed = np.asarray(list(atoms), dtype=np.float64).astype(flat.dtype)
    ok = np.ones(starts.size, dtype=bool)
    h = np.zeros(starts.size, dtype=np.uint64)
    cols = []
    with np.errstate(over="ignore"):
        for k in range(WINDOW):
            v, b = flat[starts + k], bits[starts + k]
            ok &= (v != 0) & np.isfinite(v)
            if listed.size:  # a promised atom repeats by design: never part of a window
                ok &= ~np.isin(v, listed)
            for c in cols:
                ok &= c != b
            cols.append(b)
            h = (h ^ b) * _MIX
    return h[ok], starts[ok]


__all__ = ["copies_check", "displaced_check", "PREFIX"]
