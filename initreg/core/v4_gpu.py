"""v4 fills on a CUDA GPU: ``v4.h`` compiled by CuPy (``RawModule``, NVRTC, ``--fmad=false``), the CPU's bits.

Each GPU thread computes one Philox call (4 or 2 elements) with the very functions the CPU kernel and the
NumPy reference define (``v4.h``); NVRTC with ``--fmad=false`` keeps every multiply and add a separate
correctly rounded operation (double division and square root are IEEE by default), so a CuPy array filled
here holds the same bits as ``v4_backend.fill`` gives on the host.  The per-fill parameters (the uniform's
clamp, the truncated normal's interval constants, the Bernoulli threshold) are computed on the host by
``v4_reference`` (bit-identical to ``v4.h``'s) and passed in.

CuPy is imported only when a fill runs. ``KERNEL_SOURCE`` is plain CUDA C++ over ``v4.h``;
``tests/core/test_v4_gpu_source.py`` compiles it on the host with a small shim and checks its bits.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Sequence

import numpy as np

HEADER = Path(__file__).with_name("v4.h")

#: the kernels: v4_fill's thread t computes Philox call start/per + t and writes its elements that fall in
#: [start, start+n); v4_fill_runs' thread t computes call t % C of run t / C (C = calls_per_run, the most calls a
#: run of ``length`` elements can touch) and writes run r's element e at out[r*length + e - starts[r]]. Both
#: write through v4_gpu_call, so the bits of a run are the bits of a fill of the same elements.
KERNEL_SOURCE = r"""
#define V4_GPU_PARAMS int op, int kind, int per, double a, double b, double clamp,                          \
                      double t0, double t1, double t2, double t3, double t4,                                \
                      double t5, double t6, double t7, double t8, double t9,                                \
                      unsigned long long ilow, unsigned long long ispan_m1, unsigned long long threshold
#define V4_GPU_ARGS op, kind, per, a, b, clamp, t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, ilow, ispan_m1, threshold

/* Philox call j; its elements e in [lo, hi) go to out[off + (e - lo)] */
V4_FN void v4_gpu_call(unsigned int k0, unsigned int k1, unsigned int k2, unsigned int k3, unsigned long long j,
                       unsigned long long lo, unsigned long long hi, long long off, void* out, V4_GPU_PARAMS)
{
    unsigned long long first = j * (unsigned long long)per;
    if (first >= hi) return;
    v4_u32 x[4];
    v4_philox(j, k0, k1, k2, k3, x);
    double v[4];
    v4_u64 w[2];
    const double tn[10] = {t0, t1, t2, t3, t4, t5, t6, t7, t8, t9};
    if (op == 0) {
        if (per == 4) v4_call_uniform_f(x, a, b, v); else v4_call_uniform_d(x, a, b, v);
    } else if (op == 1) {
        if (per == 4) v4_call_normal_f(x, a, b, v); else v4_call_normal_d(x, a, b, v);
    } else if (op == 2) {
        v4_call_truncnorm(x, a, b, tn, v);
    } else if (op == 3) {
        w[0] = v4_integer(x[0], x[1], ilow, ispan_m1);
        w[1] = v4_integer(x[2], x[3], ilow, ispan_m1);
    } else {
        v[0] = (double)v4_bernoulli(x[0], x[1], threshold);
        v[1] = (double)v4_bernoulli(x[2], x[3], threshold);
    }
    for (int l = 0; l < per; ++l) {
        unsigned long long e = first + (unsigned long long)l;
        if (e < lo || e >= hi) continue;
        long long i = off + (long long)(e - lo);
        if (op == 3) {
            v4_u64 q = w[l];
            double d = (double)(v4_i64)q;
            switch (kind) {
            case 0: ((double*)out)[i] = d; break;
            case 1: ((float*)out)[i] = (float)d; break;
            case 2: ((v4_u16*)out)[i] = v4_f32_to_f16((float)d); break;
            case 3: ((v4_u16*)out)[i] = v4_f32_to_bf16((float)d); break;
            case 4: case 8: ((unsigned char*)out)[i] = (unsigned char)q; break;
            case 5: case 9: ((v4_u16*)out)[i] = (v4_u16)q; break;
            case 6: case 10: ((v4_u32*)out)[i] = (v4_u32)q; break;
            default: ((v4_u64*)out)[i] = q; break;
            }
        } else {
            double y = v[l];
            float c = (float)clamp;
            float yf = (float)y;
            yf = yf < c ? yf : c;
            switch (kind) {
            case 0: ((double*)out)[i] = y < clamp ? y : clamp; break;
            case 1: ((float*)out)[i] = yf; break;
            case 2: ((v4_u16*)out)[i] = v4_f32_to_f16(yf); break;
            case 3: ((v4_u16*)out)[i] = v4_f32_to_bf16(yf); break;
            case 4: case 8: case 12: ((unsigned char*)out)[i] = (unsigned char)(y != 0.0); break;
            case 5: case 9: ((v4_u16*)out)[i] = (v4_u16)(y != 0.0); break;
            case 6: case 10: ((v4_u32*)out)[i] = (v4_u32)(y != 0.0); break;
            default: ((v4_u64*)out)[i] = (v4_u64)(y != 0.0); break;
            }
        }
    }
}

