"""The standard catalog on a GPU gives the CPU's values, bit for bit (skipped without CuPy and CUDA).

Every portable initializer's frozen hashes on gpu(0) are checked in tests/core/test_catalog_bits_frozen.py; this
file checks Parameters placed on the GPU, orthogonal (not bit-portable) and loading onto the GPU."""

from __future__ import annotations

import numpy as np
import pytest

import initreg
import initreg.std as std
from initreg import cpu, gpu

pytestmark = pytest.mark.gpu

EXACT = [(std.Zero(), (8, 4)), (std.Constant([1.0, 2.0]), (3, 2)), (std.Bilinear(), (4, 1, 4, 4)),
         (std.LSTMBias(2.0), (400,))]
RANDOM = [(std.Uniform(), (512, 512)), (std.Normal(), (512, 512)), (std.TruncatedNormal(), (512, 512)),
          (std.Xavier(), (64, 32, 3, 3)), (std.HeNormal(), (64, 32, 3, 3))]


@pytest.fixture(autouse=True)
def needs_gpu():
    if not initreg.gpu_available(0):
        pytest.skip("needs CuPy and a CUDA GPU")


def on(device, init, shape, seed=3):
    p = initreg.Parameter("layer.weight", shape=shape)
    p.initialize(init, device=device, seed=seed)
    return p.data(device)


@pytest.mark.parametrize("init, shape", EXACT, ids=lambda x: repr(x) if isinstance(x, initreg.Initializer) else None)
def test_gpu_exact_values_equal_cpu_values(init, shape):
    got = on(gpu(0), init, shape)
    assert type(got).__module__.startswith("cupy")
    assert np.array_equal(got.get(), on(cpu(0), init, shape))


@pytest.mark.parametrize("init, shape", RANDOM, ids=lambda x: repr(x) if isinstance(x, initreg.Initializer) else None)
def test_gpu_random_values_are_the_cpu_bits(init, shape):
    got = on(gpu(0), init, shape)
    assert type(got).__module__.startswith("cupy")
    assert got.get().tobytes() == on(cpu(0), init, shape).tobytes()


def test_gpu_orthogonal_and_mixture():
    w = on(gpu(0), std.Orthogonal(), (64, 128)).get().astype(np.float64)
    assert np.abs(w @ w.T - 1.414 ** 2 * np.eye(64)).max() < 1e-5
    m = std.Mixture([(0.25, std.Uniform(low=5, high=10)), (0.5, std.Zero()), (0.25, std.Constant([1.0, 2.0]))])
    v = on(gpu(0), m, (50_000, 2)).get()
    assert abs((v == 0).mean() - 0.5) < 0.01 and np.all((v == 0) | (v >= 5) | (v == 1) | (v == 2))


def test_load_onto_gpu(tmp_path):
    from initreg.checkpoints import files as checkpoint

    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    path = checkpoint.save(tmp_path / "w.npz", {"w": w})
    p = initreg.Parameter("w", shape=(2, 3))
    p.initialize(std.Load(str(path)), device=gpu(0))
    assert np.array_equal(p.data(gpu(0)).get(), w)


@pytest.mark.parametrize("index", [(slice(8, 24),), (slice(None), slice(6, 12)), (slice(10, 11), slice(None, None, -1)),
                                   (slice(None), slice(5, 40, 3))], ids=["rows", "columns", "reversed", "strided"])
def test_gpu_regions_are_the_cpu_bits(index):
    # every region comes from its own runs on the GPU, in one launch of v4_gpu.fill_runs
    for spec in ("truncatednormal", "xavier", std.Normal(0.02)):
        got = initreg.values(spec, (64, 48), name="layer.weight", seed=3, index=index, device=gpu(0))
        want = initreg.values(spec, (64, 48), name="layer.weight", seed=3, index=index)
        assert type(got).__module__.startswith("cupy") and got.get().tobytes() == want.tobytes(), (spec, index)
