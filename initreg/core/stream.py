"""Stream: the per-parameter random source, keyed by (seed, name) and split into fixed-size blocks.

Bit-level contract on the CPU (changing any of it changes every value and bumps ALGORITHM):
the flat array is cut into blocks of BLOCK elements; block ``b`` of the stream
``(seed, name, *tags)`` is drawn from ``SFC64(SeedSequence(seed, spawn_key=(h(name), *h(tags), b)))``
where ``h`` is the 64-bit BLAKE2b of the UTF-8 text. Uniforms are NumPy's ``Generator.random``
values (float32: ``(w32 >> 8)·2⁻²⁴`` over the 32-bit halves of each 64-bit output, low half first;
float64: ``(w64 >> 11)·2⁻⁵³``), except that a value that would round to ``high`` becomes the float
below it. Normals use Box–Muller in the target precision: a block of ``n`` values takes ``h = ⌈n/2⌉``
radius words, then ``h`` angle words (float32: the 32-bit halves; float64: 64-bit words); a radius
word gives the odd integer ``(w32 >> 1) | 1`` (float64: ``(w64 >> 11) | 1``) and ``u`` = that ·
2⁻³¹·(1 − 2⁻²⁴) (float64: · 2⁻⁵³), an angle word ``θ = 2π·((w32 >> 8) | 1)·2⁻²⁴`` (float64:
``((w64 >> 11) | 1)·2⁻⁵³``); ``r = sqrt(-2·log u)``, the first ``h`` values are ``r·cos θ`` and the
rest ``r·sin θ`` (never exactly 0; float32 reaches 6.56σ). Truncated normals (interval probability
≥ 1/4): the block's Box–Muller normals BM(n) with every value outside the interval replaced, in
position order, by the next value inside it from further batches BM(m₁), BM(m₂), …, ``mₖ`` a function
of how many places are still open; narrower intervals use the inverse CDF, in log space
(``ndtri_exp``), of float64 uniforms on the side nearer zero.
Blocks are independent, so they fill in any order, on any number of threads, whole or as shards,
with identical bits.

On a GPU (CuPy arrays) the values come from Philox4x32-10 keyed per block from the same
SeedSequence (see ``initreg/core/stream_gpu.py``): reproducible and block-keyed, but not the CPU's bits.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .keys import BLOCK, block_keys, sfc64_start, stream_key
from .keys import sfc64_states as _sfc64_states  # noqa: F401 - the name tests compare with NumPy

if TYPE_CHECKING:  # both load on first use: `import initreg` stays light
    from concurrent.futures import ThreadPoolExecutor

ALGORITHM = "initreg-sfc64-blocks-v3"

_state = threading.local()
_lock = threading.Lock()
_pool: "ThreadPoolExecutor | None" = None
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


def resolve_seed(seed: int | None) -> int:
    """The seed to use: the one given, else the global seed, else fresh entropy (recorded by the caller)."""
    if seed is not None:
        return check_seed(seed)
    return _global_seed if _global_seed is not None else fresh_seed()


def check_seed(value: Any) -> int:
    """Return ``value`` as a non-negative int seed or raise a ValueError/TypeError naming it."""
    if type(value) is int and value >= 0:
        return value
    from ..errors import SeedError

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


def _executor(n: int) -> "ThreadPoolExecutor":
    """A pool with at least ``n`` workers; a smaller one is replaced, never shut down (another fill may hold it)."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            # the old pool's idle threads exit once the last fill that holds it drops it (the executor is collected)
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="initreg-fill")
            _pool_size = n
        return _pool


def _borrow_generator() -> np.random.Generator:
    """A Generator (over an SFC64) owned by this thread until given back; its state is set per block."""
    free = getattr(_state, "free", None)
    if free:
        return free.pop()
    return np.random.Generator(np.random.SFC64(0))


def _give_back(gen: np.random.Generator) -> None:
    free = getattr(_state, "free", None)
    if free is None:
        free = _state.free = []
    free.append(gen)


def _set_state(gen: np.random.Generator, words: np.ndarray) -> None:
    gen.bit_generator.state = {"bit_generator": "SFC64", "state": {"state": words}, "has_uint32": 0, "uinteger": 0}


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


Kernel = Callable[["np.random.Generator", np.ndarray, _Scratch], None]


