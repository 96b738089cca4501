"""Values of one parameter from (initializer, shape, name, seed): whole, or any basic-index region of it.

``values(init, shape, name=n, seed=s)`` is exactly what ``Parameter(n, shape).initialize(init, seed=s)``
holds; with ``index=ix`` it is exactly ``those[ix]``, computed without the whole tensor when the
initializer allows it. An initializer says how through its ``regions`` attribute:

- ``"blocks"``: the values of stream block ``b`` come from ``fill`` on a buffer of that block's length
  with the stream shifted to the block (``Shard``); a region computes only the blocks it overlaps,
  with one block of scratch per thread;
- ``"direct"``: the initializer computes any region itself, ``fill_region(desc, out, index)``;
- ``"whole"`` (the default, so a plugin that says nothing is never wrong): the whole tensor is
  computed, then sliced.

Without ``out=`` a failure returns nothing. With ``out=`` the region is written in place, block by block:
every block is checked before it is written, so a failure in the first block (or in any "whole" or
"direct" initializer) leaves ``out`` as it was, but one in a later block leaves the earlier blocks written.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..core.device import Device, as_devices, device_of, on_device
from ..errors import (AllocationError, DeviceMismatchError, DTypeError, InitializationError, ParameterValueError,
                      RegionError, ShapeError, format_shape)
from ..core.initializer import Desc, Initializer, make_desc
from ..core.names import check_name
from ..core.stream import BLOCK, Runs, Shard, Stream, choose_seed, run_blocks
from ..core.shapes import all_finite, check_dtype, check_shape, is_complete, out_of_memory, shares_elements
from ..plugins.specs import create

REGION_MODES = ("whole", "blocks", "direct")

Failure = Callable[[str], InitializationError]


def plugin_of(initializer: Initializer) -> str:
    """The distribution that registered ``initializer``'s class, or its module when none did."""
    try:
        from ..plugins.registry import plugin_of as lookup

        return lookup(initializer)
    except Exception:
        return type(initializer).__module__


def failure_for(initializer: Initializer, desc: Desc) -> Failure:
    """A builder of the InitializationError for a failed draw of ``desc`` with ``initializer``."""
    def failure(what: str) -> InitializationError:
        return InitializationError(f"initializing parameter {desc.name!r} (shape {format_shape(desc.shape)}, dtype "
                                   f"{desc.dtype}) with {initializer!r} from {plugin_of(initializer)} {what}. "
                                   f"The parameter is unchanged.")
    return failure


def fill_checked(initializer: Initializer, desc: Desc, out: Any, rng: Any, failure: Failure) -> None:
    """``initializer.fill(desc, out, rng)``, then check that it wrote every value of ``out``, kept its shape and dtype."""
    shape, dtype = out.shape, out.dtype
    trusted = _writes_every_value(initializer)
    if not trusted:  # an outside fill: unwritten memory must show, never pass as values
        out.fill(_poison(out.dtype))
    try:
        result = initializer.fill(desc, out, rng)
    except InitializationError:
        raise
    except Exception as exc:
        raise failure(f"failed: {type(exc).__name__}: {exc}") from exc
    if result is not None and result is not out:
        raise failure(f"returned a {type(result).__name__} instead of writing into out; fill must write its values "
                      f"into out (e.g. out[...] = values) and return None")
    if out.shape != shape or out.dtype != dtype:
        raise failure(f"changed the buffer to shape {out.shape}, dtype {out.dtype}")
    if not (trusted and _bounded(initializer, desc, dtype)) and not all_finite(desc.xp, out):
        raise failure(_overflowed(dtype) if trusted else
                      "wrote non-finite values (NaN or inf) or left values unwritten; fill must write every "
                      "element of out with a finite value")
    if not trusted and out.dtype.kind in "iu":
        unwritten = _unwritten(initializer, desc, out, rng)
        if unwritten:
            raise failure(f"left {unwritten} of {out.size} values unwritten; fill must write every element of out")


def _overflowed(dtype: Any) -> str:
    """Why initreg's own fill wrote NaN or inf: its values (scaled) passed the largest ``dtype`` holds."""
    limit = _FINITE_MAX.get(np.dtype(dtype))
    if limit is None:
        return "wrote non-finite values (NaN or inf)"
    return (f"wrote non-finite values (NaN or inf): values beyond {dtype}'s largest, {limit:.6g}, round to inf; use a "
            f"smaller scale or a wider dtype (whether a draw reaches it depends on the seed and the region)")


