"""The finite check's proof: initreg's own initializers bound |value| (``max_abs``), and a bound under the dtype's
largest value stands in for the scan of every value; anything else is still scanned."""

from __future__ import annotations

import math

import numpy as np
import pytest

import initreg
import initreg.std as std
import initreg.planning.regions as regions
from initreg import InitializationError
from initreg.errors import InitializerArgumentError
from initreg.core import v4_reference as ref
from initreg.core.initializer import make_desc
from initreg.core.stream import NORMAL_MAX
from initreg.torch.defaults import InvSqrtUniform, PaddedNormal

BOUNDED = [
    std.Constant(0.3), std.Uniform(), std.Uniform(low=-1, high=3), std.Normal(), std.Normal(2.0, mean=1.0),
    std.TruncatedNormal(), std.TruncatedNormal(1.0, 0.5, -1.0, 3.0), std.Xavier(), std.Xavier("gaussian", "in", 2.0),
    std.MSRAPrelu(), std.VarianceScaling(), std.VarianceScaling(2.0, "fan_avg", "uniform"),
    std.VarianceScaling(1.0, "fan_out", "untruncated_normal"), std.GlorotNormal(), std.HeUniform(), std.LecunNormal(),
    InvSqrtUniform(), PaddedNormal(3, 0.5),
]


def test_normal_max_bounds_the_radius_of_the_smallest_uniform():
    # float64 normals: u = (2k + 1)·2⁻⁵³ from k = 0; float32: u = (w + 0.5)·2⁻³² from w = 0 (v4_reference._values)
    r64 = float(np.sqrt(ref.log(np.array([2.0 ** -53])) * -2.0)[0])
    r32 = float(np.sqrt(ref.log(np.array([0.5 * 2.0 ** -32])) * -2.0)[0])
    assert r32 < r64 < NORMAL_MAX < r64 * 1.001
    s, c = ref.sincos2pi(np.arange(0, 1 << 64, (1 << 64) // 4099 + 1, dtype=np.uint64))
    assert np.abs(s).max() <= 1.0 and np.abs(c).max() <= 1.0


@pytest.mark.parametrize("init", BOUNDED, ids=repr)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_max_abs_bounds_every_value(init, dtype):
    shape = (257, 129)
    bound = init.max_abs(make_desc("w", shape, dtype))
    assert math.isfinite(bound) and bound > 0
    for seed in range(4):
        w = initreg.values(init, shape, name="w", seed=seed, dtype=dtype)
        assert float(np.abs(w.astype(np.float64)).max()) <= bound * (1 + 2.0 ** -10)  # float16's rounding of the bound


def test_an_unbounded_or_outside_initializer_keeps_the_scan(monkeypatch):
    scans = []
    real = regions.all_finite
    monkeypatch.setattr(regions, "all_finite", lambda xp, a: scans.append(a.size) or real(xp, a))
    initreg.values(["normal", {"sigma": 0.02}], (300, 300), name="w", seed=0)
    assert scans == []  # proven by the bound: no scan

    class Outside(std.Normal):  # a plugin's subclass: its own fill, so its values are scanned
        def fill(self, desc, out, rng):
            super().fill(desc, out, rng)

    initreg.values(Outside(0.02), (300, 300), name="w", seed=0)
    initreg.values(["truncatednormal", {"a": -math.inf, "b": 2.0}], (300, 300), name="w", seed=0)  # an open side
    initreg.values("orthogonal", (30, 30), name="w", seed=0)  # no bound declared
    assert scans == [90000, 90000, 900]


class Lies(std.Normal):
    """A bound from outside initreg is not believed: its fill (initreg's) is scanned."""

    def max_abs(self, desc):
        return 0.0


@pytest.mark.parametrize("init, dtype", [
    (std.Normal(1e38), "float32"), (std.Normal(1e5), "float16"), (std.TruncatedNormal(sigma=1e39), "float32"),
    (std.Uniform(1e5), "float16"), (std.Constant(1e5), "float16"),
    (std.VarianceScaling(1e300, distribution="untruncated_normal"), "float32"), (Lies(1e38), "float32"),
], ids=repr)
@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # Constant(1e5) into float16: NumPy's own warning
def test_a_bound_past_the_dtype_still_finds_the_inf(init, dtype):
    out = np.full((64, 64), 7.0, dtype=dtype)
    with pytest.raises(InitializationError, match="non-finite"):
        initreg.values(init, out.shape, name="w", seed=0, dtype=dtype, out=out)
    assert np.all(out == 7.0)


def test_a_uniform_whose_width_overflows_is_refused():
    out = np.full(8, 7.0)
    with pytest.raises(InitializerArgumentError, match="high - low must be finite") as exc:  # at construction
        initreg.values(["uniform", {"low": -1e308, "high": 1e308}], (8,), name="w", seed=0, dtype="float64", out=out)
    assert isinstance(exc.value, ValueError) and np.all(out == 7.0)


@pytest.mark.parametrize("init, dtype, largest", [(std.Normal(1e5), "float16", "65504"),
                                                  (std.Uniform(1e5), "float16", "65504"),
                                                  (std.Normal(1e38), "float32", "3.40282e\\+38")], ids=repr)
def test_an_overflow_of_initregs_own_fill_names_the_dtypes_largest_and_the_fix(init, dtype, largest):
    # it said only 'wrote non-finite values (NaN or inf)', where the adapters name the dtype and the fix
    with pytest.raises(InitializationError, match=f"beyond {dtype}'s largest, {largest}.*smaller scale or a wider dtype"):
        initreg.values(init, (64, 64), name="w", seed=0, dtype=dtype)
