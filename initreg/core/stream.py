"""Stream: the per-parameter random source, keyed by (seed, name), every value addressable by its position.

Bit-level contract (changing any of it changes values and bumps ALGORITHM, now ``initreg-philox-v4``): value
``i`` (flat C-order position) of a fill of the stream ``(seed, name, *tags)`` depends only on the stream's key,
``i``, the operation, its parameters and the dtype — not on the fill's length, on how it is split into regions or
threads, or on the machine. The key is ``SeedSequence(seed, spawn_key=(h(name), *h(tags))).generate_state(4,
uint32)``, ``h`` the 64-bit BLAKE2b of the UTF-8 text; the words are Philox4x32-10's, and every transform
(uniform, Box–Muller normal, inverse-CDF truncated normal, integers, Bernoulli) is built from integer operations
and correctly rounded IEEE-754 ``+ − × ÷ √`` in a fixed order, with initreg's own log, sin/cos, Φ and Φ⁻¹
(float32: computed in float64, rounded once; float16 and bfloat16: from float32, to nearest even). The exact
formulas are ``initreg/core/v4_reference.py``'s docstring; that NumPy module is the executable specification,
and the compiled kernel (``initreg/core/_v4kernel.c`` over ``v4.h``) and the GPU (CuPy over the same ``v4.h``)
compute the same bits.

Fills run in the compiled kernel where it was built (released GIL, ranges of ``BLOCK`` values per task on the
fill threads), else in the reference with one warning. ``map_blocks`` and ``generator(b)`` hand out a NumPy
SFC64 generator per block of ``BLOCK`` values, seeded from ``SeedSequence(seed, spawn_key=(h(name), *h(tags),
b))``: integer-exact and portable, for initializers that draw their own way.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import warnings
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from . import v4_backend
from .keys import BLOCK, sfc64_start, stream_key

if TYPE_CHECKING:  # loads on first use: `import initreg` stays light
    from concurrent.futures import ThreadPoolExecutor

ALGORITHM = v4_backend.ALGORITHM
#: a bound on |z| in a normal fill's value loc + scale·z: the radius at the smallest uniform, sqrt(-2·log(2⁻⁵³)) =
#: 8.5716 (float64; float32's is 6.77), rounded up; initializers' ``max_abs`` rest on it
NORMAL_MAX = 8.58

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


def seed_source(given: Any = None, rules: Any = None, *, use_global: bool = True) -> str:
    """Where :func:`choose_seed` takes the seed from: ``"given"``, ``"rules"``, ``"global"`` or ``"fresh"``."""
    if given is not None:
        return "given"
    if rules is not None:
        return "rules"
    return "global" if use_global and _global_seed is not None else "fresh"


def choose_seed(given: Any = None, rules: Any = None, *, fresh: bool = True, use_global: bool = True) -> int | None:
    """The seed a call uses: the one policy, for every entry point.

    In this order: ``given`` (the call's ``seed=``), else ``rules`` (the seed of the call's rule file or recipe,
    passed in by the planning layer), else the global seed (``initreg.seed(n)``; not with ``use_global=False``:
    the command line and statistical validation), else fresh entropy from the operating system (recorded by the
    caller), or None with ``fresh=False`` (the caller draws or refuses one: one fresh seed for a whole checkpoint,
    Keras's own generator). A seed that is taken is checked (SeedError); one that is not is not read.
    """
    source = seed_source(given, rules, use_global=use_global)
    if source == "fresh":
        return fresh_seed() if fresh else None
    return check_seed({"given": given, "rules": rules, "global": _global_seed}[source])


def seed_from_text(text: Any, option: str) -> int | None:
    """A seed typed on a command line: a non-negative integer, or None for "random"; ValueError naming ``option``."""
    if str(text).lower() in ("random", "none", "fresh"):
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{option} must be a non-negative integer or 'random', got {text!r}")
    return value


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
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        from ..errors import FillArgumentError

        raise FillArgumentError(f"number of threads must be a positive int, got {n!r}; pass e.g. 2, or None for "
                                f"INITREG_NUM_THREADS or the CPU count")
    _num_threads = n


def get_num_threads() -> int:
    """How many threads fill blocks."""
    if _num_threads is not None:
        return _num_threads
    env = os.environ.get("INITREG_NUM_THREADS")
    if env and env.strip().isdigit() and int(env) > 0:
        return int(env)
    cpus = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    if env and env.strip():
        _bad_threads_env(env, cpus)
    return cpus


_warned_env: set[str] = set()


def _bad_threads_env(text: str, cpus: int) -> None:
    """Warn once per value that INITREG_NUM_THREADS is no positive integer and is ignored."""
    with _lock:
        if text in _warned_env:
            return
        _warned_env.add(text)
    from ..errors import InitregWarning, user_stacklevel

    warnings.warn(InitregWarning(f"INITREG_NUM_THREADS={text!r} is not a positive integer, so it is ignored: fills use "
                                 f"{cpus} threads (the CPU count); set it to e.g. 2, or unset it"),
                  stacklevel=user_stacklevel())


def _executor(n: int) -> "ThreadPoolExecutor":
    """A pool with at least ``n`` workers; a smaller one is replaced, not shut down (another fill may hold it)."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            # the old pool's idle threads exit once the last fill that holds it drops it (the executor is collected)
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="initreg-fill")
            _pool_size = n
        return _pool


