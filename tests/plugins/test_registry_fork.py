"""The plugin registry in a child forked while a parent thread was loading plugins: the child loads them itself."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")

# The child arms SIGALRM (default action: the process ends), so a child that hangs ends on its own.
CHILD = textwrap.dedent("""
    import os, signal, threading
    import initreg
    from initreg.plugins import registry

    holding, release = threading.Event(), threading.Event()

    def hold():
        with registry._LOCK:  # as a thread that is loading the plugins holds it
            holding.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    assert holding.wait(30)
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)
        os._exit(0 if "normal" in {e.name for e in initreg.available()} else 3)
    release.set()
    t.join()
    _, status = os.waitpid(pid, 0)
    print("child", os.WIFEXITED(status) and os.WEXITSTATUS(status), os.WIFSIGNALED(status) and os.WTERMSIG(status))
""")


def test_a_child_forked_while_a_parent_thread_holds_the_registry_lock_finds_the_plugins():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["child", "0", "False"], done.stdout  # was: killed by SIGALRM (14), the lock hung
