"""A CPU stand-in for the part of CuPy that initreg's GPU paths use, for tests on machines without a GPU.

Its arrays hold host memory on a numbered "device" (the current one, ``with cupy.cuda.Device(i)``, when they are
made) and, like CuPy's, are not NumPy arrays: NumPy sees them only through ``.get()``, host arrays mix in only
where CuPy allows, and their class's module is ``cupy`` (so initreg takes its device paths). ``RawModule``
compiles the CUDA source for the host with g++ (``__global__`` empty, ``blockIdx`` &c. as globals, as in
test_v4_gpu_source.py) and a launch runs every thread of the grid in a loop through ctypes. What this checks:
v4_gpu's grid sizes, argument order and types, and the device plumbing of Stream, Runs, values(device=gpu(i)),
Parameters and the adapters' GPU routes. What it cannot: CUDA itself (device memory, CuPy's launches, DLPack on
a GPU); tests/core/test_v4_nvrtc.py compiles the source with NVRTC.
"""

from __future__ import annotations

import ctypes
import functools
import os
import hashlib
import subprocess
import tempfile
import types
from pathlib import Path

import numpy as np

SHIM = r"""
#include <cstdio>
#include <cstdlib>
#include <cstring>
struct v4_dim3 { unsigned int x; };
static v4_dim3 blockIdx, blockDim, threadIdx;
#define __global__
extern "C" void v4_emulated_thread(unsigned int block, unsigned int threads, unsigned int thread) {
    blockIdx.x = block; blockDim.x = threads; threadIdx.x = thread;
}
"""


_current = [0]  # the device stack ``with cupy.cuda.Device(i)`` pushes: new arrays are made on its top


class _DeviceRef:
    """``cupy.cuda.Device(i)`` and ``array.device``: a context manager with an ``id`` (no id: the current device)."""

    def __init__(self, i: int | None = None):
        self.id = _current[-1] if i is None else int(i)

    def __enter__(self):
        _current.append(self.id)
        return self

    def __exit__(self, *exc):
        _current.pop()
        return False


def _host(x):
    """An argument as NumPy sees it: a stand-in array's memory; a host array only where CuPy takes one (0-d)."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray) and x.ndim:  # CuPy never moves host data implicitly
        raise TypeError(f"Unsupported type {type(x)}")
    if isinstance(x, (tuple, list)):
        return type(x)(_host(v) for v in x)
    return x


def _call(fn, args, kwargs, device_id: int):
    """``fn`` on the arguments' host memory, its results on ``device_id``."""
    return _on(fn(*_host(list(args)), **{k: _host(v) for k, v in kwargs.items()}), device_id)


def _on(result, device_id: int):
    """NumPy's result as CuPy gives it: arrays (and scalars, as 0-d arrays) on the device."""
    if isinstance(result, (np.ndarray, np.generic)):
        return ndarray(np.asarray(result), device_id)
    if isinstance(result, tuple):
        return tuple(_on(r, device_id) for r in result)
    return result


class ndarray:
    """A CuPy array stand-in: a NumPy array's memory on a "device" (the current one when it was made).

    Like CuPy's, it is not a NumPy array: NumPy sees it only through ``.get()`` (``np.asarray`` raises), host
    arrays mix with it only where CuPy allows (0-d values, ``a[...] = host``), and ufuncs and NumPy functions on it
    give stand-in arrays on its device.
    """

    __array_priority__ = 100

    def __init__(self, a: np.ndarray, device_id: int | None = None):
        self._a = a
        self._device_id = _current[-1] if device_id is None else device_id

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a "
                        "NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if "out" in kwargs:
            kwargs["out"] = tuple(_host(o) for o in kwargs["out"])
        return _on(getattr(ufunc, method)(*(_host(x) for x in inputs), **kwargs), self._device_id)

    def __array_function__(self, func, types, args, kwargs):
        return _call(func, args, kwargs, self._device_id)

    @property
    def device(self) -> _DeviceRef:
        return _DeviceRef(self._device_id)

    def get(self) -> np.ndarray:
        return self._a.copy()

    def set(self, host) -> None:
        self._a[...] = host

    def __getattr__(self, name: str):
        value = getattr(self._a, name)
        if callable(value):
            return lambda *args, **kwargs: _call(value, args, kwargs, self._device_id)
        return _on(value, self._device_id) if isinstance(value, np.ndarray) else value

    def __getitem__(self, key):
        return _on(self._a[_host(key)], self._device_id)

    def __setitem__(self, key, value) -> None:
        if isinstance(value, np.ndarray):  # CuPy copies a host array in
            self._a[_host(key)] = value
        else:
            self._a[_host(key)] = _host(value)

    def __len__(self) -> int:
        return len(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __index__(self) -> int:
        return self._a.__index__()

    def __repr__(self) -> str:
        return f"array({self._a!r}, device={self._device_id})"

    def __dlpack__(self, *args, **kwargs):  # host memory: torch and JAX take it as a CPU tensor
        return self._a.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


def _operator(name: str):
    def op(self, *others):
        result = getattr(self._a, name)(*(_host(o) for o in others))
        if result is NotImplemented:
            return result
        return self if name.startswith("__i") and result is self._a else _on(result, self._device_id)
    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift",
              "rshift"):
    for _form in ("__%s__", "__r%s__", "__i%s__"):
        setattr(ndarray, _form % _name, _operator(_form % _name))
