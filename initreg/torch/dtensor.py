"""Sharded parameters: a DTensor's local shard filled with its region of the full tensor's values.

The region comes from the DTensor's mesh coordinate and placements (``Shard(d)`` splits dimension ``d`` as
``torch.chunk`` does, uneven and empty shards included; ``Replicate`` keeps the whole dimension), so the
tensor gathered from all ranks equals ``initreg.values(...)`` of the whole tensor, bit for bit, on any
world size. Block-local initializers compute only the shard's region; whole-tensor ones (orthogonal,
sparse) compute the whole tensor on every rank and keep their piece (``values`` decides).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.shapes import row_slabs
from ..errors import ParameterValueError, ShapeError, format_shape
from ..planning.regions import region_mode, values
from .placement import compute_dtype, dtype_name, fill_on_gpu, kept_on_error

# float32 values per chunk when a shard is computed off its storage (bfloat16, non-CPU): bounds the temporary
CHUNK_VALUES = 1 << 22


def local_region(tensor: Any, name: str = "(unnamed)") -> tuple[slice, ...]:
    """The basic index of the full tensor that this rank's local shard of DTensor ``tensor`` (``name``) holds."""
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset
    from torch.distributed.tensor.placement_types import _StridedShard

    shape = tuple(tensor.shape)
    for placement in tensor.placements:
        # a strided shard holds every k-th chunk (no single slice); a partial one holds summands, not values
        if isinstance(placement, _StridedShard) or not isinstance(placement, (Shard, Replicate)):
            raise ParameterValueError(
                f"parameter {name!r} (a DTensor of shape {format_shape(shape)}) has placement {placement!r}; initreg "
                f"fills Shard(dim) and Replicate placements only: initialize before applying this parallelism, or "
                f"redistribute to Shard/Replicate first")
    if tensor.device_mesh.get_coordinate() is None:  # this rank is not part of the mesh: it holds nothing
        return tuple(slice(0, 0) for _ in shape)
    local_shape, offset = compute_local_shape_and_global_offset(shape, tensor.device_mesh, tensor.placements)
    return tuple(slice(o, o + n) for o, n in zip(offset, local_shape))


def fill_local(tensor: Any, row: Any, seed: int) -> None:
    """Fill DTensor ``tensor``'s local shard in place with its region of ``row``'s values for ``seed``."""
    import torch

    name = row.name
    if tuple(tensor.shape) != tuple(row.shape):
        raise ShapeError(f"parameter {name!r}: the DTensor's full shape is {format_shape(tuple(tensor.shape))} but the "
                         f"plan says {format_shape(tuple(row.shape))}; plan with the module's current shapes")
    region = local_region(tensor, name)
    dtype = compute_dtype(dtype_name(tensor), f"parameter {name!r}")
    with torch.no_grad():
        local = tensor.to_local()
        if local.device.type == "meta":
            raise ParameterValueError(f"parameter {name!r}: the DTensor's local shard is on the meta device and holds "
                                      f"no storage; materialize it first (module.to_empty(device=...))")
        if tuple(local.shape) != tuple(s.stop - s.start for s in region):
            raise ShapeError(f"parameter {name!r}: local shard has shape {format_shape(tuple(local.shape))}, but its "
                             f"placements {tensor.placements} give the region {region}; the DTensor is inconsistent")
        if local.numel() == 0:
            return
        if local.device.type == "cpu" and local.dtype != torch.bfloat16:
            # a NumPy view of the shard's own storage: values land in place, no shard-sized temporary
            values(row.initializer, row.shape, name=name, seed=seed, dtype=dtype, layout=row.layout,
                   index=region, out=local.detach().numpy())
            return

        def write() -> None:
            if not (local.device.type == "cuda" and fill_on_gpu(local.detach(), row.initializer, row.shape, name, seed,
                                                                 dtype_name(local), dtype, region, row.layout)):
                _fill_via_host(local, row, seed, region, dtype)  # bfloat16 on the CPU, or a GPU CuPy cannot use

        kept_on_error(local, write)


def _fill_via_host(local: Any, row: Any, seed: int, region: tuple[slice, ...], dtype: str) -> None:
    """Draw the region on the host in chunks along its first dimension and copy each into ``local`` (casting)."""
    import torch

    if not region or region_mode(row.initializer) == "whole":  # a scalar, or each chunk would compute it all again
        whole = values(row.initializer, row.shape, name=row.name, seed=seed, dtype=dtype, layout=row.layout,
                       index=region)
        local.copy_(torch.from_numpy(np.ascontiguousarray(whole)))
        return
    first = region[0]
    per_row = math.prod(s.stop - s.start for s in region[1:])
    for r0, r1 in row_slabs(first.stop - first.start, per_row, CHUNK_VALUES):
        part = values(row.initializer, row.shape, name=row.name, seed=seed, dtype=dtype, layout=row.layout,
                      index=(slice(first.start + r0, first.start + r1),) + region[1:])
        # torch's own float32 -> bfloat16 cast rounds to nearest even: the bits of .to(torch.bfloat16)
        local[r0:r1].copy_(torch.from_numpy(np.ascontiguousarray(part)))
