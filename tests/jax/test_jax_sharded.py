"""Sharded leaves equal the unsharded array bit for bit on 1, 2, 4 and 8 fake CPU devices (in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

pytestmark = pytest.mark.slow  # child processes with 8 fake devices

WORKER = Path(__file__).with_name("sharded_worker.py")


def test_sharded_equals_unsharded_on_1_2_4_8_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu",
               JAX_ENABLE_X64="1")
    done = subprocess.run([sys.executable, str(WORKER)], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["devices"] == 8 and not result["errors"], result["errors"]
    bad = [what for what, ok in result["checks"] if not ok]
    assert not bad, bad
    assert len(result["checks"]) == 6 + 4 * 6 * 6 + 6 + 1  # every leaf, mesh and spec was checked