def _after_fork_in_child() -> None:
    """Forget the parent's pool in a forked child: its threads were not copied, so a fill would wait on them forever."""
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()  # the lock too: another parent thread may have held it


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


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

class Stream:
    """A parameter's random source keyed by (seed, name); fills arrays as NumPy's Generator does, any region alike."""

    __slots__ = ("seed", "name", "tags", "_key", "_words")

    def __init__(self, seed: int, name: str, tags: tuple[str, ...] = ()):
        self.seed = check_seed(seed)
        self.name = str(name)
        self.tags = tuple(tags)
        self._key = stream_key(self.name, self.tags)
        self._words: tuple[int, int, int, int] | None = None

    def __repr__(self) -> str:
        tags = "".join(f"/{t}" for t in self.tags)
        return f"Stream(seed={self.seed}, name={self.name!r}{', tags=' + repr(self.tags) if tags else ''})"

    @property
    def key_words(self) -> tuple[int, ...]:
        """The spawn-key prefix (64-bit hashes of the name and tags) the stream's SeedSequence starts with."""
        return self._key

    @property
    def philox_key(self) -> tuple[int, int, int, int]:
        """The four 32-bit Philox key words every value of this stream is computed from."""
        if self._words is None:
            self._words = v4_backend.key_words(self.seed, self.name, self.tags)
        return self._words

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
        """The NumPy generator of block ``block`` of this stream (for ``map_blocks``-style drawing)."""
        return np.random.Generator(np.random.SFC64(np.random.SeedSequence(self.seed, spawn_key=self._key + (int(block),))))

    # -- public fills: NumPy Generator signatures, plus out=/start=/total= for regions -------------------------

    def random(self, size: Any = None, *, dtype: Any = None, out: Any = None, start: int = 0,
               total: int | None = None) -> Any:
        """U[0, 1) into ``out`` (or a new array of ``size`` and ``dtype``, float64 by default); return it."""
        return self._fill(_target(out, size, dtype, "random", np.float64), start, total, "uniform", (0.0, 1.0))

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None, *, dtype: Any = None, out: Any = None,
                start: int = 0, total: int | None = None) -> Any:
        """U[low, high) into ``out`` (or a new array of ``size`` and ``dtype``, float64 by default); return it."""
        low, high = _number("uniform", "low", low), _number("uniform", "high", high)
        if not low <= high:
            raise _argument_error(f"uniform needs low <= high, got low={low}, high={high}")
        if high - low == math.inf:  # the values would all be one end (or NaN), not uniform
            raise _argument_error(f"uniform needs high - low to be a finite float, got low={low}, high={high} (width "
                                  f"{high - low}); use a narrower interval")
        return self._fill(_target(out, size, dtype, "uniform", np.float64), start, total, "uniform", (low, high))

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: Any = None, *, dtype: Any = None, out: Any = None,
               start: int = 0, total: int | None = None) -> Any:
        """N(loc, scale²) into ``out`` (or a new array of ``size`` and ``dtype``, float64 by default); return it."""
        loc, scale = _number("normal", "loc", loc), _number("normal", "scale", scale)
        if scale < 0:
            raise _argument_error(f"normal needs scale >= 0, got scale={scale}")
        return self._fill(_target(out, size, dtype, "normal", np.float64), start, total, "normal", (loc, scale))

    def truncated_normal(self, loc: float = 0.0, scale: float = 1.0, a: float = -2.0, b: float = 2.0,
                         size: Any = None, *, dtype: Any = None, out: Any = None, start: int = 0,
                         total: int | None = None) -> Any:
        """N(loc, scale²) truncated to [loc + a·scale, loc + b·scale] into ``out`` (or a new array); return it."""
        loc, scale = _number("truncated_normal", "loc", loc), _number("truncated_normal", "scale", scale)
        a = _number("truncated_normal", "a", a, infinite=True)
        b = _number("truncated_normal", "b", b, infinite=True)
        if not a < b:
            raise _argument_error(f"truncation bounds need a < b, got a={a}, b={b}; a and b are in units of scale")
        beyond = truncation_beyond(a, b)
        if beyond:
            raise _argument_error(f"truncated_normal: {beyond}; use loc + {beyond[0]}·scale as a constant")
        target = _target(out, size, dtype, "truncated_normal", np.float64)
        return self._fill(target, start, total, "truncated_normal", (loc, scale, a, b))

    def integers(self, low: int, high: int, size: Any = None, *, dtype: Any = None, out: Any = None, start: int = 0,
                 total: int | None = None) -> Any:
        """Integers uniform on [low, high) into ``out`` (or a new array, int64 by default); return it."""
        for what, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise _type_error(f"integers needs int {what}, got {v!r}")
        if not low < high or high - low > 1 << 64:
            raise _argument_error(f"integers needs low < high and high - low <= 2**64, got low={low}, high={high}")
        return self._fill(_target(out, size, dtype, "integers", np.int64), start, total, "integers", (int(low), int(high)))

    def bernoulli(self, p: float, size: Any = None, *, dtype: Any = None, out: Any = None, start: int = 0,
                  total: int | None = None) -> Any:
        """1 with probability ``p``, else 0, into ``out`` (or a new array, float64 by default); return it."""
        p = _number("bernoulli", "p", p)
        if not 0.0 <= p <= 1.0:
            raise _argument_error(f"bernoulli needs 0 <= p <= 1, got p={p}")
        return self._fill(_target(out, size, dtype, "bernoulli", np.float64), start, total, "bernoulli", (p,))

    def map_blocks(self, fn: Callable[[np.random.Generator, np.ndarray], None], *, out: Any, start: int = 0,
                   total: int | None = None) -> Any:
        """Call ``fn(generator, block_view)`` for every block of ``out``, in parallel; return ``out``.

        The generator is the block's own (equal to ``generator(b)``) and is valid only during the call; a block's
        values may depend on its length (the last block of ``total`` values may be short).
        """
        start, total = _checked_region(out, start, total)
        if not isinstance(out, np.ndarray):
            host = np.empty(out.shape, dtype=np.dtype(str(out.dtype)))
            self.map_blocks(fn, out=host, start=start, total=total)
            return _copy_to(out, host)
        if not out.flags.c_contiguous:
            tmp = np.empty(out.shape, dtype=out.dtype)
            self.map_blocks(fn, out=tmp, start=start, total=total)
            out[...] = tmp
            return out
        flat = out.reshape(-1)
        end = start + flat.size
        if flat.size == 0:
            return out
        first = start // BLOCK
        nblocks = (end - 1) // BLOCK - first + 1
        states, warmup = sfc64_start(self.seed, self._key, first, nblocks)

        def work(claim: Callable[[], int]) -> None:
            gen = _borrow_generator()
            try:
                for i in iter(claim, -1):
                    b0 = (first + i) * BLOCK
                    n = min(BLOCK, total - b0)  # the last block of the fill may be short
                    lo, hi = max(b0, start), min(b0 + n, end)
                    whole = lo == b0 and hi == b0 + n
                    view = flat[lo - start:hi - start] if whole else np.empty(n, out.dtype)
                    _set_state(gen, states[i])
                    if warmup:  # SFC64's seeding rounds, left to the generator (cheaper than in Python)
                        gen.bit_generator.random_raw(warmup)
                    fn(gen, view)
                    if not whole:  # the region starts or ends inside this block: keep its part
                        flat[lo - start:hi - start] = view[lo - b0:hi - b0]
            finally:
                _give_back(gen)

        run_blocks(nblocks, work)
        return out

    # -- machinery -------------------------------------------------------------------------------

    def _fill(self, out: Any, start: int, total: int | None, op: str, args: tuple) -> Any:
        start, total = _checked_region(out, start, total)
        if isinstance(out, np.ndarray):
            return _fill_host(self.philox_key, out, start, op, args)
        if _on_device(out):
            return _fill_device(self.philox_key, out, start, op, args)
        host = np.empty(out.shape, dtype=np.dtype(str(out.dtype)))  # another array type: the CPU's bits, copied in
        _fill_host(self.philox_key, host, start, op, args)
        return _copy_to(out, host)