for _name in ("eq", "ne", "lt", "le", "gt", "ge", "neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", _operator(f"__{_name}__"))
ndarray.__hash__ = None
ndarray.__module__ = "cupy"


def _new(a) -> ndarray:
    return ndarray(np.asarray(a))


def empty(shape, dtype=float):
    return _new(np.empty(shape, dtype))


def zeros(shape, dtype=float):
    return _new(np.zeros(shape, dtype))


def full(shape, value, dtype=None):
    return _new(np.full(shape, value, dtype))


def array(a, dtype=None, copy=True):
    """A copy on the current device (of a host array, or of a stand-in array from any device)."""
    return _new(np.array(a._a if isinstance(a, ndarray) else a, dtype=dtype, copy=True))


def asarray(a, dtype=None):
    if isinstance(a, ndarray) and a._device_id == _current[-1] and (dtype is None or a.dtype == dtype):
        return a
    return array(a, dtype)


def ascontiguousarray(a):
    return _on(np.ascontiguousarray(a._a), a._device_id)


def asnumpy(a) -> np.ndarray:
    return a.get() if isinstance(a, ndarray) else np.array(a, copy=True)


def from_dlpack(a):
    """A host tensor's memory (a CPU torch tensor standing in for a CUDA one), shared as on a GPU."""
    return _new(np.from_dlpack(a))


float16, float32, float64 = np.float16, np.float32, np.float64


def __getattr__(name: str):
    """Any other NumPy function, on stand-in arrays, its array results on the current device (as CuPy's)."""
    if name.startswith("__"):  # the module's own protocol (__all__, __path__): not NumPy's
        raise AttributeError(name)
    fn = getattr(np, name)
    if not callable(fn) or isinstance(fn, type):
        return fn

    def on_device(*args, **kwargs):
        return _call(fn, args, kwargs, _current[-1])

    return on_device


class _Stream:
    def synchronize(self) -> None:
        pass


DEVICES = 1  # how many GPUs the stand-in reports (a test may set more)
cuda = types.SimpleNamespace(Device=_DeviceRef, get_current_stream=lambda: _Stream(),
                             runtime=types.SimpleNamespace(getDeviceCount=lambda: DEVICES))


@functools.lru_cache(maxsize=None)
def _library(code: str) -> ctypes.CDLL:
    """The CUDA source built for the host as a shared library (once per source text)."""
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"initreg-emulated-cupy-{digest}"
    folder.mkdir(exist_ok=True)
    lib = folder / "kernels.so"
    if not lib.exists():
        src = folder / "kernels.cpp"
        src.write_text(SHIM + code)
        tmp = folder / f"kernels.{os.getpid()}.so"
        done = subprocess.run(["g++", "-std=c++17", "-O1", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC",
                               str(src), "-o", str(tmp)], capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"g++ failed:\n{done.stderr[-3000:]}")
        tmp.replace(lib)  # atomic: a parallel build never leaves a half-written library
    return ctypes.CDLL(str(lib))


def _c_arg(v):
    """A kernel argument as ctypes passes it (the scalar types v4_gpu passes, or an array's address)."""
    if isinstance(v, ndarray):
        return ctypes.c_void_p(v._a.ctypes.data)
    kinds = {np.uint32: ctypes.c_uint32, np.int32: ctypes.c_int32, np.uint64: ctypes.c_uint64,
             np.int64: ctypes.c_int64, np.float64: ctypes.c_double}
    if type(v) not in kinds:
        raise TypeError(f"a kernel argument of type {type(v).__name__}: pass a NumPy scalar of a fixed width")
    return kinds[type(v)](v.item())


class RawModule:
    """``cupy.RawModule(code=, options=)``: kernels run on the host, one grid thread after another."""

    def __init__(self, code: str, options=()):
        self.lib = _library(code)
        self.options = tuple(options)
        self.launches: list[tuple[str, int, int]] = []

    def get_function(self, name: str):
        fn = getattr(self.lib, name)
        place = self.lib.v4_emulated_thread

        def launch(grid, block, args):
            (blocks,), (threads,) = grid, block
            self.launches.append((name, blocks, threads))
            c_args = [_c_arg(a) for a in args]
            for b in range(blocks):
                for t in range(threads):
                    place(ctypes.c_uint(b), ctypes.c_uint(threads), ctypes.c_uint(t))
                    fn(*c_args)

        return launch


def install() -> None:
    """Put the stand-in where ``import cupy`` finds it, with ``cupyx.scipy.special.erf`` (GELU's), for a whole run."""
    import sys

    from scipy.special import erf

    special = types.ModuleType("cupyx.scipy.special")
    special.erf = lambda x: _on(erf(x._a), x._device_id)
    scipy_ = types.ModuleType("cupyx.scipy")
    scipy_.special = special
    cupyx = types.ModuleType("cupyx")
    cupyx.scipy = scipy_
    sys.modules.update({"cupy": sys.modules[__name__], "cupyx": cupyx, "cupyx.scipy": scipy_,
                        "cupyx.scipy.special": special})
