"""v4_gpu's launches and the device plumbing (Stream, Runs, values(device=gpu(0))) on an emulated CuPy.

``emulated_cupy`` runs the very CUDA source on the host (every grid thread in a loop), so these tests check what
a GPU run would otherwise be the first to see: grid sizes, argument order and types, one launch for all of a
region's runs. CUDA itself is checked by ``pytest -m gpu`` on a machine with one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import initreg
from initreg import gpu
from initreg.core import device, v4_gpu, v4_reference

from test_v4_gpu_source import CASES, KEY, RUN_CASES, _runs_reference

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[2]}")
def test_fill_launches_give_the_reference_bits_whole_and_in_two_parts(cupy, case):
    op, params, kind, start, n = case
    want = v4_reference.fill(op, KEY, start, n, kind, *params).tobytes()
    out = cupy.empty(n, dtype=v4_reference.STORAGE[kind])
    v4_gpu.fill(op, KEY, start, out, *params, bfloat16=kind == "bfloat16")
    assert out.tobytes() == want
    cut = n // 3 + 1
    a, b = cupy.empty(cut, dtype=out.dtype), cupy.empty(n - cut, dtype=out.dtype)
    v4_gpu.fill(op, KEY, start, a, *params, bfloat16=kind == "bfloat16")
    v4_gpu.fill(op, KEY, start + cut, b, *params, bfloat16=kind == "bfloat16")
    assert a.tobytes() + b.tobytes() == want


@pytest.mark.parametrize("case", RUN_CASES, ids=lambda c: f"{c[0]}-{c[2]}")
def test_runs_are_one_launch_with_the_reference_bits(cupy, case):
    op, params, kind, starts, length = case
    out = cupy.empty(len(starts) * length, dtype=v4_reference.STORAGE[kind])
    v4_gpu.fill_runs(op, KEY, starts, length, out, *params, bfloat16=kind == "bfloat16")
    assert out.tobytes() == _runs_reference(op, params, kind, starts, length)
    assert [name for name, _, _ in v4_gpu._module(0).launches] == ["v4_fill_runs"]


def test_fill_runs_refuses_an_out_of_the_wrong_size(cupy):
    with pytest.raises(ValueError, match="len\\(starts\\) \\* length"):
        v4_gpu.fill_runs("normal", KEY, [0, 10], 3, cupy.empty(5, np.float32), 0.0, 1.0)


@pytest.mark.parametrize("index", [(slice(8, 24),), (slice(None), slice(6, 12)), (slice(10, 11), slice(None, None, -1)),
                                   (slice(None), slice(5, 40, 3))], ids=["rows", "columns", "reversed", "strided"])
def test_a_gpu_region_is_its_own_runs_in_one_launch(cupy, index):
    for spec in ("truncatednormal", "xavier", "uniform"):
        v4_gpu._module.cache_clear()
        got = initreg.values(spec, (64, 48), name="layer.weight", seed=3, index=index, device=gpu(0))
        want = initreg.values(spec, (64, 48), name="layer.weight", seed=3, index=index)
        assert type(got).__module__ == "cupy" and got.tobytes() == want.tobytes(), (spec, index)
        launches = v4_gpu._module(0).launches
        assert [name for name, _, _ in launches] == ["v4_fill_runs"], (spec, index, launches)
        assert sum(blocks * threads for _, blocks, threads in launches) < 64 * 48, (spec, index)  # not the whole


def test_the_catalog_on_the_emulated_gpu_gives_the_frozen_bits(cupy):
    # what `pytest -m gpu` asserts on a GPU (test_catalog_bits_frozen.py), through the same kernels and plumbing
    import catalog_bits
    from test_catalog_bits_frozen import FROZEN

    assert catalog_bits.numpy_hashes(gpu(0)) == {k: v for k, v in FROZEN["hashes"].items()
                                                 if not k.startswith(("torch/", "jax/"))}


@pytest.mark.parametrize("index", [None, (slice(8, 24),), (slice(None), slice(6, 12))], ids=["whole", "rows", "columns"])
def test_values_for_gpu_1_are_made_and_launched_on_gpu_1(two_gpus, index):
    # CuPy allocates and launches on the current GPU: gpu(1)'s values must not land on gpu(0), the current one
    got = initreg.values("xavier", (64, 48), name="layer.weight", seed=3, index=index, device=gpu(1))
    want = initreg.values("xavier", (64, 48), name="layer.weight", seed=3, index=index)
    assert device.device_of(got) == gpu(1) and got.tobytes() == want.tobytes()
    assert v4_gpu._module(1).launches and not v4_gpu._module(0).launches
    if index is None:  # a caller's buffer on gpu(1), filled there
        with two_gpus.cuda.Device(1):
            out = two_gpus.empty(want.shape, dtype=want.dtype)
        assert initreg.values("xavier", (64, 48), name="layer.weight", seed=3, out=out, device=gpu(1)) is out
        assert out.tobytes() == want.tobytes() and not v4_gpu._module(0).launches


def test_a_parameter_on_gpu_1_keeps_its_data_and_gradient_there(two_gpus):
    p = initreg.Parameter("w", shape=(6, 5))
    p.initialize("normal", device=[gpu(1), gpu(0)], seed=2)
    assert device.device_of(p.data(gpu(1))) == gpu(1) and device.device_of(p.data(gpu(0))) == gpu(0)
    assert device.device_of(p.grad(gpu(1))) == gpu(1) and device.device_of(p.grad(gpu(0))) == gpu(0)
    host = initreg.Parameter("w", shape=(6, 5))
    host.initialize("normal", seed=2)
    assert p.data(gpu(1)).tobytes() == p.data(gpu(0)).tobytes() == host.data().tobytes()


def test_out_on_a_gpu_sets_the_device_and_a_different_device_is_refused(two_gpus):
    want = initreg.values("normal", (40, 30), name="w", seed=5)
    with two_gpus.cuda.Device(1):
        out = two_gpus.empty((40, 30), dtype=np.float32)
    assert initreg.values("normal", (40, 30), name="w", seed=5, out=out) is out  # as torch's out=: out's device
    assert out.get().tobytes() == want.tobytes() and v4_gpu._module(1).launches and not v4_gpu._module(0).launches
    with pytest.raises(initreg.DeviceMismatchError, match=r"out is on gpu\(1\) but device=gpu\(0\)") as err:
        initreg.values("uniform", (40, 30), name="w", seed=5, out=out, device=gpu(0))
    assert isinstance(err.value, ValueError) and out.get().tobytes() == want.tobytes()
    host = np.zeros((40, 30), np.float32)
    with pytest.raises(initreg.DeviceMismatchError, match=r"out is on cpu\(0\) but device=gpu\(1\)"):
        initreg.values("uniform", (40, 30), name="w", seed=5, out=host, device=gpu(1))
    assert not host.any()


@pytest.mark.slow
def test_the_gpu_tests_pass_on_the_stand_in():
    # `pytest -m gpu --emulated-gpu`: the GPU tests themselves, on CuPy's plumbing (torch CUDA and JAX GPU tests skip;
    # their routes are tests/torch/test_torch_emulated_gpu.py and tests/jax/test_jax_emulated_gpu.py)
    tests = Path(__file__).parents[1]
    files = sorted(str(p) for p in tests.rglob("test_*.py") if "mark.gpu" in p.read_text())
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "--emulated-gpu", "-q", "-p", "no:cacheprovider",
                           *files], cwd=tests.parent, capture_output=True, text=True, timeout=400)
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout[-3000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 38 and "failed" not in summary and "error" not in summary, summary