class Stream:
    """A parameter's random source keyed by (seed, name); fills ``out=`` arrays block by block."""

    __slots__ = ("seed", "name", "tags", "_key")

    def __init__(self, seed: int, name: str, tags: tuple[str, ...] = ()):
        self.seed = check_seed(seed)
        self.name = str(name)
        self.tags = tuple(tags)
        self._key = stream_key(self.name, self.tags)

    def __repr__(self) -> str:
        tags = "".join(f"/{t}" for t in self.tags)
        return f"Stream(seed={self.seed}, name={self.name!r}{', tags=' + repr(self.tags) if tags else ''})"

    @property
    def key_words(self) -> tuple[int, ...]:
        """The spawn-key prefix (64-bit hashes of the name and tags) every block's SeedSequence starts with."""
        return self._key

    def shard(self, start: int) -> "Shard":
        """This stream seen from flat position ``start`` on: its fills draw the values from there."""
        return Shard(self, start)

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

    def random(self, size: Any = None, *, out: Any = None, start: int = 0, total: int | None = None) -> Any:
        """Fill ``out`` with U[0, 1) in its own dtype (or a new float64 array of ``size``); return it."""
        return self._fill(_target(out, size, "random"), start, total, "uniform", (0.0, 1.0))

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None, *, out: Any = None, start: int = 0,
                total: int | None = None) -> Any:
        """Fill ``out`` with U[low, high) (or a new float64 array of ``size``, as NumPy's Generator); return it."""
        return self._fill(_target(out, size, "uniform"), start, total, "uniform", (float(low), float(high)))

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: Any = None, *, out: Any = None, start: int = 0,
               total: int | None = None) -> Any:
        """Fill ``out`` with N(loc, scale²) (or a new float64 array of ``size``); return it."""
        return self._fill(_target(out, size, "normal"), start, total, "normal", (float(loc), float(scale)))

    def truncated_normal(self, loc: float = 0.0, scale: float = 1.0, a: float = -2.0, b: float = 2.0, *,
                         out: Any, start: int = 0, total: int | None = None) -> Any:
        """Fill ``out`` with N(loc, scale²) truncated to [loc + a·scale, loc + b·scale]; return it."""
        if not a < b:
            raise ValueError(f"truncation bounds need a < b, got a={a}, b={b}")
        return self._fill(out, start, total, "truncated_normal", (float(loc), float(scale), float(a), float(b)))

    def integers(self, low: int, high: int, *, out: Any, start: int = 0, total: int | None = None) -> Any:
        """Fill ``out`` with integers uniform on [low, high); return it."""
        return self._fill(out, start, total, "integers", (int(low), int(high)))

    def bernoulli(self, p: float, *, out: Any, start: int = 0, total: int | None = None) -> Any:
        """Fill ``out`` with 1 (probability p) or 0, in its dtype; return it."""
        return self._fill(out, start, total, "bernoulli", (float(p),))

    def map_blocks(self, fn: Callable[[np.random.Generator, np.ndarray], None], *, out: Any, start: int = 0,
                   total: int | None = None) -> Any:
        """Call ``fn(generator, block_view)`` for every block of ``out``, in parallel; return ``out``.

        The generator is the block's own (equal to ``generator(b)``) and is valid only during the call.
        """
        start, total = _checked_region(out, start, total)
        if not isinstance(out, np.ndarray):
            return _stage_through_host(self, out, start, total, lambda g, view, scratch: fn(g, view))
        return self._run(out, start, total, lambda g, view, scratch: fn(g, view))

    # -- machinery -------------------------------------------------------------------------------

    def _fill(self, out: Any, start: int, total: int | None, op: str, args: tuple) -> Any:
        start, total = _checked_region(out, start, total)
        if isinstance(out, np.ndarray):
            return self._run(out, start, total, _KERNELS[op](*args))
        if type(out).__module__.split(".")[0] == "cupy":
            if start % BLOCK or total != start + out.size:
                raise ValueError(f"GPU fills take block-aligned whole shards (start a multiple of {BLOCK}, "
                                 f"total=start+out.size); got start={start}, total={total}")
            from .stream_gpu import fill

            return fill(self, out, start, op, args)
        return _stage_through_host(self, out, start, total, _KERNELS[op](*args))

    def _run(self, out: np.ndarray, start: int, total: int, kernel: Kernel) -> np.ndarray:
        """Fill ``out`` with flat positions start..start+out.size-1 of a fill of ``total`` values."""
        if not out.flags.c_contiguous:
            tmp = np.empty(out.shape, dtype=out.dtype)
            self._run(tmp, start, total, kernel)
            out[...] = tmp
            return out
        flat = out.reshape(-1)
        end = start + flat.size
        if flat.size == 0:
            return out
        compute = _compute_dtype(out.dtype)
        first = start // BLOCK
        nblocks = (end - 1) // BLOCK - first + 1
        states, warmup = sfc64_start(self.seed, self._key, first, nblocks)

        def work(claim: Callable[[], int]) -> None:
            scratch = _Scratch()
            gen = _borrow_generator()
            try:
                for i in iter(claim, -1):
                    b0 = (first + i) * BLOCK
                    n = min(BLOCK, total - b0)  # a block's values depend on its length: the last one may be short
                    lo, hi = max(b0, start), min(b0 + n, end)
                    whole = lo == b0 and hi == b0 + n
                    view = flat[lo - start:hi - start] if whole else scratch.get("block", n, out.dtype)
                    _set_state(gen, states[i])
                    if warmup:  # SFC64's seeding rounds, left to the generator (cheaper than in Python)
                        gen.bit_generator.random_raw(warmup)
                    if compute is None:
                        kernel(gen, view, scratch)
                    else:  # half precision and friends: compute one block in float32, then cast
                        tmp = scratch.get("cast", n, compute)
                        kernel(gen, tmp, scratch)
                        view[...] = tmp
                    if not whole:  # the region starts or ends inside this block: keep its part
                        flat[lo - start:hi - start] = view[lo - b0:hi - b0]
            finally:
                _give_back(gen)

        run_blocks(nblocks, work)
        return out