def _bounded(initializer: Initializer, desc: Desc, dtype: Any) -> bool:
    """Whether initreg's own ``max_abs`` of ``initializer`` proves every value finite in ``dtype`` (no scan needed)."""
    limit = _FINITE_MAX.get(dtype)
    method = getattr(type(initializer), "max_abs", None)
    if limit is None or not getattr(method, "__module__", "").startswith("initreg."):
        return False
    return initializer.max_abs(desc) * (1.0 + 2.0 ** -20) < limit  # the margin: the fill's own roundings


#: the largest finite value of each float dtype: a fill whose |values| stay under it writes no inf or NaN
_FINITE_MAX = {np.dtype(t): float(np.finfo(t).max) for t in (np.float16, np.float32, np.float64)}


def _writes_every_value(initializer: Initializer) -> bool:
    """Whether the fill is initreg's own (tested to write every value) and so is every initializer it delegates to."""
    direct = type(initializer) is _Direct
    inner = initializer.inner if direct else initializer
    key = "_initreg_writes_all_direct" if direct else "_initreg_writes_all"
    known = inner.__dict__.get(key) if hasattr(inner, "__dict__") else None
    if known is not None:  # fills run once per block: decide once per instance
        return known
    method = getattr(type(inner), "fill_region" if direct else "fill", None)
    trusted = getattr(method, "__module__", "").startswith("initreg.") and all(
        _writes_every_value(nested) for nested in _nested_initializers(inner.config()))
    if hasattr(inner, "__dict__"):
        inner.__dict__[key] = trusted
    return trusted


def _nested_initializers(value: Any) -> list[Initializer]:
    """The initializers inside a config value (Load's default, Mixture's components), at any depth."""
    if isinstance(value, Initializer):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return [init for item in items for init in _nested_initializers(item)]


def _poison(dtype: Any) -> Any:
    """The sentinel an outside fill's buffer starts as: NaN (refused as a value), or an int dtype's minimum."""
    return np.nan if dtype.kind == "f" else np.iinfo(dtype).min


def _unwritten(initializer: Initializer, desc: Desc, out: Any, rng: Any) -> int:
    """How many int values the fill left as the sentinel; a second fill over another sentinel settles each one."""
    xp, first = desc.xp, _poison(out.dtype)
    suspect = out == first
    if not bool(suspect.any()):  # the usual case: one comparison, no second fill
        return 0
    again = xp.full(out.shape, np.iinfo(out.dtype).max, dtype=out.dtype)
    try:
        initializer.fill(desc, again, rng)  # fills are deterministic in (desc, stream): a written value reads the same
    except Exception:
        return int(suspect.sum())  # cannot tell: count every sentinel as unwritten
    return int((suspect & (again == np.iinfo(out.dtype).max)).sum())


def draw(initializer: Initializer, desc: Desc, stream: Stream, failure: Failure | None = None,
         whole_only: bool = False) -> Any:
    """The whole tensor of ``desc`` drawn into a fresh buffer on ``desc.device`` and checked."""
    try:
        out = desc.xp.empty(desc.shape, dtype=desc.dtype)
    except MemoryError:
        raise out_of_memory(desc.name, desc.shape, desc.dtype, whole_only) from None
    fill_checked(initializer, desc, out, stream, failure or failure_for(initializer, desc))
    return out


def region_mode(initializer: Initializer) -> str:
    """How ``initializer`` computes a region: "blocks", "direct" or "whole" (see this module's docstring)."""
    mode = getattr(initializer, "regions", "whole")
    return mode if mode in REGION_MODES else "whole"


# --- regions ------------------------------------------------------------------------------------

def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _checked_index(index: Any, shape: tuple[int, ...]) -> tuple:
    """``index`` as a tuple of ints, slices, Ellipsis and None; RegionError for anything else."""
    items = index if isinstance(index, tuple) else (index,)
    for item in items:
        if item is Ellipsis or item is None or _is_int(item):
            continue
        if isinstance(item, slice):
            bad = [v for v in (item.start, item.stop, item.step) if v is not None and not _is_int(v)]
            if not bad and item.step != 0:
                continue
            raise RegionError(f"index={index!r}: slice {item!r} needs integer (or None) start, stop and step, "
                              f"and a step that is not 0")
        raise RegionError(f"index={index!r}: {item!r} is not a basic index; use ints, slices, Ellipsis or None "
                          f"(arrays, lists and booleans are fancy indices: slice the result yourself)")
    if sum(item is Ellipsis for item in items) > 1:
        raise RegionError(f"index={index!r} has more than one Ellipsis; use at most one")
    return items


