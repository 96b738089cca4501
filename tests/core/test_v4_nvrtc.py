"""The GPU kernel source through NVRTC itself, with no GPU: it compiles with ``v4_gpu.OPTIONS`` for the GPU generations
CuPy targets, and its PTX rounds every floating-point operation on its own: ``.rn`` on each add, subtract, multiply,
divide, square root and reciprocal, no fused multiply-add, nothing approximate or flushed to zero. With that, the
CPU's bits follow from the source (test_v4_gpu_source.py runs the same source on the host). PTX instructions with an
explicit rounding modifier are never contracted by ptxas (PTX ISA, "add"/"mul": "treated conservatively").

NVRTC comes from the test extra's ``nvidia-cuda-nvrtc-cu12`` wheel; it is called through ctypes (six C functions; a
binding package such as cuda-python would be a second dependency for them).
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import pytest

from initreg.core import v4_gpu

nvrtc_package = pytest.importorskip("nvidia.cuda_nvrtc", reason="needs NVRTC (pip install nvidia-cuda-nvrtc-cu12)")

ARCHS = ["compute_70", "compute_80", "compute_90"]  # V100, A100, H100
# a floating-point instruction: its opcode and modifiers, up to the operands
FLOAT_OP = re.compile(r"^\s*(?:@!?%p\d+\s+)?([a-z]+(?:\.[a-z0-9]+)*\.(?:f16|bf16|f32|f64)(?:\.[a-z0-9]+)*)\s", re.M)
ROUNDED = ("add", "sub", "mul", "div", "sqrt", "rcp")  # each must round on its own: .rn
NEVER = ("fma", "mad", "rsqrt", "sin", "cos", "ex2", "lg2", "tanh")  # fused or approximate by definition


def _nvrtc() -> ctypes.CDLL:
    libs = sorted(p for folder in nvrtc_package.__path__ for p in (Path(folder) / "lib").glob("libnvrtc.so*"))
    if not libs:
        pytest.skip(f"no libnvrtc.so in {list(nvrtc_package.__path__)}")
    return ctypes.CDLL(str(libs[0]))


def ptx(options: tuple[str, ...], arch: str) -> str:
    """The PTX NVRTC makes of v4_gpu.source() with ``options`` for ``arch`` (its log in the error if it fails)."""
    lib = _nvrtc()
    prog = ctypes.c_void_p()
    assert lib.nvrtcCreateProgram(ctypes.byref(prog), v4_gpu.source().encode(), b"v4.cu", 0, None, None) == 0
    try:
        opts = [o.encode() for o in (*options, f"--gpu-architecture={arch}")]
        status = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        size = ctypes.c_size_t()
        if status != 0:
            lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
            log = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetProgramLog(prog, log)
            raise AssertionError(f"NVRTC failed ({status}) for {arch}:\n{log.value.decode()[-3000:]}")
        assert lib.nvrtcGetPTXSize(prog, ctypes.byref(size)) == 0
        text = ctypes.create_string_buffer(size.value)
        assert lib.nvrtcGetPTX(prog, text) == 0
        return text.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def float_ops(text: str) -> list[str]:
    return FLOAT_OP.findall(text)


@pytest.mark.parametrize("arch", ARCHS)
def test_the_kernel_compiles_and_rounds_every_operation_on_its_own(arch):
    text = ptx(v4_gpu.OPTIONS, arch)
    assert ".entry v4_fill(" in text and ".entry v4_fill_runs(" in text
    ops = float_ops(text)
    arithmetic = [op for op in ops if op.split(".")[0] in ROUNDED]
    assert len(arithmetic) > 1000  # the normal's and truncated normal's polynomials are all here
    assert [op for op in arithmetic if "rn" not in op.split(".")] == []
    assert [op for op in ops if op.split(".")[0] in NEVER] == []
    assert [op for op in ops if {"approx", "ftz", "full", "sat"} & set(op.split("."))] == []
    narrowing = [op for op in ops if op.startswith("cvt.") and not op.startswith("cvt.f64.f32")]
    assert narrowing and [op for op in narrowing if not {"rn", "rzi", "rz"} & set(op.split("."))] == []


def test_without_fmad_false_nvrtc_would_fuse():
    # what --fmad=false is there for: NVRTC's default contracts the polynomials' multiply-adds into fma
    options = tuple(o for o in v4_gpu.OPTIONS if not o.startswith("--fmad"))
    assert options != v4_gpu.OPTIONS
    assert any(op.startswith("fma.rn.f64") for op in float_ops(ptx(options, "compute_90")))
