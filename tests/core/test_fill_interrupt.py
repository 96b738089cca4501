"""Ctrl-C during a fill: it reaches the filling thread within one claim (2**25 values at most), and a fill raises
only once its workers have stopped writing (so values(out=) can put back what out held); the pool fills on after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import initreg
from initreg.core import stream as rnd
from initreg.core import v4_backend
from initreg.core.stream import BLOCK

ROOT = Path(__file__).resolve().parents[2]


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


def _blocked_in_a_wait(ident: int) -> bool:
    """Whether thread ``ident`` is blocked in threading's Condition.wait (for its fill's workers)."""
    frame = sys._current_frames().get(ident)
    return frame is not None and frame.f_code.co_name == "wait" and frame.f_code.co_filename == threading.__file__


def test_ctrl_c_while_the_caller_waits_for_a_worker_raises_only_after_the_worker_stopped(threads):
    threads(2)
    want = initreg.values("normal", (4 * BLOCK,), name="w", seed=5)
    main = threading.get_ident()
    delivered, raised = threading.Event(), threading.Event()
    holding, caller_done = threading.Event(), threading.Event()
    busy: list[bool] = []  # the worker's claim, while it is being filled

    def work(claim):
        if threading.get_ident() == main:  # the caller takes the other blocks once the worker holds one
            assert holding.wait(30)
            for _ in iter(claim, -1):
                pass
            caller_done.set()
            return
        if claim() == -1:
            return
        busy.append(True)
        holding.set()
        try:
            assert caller_done.wait(30)
            deadline = time.monotonic() + 30
            while not _blocked_in_a_wait(main):  # now waiting for this worker: polled until true, no race
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


# Ctrl-C inside Thread.start (which waits for the new thread) comes after the thread runs but before
# concurrent.futures records it, so nothing wakes it at exit; here start() raises at that very point.
INTERRUPTED_START = textwrap.dedent("""
    import sys
    import threading
    import numpy as np
    import initreg

    initreg.set_num_threads(2)
    want = initreg.values("normal", (8 * 65536,), name="w", seed=5)
    from initreg.core import stream
    stream._pool, stream._pool_size = None, 0  # as in a fresh process: the next fill starts the pool's thread
    real_start = threading.Thread.start

    def start(self):
        real_start(self)
        if self.name.startswith("initreg-fill"):
            raise KeyboardInterrupt

    threading.Thread.start = start
    try:
        initreg.values("normal", (8 * 65536,), name="w", seed=5)
    except KeyboardInterrupt:
        print("interrupted")
    threading.Thread.start = real_start
    if sys.argv[1] == "fill-again":
        print("next fill", np.array_equal(initreg.values("normal", (8 * 65536,), name="w", seed=5), want))
""")


@pytest.mark.parametrize("then", ["exit", "fill-again"])
def test_ctrl_c_while_the_pool_starts_a_thread_leaves_a_process_that_fills_and_exits(then):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run([sys.executable, "-c", INTERRUPTED_START, then], env=env, capture_output=True,
                              text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:  # was ("exit"): the interpreter's exit waited for that thread forever
        raise AssertionError(f"the process did not exit: {exc.stdout!r}") from None
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["interrupted"] + (["next", "fill", "True"] if then == "fill-again" else [])
