"""initreg.jax's GPU route (each shard computed by v4's kernel on its GPU, handed over by DLPack) on emulated CuPy.

4 fake CPU devices stand in for GPUs and tests/emulated_cupy.py for CuPy, in a fresh interpreter
(emulated_gpu_worker.py): the shards must be the host's bits, each launched on its own device, none built on the
host. CUDA itself is checked by ``pytest -m gpu`` (test_catalog_bits_frozen.py) on a machine with GPUs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (the stand-in builds the CUDA source)")

HERE = Path(__file__).parent


def test_shards_on_emulated_gpus_are_the_host_bits_each_launched_on_its_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
               JAX_ENABLE_X64="1", PYTHONPATH=os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(HERE / "emulated_gpu_worker.py")], env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    checks = json.loads(done.stdout.strip().splitlines()[-1])["checks"]
    assert [what for what, ok in checks if not ok] == []
    assert len(checks) == 3 + 3 * 5 * (5 + 1) + 1  # every mesh, spec and leaf was checked
