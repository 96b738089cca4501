"""A CPU stand-in for the part of CuPy that initreg's GPU paths use, for tests on machines without a GPU.

Arrays are NumPy arrays of a class whose module is ``cupy`` (so initreg takes its device paths), with a
``.device``; ``RawModule`` compiles the CUDA source for the host with g++ (``__global__`` empty, ``blockIdx``
&c. as globals, as in test_v4_gpu_source.py) and a launch runs every thread of the grid in a loop through
ctypes. What this checks: v4_gpu's grid sizes, argument order and types, and the device plumbing of Stream,
Runs and values(device=gpu(i)). What it cannot: CUDA itself (NVRTC, --fmad=false, device memory).
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


class _DeviceRef:
    """``array.device``: a context manager with an ``id``."""

    def __init__(self, i: int = 0):
        self.id = i

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class ndarray(np.ndarray):
    """A NumPy array that initreg sees as a CuPy array on GPU 0."""

    @property
    def device(self) -> _DeviceRef:
        return _DeviceRef(0)

    def get(self) -> np.ndarray:
        return np.array(self.view(np.ndarray), copy=True)


ndarray.__module__ = "cupy"


def _wrap(a) -> ndarray:
    return np.asarray(a).view(ndarray)


def empty(shape, dtype=float):
    return _wrap(np.empty(shape, dtype))


def full(shape, value, dtype=None):
    return _wrap(np.full(shape, value, dtype))


def asarray(a, dtype=None):
    return _wrap(np.asarray(a, dtype))


def array(a, dtype=None, copy=True):
    return _wrap(np.array(np.asarray(a), dtype=dtype, copy=copy))


def ascontiguousarray(a):
    return _wrap(np.ascontiguousarray(a))


def asnumpy(a) -> np.ndarray:
    return np.array(np.asarray(a).view(np.ndarray), copy=True)


def isfinite(a):
    return _wrap(np.isfinite(np.asarray(a)))


float16, float32, float64 = np.float16, np.float32, np.float64


def __getattr__(name: str):
    """Any other NumPy function, its array results on the "GPU" (CuPy mirrors NumPy's namespace)."""
    if name.startswith("__"):  # the module's own protocol (__all__, __path__): not NumPy's
        raise AttributeError(name)
    fn = getattr(np, name)
    if not callable(fn) or isinstance(fn, type):
        return fn

    def on_device(*args, **kwargs):
        result = fn(*args, **kwargs)
        return _wrap(result) if isinstance(result, np.ndarray) else result

    return on_device


class _Stream:
    def synchronize(self) -> None:
        pass


cuda = types.SimpleNamespace(Device=_DeviceRef, get_current_stream=lambda: _Stream(),
                             runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))


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
    if isinstance(v, np.ndarray):
        return ctypes.c_void_p(v.ctypes.data)
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
