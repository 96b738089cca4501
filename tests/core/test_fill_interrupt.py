"""Ctrl-C during a fill: it reaches the filling thread within one claim (2**25 values at most), and a fill raises
only once its workers have stopped writing (so values(out=) can put back what out held); the pool fills on after."""

from __future__ import annotations

import signal
import sys
import threading
import time

import numpy as np
import pytest

import initreg
from initreg.core import stream as rnd
from initreg.core import v4_backend
from initreg.core.stream import BLOCK


@pytest.fixture
def threads():
    """Restore the fill thread count after the test."""
    old = rnd._num_threads
    yield initreg.set_num_threads
    initreg.set_num_threads(old)


def test_ctrl_c_during_the_first_range_of_a_long_fill_stops_it_within_2_to_the_25_values(threads, monkeypatch):
    threads(1)
    ranges = []

    def interrupted(op, key, start, out, *args, **kwargs):
        ranges.append(out.size)
        raise KeyboardInterrupt  # Ctrl-C while the kernel filled this range: raised as the range returns

    monkeypatch.setattr(v4_backend, "fill", interrupted)
    out = np.empty(2048 * BLOCK, np.float32)  # 1.3e8 values, never touched: its first range was 1024 blocks before
    with pytest.raises(KeyboardInterrupt):
        rnd.Stream(0, "w").normal(out=out)
    assert ranges == [1 << 25]  # 0.05-0.7 s of one core: how long Ctrl-C can wait; was 2**26, half the fill


def _waits_for_a_future(ident: int) -> bool:
    """Whether thread ``ident`` is blocked in Future.result() (Condition.wait called from result)."""
    frame = sys._current_frames().get(ident)
    return (frame is not None and frame.f_code.co_name == "wait" and frame.f_back is not None
            and frame.f_back.f_code.co_name == "result")


def test_ctrl_c_while_the_caller_waits_for_a_worker_raises_only_after_the_worker_stopped(threads):
    threads(2)
    want = initreg.values("normal", (4 * BLOCK,), name="w", seed=5)
    main = threading.get_ident()
    delivered, raised = threading.Event(), threading.Event()
    busy: list[bool] = []  # the worker's claim, while it is being filled

    def work(claim):
        if threading.get_ident() == main:  # the caller takes every block, then waits for the worker
            for _ in iter(claim, -1):
                pass
            return
        busy.append(True)
        try:
            deadline = time.monotonic() + 30
            while not _waits_for_a_future(main):  # polled until true: no race on when it becomes true
                assert time.monotonic() < deadline, "the caller never waited for the worker"
                time.sleep(0.001)
            for _ in range(3000):  # again until handled: one sent just before the caller blocks only sets a flag
                signal.pthread_kill(main, signal.SIGINT)
                if delivered.wait(0.01):
                    break
            assert delivered.is_set()
            raised.wait(1.0)  # before: the caller raised at once, while this worker still ran; now it waits here
        finally:
            busy.pop()

    def on_sigint(signum, frame):
        if not delivered.is_set():  # one KeyboardInterrupt, however many signals it took
            delivered.set()
            raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        with pytest.raises(KeyboardInterrupt):
            try:
                rnd.run_blocks(4, work)
            finally:
                running_at_raise = list(busy)
                raised.set()
    finally:
        signal.signal(signal.SIGINT, old)
    assert running_at_raise == []  # was [True]: values(out=) restored out while a worker still wrote into it
    assert np.array_equal(initreg.values("normal", (4 * BLOCK,), name="w", seed=5), want)  # the pool still fills
