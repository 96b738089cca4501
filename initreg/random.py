"""Stream: the per-parameter random source, keyed by (seed, name) and split into fixed-size blocks.

Bit-level contract (changing any of it changes every value and bumps ALGORITHM):
the flat array is cut into blocks of BLOCK elements; block ``b`` of the stream
``(seed, name, *tags)`` is drawn from ``SFC64(SeedSequence(seed, spawn_key=(h(name), *h(tags), b)))``
where ``h`` is the 64-bit BLAKE2b of the UTF-8 text. Normals use float32/float64 Box–Muller in
the target precision. Blocks are independent, so they fill in any order, on any number of
threads, whole or as shards, with identical bits.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

BLOCK = 1 << 16
ALGORITHM = "initreg-sfc64-blocks-v1"

_state = threading.local()
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_num_threads: int | None = None
_global_seed: int | None = None


# --- global settings ------------------------------------------------------------------------

def seed(value: int | None) -> None:
    """Set the global seed used when initialize() gets no seed (None: fresh entropy each time)."""
    global _global_seed
    _global_seed = None if value is None else check_seed(value)


def get_seed() -> int | None:
    """The global seed, or None when every initialization draws fresh entropy."""
    return _global_seed


def fresh_seed() -> int:
    """A new 128-bit seed from the operating system's entropy."""
    return int(np.random.SeedSequence().entropy)


def check_seed(value: Any) -> int:
    """Return ``value`` as a non-negative int seed or raise a ValueError/TypeError naming it."""
    from .errors import SeedError

    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SeedError(f"seed must be a non-negative integer, got {value!r}; pass e.g. seed=0")
    if value < 0:
        raise SeedError(f"seed must be non-negative, got {value}; pass e.g. seed=0")
    return int(value)


def set_num_threads(n: int | None) -> None:
    """Set how many threads fill blocks (None: INITREG_NUM_THREADS or the CPU count)."""
    global _num_threads
    if n is not None and (not isinstance(n, int) or n < 1):
        raise ValueError(f"number of threads must be a positive int, got {n!r}")
    _num_threads = n


