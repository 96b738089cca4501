"""Stream keys: a (seed, name, tags) stream's 64-bit name hashes and the SeedSequence/SFC64 states of its blocks.

Block ``b`` of the stream ``(seed, name, *tags)`` is seeded by ``SeedSequence(seed, spawn_key=(h(name),
*h(tags), b))`` where ``h`` is the 64-bit BLAKE2b of the UTF-8 text. Both the CPU (SFC64) and the GPU
(Philox) fills take their block keys from here.
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


@functools.lru_cache(maxsize=256)
def _pool_prefix(seed: int, key: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """SeedSequence(seed, spawn_key=key + (b,))'s pool before the block word is mixed in, and its hash constant."""
    run = _words(seed)
    spawn = [w for k in key for w in _words(k)]
    run += [0] * (_POOL - len(run))  # the block word makes the spawn key non-empty: the run entropy is padded
    entropy = run + spawn
    hc = _INIT_A

    def hashmix(v: int) -> int:
        nonlocal hc
        v ^= hc
        hc = (hc * _MULT_A) & _M32
        v = (v * hc) & _M32
        return v ^ (v >> 16)

    def mix(x: int, y: int) -> int:
        r = (_MIX_L * x - _MIX_R * y) & _M32
        return r ^ (r >> 16)

    mixer = [hashmix(entropy[i]) for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                mixer[dst] = mix(mixer[dst], hashmix(mixer[src]))
    for src in range(_POOL, len(entropy)):
        for dst in range(_POOL):
            mixer[dst] = mix(mixer[dst], hashmix(entropy[src]))
    return tuple(mixer), hc


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
