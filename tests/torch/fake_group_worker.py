"""Run by test_torch_dtensor_fake_group.py in a fresh interpreter: one rank of a fake process group, its shards filled.

``python fake_group_worker.py DEVICE RANK``: PyTorch's fake backend (no communication) makes this process rank RANK of
4, so DTensors on a mesh of DEVICE ("cpu" or "cuda") hold that rank's local shards; each is filled by ``fill_local``
and compared with its region of ``initreg.values`` of the whole tensor. Prints one JSON line:
{"checks": [[what, ok], ...], "launches": n} (n: v4 GPU kernel launches, the CUDA route taken).
"""

from __future__ import annotations

import json
import sys

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Replicate, Shard
from torch.distributed.tensor import empty as dtensor_empty
from torch.testing._internal.distributed.fake_pg import FakeStore

import initreg
from initreg.core import v4_gpu
from initreg.torch.dtensor import fill_local, local_region

CASES = [((13, 7), "xavier", [Shard(0)]), ((13, 7), "truncatednormal", [Shard(1)]), ((13, 7), "uniform", [Replicate()]),
         ((4100, 3), ["normal", {"sigma": 0.02}], [Shard(0)]), ((11,), "uniform", [Shard(0)])]
DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)
BITS = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16, torch.float64: torch.int64}


def main() -> None:
    device, rank = sys.argv[1], int(sys.argv[2])
    dist.init_process_group("fake", store=FakeStore(), rank=rank, world_size=4)
    mesh = init_device_mesh(device, (4,))
    launches = []
    real = v4_gpu._launch
    v4_gpu._launch = lambda out, *a: launches.append(1) or real(out, *a)
    checks = []
    for shape, init, placements in CASES:
        for dtype in DTYPES:
            dt = dtensor_empty(shape, dtype=dtype, device_mesh=mesh, placements=placements)
            with torch.no_grad():
                dt.to_local().fill_(float("nan"))
            row = initreg.plan([initreg.Entry("w", shape, "float32")], {"w": init}, seed=3)["w"]
            fill_local(dt, row, 3)
            region = local_region(dt)
            computed = "float32" if dtype == torch.bfloat16 else str(dtype).rsplit(".", 1)[-1]
            want = torch.from_numpy(initreg.values(row.initializer, shape, name="w", seed=3, dtype=computed,
                                                   index=region)).to(dtype)
            got = dt.to_local().cpu()
            same = got.shape == want.shape and torch.equal(got.view(BITS[dtype]), want.view(BITS[dtype]))
            checks.append([f"{device} rank {rank} {shape} {init} {placements} {dtype}", bool(same)])
    print(json.dumps({"checks": checks, "launches": len(launches)}))


if __name__ == "__main__":
    main()
