"""The GPU kernel source (v4.h + v4_gpu.KERNEL_SOURCE) gives the CPU's bits.

On the host: the CUDA source is compiled as C++ by g++ with a small shim (``__global__`` empty, ``blockIdx`` &c.
as globals, every "thread" run in a loop) and its output compared with the reference. With a GPU and CuPy
(``pytest -m gpu``): the same source through NVRTC with ``--fmad=false``, whole and sharded.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from emulated_cupy import SHIM
from initreg.core import v4_backend, v4_gpu, v4_reference

KEY = v4_backend.key_words(3, "gpu.weight")

CASES = [
    ("uniform", (0.0, 1.0), "float32", 5, 1001),
    ("uniform", (-2.0, 3.0), "float64", 0, 999),
    ("uniform", (0.0, 1.0), "bfloat16", 3, 1000),
    ("normal", (0.0, 1.0), "float32", 7, 1003),
    ("normal", (0.5, 2.0), "float64", 1, 1001),
    ("normal", (0.0, 1.0), "float16", 2, 517),
    ("truncated_normal", (0.0, 1.0, -2.0, 2.0), "float32", 1, 1001),
    ("truncated_normal", (0.0, 1.0, 6.0, 7.0), "float64", 0, 800),
    ("truncated_normal", (0.0, 1.0, -45.0, -40.0), "float64", 3, 500),
    ("integers", (-7, 1000), "int32", 1, 777),
    ("integers", (0, 1 << 64), "uint64", 0, 300),
    ("bernoulli", (0.3,), "uint8", 1, 999),
    ("bernoulli", (0.7,), "float32", 0, 64),
]

MAIN = r"""
int main(int argc, char** argv) {
    (void)argc;
%(calls)s
    return 0;
}
"""

CALL = r"""
    {
        const long long n = %(n)d;
        void* out = calloc((size_t)n, 8);
        const unsigned long long calls = (%(start)dULL + n - 1) / %(per)d - %(start)dULL / %(per)d + 1;
        blockDim.x = 64;
        for (unsigned long long b = 0; b * 64 < calls; ++b) {
            blockIdx.x = (unsigned int)b;
            for (unsigned int t = 0; t < 64; ++t) {
                threadIdx.x = t;
                v4_fill(%(k0)du, %(k1)du, %(k2)du, %(k3)du, %(start)dULL, n, out, %(args)s);
            }
        }
        char path[4096];
        snprintf(path, sizeof path, "%%s/case%(i)d.bin", argv[1]);
        FILE* f = fopen(path, "wb");
        fwrite(out, %(itemsize)d, (size_t)n, f);
        fclose(f);
        free(out);
    }
"""


# (op, params, kind, starts, length): a column shard's runs (rows of 10 from a 37-wide tensor), runs starting
# inside a Philox call and ending in one, single elements, and one long run
RUN_CASES = [
    ("normal", (0.0, 1.0), "float32", [37 * r + 5 for r in range(9)], 10),
    ("uniform", (-1.0, 1.0), "float64", [37 * r + 3 for r in range(7)], 10),
    ("truncated_normal", (0.0, 1.0, -2.0, 2.0), "bfloat16", [1, 6, 11, 100, 7], 3),
    ("normal", (0.0, 2.0), "float16", [5, 0, 1 << 40], 1),
    ("integers", (-7, 1000), "int64", [2, 1003], 999),
    ("bernoulli", (0.3,), "uint8", [9, 3, 17], 5),
]

RUNS_CALL = r"""
    {
        static const unsigned long long starts[] = {%(starts)s};
        const long long runs = %(runs)d, length = %(length)d, per_run = %(per_run)d;
        void* out = calloc((size_t)(runs * length), 8);
        blockDim.x = 64;
        for (unsigned long long b = 0; b * 64 < (unsigned long long)(runs * per_run); ++b) {
            blockIdx.x = (unsigned int)b;
            for (unsigned int t = 0; t < 64; ++t) {
                threadIdx.x = t;
                v4_fill_runs(%(k0)du, %(k1)du, %(k2)du, %(k3)du, starts, runs, length, per_run, out, %(args)s);
            }
        }
        char path[4096];
        snprintf(path, sizeof path, "%%s/runs%(i)d.bin", argv[1]);
        FILE* f = fopen(path, "wb");
        fwrite(out, %(itemsize)d, (size_t)(runs * length), f);
        fclose(f);
        free(out);
    }
