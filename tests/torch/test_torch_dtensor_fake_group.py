"""DTensor shards of every rank in one process: PyTorch's fake process group (no communication) makes a child
process any rank of 4 (fake_group_worker.py); each local shard filled by fill_local must be its region of the
whole tensor's values, bit for bit, in float32/bfloat16/float16/float64. On a CUDA GPU (``pytest -m gpu``) the
shards live on the GPU and, with CuPy, are computed there by v4's kernel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch.distributed.tensor")

WORKER = Path(__file__).with_name("fake_group_worker.py")


def run(device: str, rank: int) -> dict:
    done = subprocess.run([sys.executable, str(WORKER), device, str(rank)], capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("rank", [1, 3])
def test_every_rank_shard_on_the_cpu_is_its_region(rank):
    result = run("cpu", rank)
    assert len(result["checks"]) == 5 * 4 and [w for w, ok in result["checks"] if not ok] == []
    assert result["launches"] == 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("rank", [0, 2])
def test_every_rank_shard_on_a_gpu_is_its_region_computed_there(rank):
    import initreg

    result = run("cuda", rank)
    assert len(result["checks"]) == 5 * 4 and [w for w, ok in result["checks"] if not ok] == []
    if initreg.gpu_available(0):  # with CuPy the shards are computed on the GPU, not copied from the host
        assert result["launches"] > 0