def run_blocks(nblocks: int, work: Callable[[Callable[[], int]], None]) -> None:
    """Run ``work(claim)`` on the fill threads; ``claim()`` hands out 0..nblocks-1 once each, then -1."""
    if nblocks <= 0:
        return
    # a second thread pays back its start and GIL hand-offs only from two blocks each (benchmarks/second_round.py)
    threads = 1 if nblocks < 2 * _MIN_BLOCKS_PER_THREAD else min(get_num_threads(), nblocks // _MIN_BLOCKS_PER_THREAD)
    if threads <= 1 or getattr(_state, "active", False):  # one thread, or nested in a fill: no pool, no lock
        blocks = iter(range(nblocks))
        work(lambda: next(blocks, -1))
        return
    claim = _Counter(nblocks)

    def guarded() -> None:
        nested = getattr(_state, "active", False)
        _state.active = True  # a fill inside a fill runs inline: the pool's threads are already busy
        try:
            work(claim.next)
        except BaseException:
            claim.stop()
            raise
        finally:
            _state.active = nested

    # the calling thread works too; blocks are claimed one at a time, so a busy core slows no one
    pool = _executor(threads - 1)
    futures = [pool.submit(guarded) for _ in range(threads - 1)]
    error: BaseException | None = None
    try:
        guarded()
    except BaseException as exc:
        error = exc
    for f in futures:  # every worker has stopped writing before this returns or raises
        try:
            f.result()
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error


_MIN_BLOCKS_PER_THREAD = 2


class _Counter:
    """Hands out block indices 0..n-1 to the threads of one fill, one at a time; -1 when done."""

    __slots__ = ("_next", "_n", "_lock")

    def __init__(self, n: int):
        self._next, self._n, self._lock = 0, n, threading.Lock()

    def next(self) -> int:
        with self._lock:
            i = self._next
            if i >= self._n:
                return -1
            self._next = i + 1
            return i

    def stop(self) -> None:
        with self._lock:
            self._next = self._n


def _target(out: Any, size: Any, method: str) -> Any:
    """The array a fill writes: ``out``, or a new float64 array of ``size`` (NumPy Generator style)."""
    if out is None and hasattr(size, "dtype") and hasattr(size, "shape"):
        out, size = size, None  # an array passed positionally, as random(out) once took it
    if out is not None:
        if size is not None:
            raise ValueError(f"Stream.{method}: pass out= or size=, not both")
        return out
    if size is None:
        raise TypeError(f"Stream.{method}() needs out= (the array to fill, e.g. fill()'s out) or size= (the shape of "
                        f"a new array): rng.{method}(..., out=out)")
    return np.empty(size, dtype=np.float64)


def _checked_region(out: Any, start: Any, total: Any) -> tuple[int, int]:
    """(start, total) of a fill: ``out`` holds flat positions start.. of a fill of ``total`` values (default start+out.size)."""
    if type(start) is not int and (isinstance(start, bool) or not isinstance(start, np.integer)) or start < 0:
        raise ValueError(f"start must be a non-negative int (a flat position), got {start!r}")
    end = int(start) + out.size
    if total is None:
        return int(start), end
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < end:
        raise ValueError(f"total must be an int >= start + out.size = {end} (the length of the whole fill), got {total!r}")
    return int(start), int(total)


class Shard:
    """A view of a Stream that starts at flat position ``start``: its fills draw the values from there on."""

    __slots__ = ("stream", "start")

    def __init__(self, stream: Any, start: int):
        self.stream = stream
        self.start = int(start)

    def child(self, tag: str) -> "Shard":
        """The same shard of a child stream."""
        return Shard(self.stream.child(tag), self.start)

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self.stream, attr)
        if attr not in _FILLS:
            return value

        def shifted(*args: Any, start: int = 0, total: int | None = None, **kwargs: Any) -> Any:
            return value(*args, start=self.start + start, total=None if total is None else self.start + total, **kwargs)
        return shifted

    def __repr__(self) -> str:
        return f"Shard({self.stream!r}, start={self.start})"


