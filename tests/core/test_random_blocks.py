"""The block machinery behind Stream: vectorized seeding equals NumPy's, threads, errors, memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import initreg
from initreg.core.keys import block_keys
from initreg.core.keys import sfc64_states as _sfc64_states
from initreg.core.stream import BLOCK, Stream


@pytest.fixture
def threads():
    """Set the fill thread count for one test and restore it."""
    old = initreg.core.stream._num_threads
    yield initreg.set_num_threads
    initreg.set_num_threads(old)


SEEDS = [0, 1, 2**32 - 1, 2**32, 2**64 + 5, 2**127 + 3, 2**160 + 9]
KEYS = [(0,), (2**64 - 1,), (12345, 2**40 + 7), (7, 0, 2**63)]


@pytest.mark.parametrize("seed", SEEDS + [2**600 + 7])
@pytest.mark.parametrize("key", KEYS + [tuple(range(1, 30))])
def test_stream_key_words_in_python_ints_equal_numpys_seed_sequence(seed, key):
    from initreg.core.keys import seed_sequence_words

    want = tuple(int(w) for w in np.random.SeedSequence(seed, spawn_key=key).generate_state(4, np.uint32))
    assert seed_sequence_words(seed, key) == want


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("key", KEYS)
def test_vectorized_block_states_equal_numpys_own_seeding(seed, key):
    first, count = 3, 40  # enough blocks for the vectorized path
    got = _sfc64_states(seed, key, first, count)
    for i, b in enumerate(range(first, first + count)):
        want = np.random.SFC64(np.random.SeedSequence(seed, spawn_key=key + (b,))).state["state"]["state"]
        assert np.array_equal(got[i], want), (seed, key, b)
    few = _sfc64_states(seed, key, first, 2)  # the per-block path for small fills
    assert np.array_equal(few, got[:2])


def test_block_keys_equal_seedsequence_words():
    got = block_keys(9, (11, 22), 0, 70, 4)
    for b in (0, 1, 69):
        assert np.array_equal(got[b], np.random.SeedSequence(9, spawn_key=(11, 22, b)).generate_state(4, np.uint32))


def test_an_error_in_one_block_stops_every_thread_and_propagates(threads):
    threads(2)
    seen = []

    def fn(g, view):
        seen.append(view.size)
        if len(seen) == 3:
            raise RuntimeError("boom")
        view[...] = 0
    with pytest.raises(RuntimeError, match="boom"):
        Stream(0, "w").map_blocks(fn, out=np.empty(40 * BLOCK, np.float32))
    assert len(seen) < 40  # the remaining blocks were not started


def test_fills_nest_inside_map_blocks_without_disturbing_the_outer_generator(threads):
    threads(2)
    s = Stream(1, "outer")
    inner = Stream(1, "inner")

    def fn(g, view):
        inner.normal(out=np.empty(3 * BLOCK, np.float32))  # uses this thread's generators meanwhile
        view[...] = g.random(view.size)
    out = s.map_blocks(fn, out=np.empty(4 * BLOCK, np.float64))
    for b in range(4):
        assert np.array_equal(out[b * BLOCK:(b + 1) * BLOCK], s.generator(b).random(BLOCK))


@pytest.mark.parametrize("method, args", [("uniform", (-1.0, 1.0)), ("normal", (0.0, 0.02)),
                                          ("truncated_normal", (0.0, 0.02, -2.0, 2.0))])
def test_filling_allocates_at_most_one_block_beyond_the_array(method, args, threads):
    threads(1)
    out = np.empty(4096 * 1024, np.float32)
    stream = Stream(0, "w")
    getattr(stream, method)(*args, out=out)  # warm caches (function caches, ufunc loops)
    tracemalloc.start()
    try:
        getattr(stream, method)(*args, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # one float32 block of scratch (the raw words, reused for the rejection masks) plus bookkeeping
    assert peak <= BLOCK * 4 + 64 * 1024, f"{peak} bytes beyond the array"
