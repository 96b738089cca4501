"""Stream keys: a (seed, name, tags) stream's 64-bit name hashes and the SeedSequence/SFC64 states of its blocks.

Block ``b`` of the stream ``(seed, name, *tags)`` is seeded by ``SeedSequence(seed, spawn_key=(h(name),
*h(tags), b))`` where ``h`` is the 64-bit BLAKE2b of the UTF-8 text (SFC64, for ``Stream.generator`` and
``map_blocks``). The v4 fills, CPU and GPU, take one Philox key per stream from here (``seed_sequence_words``).
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

BLOCK = 1 << 16


def stream_key(name: str, tags: tuple[str, ...] = ()) -> tuple[int, ...]:
    """The spawn-key prefix of the stream (name, *tags): the 64-bit hash of each."""
    return (hash64(name),) + tuple(hash64(t) for t in tags)


@functools.lru_cache(maxsize=4096)  # a model's names come back on every re-initialization
def hash64(text: str) -> int:
    """The 64-bit BLAKE2b of ``text`` (UTF-8), little-endian."""
    from hashlib import blake2b

    return int.from_bytes(blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


# --- block seeding: NumPy's SeedSequence and SFC64 seeding, vectorized over blocks ------------------
# Constructing SFC64(SeedSequence(...)) costs ~14 µs per block; the same words in Python ints cost ~2 µs,
# and for many blocks at once, vectorized, ~1 µs per block. tests/core/test_random_blocks.py checks equality.

_M32 = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_POOL = 4
_VECTOR_MIN = 12  # below this many blocks, Python ints are cheaper than the array set-up


def _words(n: int) -> list[int]:
    """SeedSequence's split of a non-negative int into 32-bit words, least significant first."""
    if n == 0:
        return [0]
    out = []
    while n > 0:
        out.append(n & _M32)
        n >>= 32
    return out


def _hash_constants(count: int) -> tuple[tuple[int, int], ...]:
    """SeedSequence's hashmix constants (xor, multiply) of its first ``count`` calls: the same for every entropy."""
    hc, out = _INIT_A, []
    for _ in range(count):
        h1 = (hc * _MULT_A) & _M32
        out.append((hc, h1))
        hc = h1
    return tuple(out)


_HASH = _hash_constants(96)  # 16 calls for a small seed, then 4 per 32-bit word of the name and tag hashes


@functools.lru_cache(maxsize=64)
def _seed_pool(seed: int) -> tuple[tuple[int, ...], int] | None:
    """(pool, hash calls so far) of SeedSequence's mix_entropy after the seed's own words (a run's seeds repeat)."""
    run = _words(seed)
    run += [0] * (_POOL - len(run))  # a non-empty spawn key pads the run entropy to the pool size
    if _POOL + (_POOL - 1) * _POOL + _POOL * (len(run) - _POOL) > len(_HASH) - 16:
        return None  # a huge seed: NumPy itself
    k, mixer = 0, []
    for v in run[:_POOL]:
        x, m = _HASH[k]
        k += 1
        v = ((v ^ x) * m) & _M32
        mixer.append(v ^ (v >> 16))
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                mixer[dst], k = _mixed(mixer[dst], mixer[src], k)
    for w in run[_POOL:]:
        for dst in range(_POOL):
            mixer[dst], k = _mixed(mixer[dst], w, k)
    return tuple(mixer), k


def _mixed(into: int, word: int, k: int) -> tuple[int, int]:
    """SeedSequence's mix(into, hashmix(word)) with the k-th hash constants; (result, k + 1)."""
    x, m = _HASH[k]
    v = ((word ^ x) * m) & _M32
    r = (_MIX_L * into - _MIX_R * (v ^ (v >> 16))) & _M32
    return r ^ (r >> 16), k + 1