def get_num_threads() -> int:
    """How many threads fill blocks."""
    if _num_threads is not None:
        return _num_threads
    env = os.environ.get("INITREG_NUM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="initreg-fill")
            _pool_size = n
        return _pool


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


# --- the stream -------------------------------------------------------------------------------

class _Scratch:
    """Block-sized work buffers owned by one worker for one fill call."""

    def __init__(self) -> None:
        self._bufs: dict[tuple[str, Any], np.ndarray] = {}

    def get(self, slot: str, n: int, dtype: Any) -> np.ndarray:
        key = (slot, np.dtype(dtype))
        buf = self._bufs.get(key)
        if buf is None or buf.size < n:
            buf = self._bufs[key] = np.empty(n, dtype=dtype)
        return buf[:n]


Kernel = Callable[[np.random.Generator, np.ndarray, _Scratch], None]


class Stream:
    """A parameter's random source keyed by (seed, name); fills ``out=`` arrays block by block."""

    __slots__ = ("seed", "name", "tags", "_key")

    def __init__(self, seed: int, name: str, tags: tuple[str, ...] = ()):
        self.seed = check_seed(seed)
        self.name = str(name)
        self.tags = tuple(tags)
        self._key = (_hash64(self.name),) + tuple(_hash64(t) for t in self.tags)

    def __repr__(self) -> str:
        tags = "".join(f"/{t}" for t in self.tags)
        return f"Stream(seed={self.seed}, name={self.name!r}{', tags=' + repr(self.tags) if tags else ''})"

    @property
    def key(self) -> str:
        """A printable identifier of this stream's key (hex of the name and tag hashes)."""
        return "-".join(f"{k:016x}" for k in self._key)

    def describe(self) -> dict[str, Any]:
        """What a record needs to replay this stream."""
        return {"seed": self.seed, "name": self.name, "tags": list(self.tags), "key": self.key,
                "block": BLOCK, "algorithm": ALGORITHM}

    def child(self, tag: str) -> "Stream":
        """An independent stream derived from this one (for a second draw inside one initializer)."""
        return Stream(self.seed, self.name, self.tags + (str(tag),))

    def generator(self, block: int) -> np.random.Generator:
        """The NumPy generator that fills block ``block`` of this stream."""
        return np.random.Generator(np.random.SFC64(np.random.SeedSequence(self.seed, spawn_key=self._key + (int(block),))))

    # -- public fills --------------------------------------------------------------------------

    def random(self, out: Any, *, start: int = 0) -> Any:
        """Fill ``out`` with U[0, 1) in its own dtype; return it."""
        return self._run(out, start, _uniform_kernel(0.0, 1.0))

    def uniform(self, low: float = 0.0, high: float = 1.0, *, out: Any, start: int = 0) -> Any:
        """Fill ``out`` with U[low, high); return it."""
        return self._run(out, start, _uniform_kernel(float(low), float(high)))

    def normal(self, loc: float = 0.0, scale: float = 1.0, *, out: Any, start: int = 0) -> Any:
        """Fill ``out`` with N(loc, scale²); return it."""
        return self._run(out, start, _normal_kernel(float(loc), float(scale)))

    def truncated_normal(self, loc: float = 0.0, scale: float = 1.0, a: float = -2.0, b: float = 2.0, *,
                         out: Any, start: int = 0) -> Any:
        """Fill ``out`` with N(loc, scale²) truncated to [loc + a·scale, loc + b·scale]; return it."""
        if not a < b:
            raise ValueError(f"truncation bounds need a < b, got a={a}, b={b}")
        return self._run(out, start, _truncnorm_kernel(float(loc), float(scale), float(a), float(b)))

    def integers(self, low: int, high: int, *, out: Any, start: int = 0) -> Any:
        """Fill ``out`` with integers uniform on [low, high); return it."""
        def kernel(g: np.random.Generator, view: np.ndarray, scratch: _Scratch) -> None:
            view[...] = g.integers(low, high, size=view.size, dtype=np.int64)
        return self._run(out, start, kernel)

    def bernoulli(self, p: float, *, out: Any, start: int = 0) -> Any:
        """Fill ``out`` with 1 (probability p) or 0, in its dtype; return it."""
        def kernel(g: np.random.Generator, view: np.ndarray, scratch: _Scratch) -> None:
            u = scratch.get("u", view.size, np.float64)
            g.random(out=u)
            np.less(u, p, out=view, casting="unsafe")
        return self._run(out, start, kernel)

    def map_blocks(self, fn: Callable[[np.random.Generator, np.ndarray], None], *, out: Any, start: int = 0) -> Any:
        """Call ``fn(generator, block_view)`` for every block of ``out``, in parallel; return ``out``."""
        return self._run(out, start, lambda g, view, scratch: fn(g, view))

    # -- machinery -------------------------------------------------------------------------------

    def _run(self, out: Any, start: int, kernel: Kernel) -> Any:
        if start % BLOCK:
            raise ValueError(f"start={start} is not a multiple of the block size {BLOCK}; shards must be block-aligned")
        if not isinstance(out, np.ndarray):
            return _run_foreign(self, out, start, kernel)
        if not out.flags.c_contiguous:
            tmp = np.empty(out.shape, dtype=out.dtype)
            self._run(tmp, start, kernel)
            out[...] = tmp
            return out
        flat = out.reshape(-1)
        compute = _compute_dtype(out.dtype)
        first = start // BLOCK
        nblocks = -(-flat.size // BLOCK)

        def work(lo: int, hi: int) -> None:
            scratch = _Scratch()
            nested = getattr(_state, "active", False)
            _state.active = True
            try:
                for i in range(lo, hi):
                    view = flat[i * BLOCK:(i + 1) * BLOCK]
                    gen = self.generator(first + i)
                    if compute is None:
                        kernel(gen, view, scratch)
                    else:  # half precision and friends: compute one block in float32, then cast
                        tmp = scratch.get("cast", view.size, compute)
                        kernel(gen, tmp, scratch)
                        view[...] = tmp
            finally:
                _state.active = nested

        threads = min(get_num_threads(), nblocks)
        if threads <= 1 or getattr(_state, "active", False):
            work(0, nblocks)
        else:
            bounds = [nblocks * k // threads for k in range(threads + 1)]
            futures = [_executor(threads).submit(work, bounds[k], bounds[k + 1]) for k in range(threads)]
            for f in futures:
                f.result()
        return out


def _compute_dtype(dtype: np.dtype) -> Any:
    if dtype in (np.float32, np.float64) or dtype.kind in "iub":
        return None
    if dtype.kind == "f":
        return np.float32
    raise TypeError(f"cannot fill an array of dtype {dtype}; use a floating or integer dtype")


def _run_foreign(stream: Stream, out: Any, start: int, kernel: Kernel) -> Any:
    """Fill a non-NumPy (e.g. CuPy) array: same bits as the CPU, staged one block at a time."""
    flat = out.reshape(-1)
    host = np.empty(min(BLOCK, flat.size), dtype=np.dtype(str(out.dtype)))
    for i in range(0, flat.size, BLOCK):
        n = min(BLOCK, flat.size - i)
        stream._run(host[:n], start + i, kernel)
        flat[i:i + n].set(host[:n]) if hasattr(flat, "set") else flat.__setitem__(slice(i, i + n), host[:n])
    return out


# --- kernels ------------------------------------------------------------------------------------

def _uniform_kernel(low: float, high: float) -> Kernel:
    width = high - low

    def kernel(g: np.random.Generator, view: np.ndarray, scratch: _Scratch) -> None:
        if view.dtype.kind != "f":
            raise TypeError(f"uniform values need a floating dtype, got {view.dtype}")
        g.random(out=view, dtype=view.dtype.type)
        if width != 1.0:
            np.multiply(view, width, out=view)
        if low != 0.0:
            np.add(view, low, out=view)
    return kernel


def _box_muller(g: np.random.Generator, view: np.ndarray, scratch: _Scratch) -> None:
    """Standard normals into ``view`` (float32 or float64) with one block of scratch."""
    n = view.size
    h = (n + 1) // 2
    dt = view.dtype.type
    r = view[:h]
    theta = scratch.get("theta", h, dt)
    s = scratch.get("sin", h, dt)
    g.random(out=r, dtype=dt)
    g.random(out=theta, dtype=dt)
    np.subtract(1.0, r, out=r)            # (0, 1]: log never sees zero
    np.log(r, out=r)
    np.multiply(r, -2.0, out=r)
    np.sqrt(r, out=r)
    np.multiply(theta, 2.0 * math.pi, out=theta)
    np.sin(theta, out=s)
    np.multiply(s, r, out=s)
    np.cos(theta, out=theta)
    np.multiply(r, theta, out=r)
    view[h:] = s[: n - h]


def _normal_kernel(loc: float, scale: float) -> Kernel:
    def kernel(g: np.random.Generator, view: np.ndarray, scratch: _Scratch) -> None:
        if view.dtype.kind != "f":
            raise TypeError(f"normal values need a floating dtype, got {view.dtype}")
        _box_muller(g, view, scratch)
        if scale != 1.0:
            np.multiply(view, scale, out=view)
        if loc != 0.0:
            np.add(view, loc, out=view)
    return kernel


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _truncnorm_kernel(loc: float, scale: float, a: float, b: float) -> Kernel:
    accept = _phi(b) - _phi(a)

    def kernel(g: np.random.Generator, view: np.ndarray, scratch: _Scratch) -> None:
        if view.dtype.kind != "f":
            raise TypeError(f"truncated normal values need a floating dtype, got {view.dtype}")
        if accept >= 0.25:
            _box_muller(g, view, scratch)
            bad = np.flatnonzero((view < a) | (view > b))
            while bad.size:  # redraw rejected places from the same block generator: deterministic
                extra = np.empty(bad.size, dtype=view.dtype)
                _box_muller(g, extra, _Scratch())
                view[bad] = extra
                bad = bad[(extra < a) | (extra > b)]
        else:  # narrow or far-out interval: inverse CDF on the side nearer zero keeps precision
            from scipy.special import ndtr, ndtri

            lo, hi, sign = (-b, -a, -1.0) if a >= 0 else (a, b, 1.0)
            plo, phi = ndtr(lo), ndtr(hi)
            u = scratch.get("u64", view.size, np.float64)
            g.random(out=u)
            np.multiply(u, phi - plo, out=u)
            np.add(u, plo, out=u)
            ndtri(u, out=u)
            np.clip(u, lo, hi, out=u)
            np.multiply(u, sign, out=view, casting="same_kind")
        if scale != 1.0:
            np.multiply(view, scale, out=view)
        if loc != 0.0:
            np.add(view, loc, out=view)
    return kernel
