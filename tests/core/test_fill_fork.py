"""Forks: a child of a process whose fill pool has run, or whose thread held a loading lock, fills on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")

# The child arms SIGALRM (default action: the process ends) so a child that hangs ends on its own, reported as
# killed by signal 14, instead of outliving the test.
CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import initreg
    start = sys.argv[1]
    want = initreg.values("normal", (1000, 2000), name="w", seed=1)  # 31 blocks on 2 threads: the pool runs
    assert initreg.get_num_threads() == 2
    if start == "fork":
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)
            got = initreg.values("normal", (1000, 2000), name="w", seed=1)
            os._exit(0 if np.array_equal(got, want) else 3)
        _, status = os.waitpid(pid, 0)
        print("child", os.WIFEXITED(status) and os.WEXITSTATUS(status), os.WIFSIGNALED(status) and os.WTERMSIG(status))
    else:
        import multiprocessing as mp

        def draw(_):
            signal.alarm(20)
            return initreg.values("normal", (1000, 2000), name="w", seed=1).tobytes() == want.tobytes()

        ctx = mp.get_context("fork")
        with ctx.Pool(1) as pool:
            result = pool.map_async(draw, [0])
            print("child", 0 if result.get(timeout=25) == [True] else 3, False)
""")


@pytest.mark.parametrize("start", ["fork", "mp-fork"])
def test_a_forked_child_fills_after_the_parent_used_the_pool(start):
    env = {**os.environ, "INITREG_NUM_THREADS": "2", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHILD, start], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["child", "0", "False"], done.stdout  # was: killed by SIGALRM (14), the fill hung


# A parent thread holds a lock (as while its first fill loads the kernel, or it loads the plugins) when another forks.
LOCK_HELD = textwrap.dedent("""
    import importlib, os, signal, sys, threading
    import initreg

    module, attribute, check = sys.argv[1:]
    lock = getattr(importlib.import_module(module), attribute)
    holding, release = threading.Event(), threading.Event()

    def hold():
        with lock:
            holding.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    assert holding.wait(30)
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)
        ok = (initreg.values("normal", (3,), name="w", seed=1).shape == (3,) if check == "fill" else
              "normal" in {e.name for e in initreg.available()})
        os._exit(0 if ok else 3)
    release.set()
    t.join()
    _, status = os.waitpid(pid, 0)
    print("child", os.WIFEXITED(status) and os.WEXITSTATUS(status), os.WIFSIGNALED(status) and os.WTERMSIG(status))
""")


@pytest.mark.parametrize("module, attribute, check", [("initreg.core.v4_backend", "_lock", "fill"),
                                                      ("initreg.plugins.registry", "_LOCK", "plugins")],
                         ids=["kernel-loading", "plugin-loading"])
def test_a_child_forked_while_a_parent_thread_holds_a_loading_lock_goes_on(module, attribute, check):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", LOCK_HELD, module, attribute, check], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["child", "0", "False"], done.stdout  # was: killed by SIGALRM (14), the lock hung
