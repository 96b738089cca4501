"""Stream fills on a GPU: one CuPy elementwise kernel per fill, keyed per block, no host round trip.

Bits on the GPU (they differ from the CPU's; reproducible for the same (seed, name) on any GPU):
block ``b`` of the stream ``(seed, name, *tags)`` has the key words
``k = SeedSequence(seed, spawn_key=(h(name), *h(tags), b)).generate_state(4, uint32)`` (as on the
CPU); element ``j`` of the block is computed from ``x = Philox4x32-10(counter=(j, 0, k[2], k[3]),
key=(k[0], k[1]))``:

- uniform: float32/float16 ``(x0 >> 8)·2⁻²⁴``; float64 ``((x0 << 21) | (x1 >> 11))·2⁻⁵³``; then ``low + width·u``;
- normal: Box–Muller, cosine branch only: ``sqrt(-2·log(u1))·cos(2π·u2)`` with ``u1`` in (0, 1] from
  (x0, x1) and ``u2`` from (x1) (float) or (x2, x3) (float64); then ``loc + scale·z``;
- truncated normal: inverse CDF, ``Φ⁻¹(Φ(lo) + (Φ(hi) - Φ(lo))·u)`` in float64 on the side of zero
  nearer the interval (no rejection, so every element costs the same);
- integers: ``low + ((x0 << 32) | x1) mod (high - low)`` (bias below (high - low)/2⁶⁴);
- bernoulli: ``1 if u < p else 0`` with the float64 ``u``.

The device code below is plain C shared by CUDA (through NVRTC) and the host C compiler, so the
tests compile it on the CPU and compare it with ``reference`` (the same formulas in array operations).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .keys import BLOCK, block_keys

PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)

DEVICE_SOURCE = r"""
#ifdef __CUDACC__
#define IR_FN __device__ __forceinline__
#else
#define IR_FN static inline
#endif
typedef unsigned int ir_u32;
typedef unsigned long long ir_u64;

IR_FN void ir_philox(ir_u32 c0, ir_u32 c1, ir_u32 c2, ir_u32 c3, ir_u32 k0, ir_u32 k1, ir_u32* x) {
    for (int r = 0; r < 10; ++r) {
        if (r) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        ir_u64 p0 = (ir_u64)0xD2511F53u * c0;
        ir_u64 p1 = (ir_u64)0xCD9E8D57u * c2;
        ir_u32 n0 = (ir_u32)(p1 >> 32) ^ c1 ^ k0;
        ir_u32 n2 = (ir_u32)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0; c1 = (ir_u32)p1; c2 = n2; c3 = (ir_u32)p0;
    }
    x[0] = c0; x[1] = c1; x[2] = c2; x[3] = c3;
}

/* the four words of element i (counted from the first element of the first block in keys) */
IR_FN void ir_draw(const ir_u32* keys, long long i, ir_u32* x) {
    const ir_u32* k = keys + 4 * (i / IR_BLOCK);
    ir_philox((ir_u32)(i % IR_BLOCK), 0u, k[2], k[3], k[0], k[1], x);
}

