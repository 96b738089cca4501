"""Orthogonal, sparse and delta-orthogonal arrays in float16/bfloat16: correct ones pass, a wrong row still fails.

Before, `check` cast them to float32 and held them to float32's tolerances: a float32 orthogonal matrix rounded to
bfloat16 (max |W·Wᵀ − s²·I| = 3·10⁻³) failed against 4·√n·eps₃₂·s² = 7.6·10⁻⁶, and the resolution and precision
tests (which measure a float32/float64 generator) failed on 16-bit values. Rounding each entry to nearest changes
each entry of W·Wᵀ by at most (eps + eps²/4)·s² (Cauchy–Schwarz), the tolerance now added for 16-bit arrays. Exact
checks and the sparse values' distribution tests: fixed seeds, no p-value near the threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.std import Orthogonal

ml_dtypes = pytest.importorskip("ml_dtypes")
structured = pytest.importorskip("initreg_structured")
DTYPES = pytest.mark.parametrize("dtype", [ml_dtypes.bfloat16, np.float16], ids=["bfloat16", "float16"])


def _low(init, shape, dtype, seed=0):
    return initreg.values(init, shape, name="w", seed=seed, dtype="float32").astype(dtype)


@DTYPES
@pytest.mark.parametrize("shape", [(64, 64), (96, 256), (512, 32), (1, 300), (32, 16, 3, 3)])
@pytest.mark.parametrize("scale", [1.0, 1e-3])
def test_orthogonal_matrices_rounded_to_16_bits_pass(dtype, shape, scale):
    init = Orthogonal(scale=scale)
    report = initreg.check({"w": _low(init, shape, dtype)}, init)
    assert report.passed, report.failure_text()


@DTYPES
def test_a_row_two_percent_long_still_fails_orthogonality_in_16_bits(dtype):
    x = initreg.values(Orthogonal(), (64, 64), name="w", seed=0, dtype="float32")
    x[5] *= 1.02  # W·Wᵀ[5, 5] off by 0.04·s², beyond (eps + eps²/4)·s² = 0.0078 (bfloat16)
    report = initreg.check({"w": x.astype(dtype)}, Orthogonal())
    assert [r.test for r in report.failures()] == ["orthogonal"], report.failure_text()


@DTYPES
@pytest.mark.parametrize("name", ["sparse", "deltaorthogonal"])
def test_structured_plugin_promises_in_16_bits_pass(dtype, name):
    init = initreg.create(name)
    shape = (256, 256) if name == "sparse" else (64, 64, 3, 3)
    report = initreg.check({"w": _low(init, shape, dtype)}, init)
    assert report.passed, report.failure_text()