def _pool_of(seed: int, key: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """(pool, next hash constant) of ``SeedSequence(seed, spawn_key=key)`` for a non-empty key (mix_entropy in ints)."""
    start = _seed_pool(seed)
    spawn = [w for h in key for w in _words(h)]
    if start is None or start[1] + _POOL * len(spawn) >= len(_HASH):  # beyond the precomputed constants
        return tuple(int(w) for w in np.random.SeedSequence(seed, spawn_key=key).pool), -1
    pool, k = list(start[0]), start[1]
    for w in spawn:  # _mixed inlined: this loop is the per-parameter cost
        for d in range(_POOL):
            x, m = _HASH[k]
            k += 1
            v = ((w ^ x) * m) & _M32
            r = (_MIX_L * pool[d] - _MIX_R * (v ^ (v >> 16))) & _M32
            pool[d] = r ^ (r >> 16)
    return tuple(pool), _HASH[k][0]


@functools.lru_cache(maxsize=256)
def _pool_prefix(seed: int, key: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """SeedSequence(seed, spawn_key=key + (b,))'s pool before the block word is mixed in, and its hash constant."""
    pool, hc = _pool_of(seed, key)
    if hc < 0:  # past the precomputed constants: replay the hash constant's walk
        run = _words(seed)
        n = _POOL + (_POOL - 1) * _POOL + _POOL * (max(len(run), _POOL) - _POOL + sum(len(_words(k)) for k in key))
        hc = _INIT_A
        for _ in range(n):
            hc = (hc * _MULT_A) & _M32
    return pool, hc


def seed_sequence_words(seed: int, key: tuple[int, ...]) -> tuple[int, int, int, int]:
    """``SeedSequence(seed, spawn_key=key).generate_state(4, uint32)`` for a non-empty ``key``, in Python ints
    (a stream's Philox key: ~3 µs against ~17 µs for constructing the SeedSequence)."""
    pool, _ = _pool_of(seed, key)  # uncached: every parameter has its own name
    out = []
    for i, (hc, h1) in enumerate(_GEN[:_POOL]):
        v = ((pool[i] ^ hc) * h1) & _M32
        out.append(v ^ (v >> 16))
    return out[0], out[1], out[2], out[3]


def _block_pools(seed: int, key: tuple[int, ...], first: int, count: int) -> list[np.ndarray]:
    """The 4-word SeedSequence pools of blocks first..first+count-1 (arrays of uint32), for blocks < 2³²."""
    prefix, hc = _pool_prefix(seed, key)
    word = np.arange(first, first + count, dtype=np.uint32)
    pools = []
    for d in range(_POOL):
        h1 = (hc * _MULT_A) & _M32
        v = np.bitwise_xor(word, np.uint32(hc))
        np.multiply(v, np.uint32(h1), out=v)
        np.bitwise_xor(v, v >> np.uint32(16), out=v)
        hc = h1
        r = np.multiply(v, np.uint32(_MIX_R))
        np.subtract(np.uint32((_MIX_L * prefix[d]) & _M32), r, out=r)
        np.bitwise_xor(r, r >> np.uint32(16), out=r)
        pools.append(r)
    return pools


def _generate_state(pools: list[np.ndarray], n_words: int) -> list[np.ndarray]:
    """SeedSequence.generate_state(n_words, uint32), vectorized over blocks."""
    hc = _INIT_B
    out = []
    for i in range(n_words):
        h1 = (hc * _MULT_B) & _M32
        v = np.bitwise_xor(pools[i % _POOL], np.uint32(hc))
        np.multiply(v, np.uint32(h1), out=v)
        np.bitwise_xor(v, v >> np.uint32(16), out=v)
        hc = h1
        out.append(v)
    return out


def block_keys(seed: int, key: tuple[int, ...], first: int, count: int, n_words: int) -> np.ndarray:
    """``SeedSequence(seed, spawn_key=key + (b,)).generate_state(n_words, uint32)`` for each block, shape (count, n_words)."""
    if first + count > 1 << 32:
        return np.array([np.random.SeedSequence(seed, spawn_key=key + (b,)).generate_state(n_words, np.uint32)
                         for b in range(first, first + count)], dtype=np.uint32).reshape(count, n_words)
    return np.stack(_generate_state(_block_pools(seed, key, first, count), n_words), axis=1)


def sfc64_states(seed: int, key: tuple[int, ...], first: int, count: int) -> np.ndarray:
    """The SFC64 state words of ``SFC64(SeedSequence(seed, spawn_key=key + (b,)))`` per block, shape (count, 4)."""
    states, warmup = sfc64_start(seed, key, first, count)
    states = np.array(states, dtype=np.uint64).reshape(count, 4)
    if warmup:
        gen = np.random.SFC64(0)
        for row in states:
            gen.state = {"bit_generator": "SFC64", "state": {"state": row}, "has_uint32": 0, "uinteger": 0}
            gen.random_raw(warmup)
            row[:] = gen.state["state"]["state"]
    return states


def sfc64_start(seed: int, key: tuple[int, ...], first: int, count: int) -> tuple[Sequence[Sequence[int]], int]:
    """(states, warmup): per block from ``first``, SFC64 state words that become ``sfc64_states``' after ``warmup`` draws.

    Few blocks: the SeedSequence words in Python ints and the 12 seeding rounds left to the generator (one
    ``random_raw(12)`` is cheaper than the rounds in Python); many: everything vectorized over blocks.
    """
    if first + count > 1 << 32:
        return np.array([np.random.SFC64(np.random.SeedSequence(seed, spawn_key=key + (b,))).state["state"]["state"]
                         for b in range(first, first + count)], dtype=np.uint64).reshape(count, 4), 0
    if count < _VECTOR_MIN:
        return [_seed_words(seed, key, b) for b in range(first, first + count)], _ROUNDS
    w = [x.astype(np.uint64) for x in _generate_state(_block_pools(seed, key, first, count), 6)]
    s0, s1, s2 = (w[2 * k] | (w[2 * k + 1] << np.uint64(32)) for k in range(3))
    for counter in range(1, _ROUNDS + 1):  # SFC64's seeding: 12 rounds from (s0, s1, s2, counter=1)
        tmp = s0 + s1
        tmp += np.uint64(counter)
        s0 = s1 ^ (s1 >> np.uint64(11))
        s1 = s2 + (s2 << np.uint64(3))
        s2 = ((s2 << np.uint64(24)) | (s2 >> np.uint64(40))) + tmp
    states = np.empty((count, 4), dtype=np.uint64)
    states[:, 0], states[:, 1], states[:, 2], states[:, 3] = s0, s1, s2, _ROUNDS + 1
    return states, 0


_ROUNDS = 12


def _generate_constants() -> tuple[tuple[int, int], ...]:
    """generate_state's (hash constant, next constant) for its first six words: the same for every pool."""
    hc, out = _INIT_B, []
    for _ in range(6):
        h1 = (hc * _MULT_B) & _M32
        out.append((hc, h1))
        hc = h1
    return tuple(out)


_GEN = _generate_constants()


@functools.lru_cache(maxsize=256)
def _block_mix(seed: int, key: tuple[int, ...]) -> tuple[tuple[int, int, int], ...]:
    """Per pool word d: (hash constant, next constant, _MIX_L · prefix[d]) for mixing in a block word."""
    prefix, hc = _pool_prefix(seed, key)
    out = []
    for d in range(_POOL):
        h1 = (hc * _MULT_A) & _M32
        out.append((hc, h1, (_MIX_L * prefix[d]) & _M32))
        hc = h1
    return tuple(out)


def _seed_words(seed: int, key: tuple[int, ...], block: int) -> tuple[int, int, int, int]:
    """SFC64's state before its 12 seeding rounds, for block ``block`` (< 2³²): (s0, s1, s2, counter=1)."""
    pool = []
    for hc, h1, left in _block_mix(seed, key):
        v = ((block ^ hc) * h1) & _M32
        r = (left - _MIX_R * (v ^ (v >> 16))) & _M32
        pool.append(r ^ (r >> 16))
    w = []
    for i, (hc, h1) in enumerate(_GEN):
        v = ((pool[i & 3] ^ hc) * h1) & _M32
        w.append(v ^ (v >> 16))
    return w[0] | (w[1] << 32), w[2] | (w[3] << 32), w[4] | (w[5] << 32), 1
