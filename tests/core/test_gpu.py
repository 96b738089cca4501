"""The GPU fill path: its device code checked on the host (always) and on a CUDA GPU (marked gpu).

The kernel source in initreg/core/stream_gpu.py is C shared by CUDA and the host compiler: here it is
compiled with the host's C compiler and compared with the same formulas written as NumPy operations,
so the integer part (Philox, block keys, bit-to-float conversion) is checked bit for bit without a GPU.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest
from scipy import stats

import initreg
from initreg import Parameter, gpu
from initreg.core.stream import BLOCK, Stream
from initreg.core.stream_gpu import _OPS, DEVICE_SOURCE, kernel_args, philox4x32, reference

# Random123's known-answer vectors for Philox4x32-10 (kat_vectors): counter, key, result.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]

CASES = [  # (op, args, dtype)
    ("uniform", (-0.5, 2.0), np.float32), ("uniform", (-0.5, 2.0), np.float64),
    ("normal", (0.5, 2.0), np.float32), ("normal", (0.5, 2.0), np.float64),
    ("truncated_normal", (0.0, 1.0, -2.0, 2.0), np.float32), ("truncated_normal", (1.0, 2.0, 3.0, 3.5), np.float64),
    ("integers", (-3, 1000), np.int64), ("bernoulli", (0.3,), np.float32),
]


def test_philox_matches_the_known_answers():
    for ctr, key, want in KAT:
        got = philox4x32(np, [np.array([c]) for c in ctr], [np.array([k]) for k in key])
        assert [int(w[0]) for w in got] == list(want)


_HOST_SHIMS = r"""
#include <math.h>
/* CUDA's normcdfinv, for the host build: bisection on erfc to full double precision */
static double normcdfinv(double p) {
    double lo = -40.0, hi = 40.0;
    for (int k = 0; k < 200 && lo < hi; ++k) {
        double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break;
        if (0.5 * erfc(-mid * 0.70710678118654752440) < p) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}
"""
_CTYPES = {"float64": ("double", ctypes.c_double), "int64": ("long long", ctypes.c_longlong),
           "uint64": ("unsigned long long", ctypes.c_ulonglong)}
_OUT = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.int64): "long long"}


@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    """Every kernel operation compiled for the host: {(op, double, dtype): (function, scalar ctypes)}."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the device code on the host")
    parts, sigs = [_HOST_SHIMS, DEVICE_SOURCE], {}
    for op, args, dtype in CASES:
        params, op_f, op_d = _OPS[op]
        double = np.dtype(dtype) == np.float64
        scalars = [p.split() for p in params.split(",")[1:]]
        name = f"drive_{op}_{'d' if double else 'f'}_{np.dtype(dtype).name}"
        arglist = ", ".join(f"{_CTYPES[t][0]} {n}" for t, n in scalars)
        ctype = _OUT[np.dtype(dtype)]
        parts.append(f"#define T {ctype}\nvoid {name}(const ir_u32* keys, long long n, {arglist}, T* dst) {{\n"
                     f"  for (long long i = 0; i < n; ++i) {{ T out; {op_d if double else op_f} dst[i] = out; }}\n}}\n#undef T\n")
        sigs[(op, double, np.dtype(dtype))] = (name, [_CTYPES[t][1] for t, _ in scalars])
    src = tmp_path_factory.mktemp("devcode") / "device.c"
    src.write_text("\n".join(parts))
    lib = src.with_suffix(".so")
    # no contraction into fused multiply-adds: the host build must round like the NumPy reference
    done = subprocess.run([cc, "-O2", "-std=c99", "-ffp-contract=off", "-shared", "-fPIC", str(src), "-o", str(lib), "-lm"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    dll = ctypes.CDLL(str(lib))
    return {k: (getattr(dll, name), types) for k, (name, types) in sigs.items()}


def host_values(host_build, stream, n, op, args, dtype, start=0):
    from initreg.core.stream import block_keys

    dtype = np.dtype(dtype)
    fn, types = host_build[(op, dtype == np.float64, dtype)]
    first, nblocks = start // BLOCK, -(-n // BLOCK)
    keys = np.ascontiguousarray(block_keys(stream.seed, stream.key_words, first, nblocks, 4).reshape(-1))
    out = np.empty(n, dtype)
    scalars = [t(v) for t, v in zip(types, kernel_args(op, args, dtype))]
    fn(keys.ctypes.data_as(ctypes.c_void_p), ctypes.c_longlong(n), *scalars, out.ctypes.data_as(ctypes.c_void_p))
    return out


@pytest.mark.parametrize("op, args, dtype", CASES)
def test_device_code_built_on_the_host_matches_the_array_formulas(host_build, op, args, dtype):
    s = Stream(11, "enc.0.weight")
    n = BLOCK + 1234  # two blocks, the second partial
    got = host_values(host_build, s, n, op, args, dtype, start=2 * BLOCK)
    want = reference(np, s, n, op, args, dtype, start=2 * BLOCK)
    if op in ("uniform", "integers", "bernoulli"):  # integer work and exact conversions: the same bits
        assert np.array_equal(got, want)
    else:  # libm and NumPy's SIMD log/cos may differ in the last bits
        rtol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-9
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def test_gpu_values_are_keyed_per_block_and_per_name():
    s = Stream(3, "w")
    n = 3 * BLOCK + 5
    whole = reference(np, s, n, "normal", (0.0, 1.0), np.float32)
    tail = reference(np, s, n - BLOCK, "normal", (0.0, 1.0), np.float32, start=BLOCK)
    assert np.array_equal(whole[BLOCK:], tail)
    other = reference(np, Stream(3, "v"), n, "normal", (0.0, 1.0), np.float32)
    # n = 196,613: |r| < 0.015 fails under independence with probability ~1e-10
    assert abs(np.corrcoef(whole, other)[0, 1]) < 0.015
    assert abs(np.corrcoef(whole[:BLOCK], whole[BLOCK:2 * BLOCK])[0, 1]) < 0.03  # sd 0.0039: 7.7 sd


def test_gpu_formulas_give_the_promised_distributions():
    s = Stream(5, "dist")
    n = 200_000  # KS at alpha 1e-6 on fixed seeds: deterministic
    for dtype in (np.float32, np.float64):
        z = reference(np, s, n, "normal", (1.0, 2.0), dtype)
        assert stats.kstest(z, stats.norm(1.0, 2.0).cdf).pvalue > 1e-6
        u = reference(np, s.child("u"), n, "uniform", (-1.0, 3.0), dtype)
        assert u.min() >= -1.0 and u.max() < 3.0 and stats.kstest(u, stats.uniform(-1, 4).cdf).pvalue > 1e-6
        t = reference(np, s.child("t"), n, "truncated_normal", (0.0, 1.0, -2.0, 2.0), dtype)
        assert t.min() >= -2 and t.max() <= 2 and stats.kstest(t, stats.truncnorm(-2, 2).cdf).pvalue > 1e-6
    k = reference(np, s.child("k"), n, "integers", (3, 9), np.int64)
    assert k.min() == 3 and k.max() == 8
    counts = np.bincount(k - 3, minlength=6)
    assert stats.chisquare(counts).pvalue > 1e-6
    b = reference(np, s.child("b"), n, "bernoulli", (0.25,), np.float32)
    assert abs(b.mean() - 0.25) < 0.006  # sd 0.00097: 6 sd


def test_kernel_arguments_reject_integer_outputs_for_real_values():
    with pytest.raises(TypeError, match="floating dtype"):
        kernel_args("normal", (0.0, 1.0), np.dtype(np.int32))


# --- on a real GPU -------------------------------------------------------------------------------------

@pytest.fixture
def cupy():
    """CuPy with a usable CUDA device, or skip."""
    cp = pytest.importorskip("cupy")
    if not initreg.gpu_available(0):
        pytest.skip("no CUDA GPU")
    return cp


@pytest.mark.gpu
@pytest.mark.parametrize("op, args, dtype", CASES)
def test_gpu_kernel_matches_the_array_formulas_on_the_device(cupy, op, args, dtype):
    s = Stream(7, "layer.weight")
    n = 2 * BLOCK + 99
    out = cupy.empty(n, dtype)
    getattr(s, op)(*args, out=out)
    want = reference(cupy, s, n, op, args, dtype)
    if op in ("integers", "bernoulli"):
        assert bool((out == want).all())
    else:  # NVRTC may fuse multiply-adds where the array operations round twice
        rtol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
        cupy.testing.assert_allclose(out, want, rtol=rtol, atol=rtol)


@pytest.mark.gpu
def test_gpu_fill_stays_on_the_device_and_is_reproducible(cupy, monkeypatch):
    def no_host(*a, **k):
        raise AssertionError("a GPU fill went through host memory")
    monkeypatch.setattr(initreg.core.stream, "_stage_through_host", no_host)
    s = Stream(0, "w")
    a = s.normal(0.0, 0.02, out=cupy.empty((512, 300), cupy.float32))
    b = s.normal(0.0, 0.02, out=cupy.empty((512, 300), cupy.float32))
    assert isinstance(a, cupy.ndarray) and bool((a == b).all())
    half = 2 * BLOCK
    parts = cupy.empty(512 * 300, cupy.float32)
    s.normal(0.0, 0.02, out=parts[half:], start=half)
    s.normal(0.0, 0.02, out=parts[:half])
    assert bool((parts == a.reshape(-1)).all())
    fortran = cupy.empty((512, 300), cupy.float32, order="F")
    s.normal(0.0, 0.02, out=fortran)
    assert bool((fortran == a).all())


@pytest.mark.gpu
def test_parameter_on_gpu_draws_on_the_device(cupy):
    p = Parameter("w", shape=(1024, 513))
    p.initialize(initreg.std.Normal(0.5), device=gpu(0), seed=3)
    x = p.data(gpu(0))
    assert isinstance(x, cupy.ndarray) and x.dtype == np.float32
    host = cupy.asnumpy(x).ravel()
    assert stats.kstest(host, stats.norm(0, 0.5).cdf).pvalue > 1e-6
    q = Parameter("w", shape=(1024, 513))
    q.initialize(initreg.std.Normal(0.5), device=gpu(0), seed=3)
    assert bool((q.data(gpu(0)) == x).all())
