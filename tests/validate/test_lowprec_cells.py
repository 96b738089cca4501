"""Correct float16/bfloat16 arrays pass where a rounding cell crosses a support bound or is as wide as the scale.

Each value is spread over its cell by the promised law restricted to that cell, so a correct array's spread values
follow the promise exactly. Before, a uniform dither put spread values beyond a bound (PyTorch's default Linear in
bfloat16 failed support, Anderson–Darling and tails on every weight) and misplaced mass where a cell is as wide as
σ (N(1, 10⁻⁶) in float16). Size: 4 seeds × 2¹⁵ values per case at the family alpha 10⁻³, so a correct case fails
a seed with probability ≤ 10⁻³ (≤ 0.4 % for the 4). Power: a bound 2 % too wide still fails support.
"""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.std import Normal, TruncatedNormal, Uniform
from initreg.validation import lowprec
from initreg.validation.dists import Continuous, parts

ml_dtypes = pytest.importorskip("ml_dtypes")
SHAPE = (128, 256)


def _low(init, dtype, seed):
    """initreg's float32 values for ``init``, rounded to nearest in ``dtype`` (as the adapters store them)."""
    return initreg.values(init, SHAPE, name="w", seed=seed, dtype="float32").astype(dtype)


@pytest.mark.parametrize("init", [Uniform(0.1), Uniform(low=1.0, high=2.0), TruncatedNormal(sigma=1.0)],
                         ids=["uniform-0.1", "uniform-1-2", "truncated-2sigma"])
@pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, np.float16], ids=["bfloat16", "float16"])
def test_bounded_promises_in_low_precision_pass_over_seeds(init, dtype):
    failed = [seed for seed in range(4) if not initreg.check({"w": _low(init, dtype, seed)}, init).passed]
    assert failed == []


def test_initreg_float16_uniform_that_never_returns_its_power_of_two_bound_passes():
    init = Uniform(low=1.0, high=2.0)  # 2.0 is a float16 value whose cell initreg's uniform never fills
    x = initreg.values(init, SHAPE, name="w", seed=0, dtype="float16")
    assert float(x.max()) < 2.0
    report = initreg.check({"w": x}, init)
    assert report.passed, report.failure_text()


def test_a_normal_narrower_than_the_float16_cells_passes():
    init = Normal(1e-3, mean=1.0)  # float16 spacing is 2⁻¹¹ below 1 and 2⁻¹⁰ above: about one σ
    assert all(initreg.check({"w": initreg.values(init, SHAPE, name="w", seed=s, dtype="float16")}, init).passed
               for s in range(4))


def test_pytorch_default_linear_in_bfloat16_passes_check():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.Linear(512, 256)).to(torch.bfloat16)
    report = initreg.check(net)
    assert report.passed, report.failure_text()


def test_a_bound_two_percent_too_wide_still_fails_support_in_bfloat16():
    x = initreg.values(Uniform(0.102), SHAPE, name="w", seed=0, dtype="float32").astype(ml_dtypes.bfloat16)
    report = initreg.check({"w": x}, Uniform(0.1))
    assert "support" in {r.test for r in report.failures()}, report.failure_text()


def test_spread_by_the_law_stays_in_each_cell_and_in_the_support():
    x = np.array([0.1, -0.1, 0.05, 2.0], dtype=ml_dtypes.bfloat16)  # bfloat16(0.1) = 0.10009765625 > 0.1
    law = Continuous(parts(Uniform(0.1).expected(None)).continuous)
    lo, hi = lowprec.cells(x)
    d = lowprec.dither(x, law=law)
    assert np.all((lo <= d) & (d <= hi))
    assert np.all(np.abs(d[:3]) <= 0.1)  # cells that cross ±0.1 are spread inside it
    assert d[3] == lowprec.dither(x)[3]  # a cell outside the support keeps the uniform spread (support then fails)