IR_FN float ir_unit_f(ir_u32 w) { return (float)(w >> 8) * 5.9604644775390625e-08f; }
IR_FN double ir_unit_d(ir_u32 hi, ir_u32 lo) {
    return (double)((((ir_u64)hi) << 21) | (lo >> 11)) * 1.1102230246251565e-16;
}
IR_FN float ir_normal_f(const ir_u32* x) {
    float u1 = (float)((x[0] >> 8) + 1u) * 5.9604644775390625e-08f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795865f * ir_unit_f(x[1]));
}
IR_FN double ir_normal_d(const ir_u32* x) {
    double u1 = (double)(((((ir_u64)x[0]) << 21) | (x[1] >> 11)) + 1ull) * 1.1102230246251565e-16;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * ir_unit_d(x[2], x[3]));
}
""".replace("IR_BLOCK", str(BLOCK))

# (in_params, operation for float compute, operation for double compute); ``out`` is the output.
_OPS: dict[str, tuple[str, str, str]] = {
    "uniform": (
        "raw uint32 keys, float64 low, float64 width",
        "ir_u32 x[4]; ir_draw(&keys[0], i, x); out = (T)((float)low + (float)width * ir_unit_f(x[0]));",
        "ir_u32 x[4]; ir_draw(&keys[0], i, x); out = (T)(low + width * ir_unit_d(x[0], x[1]));",
    ),
    "normal": (
        "raw uint32 keys, float64 loc, float64 scale",
        "ir_u32 x[4]; ir_draw(&keys[0], i, x); out = (T)((float)loc + (float)scale * ir_normal_f(x));",
        "ir_u32 x[4]; ir_draw(&keys[0], i, x); out = (T)(loc + scale * ir_normal_d(x));",
    ),
    "truncated_normal": (
        "raw uint32 keys, float64 loc, float64 scale, float64 plo, float64 pspan, float64 lo, float64 hi, float64 sign",
        "ir_u32 x[4]; ir_draw(&keys[0], i, x); "
        "double z = sign * fmin(fmax(normcdfinv(plo + pspan * ir_unit_d(x[0], x[1])), lo), hi); "
        "out = (T)((float)loc + (float)scale * (float)z);",
        "ir_u32 x[4]; ir_draw(&keys[0], i, x); "
        "double z = sign * fmin(fmax(normcdfinv(plo + pspan * ir_unit_d(x[0], x[1])), lo), hi); "
        "out = (T)(loc + scale * z);",
    ),
    "integers": (
        "raw uint32 keys, int64 low, uint64 span",
        "ir_u32 x[4]; ir_draw(&keys[0], i, x); out = (T)(low + (long long)(((((ir_u64)x[0]) << 32) | x[1]) % span));",
        "ir_u32 x[4]; ir_draw(&keys[0], i, x); out = (T)(low + (long long)(((((ir_u64)x[0]) << 32) | x[1]) % span));",
    ),
    "bernoulli": (
        "raw uint32 keys, float64 p",
        "ir_u32 x[4]; ir_draw(&keys[0], i, x); out = (T)(ir_unit_d(x[0], x[1]) < p ? 1.0f : 0.0f);",
        "ir_u32 x[4]; ir_draw(&keys[0], i, x); out = (T)(ir_unit_d(x[0], x[1]) < p ? 1.0f : 0.0f);",
    ),
}

_kernels: dict[tuple[str, bool], Any] = {}


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def kernel_args(op: str, args: tuple, dtype: np.dtype) -> tuple:
    """The scalar arguments of ``op``'s kernel after ``keys``; TypeError for a dtype the op cannot fill."""
    if op in ("uniform", "normal", "truncated_normal") and dtype.kind != "f":
        what = {"uniform": "uniform", "normal": "normal", "truncated_normal": "truncated normal"}[op]
        raise TypeError(f"{what} values need a floating dtype, got {dtype}")
    if dtype.kind not in "fiub":
        raise TypeError(f"cannot fill an array of dtype {dtype}; use a floating or integer dtype")
    if op == "uniform":
        low, high = args
        return (low, high - low)
    if op == "normal":
        return tuple(args)
    if op == "truncated_normal":
        loc, scale, a, b = args
        lo, hi, sign = (-b, -a, -1.0) if a >= 0 else (a, b, 1.0)
        plo = _phi(lo)
        return (loc, scale, plo, _phi(hi) - plo, lo, hi, sign)
    if op == "integers":
        low, high = args
        if not low < high:
            raise ValueError(f"integers need low < high, got low={low}, high={high}")
        return (np.int64(low), np.uint64(high - low))
    if op == "bernoulli":
        return tuple(args)
    raise ValueError(f"unknown fill {op!r}")


def _kernel(op: str, double: bool) -> Any:
    import cupy

    k = _kernels.get((op, double))
    if k is None:
        params, op_f, op_d = _OPS[op]
        k = _kernels[(op, double)] = cupy.ElementwiseKernel(
            params, "T out", op_d if double else op_f, f"initreg_{op}_{'d' if double else 'f'}",
            preamble=DEVICE_SOURCE, no_return=True)
    return k


def fill(stream: Any, out: Any, start: int, op: str, args: tuple) -> Any:
    """Fill the CuPy array ``out`` (elements from ``start`` of ``stream``) on its own device; return it."""
    import cupy

    dtype = np.dtype(str(out.dtype))
    scalars = kernel_args(op, args, dtype)
    if out.size == 0:
        return out
    with out.device:
        if not out.flags.c_contiguous:
            tmp = cupy.empty(out.shape, dtype=out.dtype)
            fill(stream, tmp, start, op, args)
            out[...] = tmp
            return out
        first, nblocks = start // BLOCK, -(-out.size // BLOCK)
        keys = cupy.asarray(block_keys(stream.seed, stream.key_words, first, nblocks, 4).reshape(-1))
        _kernel(op, dtype == np.float64)(keys, *scalars, out.reshape(-1))
    return out