_FILLS = frozenset({"random", "uniform", "normal", "truncated_normal", "integers", "bernoulli", "map_blocks"})


def _compute_dtype(dtype: np.dtype) -> Any:
    if dtype in (np.float32, np.float64) or dtype.kind in "iub":
        return None
    if dtype.kind == "f":
        return np.float32
    raise TypeError(f"cannot fill an array of dtype {dtype}; use a floating or integer dtype")


def _stage_through_host(stream: Stream, out: Any, start: int, total: int, kernel: Kernel) -> Any:
    """Fill a non-NumPy array with the CPU's bits, one block at a time through host memory."""
    flat = out.reshape(-1)
    host = np.empty(min(BLOCK, flat.size), dtype=np.dtype(str(out.dtype)))
    for i in range(0, flat.size, BLOCK):
        n = min(BLOCK, flat.size - i)
        stream._run(host[:n], start + i, total, kernel)
        flat[i:i + n].set(host[:n]) if hasattr(flat, "set") else flat.__setitem__(slice(i, i + n), host[:n])
    return out


# --- kernels: one block each, scratch no larger than one block of the target dtype ------------------

_TWO_PI = 2.0 * math.pi


@functools.lru_cache(maxsize=1024)
def _unit_scale(dtype: np.dtype, factor: float) -> Any:
    """``factor`` (rounded to ``dtype``) times the uniform's unit 2⁻²⁴ / 2⁻⁵³, or None if that is inexact."""
    t = dtype.type
    unit = t(2.0 ** -24) if dtype == np.float32 else t(2.0 ** -53)
    f = t(factor)
    c = t(f * unit)
    return c if (c / unit == f or not np.isfinite(f)) else None


def _uniform_into(g: np.random.Generator, view: np.ndarray, width: float = 1.0) -> None:
    """``view`` ← ``Generator.random`` values times ``width`` (rounded once, as ``random() * width`` is)."""
    n = view.size
    c = _unit_scale(view.dtype, width)
    if view.dtype == np.float32:
        u = g.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
        np.right_shift(u, np.uint32(8), out=u)
        np.copyto(view, u.view(np.int32), casting="unsafe")  # < 2²⁴: exact; int32 converts faster than uint32
    else:
        w = g.bit_generator.random_raw(n)
        np.right_shift(w, np.uint64(11), out=w)
        np.copyto(view, w.view(np.int64), casting="unsafe")  # < 2⁵³: exact
    if c is None:
        np.multiply(view, _unit_scale(view.dtype, 1.0), out=view)
        np.multiply(view, width, out=view)
    else:
        np.multiply(view, c, out=view)


def _uniform_kernel(low: float, high: float) -> Kernel:
    width = high - low

    def kernel(g: np.random.Generator, view: np.ndarray, scratch: _Scratch) -> None:
        if view.dtype.kind != "f":
            raise TypeError(f"uniform values need a floating dtype, got {view.dtype}")
        _uniform_into(g, view, width)
        if low != 0.0:
            np.add(view, low, out=view)
        top = _uniform_top(view.dtype, low, high)
        if top is not None:  # the largest input rounds up to ``high``: those values go to the float below it
            np.minimum(view, top, out=view)
    return kernel


