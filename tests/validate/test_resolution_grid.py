"""Where the resolution test's threshold really is: values on a grid of 2⁻¹⁸ of the scale fail, 2⁻¹⁹ passes.

A grid of h·s gives equal pairs at the rate h·E[f]; the bound is q = 2·E[f·max(ulp, 2⁻²⁰·s)], the rate of a
2⁻¹⁹ grid. On the square case (2¹⁸ values) a 2⁻¹⁸ grid makes ≈ 37,000 pairs against a Poisson mean of ≈ 18,500
(z ≈ 135): certain for every seed. Fixed seeds 0–2.
"""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.std import Normal
from initreg.validation import checks
from initreg.validation.dists import Continuous, parts

LAW = Continuous(parts(Normal(1.0).expected(None)).continuous)


def _resolution(k: int, seed: int):
    x = initreg.values(Normal(1.0), (512, 512), name="w", seed=seed, dtype="float32")
    grid = (np.round(x.astype(np.float64) * 2.0 ** k) / 2.0 ** k).astype(np.float32).ravel()
    return next(o for o in checks.values_checks(grid, LAW) if o.test == "resolution")


@pytest.mark.parametrize("seed", range(3))
def test_a_grid_of_2_to_the_minus_18_of_the_scale_fails_and_2_to_the_minus_19_is_allowed(seed):
    assert _resolution(18, seed).p_value < 1e-30
    assert _resolution(19, seed).p_value > 1e-3
