"""Mixture: proportions, supports, streams, config, memory.

Proportions are checked on 1,048,576 values against Binomial(n, p): the tolerance is 5 standard
errors (sqrt(p(1-p)/n) ≤ 0.05 %), so a weight off by 0.005 fails with certainty while a correct
implementation passes for any seed.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import initreg
from initreg.errors import InitializerArgumentError, InitializerTypeError
from initreg.core.initializer import make_desc
from initreg.core.stream import BLOCK, Stream
from initreg.std import Constant, Mixture, Normal, One, Orthogonal, TruncatedNormal, Uniform, Xavier, Zero
from initreg.validation.expected import Atom
from initreg.validation.expected import Mixture as MixtureDist

SHAPE = (1024, 1024)
N = SHAPE[0] * SHAPE[1]


def tutorial() -> Mixture:
    return Mixture([(0.25, Uniform(low=5, high=10)), (0.5, Zero()), (0.25, Uniform(low=-10, high=-5))])


def within(frac: float, p: float) -> bool:
    return abs(frac - p) < 5 * math.sqrt(p * (1 - p) / N)


@pytest.fixture
def threads():
    old = initreg.core.stream._num_threads
    yield initreg.set_num_threads
    initreg.set_num_threads(old)


def test_tutorial_distribution_proportions_and_supports():
    w = tutorial()(SHAPE, seed=0)
    high, zero, low = w >= 5, w == 0, w <= -5
    assert np.all(high | zero | low)  # nothing outside the three supports
    assert within(high.mean(), 0.25) and within(zero.mean(), 0.5) and within(low.mean(), 0.25)
    assert w[high].max() < 10 and w[low].min() >= -10
    # each uniform part is uniform: its mean is the midpoint (se 5/sqrt(12·n/4) ≈ 0.003)
    assert w[high].mean() == pytest.approx(7.5, abs=0.015)
    assert w[low].mean() == pytest.approx(-7.5, abs=0.015)


def test_components_see_the_whole_parameter():
    # Xavier inside a mixture scales by the parameter's fans, not by a block's
    w = Mixture([(0.5, Xavier("gaussian")), (0.5, Zero())])((64, 32, 3, 3), seed=1)
    nz = w[w != 0]
    assert nz.std() == pytest.approx(1 / 12, rel=0.03)  # ~9,200 values: se 0.74 %


def test_same_values_on_any_thread_count_and_reproducible(threads):
    threads(1)
    one = tutorial()((700, 300), seed=2)  # 3.2 blocks: a partial last block
    threads(2)
    two = tutorial()((700, 300), seed=2)
    assert np.array_equal(one, two)
    assert not np.array_equal(one, tutorial()((700, 300), seed=3))


def test_non_elementwise_components_are_drawn_whole():
    w = Mixture([(0.5, Constant([1.0, 2.0, 3.0])), (0.5, Zero())])((200, 3), seed=4)
    picked = w != 0
    assert np.all(w[picked] == np.broadcast_to([1.0, 2.0, 3.0], (200, 3))[picked])
    assert 0.3 < picked.mean() < 0.7
    m = Mixture([(0.5, Orthogonal(1.0)), (0.5, Normal(1.0))])
    assert not m.elementwise
    w = m((8, 8), seed=5)
    assert w.shape == (8, 8)


def test_nested_mixture_and_spec_components():
    m = Mixture([(0.5, "ones"), (0.5, Mixture([(0.5, "zeros"), (0.5, {"name": "constant", "value": 2.0})]))])
    w = m(SHAPE, seed=6)
    assert within((w == 1).mean(), 0.5) and within((w == 0).mean(), 0.25) and within((w == 2).mean(), 0.25)
    assert m.components[0][1] == One()


def test_expected_is_a_weighted_mixture_with_atoms():
    exp = tutorial().expected(make_desc("w", (4, 4)))
    assert isinstance(exp, MixtureDist)
    assert list(exp.weights) == [0.25, 0.5, 0.25]
    assert exp.components[1][1] == Atom(0.0)
    assert exp.components[0][1].support() == pytest.approx((5, 10))
    nested = Mixture([(0.5, "ones"), (0.5, Mixture([(0.5, "zeros"), (0.5, Normal())]))]).expected(make_desc("w", (4,)))
    assert list(nested.weights) == [0.5, 0.25, 0.25]
    assert Mixture([(1.0, Constant([1.0, 2.0]))]).expected(make_desc("w", (2,))) is None


def test_config_round_trip_normalizes_specs():
    m = Mixture([(0.5, "zeros"), (0.5, ["normal", {"sigma": 2}])])
    assert m == Mixture([(0.5, Zero()), (0.5, Normal(2))])
    assert initreg.create(m.dumps()) == m
    assert initreg.create(tutorial().dumps()) == tutorial()


@pytest.mark.parametrize("components, error, arg", [
    ([], InitializerArgumentError, "non-empty"),
    ("zeros", InitializerArgumentError, "non-empty"),
    ([(0.5, Zero())], InitializerArgumentError, "sum to 1"),
    ([(0.5, Zero()), (0.6, One())], InitializerArgumentError, "sum to 1"),
    ([(1.5, Zero()), (-0.5, One())], InitializerArgumentError, "component 1"),
    ([(0.5, Zero()), (0.5,)], InitializerArgumentError, "component 1"),
    ([(0.5, Zero()), (0.5, 3.0)], InitializerTypeError, "component 1"),
    ([("half", Zero()), (0.5, One())], InitializerArgumentError, "component 0"),
])
def test_bad_components_rejected(components, error, arg):
    with pytest.raises(error, match=arg):
        Mixture(components)


def test_probabilities_within_tolerance_are_accepted():
    Mixture([(1 / 3, Zero()), (1 / 3, One()), (1 / 3, Normal())])  # sums to 1 only up to rounding


@pytest.mark.parametrize("init", [tutorial(), TruncatedNormal()], ids=["mixture", "truncated_normal"])
def test_memory_stays_a_few_blocks_beyond_the_parameter(init, threads):
    threads(1)
    out = np.empty((4096, 1024), np.float32)  # 16 MiB = 64 blocks
    desc = make_desc("w", out.shape, "float32")
    init.fill(desc, out, Stream(0, "w"))  # warm-up: imports, thread pools
    tracemalloc.start()
    try:
        init.fill(desc, out, Stream(0, "w"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 8 * BLOCK * 4, f"{type(init).__name__}: peak {peak / 2**20:.2f} MiB beyond the 16 MiB parameter"


def test_mixture_regions_come_from_the_class_so_a_subclass_attribute_overrides_them():
    from initreg.std import Mixture, Normal, Orthogonal

    class WholeOnly(Mixture):
        regions = "whole"

    assert "regions" not in vars(Mixture([(1.0, Normal(1.0))]))
    assert Mixture([(1.0, Normal(1.0))]).regions == "blocks"
    assert Mixture([(0.5, Normal(1.0)), (0.5, Orthogonal())]).regions == "whole"
    assert WholeOnly([(1.0, Normal(1.0))]).regions == "whole"
