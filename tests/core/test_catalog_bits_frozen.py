"""Every portable catalog initializer gives its frozen v4 bits: in this process, in the NumPy reference, and in
child processes under other CPU dispatch (NumPy's SIMD level), BLAS and thread settings; whole and regions;
float16/32/64 here and bfloat16 through the PyTorch and JAX adapters; on a CUDA GPU (``pytest -m gpu``): gpu(0)
values, CUDA tensors and JAX arrays on GPUs, whole, regions and sharded, computed on the device.

A change of any hash is a change of bits: an ALGORITHM bump and a new data file, never an edit of this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import catalog_bits
from initreg.core.stream import ALGORITHM

HERE = Path(__file__).parent
FROZEN = json.loads((HERE / "data" / "catalog_bits_v4.json").read_text())
ROOT = HERE.parents[1]


def test_the_frozen_file_is_this_algorithm_and_covers_the_catalog():
    assert FROZEN["algorithm"] == ALGORITHM == "initreg-philox-v4" and FROZEN["seed"] == catalog_bits.SEED
    labels = {k.split("/")[0] for k in FROZEN["hashes"]}
    assert {label for label, _ in catalog_bits.CASES} | {"lstmbias", "torch", "jax"} == labels


def test_this_process_gives_the_frozen_bits():
    got = catalog_bits.numpy_hashes()
    want = {k: v for k, v in FROZEN["hashes"].items() if not k.startswith(("torch/", "jax/"))}
    assert got == want


def test_bfloat16_through_the_torch_adapter_gives_the_frozen_bits():
    pytest.importorskip("torch")
    assert catalog_bits.torch_hashes() == {k: v for k, v in FROZEN["hashes"].items() if k.startswith("torch/")}


def test_bfloat16_through_the_jax_adapter_gives_the_frozen_bits():
    pytest.importorskip("jax")
    assert catalog_bits.jax_hashes() == {k: v for k, v in FROZEN["hashes"].items() if k.startswith("jax/")}


def test_jax_leaves_sharded_by_rows_and_columns_give_the_frozen_bits():
    jax = pytest.importorskip("jax")
    want = {k: v for k, v in FROZEN["hashes"].items() if k.startswith("jax/")}
    for axis in (0, 1):
        assert catalog_bits.jax_hashes(jax.devices(), axis) == want


def _gpu() -> None:
    import initreg

    if not initreg.gpu_available(0):
        pytest.skip("needs CuPy and a CUDA GPU")


@pytest.mark.gpu
def test_gpu_values_give_the_frozen_bits_whole_and_regions():
    import initreg

    _gpu()
    assert catalog_bits.numpy_hashes(initreg.gpu(0)) == {k: v for k, v in FROZEN["hashes"].items()
                                                         if not k.startswith(("torch/", "jax/"))}


@pytest.mark.gpu
def test_cuda_tensors_through_the_torch_adapter_give_the_frozen_bits():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    assert catalog_bits.torch_hashes("cuda") == {k: v for k, v in FROZEN["hashes"].items() if k.startswith("torch/")}


@pytest.mark.gpu
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_jax_arrays_on_gpus_give_the_frozen_bits_whole_and_sharded(axis):
    jax = pytest.importorskip("jax")
    _gpu()
    try:
        gpus = jax.devices("gpu")  # JAX_PLATFORMS must allow it (tests/conftest.py sets "cpu" unless it is set)
    except RuntimeError:
        pytest.skip("JAX has no GPU backend here (set JAX_PLATFORMS=cuda,cpu)")
    want = {k: v for k, v in FROZEN["hashes"].items() if k.startswith("jax/")}
    assert catalog_bits.jax_hashes(gpus, axis) == want


def _environments() -> list[dict[str, str]]:
    dispatch = catalog_bits.numpy_dispatch()
    no_avx512 = " ".join(f for f in dispatch if f.startswith("AVX512") or f == "X86_V4")
    envs = [{"INITREG_V4_BACKEND": "reference", "INITREG_NUM_THREADS": "2"},
            {"OPENBLAS_NUM_THREADS": "1", "INITREG_NUM_THREADS": "1"},
            {"OPENBLAS_NUM_THREADS": "2", "OPENBLAS_CORETYPE": "Haswell", "INITREG_NUM_THREADS": "8"},
            {"OPENBLAS_CORETYPE": "Sandybridge", "INITREG_NUM_THREADS": "2"}]
    if no_avx512:
        envs.append({"NPY_DISABLE_CPU_FEATURES": no_avx512, "INITREG_NUM_THREADS": "2"})
    if dispatch:
        envs.append({"NPY_DISABLE_CPU_FEATURES": " ".join(dispatch), "INITREG_NUM_THREADS": "1"})
        envs.append({"NPY_DISABLE_CPU_FEATURES": " ".join(dispatch), "INITREG_V4_BACKEND": "reference"})
    return envs


@pytest.mark.slow
@pytest.mark.parametrize("env", _environments(), ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
def test_child_processes_under_other_cpu_blas_and_thread_settings_give_the_frozen_bits(env):
    full = {k: v for k, v in os.environ.items() if not k.startswith(("INITREG_", "NPY_DISABLE", "OPENBLAS_"))}
    full.update(env, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, str(HERE / "catalog_bits.py")], capture_output=True, text=True, env=full,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    want = {k: v for k, v in FROZEN["hashes"].items() if not k.startswith(("torch/", "jax/"))}
    assert got == want