@functools.lru_cache(maxsize=1024)
def _uniform_top(dtype: np.dtype, low: float, high: float) -> Any:
    """The float just below ``high`` when the kernel's largest value would round to ``high`` or above, else None."""
    t = dtype.type
    if not (math.isfinite(low) and math.isfinite(high)) or not high > low:
        return None
    largest = np.full(1, (1 << 24) - 1 if dtype == np.float32 else (1 << 53) - 1, dtype=dtype)
    c = _unit_scale(dtype, high - low)
    if c is None:
        np.multiply(largest, _unit_scale(dtype, 1.0), out=largest)
        np.multiply(largest, high - low, out=largest)
    else:
        np.multiply(largest, c, out=largest)
    if low != 0.0:
        np.add(largest, low, out=largest)
    return np.nextafter(t(high), t(-np.inf)) if largest[0] >= t(high) else None


# Box–Muller words: a radius word keeps 31 bits (float32) or 53 (float64) and an angle word 24 or 53, each made
# odd, so neither the radius uniform nor the angle is ever 0 (no exact zeros) and the radius uniform reaches
# 2⁻³¹ (float32 tails to 6.56σ, not 5.77σ). The float32 radius unit carries a factor (1 − 2⁻²⁴) so that the
# odd 31-bit integers that round up to 2³¹ still give a uniform below 1.
_RADIUS_UNIT = {np.dtype(np.float32): np.float32(2.0 ** -31) * np.float32(1.0 - 2.0 ** -24),
                np.dtype(np.float64): np.float64(2.0 ** -53)}
_ANGLE_UNIT = {np.dtype(np.float32): np.float32(_TWO_PI * 2.0 ** -24), np.dtype(np.float64): np.float64(_TWO_PI * 2.0 ** -53)}


def _box_muller(g: np.random.Generator, view: np.ndarray) -> np.ndarray:
    """Standard normals into ``view`` (float32 or float64), never exactly 0; return the raw words (free to reuse)."""
    n = view.size
    h = (n + 1) // 2
    r = view[:h]
    if view.dtype == np.float32:
        raw = g.bit_generator.random_raw(h)          # 2h 32-bit words: h radii, then h angles
        u, f = raw.view(np.uint32), raw.view(np.float32)
        np.right_shift(u[:h], np.uint32(1), out=u[:h])
        np.right_shift(u[h:], np.uint32(8), out=u[h:])
        np.bitwise_or(u, np.uint32(1), out=u)
        i = u.view(np.int32)
    else:
        raw = g.bit_generator.random_raw(2 * h)
        f = raw.view(np.float64)
        np.right_shift(raw, np.uint64(11), out=raw)
        np.bitwise_or(raw, np.uint64(1), out=raw)
        i = raw.view(np.int64)
    np.copyto(r, i[:h], casting="unsafe")            # float32: rounded to 24 bits, in (0, 2³¹]
    np.multiply(r, _RADIUS_UNIT[view.dtype], out=r)  # a uniform in (0, 1), never 0 or 1
    theta = f[:h]                                     # the radius words are consumed: reuse their memory
    np.copyto(theta, i[h:], casting="unsafe")         # exact: odd, fewer than 24 (53) significant bits
    np.multiply(theta, _ANGLE_UNIT[view.dtype], out=theta)
    np.log(r, out=r)
    np.multiply(r, -2.0, out=r)
    np.sqrt(r, out=r)
    s = view[h:]                                      # free until now: the sines go straight to their place
    np.sin(theta[: n - h], out=s)
    np.multiply(s, r[: n - h], out=s)
    np.cos(theta, out=theta)
    np.multiply(r, theta, out=r)
    return raw