# --- the same values through array operations (NumPy for the tests, CuPy to cross-check the kernel) ---

def philox4x32(xp: Any, c: list[Any], k: list[Any]) -> list[Any]:
    """Philox4x32-10 of counters ``c`` (4 uint32 arrays) under keys ``k`` (2 uint32 arrays or scalars)."""
    c0, c1, c2, c3 = (xp.asarray(v, dtype=xp.uint32) for v in c)
    k0, k1 = (xp.asarray(v, dtype=xp.uint32) for v in k)
    m0, m1 = xp.uint64(PHILOX_M[0]), xp.uint64(PHILOX_M[1])
    for r in range(10):
        if r:
            k0 = (k0 + xp.uint32(PHILOX_W[0])).astype(xp.uint32)
            k1 = (k1 + xp.uint32(PHILOX_W[1])).astype(xp.uint32)
        p0 = c0.astype(xp.uint64) * m0
        p1 = c2.astype(xp.uint64) * m1
        n0 = (p1 >> xp.uint64(32)).astype(xp.uint32) ^ c1 ^ k0
        n2 = (p0 >> xp.uint64(32)).astype(xp.uint32) ^ c3 ^ k1
        c0, c1, c2, c3 = n0, p1.astype(xp.uint32), n2, p0.astype(xp.uint32)
    return [c0, c1, c2, c3]


def reference(xp: Any, stream: Any, n: int, op: str, args: tuple, dtype: Any, start: int = 0) -> Any:
    """The GPU's values for elements start..start+n-1 of ``stream``, computed with array module ``xp``."""
    dtype = np.dtype(dtype)
    scalars = kernel_args(op, args, dtype)
    first, nblocks = start // BLOCK, -(-n // BLOCK)
    keys = xp.asarray(block_keys(stream.seed, stream.key_words, first, nblocks, 4))
    i = xp.arange(n, dtype=xp.int64)
    b = i // BLOCK
    j = (i % BLOCK).astype(xp.uint32)
    x = philox4x32(xp, [j, xp.zeros_like(j), keys[b, 2], keys[b, 3]], [keys[b, 0], keys[b, 1]])
    double = dtype == np.float64
    f32, f64 = xp.float32, xp.float64

    def unit_f(w: Any) -> Any:
        return (w >> xp.uint32(8)).astype(f32) * f32(2.0 ** -24)

    def unit_d(hi: Any, lo: Any) -> Any:
        return ((hi.astype(xp.uint64) << xp.uint64(21)) | (lo >> xp.uint32(11)).astype(xp.uint64)).astype(f64) * f64(2.0 ** -53)

    if op == "uniform":
        low, width = scalars
        v = f64(low) + f64(width) * unit_d(x[0], x[1]) if double else f32(low) + f32(width) * unit_f(x[0])
    elif op == "normal":
        loc, scale = scalars
        if double:
            u1 = (((x[0].astype(xp.uint64) << xp.uint64(21)) | (x[1] >> xp.uint32(11)).astype(xp.uint64)) + xp.uint64(1)).astype(f64) * f64(2.0 ** -53)
            z = xp.sqrt(f64(-2.0) * xp.log(u1)) * xp.cos(f64(6.283185307179586) * unit_d(x[2], x[3]))
            v = f64(loc) + f64(scale) * z
        else:
            u1 = ((x[0] >> xp.uint32(8)) + xp.uint32(1)).astype(f32) * f32(2.0 ** -24)
            z = xp.sqrt(f32(-2.0) * xp.log(u1)) * xp.cos(f32(6.2831853071795865) * unit_f(x[1]))
            v = f32(loc) + f32(scale) * z
    elif op == "truncated_normal":
        loc, scale, plo, pspan, lo, hi, sign = scalars
        from scipy.special import ndtri

        u = f64(plo) + f64(pspan) * unit_d(x[0], x[1])
        z = sign * xp.clip(xp.asarray(ndtri(xp.asnumpy(u) if hasattr(xp, "asnumpy") else u)), lo, hi)
        v = f64(loc) + f64(scale) * z if double else f32(loc) + f32(scale) * z.astype(f32)
    elif op == "integers":
        low, span = scalars
        w = (x[0].astype(xp.uint64) << xp.uint64(32)) | x[1].astype(xp.uint64)
        v = (w % xp.uint64(span)).astype(xp.int64) + xp.int64(low)
    else:
        (p,) = scalars
        v = unit_d(x[0], x[1]) < p
    return xp.asarray(v).astype(dtype)
