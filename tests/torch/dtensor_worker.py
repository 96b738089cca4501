"""One rank of the DTensor tests: fill sharded parameters with fill_local, gather them, save what rank 0 sees.

Run by test_torch_dtensor.py as ``python dtensor_worker.py CASES.json OUTDIR`` in every process of a gloo
group on 127.0.0.1 (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the environment). Each rank writes its
local regions to OUTDIR/regions-RANK.json; rank 0 writes the gathered tensors to OUTDIR/gathered.npz
(bfloat16 as its int16 bits) for the test process to compare with ``initreg.values``.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Replicate, Shard
from torch.distributed.tensor import empty as dtensor_empty

import initreg
import initreg.torch.dtensor as dtensor_module
from initreg.torch.dtensor import fill_local, local_region

dtensor_module.CHUNK_VALUES = 8  # bfloat16 shards then go through the host in several chunks, as big ones do

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16}


def placement(text: str):
    return Replicate() if text == "R" else Shard(int(text[1:]))


def host(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return t.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else t.numpy()


def row_for(name: str, shape, init, seed: int, dtype: str = "float32"):
    """The plan's row for one parameter (the row the adapter passes to fill_local)."""
    return initreg.plan([initreg.Entry(name, tuple(shape), dtype)], {name: init}, seed=seed)[name]


def fsdp_model():
    torch.manual_seed(0)  # PyTorch's own init runs here; fill_local must overwrite every value it wrote
    return torch.nn.Sequential(torch.nn.Linear(7, 13), torch.nn.LayerNorm(13), torch.nn.Linear(13, 5, bias=False))


FSDP_RULES = {"*.weight": ["normal", {"sigma": 0.02}], "1.bias": "zeros", "0.bias": "uniform"}


def main() -> None:
    spec = json.loads(open(sys.argv[1]).read())
    out = sys.argv[2]
    rank = int(os.environ["RANK"])
    dist.init_process_group("gloo", timeout=timedelta(seconds=60))
    world = dist.get_world_size()
    gathered: dict[str, np.ndarray] = {}
    regions: dict[str, list] = {}
    meshes = {}
    for case in spec["cases"]:
        mesh_shape = tuple(case.get("mesh", [world]))
        if mesh_shape not in meshes:
            names = tuple(f"d{i}" for i in range(len(mesh_shape)))
            meshes[mesh_shape] = init_device_mesh("cpu", mesh_shape, mesh_dim_names=names)
        mesh = meshes[mesh_shape]
        dt = dtensor_empty(tuple(case["shape"]), dtype=DTYPES[case["dtype"]], device_mesh=mesh,
                           placements=[placement(p) for p in case["placements"]])
        with torch.no_grad():
            dt.to_local().fill_(float("nan"))  # any value left unwritten shows in the comparison
        fill_local(dt, row_for(case["name"], case["shape"], case["init"], spec["seed"], "float32"), spec["seed"])
        regions[case["name"]] = [[s.start, s.stop] for s in local_region(dt)]
        full = dt.full_tensor()
        if rank == 0:
            gathered[case["name"]] = host(full)

    # bad input: an error names the parameter, and the shard keeps what it held
    errors = {}
    mesh = meshes.get((world,)) or init_device_mesh("cpu", (world,))
    from torch.distributed.tensor import Partial

    bad = {
        "wrong_shape": (dtensor_empty(6, 4, device_mesh=mesh, placements=[Shard(0)]), (4, 6)),
        "partial": (dtensor_empty(6, 4, device_mesh=mesh, placements=[Partial()]), (6, 4)),
        "integer": (dtensor_empty(6, 4, dtype=torch.int32, device_mesh=mesh, placements=[Shard(0)]), (6, 4)),
    }
    from torch.distributed.tensor import DTensor

    meta_local = torch.empty(2, 4, device="meta")
    bad["meta"] = (DTensor.from_local(meta_local, mesh, [Shard(0)], run_check=False), (2 * world, 4))
    for case, (dt, shape) in bad.items():
        local = dt.to_local()
        if local.device.type != "meta":
            with torch.no_grad():
                local.fill_(7)
        try:
            fill_local(dt, row_for("p." + case, shape, "normal", spec["seed"]), spec["seed"])
        except Exception as exc:  # the test checks the kind and the message
            kept = local.device.type == "meta" or bool((local == 7).all())
            errors[case] = {"type": [c.__name__ for c in type(exc).__mro__], "message": str(exc), "kept": kept}

    # FSDP2: fully_shard turns every parameter into a Shard(0) DTensor; fill each through the plan's rows
    from torch.distributed.fsdp import fully_shard

    model = fsdp_model()
    fully_shard(model, mesh=init_device_mesh("cpu", (world,)))
    entries = [initreg.Entry(n, tuple(p.shape)) for n, p in model.named_parameters()]
    table = initreg.plan(entries, FSDP_RULES, seed=spec["seed"])
    for n, p in model.named_parameters():
        fill_local(p, table[n], spec["seed"])
        regions["fsdp." + n] = [[s.start, s.stop] for s in local_region(p)]
    for n, p in model.named_parameters():
        full = p.full_tensor()
        if rank == 0:
            gathered["fsdp." + n] = host(full)
    x = torch.linspace(-1, 1, 3 * 7).reshape(3, 7)
    y = model(x)  # FSDP2 gathers the filled shards for the forward pass
    if rank == 0:
        gathered["fsdp.forward"] = host(y)

    # the adapter end to end, once initreg.torch has initialize (the other half of this issue)
    import initreg.torch as adapter

    if hasattr(adapter, "initialize"):
        model = fsdp_model()
        fully_shard(model, mesh=init_device_mesh("cpu", (world,)))
        adapter.initialize(model, FSDP_RULES, seed=spec["seed"])
        for n, p in model.named_parameters():
            full = p.full_tensor()
            if rank == 0:
                gathered["adapter." + n] = host(full)
        # as torchtitan: built on the meta device, sharded, then materialized by initialize(device=...)
        with torch.device("meta"):
            model = fsdp_model()
        fully_shard(model, mesh=init_device_mesh("cpu", (world,)))
        adapter.initialize(model, FSDP_RULES, seed=spec["seed"], device="cpu")
        for n, p in model.named_parameters():
            full = p.full_tensor()
            if rank == 0:
                gathered["meta." + n] = host(full)
        y = model(x)  # FSDP2's lazy init takes the new shards; the forward gathers them
        if rank == 0:
            gathered["meta.forward"] = host(y)

    with open(os.path.join(out, f"regions-{rank}.json"), "w") as fh:
        json.dump(regions, fh)
    with open(os.path.join(out, f"errors-{rank}.json"), "w") as fh:
        json.dump(errors, fh)
    if rank == 0:
        np.savez(os.path.join(out, "gathered.npz"), **gathered)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
