"""Where parameters live in memory: overlap between parameters, and inside one (an expanded tensor), found before any write.

Two parameters that are different objects but share bytes of one storage (views of one base tensor)
cannot each hold their own values; one tensor whose elements share memory (``expand``, stride 0)
cannot hold distinct values at all. Both are refused before anything is written.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..core.shapes import shares_elements
from ..errors import ParameterValueError, format_shape


def _span(tensor: Any) -> tuple[int, int, int] | None:
    """(storage pointer, first byte, end byte) the tensor's elements can reach; None for an empty tensor."""
    if tensor.numel() == 0:
        return None
    size = tensor.element_size()
    first = tensor.storage_offset()
    last = first + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride()) if s > 0)
    low = first + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride()) if s < 0)
    return tensor.untyped_storage().data_ptr(), low * size, (last + 1) * size


def _offsets(tensor: Any) -> np.ndarray:
    """The storage offset (in elements) of every element of ``tensor``, in C order."""
    offsets = np.full(tuple(tensor.shape), tensor.storage_offset(), dtype=np.int64)
    for dim, (n, stride) in enumerate(zip(tensor.shape, tensor.stride())):
        shape = [1] * tensor.dim()
        shape[dim] = n
        offsets += (np.arange(n, dtype=np.int64) * stride).reshape(shape)
    return offsets.reshape(-1)


def _bytes(tensor: Any) -> np.ndarray:
    """Every byte offset in the storage that ``tensor``'s elements occupy (sorted, unique)."""
    size = tensor.element_size()
    return np.unique((_offsets(tensor)[:, None] * size + np.arange(size)).reshape(-1))


def _share_bytes(a: Any, b: Any, end: int) -> bool:
    """Whether two tensors of one storage (spans ending before byte ``end``) have a byte in common: NumPy's exact
    solver on address-only views (no memory is read), else every byte of both compared."""
    store = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(end,), strides=(1,), writeable=False)

    def view(t: Any) -> np.ndarray:
        size = t.element_size()
        return np.lib.stride_tricks.as_strided(store[t.storage_offset() * size:], shape=(*t.shape, size),
                                               strides=(*(s * size for s in t.stride()), 1), writeable=False)
    try:
        return bool(np.shares_memory(view(a), view(b), max_work=1 << 20))
    except getattr(np, "exceptions", np).TooHardError:  # pragma: no cover - strides its solver gives up on
        return bool(np.intersect1d(_bytes(a), _bytes(b), assume_unique=True).size)


def check_internal(tensor: Any, name: str) -> None:
    """ParameterValueError when elements of ``tensor`` (parameter ``name``) share memory, as an expanded tensor's do."""
    size = tensor.element_size()
    if not shares_elements(tuple(tensor.shape), tuple(s * size for s in tensor.stride()), size):
        return
    raise ParameterValueError(
        f"parameter {name!r} of shape {format_shape(tuple(tensor.shape))} has strides {tuple(tensor.stride())}: some of "
        f"its elements share memory (an expanded or as_strided view), so it cannot hold distinct values; make it a "
        f"tensor of its own (nn.Parameter(t.clone()) or t.contiguous()); nothing was changed")


def check_overlaps(tensors: Sequence[tuple[str, Any]]) -> None:
    """ParameterValueError naming both parameters when two distinct tensors share memory (ties are one object)."""
    spans = []
    for name, tensor in tensors:
        if tensor.device.type == "meta":
            continue
        check_internal(tensor, name)
        span = _span(tensor)
        if span is not None:
            spans.append((span, name, tensor))
    spans.sort(key=lambda s: s[0])
    for i, ((ptr, lo, hi), name, tensor) in enumerate(spans):
        for (ptr2, lo2, hi2), name2, tensor2 in spans[i + 1:]:
            if ptr2 != ptr or lo2 >= hi:
                break  # sorted by (storage, first byte): nothing later can reach back into this span
            if _share_bytes(tensor, tensor2, max(hi, hi2)):
                raise ParameterValueError(
                    f"parameters {name!r} and {name2!r} are different tensors that share memory (views of one "
                    f"storage), so they cannot each hold their own values; tie them (one nn.Parameter under both "
                    f"names) or give each its own storage (.clone()); nothing was changed")
