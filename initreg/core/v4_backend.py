"""The one entry point to the v4 bits on the CPU: the compiled kernel, or the NumPy reference with the same bits.

``fill(op, key_words, start, out, *params)`` writes elements ``[start, start + out.size)`` of a stream into
``out``; ``key_words(seed, name, tags)`` gives a stream's four Philox key words. The compiled kernel
(``initreg.core._v4kernel``, built from ``v4.h`` at install time) is imported on the first fill, not before;
where it is missing, the first fill warns once (``KernelUnavailableWarning``) and every fill uses the NumPy
reference (``v4_reference``): the same bits, slower. ``INITREG_V4_BACKEND=reference`` in the environment
selects the reference without a warning (the tests compare the two that way); ``compiled`` or unset: the kernel;
any other value warns and is ignored.

The compiled fill releases the GIL for the whole range, so Python threads may fill disjoint ranges of one
array at once; a region costs only the region (every element is addressable).

Operations and their parameters (see ``v4_reference``'s docstring for the exact formulas):
``"uniform"`` (low, high) · ``"normal"`` (loc, scale) · ``"truncated_normal"`` (loc, scale, a, b): N(loc, scale²)
on [loc + a·scale, loc + b·scale] · ``"integers"`` (low, high): [low, high), Python ints, high − low ≤ 2⁶⁴ ·
``"bernoulli"`` (p). Output dtypes: float64, float32, float16, bfloat16 (an ``ml_dtypes`` bfloat16 array, or a
uint16 array with ``bfloat16=True``); integers and bernoulli also fill integer dtypes (bernoulli bool too).

Importing this module imports NumPy only.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings
from typing import Any, Sequence

import numpy as np

from ..errors import InitregWarning, KernelUnavailableWarning, user_stacklevel
from . import keys

ALGORITHM = "initreg-philox-v4"

OPS = ("uniform", "normal", "truncated_normal", "integers", "bernoulli")

_MAX_END = (1 << 64) - 16  # start + size must stay below this (call indices are 64-bit)


_lock = threading.Lock()
_kernel: Any = None          # the extension module once loaded, False when it is missing
_missing_reason = ""


def _after_fork_in_child() -> None:
    """A new lock in a forked child: a parent thread that held it (loading the kernel) does not exist there."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _load() -> Any:
    """The compiled kernel module, or None (warning once) when it cannot be imported."""
    global _kernel, _missing_reason
    k = _kernel
    if k is None:
        with _lock:
            if _kernel is None:
                chosen = os.environ.get("INITREG_V4_BACKEND", "").strip().lower()
                if chosen == "reference":
                    _kernel, _missing_reason = False, "INITREG_V4_BACKEND=reference"
                else:
                    try:
                        from . import _v4kernel
                    except ImportError as exc:
                        _kernel, _missing_reason = False, f"{type(exc).__name__}: {exc}"
                        warnings.warn(KernelUnavailableWarning(
                            "initreg's compiled v4 kernel (initreg.core._v4kernel) is not available "
                            f"({_missing_reason}); fills use the NumPy reference: the same values, slower. "
                            "Reinstall initreg where a C compiler is available (pip install --force-reinstall "
                            "--no-deps initreg) to build it."), stacklevel=4)
                    else:
                        if getattr(_v4kernel, "ALGORITHM", None) != ALGORITHM:
                            raise ImportError(f"initreg.core._v4kernel computes {_v4kernel.ALGORITHM!r}, "
                                              f"this initreg expects {ALGORITHM!r}: rebuild it")
                        _kernel = _v4kernel
                if chosen not in ("", "reference", "compiled"):  # after the choice: warned once, even under -W error
                    warnings.warn(InitregWarning(
                        f"INITREG_V4_BACKEND={os.environ['INITREG_V4_BACKEND']!r} is not 'reference' or 'compiled', "
                        f"so it is ignored and fills use the compiled kernel where it is built; fix or unset it"),
                        stacklevel=user_stacklevel())
            k = _kernel
    return k or None


