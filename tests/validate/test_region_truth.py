"""Region truth (issue 27): regions recomputed through ``values(index=)`` equal the whole array at those positions.

Each failure here is an exact comparison (bits differ or they do not), so it fails at any alpha.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import initreg
from initreg.std import Normal
from initreg.validation.regiontruth import regions


class Ramp(initreg.Initializer):
    """Value i (flat C order) is i/1000; regions are computed directly, and ``lie`` shifts them by one position."""

    name = "ramp"
    deterministic = True
    regions = "direct"

    def __init__(self, lie: bool = False):
        self.lie = lie

    def whole(self, desc: Any) -> np.ndarray:
        return (np.arange(math.prod(desc.shape), dtype=np.float64) / 1000).reshape(desc.shape).astype(desc.dtype)

    def fill(self, desc: Any, out: Any, rng: Any) -> None:
        out[...] = self.whole(desc)

    def fill_region(self, desc: Any, out: Any, index: Any) -> None:
        flat = self.whole(desc).reshape(-1)
        shifted = np.roll(flat, -1) if self.lie else flat  # the liar reads one position further on
        out[...] = shifted.reshape(desc.shape)[index]

    def expected(self, desc: Any) -> Any:
        from initreg.core.expected import Exact

        return Exact(self.whole(desc))


class ReversedBlocks(Normal):
    """N(0, σ²), but a fill of less than the whole tensor (a region's block) writes its values in reverse order."""

    name = "reversedblocks"

    def fill(self, desc: Any, out: Any, rng: Any) -> None:
        target = out[::-1] if out.size < math.prod(desc.shape) else out
        super().fill(desc, target, rng)


def rows(report, test="regions"):
    return [r for r in report.rows if r.test == test]


def test_an_honest_direct_initializer_passes_its_region_rows():
    report = initreg.validate([Ramp()])
    assert report.passed, report.failure_text()
    assert rows(report) and all(r.verdict == "pass" for r in rows(report))


@pytest.mark.parametrize("liar", [Ramp(lie=True), ReversedBlocks(0.02)], ids=["offset", "reversed-blocks"])
def test_an_initializer_whose_region_path_lies_fails_on_the_regions_row(liar):
    report = initreg.validate([liar])
    assert not report.passed
    failing = {r.test for r in report.failures()}
    assert failing == {"regions"}, report.failure_text()
    assert "region path computes other positions" in rows(report)[0].detail


def test_the_standard_elementwise_initializers_pass_their_region_rows():
    report = initreg.validate(["normal", "uniform", "xavier", "truncated_normal", "zeros", "bilinear"])
    assert report.passed, report.failure_text()
    checked = [r for r in rows(report) if r.verdict == "pass"]
    assert len(checked) >= 6 * 3


def test_regions_include_a_column_slice_and_an_unaligned_one_and_depend_on_the_seed():
    rect, column, odd = regions((300, 200), 0)
    assert column[0] == slice(None) and column[1].stop - column[1].start < 200
    assert all(s.start % 2 == 1 for s in odd)
    assert regions((300, 200), 1) != regions((300, 200), 0)
    for index in (rect, column, odd):
        assert np.zeros((300, 200))[index].size > 0


def test_check_with_a_seed_recomputes_regions_of_each_array():
    good = {"w": initreg.values(Normal(0.02), (300, 400), name="w", seed=3)}
    report = initreg.check(good, Normal(0.02), seed=3)
    assert report.passed and rows(report)[0].verdict == "pass"
    liar = ReversedBlocks(0.02)
    made = {"w": initreg.values(liar, (300, 400), name="w", seed=3)}
    bad = initreg.check(made, liar, seed=3)
    assert [r.test for r in bad.failures()] == ["regions"], bad.failure_text()