def locate(shape: tuple[int, ...], index: Any) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
    """(shape, flat offset, element strides) of ``whole[index]`` for a C-ordered array of ``shape``."""
    items = _checked_index(index, shape)
    if Ellipsis not in items:
        items = items + (Ellipsis,)  # always a view: NumPy returns a scalar (reading memory) for a full int index
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    base = np.zeros(1, dtype=np.uint8)  # never read: the view below only computes addresses
    virtual = np.lib.stride_tricks.as_strided(base, shape=shape, strides=tuple(reversed(strides)), writeable=False)
    try:
        view = virtual[items]
    except IndexError as exc:
        raise RegionError(f"index={index!r} does not fit shape {format_shape(shape)}: {exc}; "
                          f"give indices within each dimension (negative ones count from the end)") from None
    except TypeError as exc:
        raise RegionError(f"index={index!r} is not a valid index for shape {format_shape(shape)}: {exc}") from None
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return view.shape, offset, view.strides


class Region:
    """The flat positions of ``whole[index]``, in a canonical form: positive strides, no size-1 dimensions."""

    def __init__(self, shape: tuple[int, ...], offset: int, strides: tuple[int, ...]):
        self.shape = shape
        self.size = math.prod(shape)
        self.flips = tuple(slice(None, None, -1) if s < 0 and n > 1 else slice(None) for n, s in zip(shape, strides))
        dims = []
        for n, s in zip(shape, strides):
            if n == 1:
                continue
            if s < 0:  # walk the dimension the other way: positions increase with the index
                offset += (n - 1) * s
                s = -s
            dims.append([n, s])
        merged: list[list[int]] = []
        for n, s in dims:  # coalesce a dimension into the previous one where they are contiguous together
            if merged and merged[-1][1] == n * s:
                merged[-1] = [merged[-1][0] * n, s]
            else:
                merged.append([n, s])
        self.offset = offset
        self.dims = [tuple(d) for d in merged]
        self.inner = [math.prod(n for n, _ in self.dims[k + 1:]) for k in range(len(self.dims))]
        self.last = offset + sum((n - 1) * s for n, s in self.dims)
        self.contiguous = len(self.dims) == 0 or (len(self.dims) == 1 and self.dims[0][1] == 1)

    @property
    def flipped(self) -> bool:
        """Whether some dimension runs backwards (a negative step)."""
        return any(f.step == -1 for f in self.flips)

    def rank(self, x: int) -> int:
        """How many region elements have a flat position below ``x``."""
        x -= self.offset
        if x <= 0 or self.size == 0:
            return 0
        if not self.dims:
            return 1
        total = 0
        for k, (n, s) in enumerate(self.dims):
            j = min(n - 1, (x - 1) // s)
            if k == len(self.dims) - 1:
                return total + j + 1
            total += j * self.inner[k]
            x -= j * s
            if x <= 0:
                return total
        return total  # pragma: no cover - the loop returns

    def positions(self, r0: int, r1: int) -> np.ndarray:
        """The flat positions of region elements r0..r1-1 (in C order of the canonical form)."""
        if not self.dims:
            return np.full(r1 - r0, self.offset, dtype=np.int64)
        idx = np.unravel_index(np.arange(r0, r1, dtype=np.int64), tuple(n for n, _ in self.dims))
        pos = np.full(r1 - r0, self.offset, dtype=np.int64)
        for i, (_, s) in zip(idx, self.dims):
            pos += i * s
        return pos

    def runs(self) -> tuple[np.ndarray, int]:
        """(first flat position of each run, run length): the region as equal runs of consecutive positions, in order."""
        dims = self.dims
        length = 1
        if dims and dims[-1][1] == 1:
            length, dims = dims[-1][0], dims[:-1]
        starts = np.full((1,) * len(dims), self.offset, dtype=np.int64)
        for k, (n, s) in enumerate(dims):
            shape = [1] * len(dims)
            shape[k] = n
            starts = starts + (np.arange(n, dtype=np.int64) * s).reshape(shape)
        return starts.reshape(-1).astype(np.uint64), length

    def blocks(self) -> list[int]:
        """The stream blocks that hold at least one region element, in order."""
        if self.size == 0:
            return []
        first, last = self.offset // BLOCK, self.last // BLOCK
        if self.contiguous or len(self.dims) == 1 and self.dims[0][1] <= BLOCK:
            return list(range(first, last + 1))
        return [b for b in range(first, last + 1) if self.rank((b + 1) * BLOCK) > self.rank(b * BLOCK)]


def _fill_runs(initializer: Initializer, desc: Desc, stream: Stream, region: Region, flat: np.ndarray,
               failure: Failure) -> None:
    """Write the region's values into ``flat`` in one checked fill over its runs (an ``addressable`` initializer)."""
    starts, length = region.runs()
    fill_checked(initializer, desc, flat, Runs(stream, starts, length), failure)


def addressable(initializer: Initializer) -> bool:
    """Whether ``initializer`` is addressable: said by its fill's own class or a subclass (a plugin's subclass that
    overrides fill must say it again)."""
    mro = type(initializer).__mro__
    said = next((i for i, c in enumerate(mro) if "addressable" in c.__dict__), None)
    filled = next((i for i, c in enumerate(mro) if "fill" in c.__dict__), None)
    return said is not None and filled is not None and said <= filled and mro[said].__dict__["addressable"] is True


def _fill_blocks(initializer: Initializer, desc: Desc, stream: Stream, region: Region, flat: np.ndarray,
                 failure: Failure) -> None:
    """Write the region's values into ``flat`` (its C-order, canonical form), one stream block at a time."""
    total = desc.size
    blocks = region.blocks()

    def work(claim: Callable[[], int]) -> None:
        scratch = np.empty(BLOCK, dtype=desc.dtype)
        for i in iter(claim, -1):
            b = blocks[i]
            b0 = b * BLOCK
            n = min(BLOCK, total - b0)
            r0, r1 = region.rank(b0), region.rank(b0 + n)
            if region.contiguous and r1 - r0 == n:  # the whole block lies in the region: fill it in place
                fill_checked(initializer, desc, flat[r0:r1], Shard(stream, b0), failure)
                continue
            buf = scratch[:n]
            fill_checked(initializer, desc, buf, Shard(stream, b0), failure)
            if region.contiguous:
                p0 = region.offset + r0 - b0
                flat[r0:r1] = buf[p0:p0 + (r1 - r0)]
            else:
                np.take(buf, region.positions(r0, r1) - b0, out=flat[r0:r1])

    run_blocks(len(blocks), work)


def region_values(initializer: Initializer, desc: Desc, stream: Stream, index: Any, out: Any = None) -> Any:
    """``draw(initializer, desc, stream)[index]`` (into ``out`` when given), computing only what the region needs."""
    if (type(index) is tuple and not index and out is not None and type(out) is np.ndarray and out.flags.c_contiguous
            and desc.xp is np):  # the whole tensor into a host array: the adapters' per-parameter call, kept short
        _check_out(out, desc.shape, desc)
        fill_checked(initializer, desc, out, stream, failure_for(initializer, desc))
        return out
    shape, offset, strides = locate(desc.shape, index)
    if out is not None:
        _check_out(out, shape, desc)
    failure = failure_for(initializer, desc)
    mode = region_mode(initializer)
    on_host = isinstance(desc.xp.empty(0), np.ndarray)
    region = Region(shape, offset, strides)
    # a GPU computes a region from its own runs (one kernel launch) only for an addressable initializer
    if mode == "whole" or not on_host and not (mode == "blocks" and addressable(initializer)):
        whole = draw(initializer, desc, stream, failure, whole_only=mode == "whole")
        if out is None:
            return whole[index].copy()
        out[...] = whole[index]
        return out
    if mode == "direct":
        target = out if out is not None else np.empty(shape, dtype=desc.dtype)
        tmp = np.empty(shape, dtype=desc.dtype)
        fill_checked(_Direct(initializer, index), desc, tmp, stream, failure)
        target[...] = tmp
        return target
    fill = _fill_runs if addressable(initializer) else _fill_blocks
    if out is not None and out.flags.c_contiguous and not region.flipped:
        fill(initializer, desc, stream, region, out.reshape(-1), failure)
        return out
    canonical = desc.xp.empty(shape, dtype=desc.dtype)
    fill(initializer, desc, stream, region, canonical.reshape(-1), failure)
    result = canonical[region.flips] if region.flipped else canonical
    if out is None:
        return desc.xp.ascontiguousarray(result) if region.flipped else result
    out[...] = result
    return out


def _kept(out: Any) -> Any:
    """A copy of a writeable array ``out`` to put back after an error (bytes for a host array: the cheapest copy);
    None for anything a fill cannot have written (read-only, not an array: refused before any write)."""
    if type(out) is np.ndarray:
        return out.tobytes() if out.flags.writeable else None
    if not (hasattr(out, "shape") and hasattr(out, "dtype") and hasattr(out, "copy")):
        return None
    return out.copy() if getattr(getattr(out, "flags", None), "writeable", True) else None


def _restore(out: Any, kept: Any) -> None:
    """Put ``kept`` (from :func:`_kept`, or None) back into ``out``."""
    if kept is not None:
        out[...] = np.frombuffer(kept, out.dtype).reshape(out.shape) if type(kept) is bytes else kept


class _Direct(Initializer):
    """Adapts ``fill_region(desc, out, index)`` to the ``fill`` signature, so one checked path serves both."""

    def __init__(self, inner: Initializer, index: Any):
        self.inner, self.index = inner, index

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        self.inner.fill_region(desc, out, self.index)

    def __repr__(self) -> str:
        return repr(self.inner)


def _check_out(out: Any, shape: tuple[int, ...], desc: Desc) -> None:
    if (type(out) is np.ndarray and out.shape == shape and out.dtype == desc.dtype and out.flags.writeable
            and out.flags.c_contiguous and desc.device.kind == "cpu"):
        return  # the adapters' call: a writeable host array of the right shape and dtype
    try:
        dtype = out.dtype if isinstance(out, np.ndarray) else np.dtype(str(out.dtype))
        tuple(out.shape)
    except (AttributeError, TypeError):  # not an array, or one of another library (torch.float32 is no NumPy dtype)
        raise ParameterValueError(f"values(name={desc.name!r}): out={type(out).__name__} is not a NumPy or CuPy "
                                  f"array; pass one of shape {format_shape(shape)} and dtype {desc.dtype} (a PyTorch "
                                  f"tensor: initreg.torch.init.fill_)") from None
    if tuple(out.shape) != tuple(shape):
        raise ShapeError(f"values(name={desc.name!r}): out has shape {format_shape(tuple(out.shape))} but the region "
                         f"has shape {format_shape(shape)}; pass an array of the region's shape")
    if dtype != desc.dtype:
        raise DTypeError(f"values(name={desc.name!r}): out has dtype {out.dtype} but dtype={desc.dtype}; pass an array "
                         f"of dtype {desc.dtype} or set dtype= to match")
    if getattr(getattr(out, "flags", None), "writeable", True) is False:
        raise ParameterValueError(f"values(name={desc.name!r}): out is read-only; pass a writeable array")
    strides = getattr(out, "strides", None)
    if strides is not None and shares_elements(tuple(out.shape), tuple(strides), dtype.itemsize):
        raise ParameterValueError(f"values(name={desc.name!r}): out has strides {tuple(strides)} (bytes): some of its "
                                  f"elements share memory (a broadcast or as_strided view), so it cannot hold distinct "
                                  f"values; pass an array of its own (e.g. np.empty({format_shape(shape)}))")
    where = device_of(out)
    if where != desc.device and "gpu" in (where.kind, desc.device.kind):  # CPU devices share host memory
        raise DeviceMismatchError(f"values(name={desc.name!r}): out is on {where!r} but device={desc.device!r}; pass "
                                  f"an out on {desc.device!r}, or leave device= out to compute on out's device")


def values(init: Any, shape: Any, *, name: str, seed: int | None, dtype: Any = "float32", layout: str | None = "OI",
           index: Any = None, out: Any = None, device: Device | None = None) -> Any:
    """What ``Parameter(name, shape, dtype, layout=layout).initialize(init, seed=seed)`` holds, or ``those[index]``."""
    return _values(init, shape, name, seed, dtype, layout, index, out, device, True)


def values_into(init: Any, shape: Any, *, name: str, seed: int | None, dtype: Any = "float32",
                layout: str | None = "OI", index: Any = None, out: Any = None, device: Device | None = None) -> Any:
    """:func:`values`, leaving ``out`` partly written on an error: for callers that own ``out`` or keep it themselves."""
    return _values(init, shape, name, seed, dtype, layout, index, out, device, False)


def _values(init: Any, shape: Any, name: Any, seed: Any, dtype: Any, layout: Any, index: Any, out: Any, device: Any,
            keep: bool) -> Any:
    """values() and values_into(): ``keep`` says whether an error puts back what ``out`` held."""
    if device is None and out is not None and type(out) is not np.ndarray:  # as torch's out=: its device, unless told
        device = device_of(out) if hasattr(out, "shape") else None
    key = _desc_key(name, shape, dtype, layout, device)
    desc = _DESCS.get(key) if key is not None else None
    if desc is None:
        desc = _checked_desc(name, shape, dtype, layout, device)
        if key is not None:
            if len(_DESCS) >= _MEMO_MAX:
                _DESCS.clear()
            _DESCS[key] = desc
    try:
        if desc.device.kind != "cpu":  # CuPy allocates and launches on the current GPU (entering it checks it is there)
            with on_device(desc.device):
                return _computed(init, desc, seed, index, out, keep)
        return _computed(init, desc, seed, index, out, keep)
    except AllocationError:
        raise
    except MemoryError:  # NumPy's (or CuPy's) own: say which parameter and what to do instead
        raise out_of_memory(desc.name, desc.shape, desc.dtype) from None


def _computed(init: Any, desc: Desc, seed: Any, index: Any, out: Any, keep: bool) -> Any:
    """The rest of :func:`_values`, on ``desc``'s device."""
    initializer = create(init)
    stream = _stream(seed if type(seed) is int and seed >= 0 else choose_seed(seed), desc.name)  # a given seed: taken
    if index is None and out is None:
        return draw(initializer, desc, stream)
    index = () if index is None else index
    if not keep or out is None:
        return region_values(initializer, desc, stream, index, out)
    kept = _kept(out)
    try:
        return region_values(initializer, desc, stream, index, out)
    except BaseException:
        _restore(out, kept)
        raise


# (name, shape, dtype, layout, device) -> its checked Desc: an adapter's per-parameter call skips the checks
# its arguments already passed (a Desc is immutable; the key admits only exact str/int/tuple types).
_DESCS: dict[tuple[Any, ...], Desc] = {}
_STREAMS: dict[tuple[int, str], Stream] = {}
_MEMO_MAX = 4096  # entries each memo keeps before it starts over


def _stream(seed: int, name: str) -> Stream:
    """The Stream of (seed, name), kept for the next call (its Philox key is computed once)."""
    stream = _STREAMS.get((seed, name))
    if stream is None:
        if len(_STREAMS) >= _MEMO_MAX:
            _STREAMS.clear()
        stream = _STREAMS[(seed, name)] = Stream(seed, name)
    return stream


def _desc_key(name: Any, shape: Any, dtype: Any, layout: Any, device: Any) -> tuple[Any, ...] | None:
    """The memo key of a call's arguments, or None when one of them is not of a plain, exactly hashable type."""
    if (type(name) is not str or type(shape) is not tuple or type(dtype) not in (str, np.dtype, type)
            or (layout is not None and type(layout) is not str) or (device is not None and type(device) is not Device)):
        return None
    for d in shape:
        if type(d) is not int:
            return None
    return (name, shape, dtype, layout, device)


def _checked_desc(name: Any, shape: Any, dtype: Any, layout: Any, device: Any) -> Desc:
    """The Desc of a values() call after checking the name, shape, dtype, layout and device."""
    if not isinstance(name, str) or not name:
        raise ParameterValueError(f"values(): name must be a non-empty string (the parameter's name), got {name!r}")
    check_name(name)
    checked = check_shape(shape, name)
    if checked is None or not is_complete(checked):
        raise ShapeError(f"values(name={name!r}): shape {format_shape(checked)} has unknown dimensions; "
                         f"give every dimension (values are computed for a known shape)")
    dt = check_dtype(dtype, name)
    devices = as_devices(device)
    devices[0].check()
    return make_desc(name, checked, dt, device=devices[0], layout=layout)
