"""The fill pool under concurrency: set_num_threads while other threads fill never fails a fill (issue 16, item 7)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import initreg
from initreg.core import stream as rnd
from initreg.core.stream import BLOCK


@pytest.fixture
def threads():
    """Restore the fill thread count after the test."""
    old = rnd._num_threads
    yield initreg.set_num_threads
    initreg.set_num_threads(old)


def test_a_pool_handed_out_keeps_working_after_a_bigger_one_replaces_it():
    small = rnd._executor(2)
    bigger = rnd._executor(rnd._pool_size + 3)  # another thread asking for more workers
    assert bigger is not small
    assert small.submit(lambda: 42).result(timeout=10) == 42  # was: cannot schedule new futures after shutdown


def test_fills_racing_set_num_threads_all_succeed_with_the_same_bits(threads):
    shape = (6 * BLOCK,)  # six blocks: a fill uses the pool whenever more than one thread is allowed
    threads(1)
    want = initreg.values("uniform", shape, name="w", seed=3)
    errors: list[BaseException] = []
    done = threading.Event()

    def filler() -> None:
        try:
            while not done.is_set():
                got = initreg.values("uniform", shape, name="w", seed=3)
                if not np.array_equal(got, want):
                    errors.append(AssertionError("bits differ"))
        except BaseException as exc:  # noqa: BLE001 - any failure of a fill is the bug
            errors.append(exc)

    workers = [threading.Thread(target=filler) for _ in range(4)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 2.0  # bounded: about two seconds of racing
    n = 2
    while time.monotonic() < deadline and not errors:
        threads(n)  # each new maximum replaces the pool while fills are in flight
        n = n + 1 if n < 6 else 2
        time.sleep(0.001)
    done.set()
    for w in workers:
        w.join(timeout=30)
    assert not any(w.is_alive() for w in workers)
    assert errors == []


@pytest.mark.parametrize("nblocks, nthreads", [(1, 1), (3, 2), (153, 1), (153, 2), (1526, 2), (4096, 8)])
def test_claims_cover_every_block_once_large_first_single_blocks_last(nblocks, nthreads):
    bounds = rnd._pieces(nblocks, nthreads)
    sizes = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] == nblocks and np.all(sizes >= 1)
    assert np.all(np.diff(sizes) <= 0)  # never a larger claim after a smaller one
    assert sizes[-1] == 1 and (nblocks < 2 * nthreads or sizes[0] == nblocks // (2 * nthreads))
    assert len(sizes) <= 2 * nthreads * (np.log2(nblocks) + 2)  # a few hand-offs, not one a block


def test_a_fill_calls_the_kernel_once_a_claim(monkeypatch, threads):
    threads(2)
    calls = []
    real = rnd.v4_backend.fill
    monkeypatch.setattr(rnd.v4_backend, "fill", lambda op, key, start, out, *a: calls.append(out.size) or real(op, key, start, out, *a))
    initreg.values("normal", (153 * BLOCK,), name="w", seed=0)
    assert sorted(calls, reverse=True) == [k * BLOCK for k in np.diff(rnd._pieces(153, 2))]


@pytest.mark.parametrize("n", [4 * BLOCK + 1, 153 * BLOCK - 12345])
def test_any_claims_give_the_values_of_one_kernel_call(n, threads):
    stream = rnd.Stream(0, "w")
    whole = rnd.v4_backend.fill("normal", stream.philox_key, 0, np.empty(n, np.float32), 0.0, 1.0)
    for t in (1, 2, 8):
        threads(t)
        assert np.array_equal(stream.normal(0.0, 1.0, dtype=np.float32, size=n), whole), t
