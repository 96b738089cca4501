"""float16 and bfloat16 arrays (NumPy, JAX, PyTorch) are checked, and a round-toward-zero conversion fails.

Power: 2¹⁹ N(0, 0.02²) values converted to bfloat16 put ≈ 3,900 values exactly at ±2ᵏ when rounded to
nearest; truncation adds a third (±1,300, z ≈ 20). float16's finer grid puts 8 times fewer there (z ≈ 7).
"""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.std import Mixture, Normal, Zero
from initreg.validation import lowprec

ml_dtypes = pytest.importorskip("ml_dtypes")
SHAPE = (1024, 512)


def _normals(seed: int = 0) -> np.ndarray:
    return (0.02 * np.random.default_rng(seed).standard_normal(SHAPE)).astype(np.float32)


def _toward_zero(x32: np.ndarray, dtype) -> np.ndarray:
    """The adapter bug: the float32 → 16-bit conversion truncates instead of rounding to nearest."""
    near = x32.astype(dtype)
    away = np.abs(near.astype(np.float64)) > np.abs(x32.astype(np.float64))
    near[away] = np.nextafter(near[away], np.zeros(1, dtype))
    return near


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, np.float16], ids=["bfloat16", "float16"])
def test_numpy_low_precision_arrays_pass_and_truncated_ones_fail_on_rounding(dtype):
    x = _normals()
    good = initreg.check({"w": x.astype(dtype)}, Normal(0.02))
    assert good.passed, good.failure_text()
    assert any(r.test == "rounding" and r.verdict == "pass" for r in good.rows)
    bad = initreg.check({"w": _toward_zero(x, dtype)}, Normal(0.02))
    assert "rounding" in {r.test for r in bad.failures()}, bad.failure_text()


@pytest.mark.slow
def test_torch_bfloat16_tensors_are_read_and_a_truncating_adapter_is_caught():
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(_normals(1))
    good = initreg.check({"w": x.to(torch.bfloat16)}, Normal(0.02))
    assert good.passed, good.failure_text()
    truncated = (x.view(torch.int32) & -65536).view(torch.float32).to(torch.bfloat16)  # drop the low 16 bits
    bad = initreg.check({"w": truncated}, Normal(0.02))
    assert "rounding" in {r.test for r in bad.failures()}, bad.failure_text()


@pytest.mark.slow
def test_jax_bfloat16_arrays_and_atoms_in_low_precision():
    jnp = pytest.importorskip("jax.numpy")
    x = jnp.asarray(_normals(2), dtype=jnp.bfloat16)
    assert initreg.check({"w": x}, Normal(0.02)).passed
    rng = np.random.default_rng(3)
    mixed = np.where(rng.random(SHAPE) < 0.5, 0.0, 0.02 * rng.standard_normal(SHAPE)).astype(ml_dtypes.bfloat16)
    report = initreg.check({"w": mixed}, Mixture([(0.5, Zero()), (0.5, Normal(0.02))]))
    assert report.passed, report.failure_text()


def test_the_cells_of_a_format_tile_the_line():
    x = np.array([1.0, -1.0, 0.0, 1.5], dtype=ml_dtypes.bfloat16)
    lo, hi = lowprec.cells(x)
    assert lo[0] == 1 - 2 ** -9 and hi[0] == 1 + 2 ** -8  # below 1 the spacing halves
    assert (lo[1], hi[1]) == (-hi[0], -lo[0])
    assert lo[2] < 0 < hi[2]
    d = lowprec.dither(x)
    assert np.all((lo <= d.ravel()) & (d.ravel() <= hi)) and np.array_equal(d, lowprec.dither(x))
