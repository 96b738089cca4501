"""Where values land: a torch tensor filled in place with ``initreg.values`` (CPU, CUDA), bf16 rounding, meta storage.

CPU float16/float32/float64 tensors are written through a NumPy view of their storage. bfloat16 (which
NumPy lacks) is computed in float32, a band of rows at a time, and rounded to nearest even by torch's
own conversion. CUDA tensors get the CPU's bits too: with CuPy installed they are computed on their own
GPU by v4's kernel (``initreg.core.v4_gpu``; bfloat16 in float32, then rounded by torch's conversion),
written through DLPack; without CuPy each band is computed on the host and copied in. So a seed checkpoint,
a CPU run and a GPU run hold the same values.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..core.device import gpu, gpu_available
from ..core.shapes import compute_dtype as computed_in, narrow_overflow, row_slabs
from ..errors import DTypeError
from ..planning.regions import region_mode, values, values_into

#: elements per band when values are staged (bfloat16, CUDA, non-contiguous): bounds the temporary
BAND = 1 << 22


def dtype_name(tensor: Any) -> str:
    """``"float32"``, ``"bfloat16"``, ... for a torch tensor."""
    return str(tensor.dtype).rsplit(".", 1)[-1]


def compute_dtype(name: str, what: str = "parameter", default: str | None = None) -> str:
    """The NumPy dtype initreg draws a tensor of torch dtype ``name`` in; DTypeError (or ``default``) for others."""
    try:
        return computed_in(name, what, integers=False, narrow=("bfloat16",), shown=f"torch.{name}",
                           fix="cast it, or leave it out with default='keep' and no rule").name
    except DTypeError:
        if default is None:
            raise
        return default


def _bands(shape: tuple[int, ...]) -> list[tuple]:
    """Basic indices that cut ``shape`` into slabs of whole leading rows of about BAND elements."""
    if not shape or shape[0] == 0:
        return [()]
    return [(slice(r0, r1),) for r0, r1 in row_slabs(shape[0], int(np.prod(shape[1:], dtype=np.int64)), BAND)]


def kept_on_error(tensor: Any, write: Callable[[], None]) -> None:
    """Run ``write``, which changes ``tensor`` in place; on any error ``tensor`` holds what it held before."""
    import torch

    with torch.no_grad():
        old = tensor.detach().clone()
        try:
            write()
        except BaseException:
            tensor.detach().copy_(old)
            raise


def fill(tensor: Any, initializer: Any, name: str, seed: int) -> None:
    """Write ``values(initializer, tensor.shape, name=name, seed=seed)`` into ``tensor`` in place (no autograd);
    on an error ``tensor`` may be partly written: callers keep its old values (:func:`kept_on_error`)."""
    import torch

    shape = tuple(tensor.shape)
    dtype = dtype_name(tensor)
    compute = compute_dtype(dtype, f"parameter {name!r}")
    with torch.no_grad():
        target = tensor.detach()
        if target.device.type == "cuda" and fill_on_gpu(target, initializer, shape, name, seed, dtype, compute):
            return
        if target.device.type == "cpu" and dtype == compute and target.is_contiguous():
            values_into(initializer, shape, name=name, seed=seed, dtype=compute, out=target.numpy())
            return
        if region_mode(initializer) == "whole":  # computed whole anyway: draw once, copy once
            target.copy_(torch.from_numpy(values(initializer, shape, name=name, seed=seed, dtype=compute)))
        else:
            for index in _bands(shape):
                host = values(initializer, shape, name=name, seed=seed, dtype=compute, index=index)
                _copy_in(target[index] if index else target, host)
        if dtype != compute:
            _check_rounded(target, name, dtype)


def fill_on_gpu(target: Any, initializer: Any, shape: tuple[int, ...], name: str, seed: int, dtype: str, compute: str,
                index: tuple = (), layout: str | None = "OI") -> bool:
    """Fill a contiguous CUDA tensor holding ``whole[index]`` on its own GPU (CuPy, v4's kernel); False where CuPy
    cannot, so the host fills it."""
    ordinal = target.device.index if target.device.index is not None else 0
    if not target.is_contiguous() or not gpu_available(ordinal):
        return False
    import cupy
    import torch

    with cupy.cuda.Device(ordinal):
        out = cupy.from_dlpack(target) if dtype == compute else None  # bfloat16: drawn in float32, then rounded
        part = values_into(initializer, shape, name=name, seed=seed, dtype=compute, layout=layout, index=index, out=out,
                           device=gpu(ordinal))
        cupy.cuda.get_current_stream().synchronize()  # written before any torch stream reads it
    if out is None:
        target.copy_(torch.from_dlpack(part))  # torch's conversion: round to nearest even, as on the host
        _check_rounded(target, name, dtype)
    return True


def _check_rounded(target: Any, name: str, dtype: str) -> None:
    """InitializationError when values finite in float32 became inf once rounded to ``target``'s narrow dtype."""
    if not bool(target.isfinite().all()):
        raise narrow_overflow(name, f"torch.{dtype}")


def _copy_in(target: Any, host: np.ndarray) -> None:
    """Copy host values into a torch tensor slab (rounding to its dtype: nearest even for bfloat16)."""
    import torch

    source = torch.from_numpy(host)
    if target.device.type == "cuda" and dtype_name(target) == str(host.dtype):
        try:
            import cupy  # noqa: F401 - the DLPack route needs it
        except ImportError:
            pass
        else:
            cupy.from_dlpack(target).set(host) if target.is_contiguous() else target.copy_(source)
            return
    target.copy_(source)


def empty_like(tensor: Any, device: Any) -> Any:
    """Uninitialized storage like ``tensor`` (shape, dtype) on ``device``, for a meta tensor to be filled."""
    import torch

    return torch.empty_like(tensor, device=device)