def finite_scan() -> Any:
    """The kernel's ``all_finite(arr)`` for float16/32/64 buffers once the kernel is loaded (by a fill), else None."""
    return getattr(_kernel, "all_finite", None) if _kernel else None


def backend() -> str:
    """``"compiled"`` when fills run in the compiled kernel, ``"reference"`` when in NumPy (loads it if needed)."""
    return "compiled" if _load() is not None else "reference"


# --- stream keys -----------------------------------------------------------------------------------------------

def hash64(text: str) -> int:
    """The 64-bit BLAKE2b of ``text`` (UTF-8), little-endian."""
    return keys.hash64(str(text))


def key_words(seed: int, name: str, tags: Sequence[str] = ()) -> tuple[int, int, int, int]:
    """The Philox key words (k0, k1, k2, k3) of the stream (seed, name, *tags):
    ``SeedSequence(seed, spawn_key=(hash64(name), *map(hash64, tags))).generate_state(4, uint32)``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return _key_words(int(seed), str(name), tuple(str(t) for t in tags))


@functools.lru_cache(maxsize=4096)
def _key_words(seed: int, name: str, tags: tuple[str, ...]) -> tuple[int, int, int, int]:
    return keys.seed_sequence_words(seed, keys.stream_key(name, tags))


# --- fills ---------------------------------------------------------------------------------------------------------

_DTYPE_KINDS = {"float64": "float64", "float32": "float32", "float16": "float16", "int8": "int8", "int16": "int16",
                "int32": "int32", "int64": "int64", "uint8": "uint8", "uint16": "uint16", "uint32": "uint32",
                "uint64": "uint64", "bool": "bool", "bfloat16": "bfloat16"}


def kind_of(dtype: Any, bfloat16: bool = False) -> str:
    """The v4 kind name of a dtype (``bfloat16=True``: a uint16 array holds bfloat16 bits)."""
    return _kind_of(np.dtype(dtype), bool(bfloat16))


@functools.lru_cache(maxsize=64)  # dtype.name is slow next to a 1,000-value fill
def _kind_of(dt: np.dtype, bfloat16: bool) -> str:
    if bfloat16:
        if dt.itemsize != 2 or dt.kind not in "uV" and dt.name != "bfloat16":
            raise TypeError(f"bfloat16=True needs a 2-byte (uint16 or bfloat16) array, got {dt}")
        return "bfloat16"
    kind = _DTYPE_KINDS.get(dt.name)
    if kind is None:
        raise TypeError(f"cannot fill an array of dtype {dt}; use float64/32/16, bfloat16 or an integer dtype")
    return kind


def check_start(start: Any, size: int) -> int:
    """``start`` as an int, or ValueError: a non-negative element position with start + size below 2**64 - 16."""
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise ValueError(f"start must be a non-negative int (a flat element position), got {start!r}")
    start = int(start)
    if start + size > _MAX_END:
        raise ValueError(f"start + size must stay below 2**64 - 16, got {start} + {size}")
    return start


def check_key_words(key: Sequence[int]) -> tuple[int, int, int, int]:
    """``key`` as a tuple of four 32-bit ints, or ValueError."""
    words = tuple(int(k) for k in key)
    if len(words) != 4 or any(not 0 <= w < 1 << 32 for w in words):
        raise ValueError(f"key_words must be four 32-bit words (key_words(seed, name, tags)), got {key!r}")
    return words  # type: ignore[return-value]


@functools.lru_cache(maxsize=1024)
def _prepare(op: str, dtype: np.dtype, bfloat16: bool, params: tuple) -> tuple[str, int, int, tuple, bool]:
    """(kind, op code, kind code, the kernel's arguments after the kind, whether it fills the bits as uint16) for one
    kind of fill; raises for a dtype or parameters the operation cannot take."""
    from . import v4_reference as ref

    if op not in OPS:
        raise ValueError(f"unknown fill {op!r}; one of {', '.join(OPS)}")
    kind = kind_of(dtype, bfloat16)
    if op in ("uniform", "normal", "truncated_normal") and kind not in ref.FLOAT_KINDS:
        what = op.replace("_", " ")
        raise TypeError(f"{what} values need a floating dtype, got {dtype}")
    if op == "integers" and kind == "bool":
        raise TypeError("integers cannot fill a bool array; use bernoulli or an integer dtype")
    if op == "truncated_normal" and len(params) == 4 and not float(params[2]) < float(params[3]):
        raise ValueError(f"truncation bounds need a < b, got a={params[2]}, b={params[3]}")
    raw = ref.raw_params(op, params)
    args = (0.0, 0.0, 0.0, 0.0, *raw) if op == "integers" else tuple(raw)  # p0..p3, then ilow, ispan_m1
    bits = kind == "bfloat16" or dtype.kind == "V"
    return kind, ref.OPS[op], ref.KINDS[kind], args, bits


def fill(op: str, key_words: Sequence[int], start: int, out: np.ndarray, *params: Any,
         bfloat16: bool = False) -> np.ndarray:
    """Write elements ``[start, start + out.size)`` of the stream with ``key_words`` into ``out`` (C order); return it.

    ``out`` is a writable C-contiguous NumPy array; its values depend only on (key, element position, dtype,
    params), never on how the range is split or on the machine.
    """
    if type(out) is not np.ndarray:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a NumPy array, got {type(out).__name__}")
    flags = out.flags
    if not (flags.c_contiguous and flags.writeable):
        raise ValueError("out must be a writable C-contiguous array (fill a contiguous copy and assign it)")
    try:
        kind, opc, kindc, args, bits = _prepare(op, out.dtype, bfloat16, params)
    except TypeError as exc:
        if "unhashable" not in str(exc):
            raise
        kind, opc, kindc, args, bits = _prepare.__wrapped__(op, out.dtype, bfloat16, params)
    size = out.size
    if type(start) is not int or start < 0 or start + size > _MAX_END:
        start = check_start(start, size)
    if size == 0:
        return out
    k = _kernel if _kernel is not None else _load()
    if k:
        k.fill(opc, key_words, start, out.view(np.uint16) if bits else out, kindc, *args)
        return out
    from . import v4_reference as ref

    buf = out.view(np.uint16) if bits else out
    ref.fill_into(op, check_key_words(key_words), start, buf.reshape(-1), kind, *params)
    return out


def fill_runs(op: str, key_words: Sequence[int], runs: np.ndarray, length: int, out: np.ndarray, *params: Any,
              bfloat16: bool = False) -> np.ndarray:
    """Write ``len(runs)`` runs of ``length`` elements into the flat ``out``: run ``i`` is elements
    ``[runs[i], runs[i] + length)`` of the stream (a strided region in one call, same bits as :func:`fill`)."""
    if not (isinstance(out, np.ndarray) and out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("out must be a writable C-contiguous NumPy array")
    runs = np.ascontiguousarray(runs, dtype=np.uint64)
    if out.size != runs.size * int(length):
        raise ValueError(f"out holds {out.size} elements, not len(runs) * length = {runs.size * int(length)}")
    if out.size == 0:
        return out
    kind, opc, kindc, args, bits = _prepare.__wrapped__(op, out.dtype, bfloat16, params)
    if int(runs.max()) + int(length) > _MAX_END:
        check_start(int(runs.max()), int(length))
    buf = out.view(np.uint16) if bits else out
    k = _kernel if _kernel is not None else _load()
    if k:
        k.fill_runs(opc, key_words, runs, int(length), buf.reshape(-1), kindc, *args)
        return out
    flat = out.reshape(-1)
    for i, r in enumerate(runs.tolist()):  # the reference, one run at a time
        fill(op, key_words, r, flat[i * length:(i + 1) * length], *params, bfloat16=bfloat16)
    return out


def values(op: str, key_words: Sequence[int], start: int, shape: Any, dtype: Any, *params: Any) -> np.ndarray:
    """A new array of ``shape`` and ``dtype`` holding elements ``start..`` of the stream (bfloat16: ml_dtypes')."""
    out = np.empty(shape, dtype=dtype)
    return fill(op, key_words, start, out, *params)