extern "C" __global__ void v4_fill(unsigned int k0, unsigned int k1, unsigned int k2, unsigned int k3,
                                   unsigned long long start, long long n, void* out, V4_GPU_PARAMS)
{
    long long t = (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x;
    unsigned long long j = start / (unsigned long long)per + (unsigned long long)t;
    v4_gpu_call(k0, k1, k2, k3, j, start, start + (unsigned long long)n, 0, out, V4_GPU_ARGS);
}

extern "C" __global__ void v4_fill_runs(unsigned int k0, unsigned int k1, unsigned int k2, unsigned int k3,
                                        const unsigned long long* starts, long long runs, long long length,
                                        long long calls_per_run, void* out, V4_GPU_PARAMS)
{
    long long t = (long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x;
    if (t >= runs * calls_per_run) return;
    long long r = t / calls_per_run;
    unsigned long long lo = starts[r];
    unsigned long long j = lo / (unsigned long long)per + (unsigned long long)(t % calls_per_run);
    v4_gpu_call(k0, k1, k2, k3, j, lo, lo + (unsigned long long)length, r * length, out, V4_GPU_ARGS);
}
"""

OPTIONS = ("--fmad=false", "-std=c++17")
_THREADS = 256


def source() -> str:
    """The full CUDA source: v4.h followed by the kernel."""
    return HEADER.read_text() + "\n" + KERNEL_SOURCE


@functools.lru_cache(maxsize=None)
def _module(device_id: int) -> Any:
    import cupy

    with cupy.cuda.Device(device_id):
        return cupy.RawModule(code=source(), options=OPTIONS)


def kernel_args(op: str, key_words: Sequence[int], start: int, n: int, kind: str, params: Sequence[Any]) -> tuple:
    """The scalar kernel arguments after ``out`` (host side, bit-identical to what the CPU kernel computes)."""
    from . import v4_reference as ref

    raw = ref.raw_params(op, params)
    per = ref.per_call(op, kind)
    a = b = 0.0
    clamp = float("inf")
    tn = (0.0,) * 10
    ilow = span_m1 = threshold = 0
    if op == "uniform":
        a, b, clamp = raw[0], raw[1] - raw[0], ref.uniform_clamp(raw[0], raw[1], kind)
    elif op == "normal":
        a, b = raw
    elif op == "truncated_normal":
        a, b = raw[0], raw[1]
        tn = ref.truncnorm_setup(raw[2], raw[3])
    elif op == "integers":
        ilow, span_m1 = raw
    else:
        threshold = ref.bernoulli_threshold(raw[0])
    return (np.int32(ref.OPS[op]), np.int32(ref.KINDS[kind]), np.int32(per), np.float64(a), np.float64(b),
            np.float64(clamp), *(np.float64(t) for t in tn), np.uint64(ilow), np.uint64(span_m1), np.uint64(threshold))


def _checked(op: str, key_words: Sequence[int], out: Any, bfloat16: bool) -> tuple[tuple[int, ...], str]:
    """The checked key and ``out``'s kind for a fill of ``op`` into the C-contiguous CuPy array ``out``."""
    import cupy

    from . import v4_backend as be
    from . import v4_reference as ref

    if op not in be.OPS:
        raise ValueError(f"unknown fill {op!r}; one of {', '.join(be.OPS)}")
    if not isinstance(out, cupy.ndarray):
        raise TypeError(f"out must be a CuPy array, got {type(out).__name__}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous (fill a contiguous copy and assign it)")
    kind = be.kind_of(np.dtype(out.dtype.name if out.dtype.kind == "V" else out.dtype), bfloat16)
    if op in ("uniform", "normal", "truncated_normal") and kind not in ref.FLOAT_KINDS:
        raise TypeError(f"{op.replace('_', ' ')} values need a floating dtype, got {out.dtype}")
    return be.check_key_words(key_words), kind


def _launch(out: Any, name: str, threads: int, args: tuple) -> None:
    """Run kernel ``name`` on ``out``'s GPU with at least ``threads`` threads."""
    with out.device:
        kernel = _module(out.device.id).get_function(name)
        kernel(((threads + _THREADS - 1) // _THREADS,), (_THREADS,), args)


def _key_args(key: Sequence[int]) -> tuple:
    """The four key words as the kernels' unsigned int arguments."""
    return tuple(np.uint32(k) for k in key)


def fill(op: str, key_words: Sequence[int], start: int, out: Any, *params: Any, bfloat16: bool = False) -> Any:
    """Write elements ``[start, start + out.size)`` of the stream into the C-contiguous CuPy array ``out``."""
    from . import v4_backend as be

    key, kind = _checked(op, key_words, out, bfloat16)
    start = be.check_start(start, out.size)
    n = int(out.size)
    if n == 0:
        return out
    scalars = kernel_args(op, key, start, n, kind, params)
    per = int(scalars[2])
    calls = (start + n - 1) // per - start // per + 1
    _launch(out, "v4_fill", calls, (*_key_args(key), np.uint64(start), np.int64(n), out, *scalars))
    return out


def fill_runs(op: str, key_words: Sequence[int], starts: Any, length: int, out: Any, *params: Any,
              bfloat16: bool = False) -> Any:
    """Write ``len(starts)`` runs of ``length`` elements into the flat CuPy array ``out`` in one launch: run ``i`` is
    elements ``[starts[i], starts[i] + length)`` of the stream (as ``v4_backend.fill_runs`` on the host)."""
    import cupy

    from . import v4_backend as be

    key, kind = _checked(op, key_words, out, bfloat16)
    host = np.ascontiguousarray(starts, dtype=np.uint64).reshape(-1)
    length = int(length)
    if out.size != host.size * length:
        raise ValueError(f"out holds {out.size} elements, not len(starts) * length = {host.size * length}")
    if out.size == 0:
        return out
    be.check_start(int(host.max()), length)
    scalars = kernel_args(op, key, 0, length, kind, params)
    per = int(scalars[2])
    calls_per_run = (length + per - 1) // per + 1  # a run not aligned to a call touches one call more
    with out.device:
        device_starts = cupy.asarray(host)
    _launch(out, "v4_fill_runs", host.size * calls_per_run,
            (*_key_args(key), device_starts, np.int64(host.size), np.int64(length), np.int64(calls_per_run), out,
             *scalars))
    return out


def uniform(key_words: Sequence[int], start: int, out: Any, low: float = 0.0, high: float = 1.0, **kw: Any) -> Any:
    """U[low, high) into the CuPy array ``out``."""
    return fill("uniform", key_words, start, out, low, high, **kw)


def normal(key_words: Sequence[int], start: int, out: Any, loc: float = 0.0, scale: float = 1.0, **kw: Any) -> Any:
    """N(loc, scale²) into the CuPy array ``out``."""
    return fill("normal", key_words, start, out, loc, scale, **kw)


def truncated_normal(key_words: Sequence[int], start: int, out: Any, loc: float = 0.0, scale: float = 1.0,
                     a: float = -2.0, b: float = 2.0, **kw: Any) -> Any:
    """N(loc, scale²) truncated to [loc + a·scale, loc + b·scale] into the CuPy array ``out``."""
    return fill("truncated_normal", key_words, start, out, loc, scale, a, b, **kw)


def integers(key_words: Sequence[int], start: int, out: Any, low: int, high: int) -> Any:
    """Integers uniform on [low, high) into the CuPy array ``out``."""
    return fill("integers", key_words, start, out, low, high)


def bernoulli(key_words: Sequence[int], start: int, out: Any, p: float) -> Any:
    """1 with probability p, else 0, into the CuPy array ``out``."""
    return fill("bernoulli", key_words, start, out, p)
