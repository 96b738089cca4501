"""A promise that is one point mass (a Mixture of constants that are all one value) passes on its own values.

Before, the homogeneity test compared slice means of identical rank scores, which differ only by rounding, and
failed (F = 4 on a 64 × 64 array of zeros). Exact: no p-value is computed for constant values.
"""

from __future__ import annotations

import initreg
from initreg.std import Constant, Mixture, Zero


def test_a_mixture_that_is_one_constant_passes_validate_and_check():
    for init in (Mixture(components=[(1.0, Zero())]), Mixture(components=[(0.5, Zero()), (0.5, Constant(0.0))])):
        report = initreg.validate([init], cases=[(64, 64)])
        assert report.passed, report.failure_text()
        x = initreg.values(init, (64, 64), name="w", seed=0)
        assert initreg.check({"w": x}, init).passed