"""


def _literal(v) -> str:
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return "(1.0/0.0)" if f == float("inf") else ("(-1.0/0.0)" if f == float("-inf") else f.hex())
    if isinstance(v, np.uint64):
        return f"{int(v)}ULL"
    return str(int(v))


def _program() -> str:
    calls = []
    for i, (op, params, kind, start, n) in enumerate(CASES):
        scalars = v4_gpu.kernel_args(op, KEY, start, n, kind, params)
        calls.append(CALL % dict(i=i, n=n, start=start, per=int(scalars[2]), k0=KEY[0], k1=KEY[1], k2=KEY[2],
                                 k3=KEY[3], args=", ".join(_literal(s) for s in scalars),
                                 itemsize=v4_reference.STORAGE[kind].itemsize))
    for i, (op, params, kind, starts, length) in enumerate(RUN_CASES):
        scalars = v4_gpu.kernel_args(op, KEY, 0, length, kind, params)
        per = int(scalars[2])
        calls.append(RUNS_CALL % dict(i=i, starts=", ".join(f"{s}ULL" for s in starts), runs=len(starts),
                                      length=length, per_run=(length + per - 1) // per + 1, k0=KEY[0], k1=KEY[1],
                                      k2=KEY[2], k3=KEY[3], args=", ".join(_literal(s) for s in scalars),
                                      itemsize=v4_reference.STORAGE[kind].itemsize))
    return SHIM + v4_gpu.source() + MAIN % {"calls": "".join(calls)}


def _runs_reference(op, params, kind, starts, length) -> bytes:
    """The runs' values, each run filled on its own by the NumPy reference."""
    return b"".join(v4_reference.fill(op, KEY, s, length, kind, *params).tobytes() for s in starts)


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_the_gpu_kernel_source_compiled_for_the_host_gives_the_reference_bits(tmp_path: Path) -> None:
    src = tmp_path / "gpu_on_host.cpp"
    src.write_text(_program())
    exe = tmp_path / "gpu_on_host"
    build = subprocess.run(["g++", "-std=c++17", "-O2", "-ffp-contract=off", "-fno-fast-math", str(src), "-o", str(exe)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run([str(exe), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for i, (op, params, kind, start, n) in enumerate(CASES):
        want = v4_reference.fill(op, KEY, start, n, kind, *params)
        assert (tmp_path / f"case{i}.bin").read_bytes() == want.tobytes(), (op, params, kind)
    for i, (op, params, kind, starts, length) in enumerate(RUN_CASES):
        assert (tmp_path / f"runs{i}.bin").read_bytes() == _runs_reference(op, params, kind, starts, length), (
            op, kind, starts)


def _cupy():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception as exc:  # noqa: BLE001 - any CUDA runtime error means no usable GPU
        pytest.skip(f"no CUDA device ({exc})")
    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[2]}")
def test_gpu_fill_equals_the_cpu_bits_whole_and_sharded(case) -> None:
    cupy = _cupy()
    op, params, kind, start, n = case
    want = v4_reference.fill(op, KEY, start, n, kind, *params)
    out = cupy.empty(n, dtype=v4_reference.STORAGE[kind])
    v4_gpu.fill(op, KEY, start, out, *params, bfloat16=kind == "bfloat16")
    assert cupy.asnumpy(out).tobytes() == want.tobytes()
    cut = n // 3 + 1
    a = cupy.empty(cut, dtype=out.dtype)
    b = cupy.empty(n - cut, dtype=out.dtype)
    v4_gpu.fill(op, KEY, start, a, *params, bfloat16=kind == "bfloat16")
    v4_gpu.fill(op, KEY, start + cut, b, *params, bfloat16=kind == "bfloat16")
    assert cupy.asnumpy(a).tobytes() + cupy.asnumpy(b).tobytes() == want.tobytes()


@pytest.mark.gpu
def test_gpu_large_fill_equals_the_compiled_cpu_fill() -> None:
    cupy = _cupy()
    n = 10_000_019
    for op, params in (("normal", (0.0, 0.02)), ("truncated_normal", (0.0, 0.02, -2.0, 2.0)), ("uniform", (-1.0, 1.0))):
        host = np.empty(n, np.float32)
        v4_backend.fill(op, KEY, 12345, host, *params)
        dev = cupy.empty(n, np.float32)
        v4_gpu.fill(op, KEY, 12345, dev, *params)
        assert cupy.asnumpy(dev).tobytes() == host.tobytes(), op


@pytest.mark.gpu
@pytest.mark.parametrize("case", RUN_CASES, ids=lambda c: f"{c[0]}-{c[2]}")
def test_gpu_runs_equal_the_cpu_bits(case) -> None:
    cupy = _cupy()
    op, params, kind, starts, length = case
    out = cupy.empty(len(starts) * length, dtype=v4_reference.STORAGE[kind])
    v4_gpu.fill_runs(op, KEY, starts, length, out, *params, bfloat16=kind == "bfloat16")
    assert cupy.asnumpy(out).tobytes() == _runs_reference(op, params, kind, starts, length)