def _normal_kernel(loc: float, scale: float) -> Kernel:
    def kernel(g: np.random.Generator, view: np.ndarray, scratch: _Scratch) -> None:
        if view.dtype.kind != "f":
            raise TypeError(f"normal values need a floating dtype, got {view.dtype}")
        _box_muller(g, view)
        if scale != 1.0:
            np.multiply(view, scale, out=view)
        if loc != 0.0:
            np.add(view, loc, out=view)
    return kernel


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _rejection_filled(g: np.random.Generator, view: np.ndarray, scratch: _Scratch, a: float, b: float,
                      accept: float) -> None:
    """``view`` ← BM(n) with each value outside [a, b], in position order, replaced by the next value
    inside it from the batches BM(m₁), BM(m₂), … (``mₖ``: enough for the places still open, with a
    margin of at least 6 sd, at most one block): usually a single small extra batch per block.
    """
    n = view.size
    flags = _box_muller(g, view).view(np.bool_)  # at least 4n bytes: room for both masks, no new memory
    low, high = flags[:n], flags[n:2 * n]
    np.less(view, a, out=low)
    np.greater(view, b, out=high)
    np.logical_or(low, high, out=low)
    bad = np.flatnonzero(low)
    del flags, low, high  # the block's raw words go before the next batch draws its own
    while bad.size:
        need = bad.size
        m = min(BLOCK, int((need + 6.0 * math.sqrt(need) + 8.0) / accept) + 1)
        extra = scratch.get("extra", m, view.dtype)
        flags = _box_muller(g, extra).view(np.bool_)
        ok, hi = flags[:m], flags[m:2 * m]
        np.greater_equal(extra, a, out=ok)
        np.less_equal(extra, b, out=hi)
        np.logical_and(ok, hi, out=ok)
        more = np.compress(ok, extra)
        take = min(need, more.size)
        view[bad[:take]] = more[:take]
        bad = bad[take:]


def _truncnorm_kernel(loc: float, scale: float, a: float, b: float) -> Kernel:
    accept = _phi(b) - _phi(a)

    def kernel(g: np.random.Generator, view: np.ndarray, scratch: _Scratch) -> None:
        if view.dtype.kind != "f":
            raise TypeError(f"truncated normal values need a floating dtype, got {view.dtype}")
        if accept >= 0.25:
            _rejection_filled(g, view, scratch, a, b, accept)
        else:
            _inverse_cdf_into(g, view, scratch, a, b)
        if scale != 1.0:
            np.multiply(view, scale, out=view)
        if loc != 0.0:
            np.add(view, loc, out=view)
    return kernel


def _inverse_cdf_into(g: np.random.Generator, view: np.ndarray, scratch: _Scratch, a: float, b: float) -> None:
    """Narrow or far-out [a, b]: the inverse CDF in log space on the side nearer zero (exact to ~1e-15 out to 10⁴σ).

    Mirrored so that hi = min(|a|, |b|)-side is ≤ 0: log p = log Φ(hi) + log(e^d + u·(1 − e^d)) with
    d = log Φ(lo) − log Φ(hi), u a float64 uniform in (0, 1]; x = Φ⁻¹(exp(log p)) by ``ndtri_exp``.
    """
    from scipy.special import log_ndtr, ndtri_exp

    lo, hi, sign = (-b, -a, -1.0) if a >= 0 else (a, b, 1.0)
    llo, lhi = float(log_ndtr(lo)), float(log_ndtr(hi))
    d = math.exp(llo - lhi)  # Φ(lo)/Φ(hi) in [0, 1): 0 when lo is -inf or far below hi
    u = scratch.get("u64", view.size, np.float64)
    _uniform_into(g, u)
    np.subtract(1.0, u, out=u)  # (0, 1]: log(u) stays finite when d = 0
    np.multiply(u, 1.0 - d, out=u)
    np.add(u, d, out=u)
    np.log(u, out=u)
    np.add(u, lhi, out=u)
    ndtri_exp(u, out=u)
    np.clip(u, lo, hi, out=u)
    np.multiply(u, sign, out=view, casting="same_kind")


def _integers_kernel(low: int, high: int) -> Kernel:
    def kernel(g: np.random.Generator, view: np.ndarray, scratch: _Scratch) -> None:
        view[...] = g.integers(low, high, size=view.size, dtype=np.int64)
    return kernel


def _bernoulli_kernel(p: float) -> Kernel:
    def kernel(g: np.random.Generator, view: np.ndarray, scratch: _Scratch) -> None:
        u = scratch.get("u", view.size, np.float64)
        _uniform_into(g, u)
        np.less(u, p, out=view, casting="unsafe")
    return kernel


_KERNELS: dict[str, Callable[..., Kernel]] = {
    "uniform": _uniform_kernel, "normal": _normal_kernel, "truncated_normal": _truncnorm_kernel,
    "integers": _integers_kernel, "bernoulli": _bernoulli_kernel,
}