def _on_device(out: Any) -> bool:
    """Whether ``out`` is a CuPy array (filled on its GPU)."""
    return type(out).__module__.split(".")[0] == "cupy"


def _fill_device(key: tuple[int, int, int, int], out: Any, start: int, op: str, args: tuple) -> Any:
    """Elements start.. of the stream with ``key`` into the CuPy array ``out``, on its GPU by v4's kernel."""
    from . import v4_gpu

    return _on_gpu(out, lambda flat: v4_gpu.fill(op, key, start, flat, *args))


def _fill_device_runs(key: tuple[int, int, int, int], out: Any, starts: np.ndarray, length: int, op: str,
                      args: tuple) -> Any:
    """Runs of the stream with ``key`` (run i: elements starts[i].. of ``length``) into the CuPy array ``out``."""
    from . import v4_gpu

    return _on_gpu(out, lambda flat: v4_gpu.fill_runs(op, key, starts, length, flat, *args))


def _on_gpu(out: Any, write: Callable[[Any], Any]) -> Any:
    """``write(flat)`` into the CuPy array ``out`` (through a contiguous copy when it is not: same bits)."""
    if _device_kind(out.dtype) is None:
        raise _type_error(f"cannot fill a CuPy array of dtype {out.dtype}; use float64/32/16 or an integer dtype")
    target = out if out.flags.c_contiguous else out.copy()
    write(target.reshape(-1))
    if target is not out:
        out[...] = target
    return out


def _fill_host(key: tuple[int, int, int, int], out: np.ndarray, start: int, op: str, args: tuple) -> np.ndarray:
    """Elements start.. of the stream with ``key`` into the NumPy array ``out``, on the fill threads."""
    if out.size == 0:
        return out
    compute = _compute_dtype(op, out.dtype)
    if compute is not None or not out.flags.c_contiguous or not out.flags.writeable:
        tmp = np.empty(out.shape, dtype=compute or out.dtype)
        _fill_host(key, tmp, start, op, args)
        out[...] = tmp
        return out
    if out.size <= BLOCK:  # one block: no threads, no flat view
        v4_backend.fill(op, key, start, out, *args)
        return out
    flat = out.reshape(-1)

    pieces = _pieces((flat.size + BLOCK - 1) // BLOCK, get_num_threads())

    def work(claim: Callable[[], int]) -> None:
        for i in iter(claim, -1):
            lo, hi = pieces[i] * BLOCK, pieces[i + 1] * BLOCK
            v4_backend.fill(op, key, start + lo, flat[lo:hi], *args)

    run_blocks(len(pieces) - 1, work)
    return out


_MAX_CLAIM = 512  # blocks (2**25 values, 0.05-0.7 s on one core): Ctrl-C reaches a fill between two claims


def _pieces(nblocks: int, threads: int) -> list[int]:
    """The first block of each claim of a fill, then nblocks: claims of half a thread's share of what is left (at
    most ``_MAX_CLAIM`` blocks), so a fill pays a few GIL hand-offs, not one a block, and ends on single blocks
    that even out the threads."""
    bounds = [0]
    while bounds[-1] < nblocks:
        bounds.append(bounds[-1] + max(1, min(_MAX_CLAIM, (nblocks - bounds[-1]) // (2 * threads))))
    return bounds


_DIRECT = {"float64", "float32", "float16", "bfloat16"}
_INTEGER = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


@functools.lru_cache(maxsize=128)  # dtype.name is slow next to a 1,000-value fill
def _compute_dtype(op: str, dtype: np.dtype) -> Any:
    """The dtype a fill of ``op`` computes in before casting to ``dtype``, or None when it fills ``dtype`` directly."""
    name = dtype.name
    if op in ("integers", "bernoulli") and (name in _INTEGER or name == "bool" and op == "bernoulli"):
        return None
    if name in _DIRECT:
        return None
    if op == "integers" and dtype.kind in "fc":
        return np.int64
    if dtype.kind == "f":  # other floats (longdouble): float64 values, cast
        return np.float64
    raise _type_error(f"cannot fill an array of dtype {dtype} with {op}; use a floating dtype"
                      + (" or an integer dtype" if op in ("integers", "bernoulli") else ""))


def _device_kind(dtype: Any) -> str | None:
    name = np.dtype(str(dtype)).name
    return name if name in _DIRECT | _INTEGER | {"bool"} else None


def _copy_to(out: Any, host: np.ndarray) -> Any:
    """Write the host array into ``out`` (a CuPy array or anything with item assignment); return ``out``."""
    if hasattr(out, "set"):
        out.set(host)
    else:
        out[...] = host
    return out


def _number(op: str, what: str, value: Any, infinite: bool = False) -> float:
    if type(value) is float and value - value == 0.0:  # a finite float: the usual argument, checked in one step
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _type_error(f"{op} needs a real number for {what}, got {value!r}")
    v = float(value)
    if v != v or not infinite and v in (float("inf"), float("-inf")):
        raise _argument_error(f"{op} needs a finite {what}, got {value!r}")
    return v


def truncation_beyond(a: float, b: float) -> str:
    """Why the sampler cannot compute the truncated normal on [a, b] (its nearer bound squared is inf), or ''."""
    near, side = (a, "a") if a >= 0 else (b, "b") if b <= 0 else (0.0, "")
    if math.isfinite(near) and near * near == math.inf:  # the sampler squares it: +inf for every value
        return (f"{side}={near!r} is beyond what the sampler computes (|{side}| up to 1.34e154 when a and b lie on "
                f"one side of 0); there every value rounds to the bound {side}")
    return ""


def _argument_error(message: str) -> Exception:
    from ..errors import FillArgumentError

    return FillArgumentError(message)


def _type_error(message: str) -> Exception:
    from ..errors import FillTypeError

    return FillTypeError(message)


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

    def worker() -> None:
        nested = getattr(_state, "active", False)
        _state.active = True  # a fill inside a fill runs inline: the pool's threads are already busy
        claim.enter()
        error = None
        try:
            work(claim.next)
        except BaseException as exc:
            claim.stop()
            error = exc
        finally:
            _state.active = nested
            claim.leave(error)

    # the calling thread works too; blocks are claimed one at a time, so a busy core slows no one
    error: BaseException | None = None
    nested = getattr(_state, "active", False)
    try:
        for _ in range(threads - 1):
            _submit(threads - 1, worker)
        _state.active = True
        work(claim.next)
    except BaseException as exc:
        error = exc
        claim.stop()
    finally:
        _state.active = nested
    while True:  # every worker has stopped writing before this returns or raises
        try:
            claim.wait_idle()
            break
        except BaseException as exc:  # Ctrl-C while waiting: no new claims, but wait out the ones held
            error = error or exc
            claim.stop()
    error = error or claim.error
    if error is not None:
        raise error


def _submit(n: int, fn: Callable[[], None]) -> None:
    """Queue ``fn`` on the fill pool of ``n`` threads. An exception while it starts a thread (Ctrl-C) shuts the pool
    down: the thread may run unknown to concurrent.futures, whose exit would then wait for it forever."""
    pool = _executor(n)
    try:
        pool.submit(fn)
    except RuntimeError:
        if pool is _pool:  # "can't start new thread": nothing runs unknown
            raise
        _executor(n).submit(fn)  # another fill's interrupted start shut this pool down: the next one
    except BaseException:
        _retire(pool)
        raise


def _retire(pool: "ThreadPoolExecutor") -> None:
    """Shut ``pool`` down (its threads end once idle) and let the next fill start a new one."""
    global _pool, _pool_size
    with _lock:
        if _pool is pool:
            _pool, _pool_size = None, 0
    pool.shutdown(wait=False)


_MIN_BLOCKS_PER_THREAD = 2


class _Counter:
    """Hands out block indices 0..n-1 to the threads of one fill, one at a time; -1 when done."""

    __slots__ = ("_next", "_n", "_lock", "_running", "_idle", "error")

    def __init__(self, n: int):
        self._next, self._n, self._lock = 0, n, threading.Lock()
        self._running, self._idle = 0, threading.Condition(self._lock)
        self.error: BaseException | None = None  # the first a worker raised

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

    def enter(self) -> None:
        """A worker starts claiming."""
        with self._lock:
            self._running += 1

    def leave(self, error: BaseException | None) -> None:
        """A worker is done writing (with the exception it raised, if any)."""
        with self._lock:
            self._running -= 1
            self.error = self.error or error
            if not self._running:
                self._idle.notify_all()

    def wait_idle(self) -> None:
        """Wait until no worker is between enter() and leave(); one that enters later finds no block left."""
        with self._lock:
            while self._running:
                self._idle.wait()


def _target(out: Any, size: Any, dtype: Any, method: str, default: Any) -> Any:
    """The array a fill writes: ``out``, or a new array of ``size`` and ``dtype`` (NumPy Generator style)."""
    if out is None and hasattr(size, "dtype") and hasattr(size, "shape"):
        out, size = size, None  # an array passed positionally, as random(out) once took it
    if out is not None:
        if size is not None:
            raise _argument_error(f"Stream.{method}: pass out= or size=, not both")
        if dtype is not None and np.dtype(dtype) != np.dtype(str(out.dtype)):
            raise _type_error(f"Stream.{method}: dtype={dtype} but out has dtype {out.dtype}; pass one of them")
        return out
    if size is None:
        raise _type_error(f"Stream.{method}() needs out= (the array to fill, e.g. fill()'s out) or size= (the shape "
                          f"of a new array): rng.{method}(..., out=out)")
    try:
        return np.empty(size, dtype=np.dtype(default if dtype is None else dtype))
    except (TypeError, ValueError) as exc:
        raise _argument_error(f"Stream.{method}: cannot make an array of size={size!r}, dtype={dtype!r}: {exc}") from None


def _checked_region(out: Any, start: Any, total: Any) -> tuple[int, int]:
    """(start, total) of a fill: ``out`` holds flat positions start.. of a fill of ``total`` values (default start+out.size)."""
    if total is None and type(start) is int and start >= 0:  # the common call: a plain int start, no total
        return start, start + out.size
    if type(start) is not int and (isinstance(start, bool) or not isinstance(start, np.integer)) or start < 0:
        raise _argument_error(f"start must be a non-negative int (a flat position), got {start!r}")
    end = int(start) + out.size
    if total is None:
        return int(start), end
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < end:
        raise _argument_error(f"total must be an int >= start + out.size = {end} (the length of the whole fill), "
                              f"got {total!r}")
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


class Runs(Stream):
    """A Stream seen through runs: ``out``'s flat element ``i·length + j`` is the stream's position ``starts[i] + j``.

    What a strided region (a column shard) of an ``addressable`` initializer is filled through: one fill call writes
    only the region's own values. Fills take ``out`` covering every run; ``map_blocks`` cannot (blocks are not runs).
    """

    __slots__ = ("starts", "length")

    def __init__(self, stream: Stream, starts: np.ndarray, length: int):
        self.seed, self.name, self.tags = stream.seed, stream.name, stream.tags
        self._key, self._words = stream._key, stream.philox_key
        self.starts = np.ascontiguousarray(starts, dtype=np.uint64)
        self.length = int(length)

    def child(self, tag: str) -> "Runs":
        """The same runs of a child stream."""
        return Runs(Stream(self.seed, self.name, self.tags + (str(tag),)), self.starts, self.length)

    def map_blocks(self, fn: Any, *, out: Any, start: int = 0, total: int | None = None) -> Any:
        """Not available: a block's generator covers a whole block, not runs of one."""
        raise _argument_error("map_blocks cannot fill runs of a strided region; declare the initializer "
                              "addressable only when every value comes from a stream fill at its position")

    def _fill(self, out: Any, start: int, total: int | None, op: str, args: tuple) -> Any:
        n = self.starts.size * self.length
        device = _on_device(out)
        if start != 0 or total is not None or not (device or isinstance(out, np.ndarray)) or out.size != n:
            raise _argument_error(f"a fill over runs takes out= of all {n} values of the region, from start 0")
        if n == 0:
            return out
        if device:  # every run in one kernel launch on out's GPU
            return _fill_device_runs(self.philox_key, out, self.starts, self.length, op, args)
        compute = _compute_dtype(op, out.dtype)
        if compute is not None or not out.flags.c_contiguous or not out.flags.writeable:
            tmp = np.empty(out.shape, dtype=compute or out.dtype)
            self._fill(tmp, 0, None, op, args)
            out[...] = tmp
            return out
        flat, key, length, starts = out.reshape(-1), self.philox_key, self.length, self.starts
        if length >= BLOCK:  # long runs: a task per block of each run
            pieces = -(-length // BLOCK)

            def work(claim: Callable[[], int]) -> None:
                for c in iter(claim, -1):
                    r, p0 = divmod(c, pieces)
                    lo, hi = r * length + p0 * BLOCK, r * length + min(length, (p0 + 1) * BLOCK)
                    v4_backend.fill(op, key, int(starts[r]) + p0 * BLOCK, flat[lo:hi], *args)

            run_blocks(starts.size * pieces, work)
            return out
        per = BLOCK // length  # short runs: a task per block's worth of runs

        def work(claim: Callable[[], int]) -> None:
            for i in iter(claim, -1):
                runs = starts[i * per:(i + 1) * per]
                v4_backend.fill_runs(op, key, runs, length, flat[i * per * length:(i * per + runs.size) * length], *args)

        run_blocks(-(-starts.size // per), work)
        return out


_FILLS = frozenset({"random", "uniform", "normal", "truncated_normal", "integers", "bernoulli", "map_blocks"})
