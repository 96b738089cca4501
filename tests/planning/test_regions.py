"""initreg.values: a region is exactly the slice of the whole, the whole is exactly what Parameter.initialize holds."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
from numpy.testing import assert_array_equal
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import basic_indices

import initreg
from initreg import std
from initreg.errors import (DTypeError, InitializationError, InitregError, ParameterValueError, RegionError,
                            ShapeError)
from initreg.core.stream import BLOCK
from initreg.planning.regions import Region, locate, region_mode


def _catalog() -> list[tuple[str, object, tuple[int, ...]]]:
    """(label, initializer, allowed ranks) for every standard initializer and the structured plugin's."""
    any_rank = (0, 1, 2, 3, 4)
    weights = (2, 3, 4)
    items = [
        ("zero", std.Zero(), any_rank), ("one", std.One(), any_rank), ("constant", std.Constant(0.5), any_rank),
        ("constant-array", std.Constant(np.array([1.5, -2.0, 3.25])), (1, 2, 3, 4)),
        ("uniform", std.Uniform(0.3), any_rank), ("uniform-lh", std.Uniform(low=5.0, high=10.0), any_rank),
        ("normal", std.Normal(0.02), any_rank), ("truncatednormal", std.TruncatedNormal(0.02), any_rank),
        ("truncated-tail", std.TruncatedNormal(1.0, a=1.0, b=4.0), any_rank),
        ("xavier", std.Xavier(), weights), ("xavier-gauss", std.Xavier("gaussian", "in"), weights),
        ("msraprelu", std.MSRAPrelu(), weights), ("variancescaling", std.VarianceScaling(), weights),
        ("glorotuniform", std.GlorotUniform(), weights), ("glorotnormal", std.GlorotNormal(), weights),
        ("henormal", std.HeNormal(), weights), ("heuniform", std.HeUniform(), weights),
        ("lecununiform", std.LecunUniform(), weights),
        ("lecunnormal", std.LecunNormal(), weights), ("orthogonal", std.Orthogonal(), weights),
        ("bilinear", std.Bilinear(), (3, 4)), ("lstmbias", std.LSTMBias(), (1, 2)),
        ("mixture", std.Mixture([(0.25, std.Uniform(low=5.0, high=10.0)), (0.5, std.Zero()),
                                 (0.25, std.Normal(1.0))]), any_rank),
        ("mixture-whole", std.Mixture([(0.5, std.Orthogonal()), (0.5, std.Normal(1.0))]), weights),
    ]
    from initreg.torch.defaults import (AxesVarianceScaling, InvSqrtUniform, PaddedNormal, XavierNormal,  # no torch
                                        XavierUniform)

    items += [("inv_sqrt_uniform", InvSqrtUniform(), weights), ("inv_sqrt_uniform-n", InvSqrtUniform(7), any_rank),
              ("padded_normal", PaddedNormal(1), (1, 2, 3, 4)), ("padded_normal-last", PaddedNormal(-1), (1, 2, 3)),
              ("xavier_normal", XavierNormal(), weights), ("xavier_uniform", XavierUniform(), weights),
              ("axes_variance_scaling", AxesVarianceScaling(in_axes=-1), weights)]
    for name in ("sparse", "deltaorthogonal", "identity"):  # the structured plugin, installed as a package
        try:
            items.append((name, initreg.create(name), (2, 3, 4, 5) if name == "deltaorthogonal" else weights))
        except InitregError:
            pass
    return items


CATALOG = _catalog()


def bits(a) -> np.ndarray:
    """The bytes of an array (or NumPy scalar), so -0.0 vs 0.0 and NaN payloads count as differences."""
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)
DIMS = st.sampled_from([0, 1, 2, 3, 4, 5, 8, 13, 70, 300])


@st.composite
def cases(draw):
    label, init, ranks = draw(st.sampled_from(CATALOG))
    rank = draw(st.sampled_from(ranks))
    shape = tuple(draw(st.lists(DIMS, min_size=rank, max_size=rank)))
    assume(math.prod(shape) <= 400_000)
    dtype = draw(st.sampled_from(["float16", "float32", "float64"]))
    index = draw(basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    name = draw(st.sampled_from(["w", "0.weight", "blocks.3.attn.bias", "é.γ"]))
    return label, init, shape, dtype, index, name


def _whole_or_reject(init, shape, name, dtype, layout="OI"):
    try:
        return initreg.values(init, shape, name=name, seed=11, dtype=dtype, layout=layout)
    except (ShapeError, InitializationError):
        assume(False)  # this initializer does not take this shape (e.g. LSTMBias needs 4·hidden rows)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(cases())
def test_region_is_the_slice_of_the_whole(case):
    label, init, shape, dtype, index, name = case
    whole = _whole_or_reject(init, shape, name, dtype)
    part = initreg.values(init, shape, name=name, seed=11, dtype=dtype, index=index)
    expected = whole if index is None else whole[index]  # index=None is values()'s "no index"; (None,) adds an axis
    assert part.shape == expected.shape and part.dtype == expected.dtype, label
    assert np.array_equal(bits(part), bits(expected)), (label, shape, index)
    out = np.full(expected.shape, 7, dtype=dtype)
    assert initreg.values(init, shape, name=name, seed=11, dtype=dtype, index=index, out=out) is out
    assert np.array_equal(bits(out), bits(expected)), (label, "out=")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(cases(), st.sampled_from(["OI", "IO"]))
def test_values_equal_parameter_initialize(case, layout):
    label, init, shape, dtype, _, name = case
    whole = _whole_or_reject(init, shape, name, dtype, layout)
    p = initreg.Parameter(name, shape, dtype=dtype, layout=layout)
    p.initialize(init, seed=11)
    assert np.array_equal(bits(p.data()), bits(whole)), label


def test_every_catalog_entry_is_covered():
    names = {e.name for e in initreg.available() if e.name != "load"}  # Load: its own test below
    covered = {type(init).name for _, init, _ in CATALOG}
    assert names <= covered, names - covered


def test_load_regions(tmp_path):
    w = np.arange(24, dtype=np.float32).reshape(4, 6)
    np.savez(tmp_path / "p.npz", w=w)
    init = std.Load(str(tmp_path / "p.npz"))
    assert np.array_equal(initreg.values(init, (4, 6), name="w", seed=0, index=(slice(1, 3), -1)), w[1:3, -1])


def test_modes():
    assert region_mode(std.Normal()) == "blocks" and region_mode(std.Orthogonal()) == "whole"
    assert region_mode(std.Constant([1.0, 2.0])) == "direct" and region_mode(std.Bilinear()) == "direct"

    class Plugin(initreg.Initializer):  # says nothing: computed whole, so never wrong on a shard
        def fill(self, desc, out, rng):
            out[...] = np.arange(out.size).reshape(out.shape)
    assert region_mode(Plugin()) == "whole"
    assert np.array_equal(initreg.values(Plugin(), (5, 300), name="p", seed=0, index=(slice(None), 7)),
                          np.arange(1500).reshape(5, 300)[:, 7])


# --- the region's geometry ------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=0, max_size=4).map(tuple).flatmap(
    lambda s: st.tuples(st.just(s), basic_indices(s, min_dims=0, allow_newaxis=True, allow_ellipsis=True))))
def test_locate_and_rank_agree_with_numpy(case):
    shape, index = case
    flat = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    expected = flat[index]
    rshape, offset, strides = locate(shape, index)
    assert rshape == np.shape(expected)
    region = Region(rshape, offset, strides)
    canonical = np.sort(np.ravel(expected))  # positions increase along the canonical order
    for x in range(-1, math.prod(shape) + 2):
        assert region.rank(x) == np.count_nonzero(canonical < x)
    assert np.array_equal(region.positions(0, region.size), canonical)


# --- cost proportional to the region ----------------------------------------------------------------

class BlockNormal(std.Normal):
    """A plugin's subclass that overrides fill without saying ``addressable`` again: it gets the block path."""

    def fill(self, desc, out, rng):
        super().fill(desc, out, rng)


def test_a_shard_touches_only_its_blocks(monkeypatch):
    calls = []
    real = BlockNormal.fill

    def counting(self, desc, out, rng):
        calls.append(out.size)
        real(self, desc, out, rng)
    monkeypatch.setattr(BlockNormal, "fill", counting)
    shape = (50257, 768)
    rows = slice(6283, 12566)  # FSDP's rank-1 chunk over 8 ranks: far off the block grid
    got = initreg.values(BlockNormal(0.02), shape, name="wte", seed=0, index=rows)
    first, last = 6283 * 768 // BLOCK, (12566 * 768 - 1) // BLOCK
    assert len(calls) == last - first + 1 and max(calls) <= BLOCK
    assert np.array_equal(got, initreg.values(std.Normal(0.02), shape, name="wte", seed=0, index=rows))


@pytest.mark.parametrize("index", [slice(6283, 12566), (slice(None), slice(96, 192)), (slice(5, 900, 7), slice(1, 700, 3)),
                                   (slice(None, None, -2), 17)])
def test_an_addressable_shard_computes_only_its_own_values(monkeypatch, index):
    from initreg.core import v4_backend

    computed = []
    fill, fill_runs = v4_backend.fill, v4_backend.fill_runs
    monkeypatch.setattr(v4_backend, "fill", lambda op, key, start, out, *a, **k: (computed.append(out.size),
                                                                                   fill(op, key, start, out, *a, **k))[1])
    monkeypatch.setattr(v4_backend, "fill_runs", lambda op, key, runs, n, out, *a, **k: (
        computed.append(out.size), fill_runs(op, key, runs, n, out, *a, **k))[1])
    shape = (1024, 768)
    part = initreg.values(std.Normal(0.02), shape, name="wte", seed=0, index=index)
    assert sum(computed) == part.size  # a column shard no longer costs the whole tensor's blocks
    monkeypatch.undo()
    assert np.array_equal(part, initreg.values(std.Normal(0.02), shape, name="wte", seed=0)[index])


def test_runs_refuse_map_blocks_and_partial_fills():
    from initreg.core.stream import Runs, Stream
    from initreg.errors import FillArgumentError

    runs = Runs(Stream(0, "w"), np.array([0, 100]), 10)
    with pytest.raises(FillArgumentError, match="map_blocks"):
        runs.map_blocks(lambda g, v: None, out=np.empty(20))
    with pytest.raises(FillArgumentError, match="all 20 values"):
        runs.normal(out=np.empty(10))
    whole = Stream(0, "w").normal(size=110, dtype=np.float32)
    got = runs.child("x").normal(out=np.empty(20, np.float32))
    assert np.array_equal(runs.normal(out=np.empty(20, np.float32)), np.concatenate([whole[:10], whole[100:110]]))
    assert not np.array_equal(got, runs.normal(out=np.empty(20, np.float32)))


def test_shard_memory_is_the_shard_plus_scratch():
    shape = (4096, 1024)
    tracemalloc.start()
    part = initreg.values(std.Normal(0.02), shape, name="w", seed=0, index=slice(1000, 1512))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < part.nbytes + initreg.get_num_threads() * 2 * BLOCK * 8 + (1 << 20)


# --- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("index, fix", [((5, 0), "within each dimension"), ((0, 9), "within each dimension"),
                                        (np.array([0, 1]), "fancy"), ([0, 1], "fancy"), (True, "fancy"),
                                        ((Ellipsis, Ellipsis), "one Ellipsis"), (slice(0, 2, 0), "not 0"),
                                        (slice(0.5, 2), "integer"), ((0, 0, 0), "fit")])
def test_bad_index(index, fix):
    with pytest.raises(RegionError, match=fix) as info:
        initreg.values("normal", (4, 5), name="w", seed=0, index=index)
    assert isinstance(info.value, IndexError) and "index=" in str(info.value)


def test_bad_arguments():
    with pytest.raises(ShapeError, match="unknown dimensions"):
        initreg.values("normal", (4, None), name="w", seed=0)
    for name in ("", None, 3):
        with pytest.raises(ParameterValueError, match="non-empty string"):
            initreg.values("normal", (4,), name=name, seed=0)
    with pytest.raises(ShapeError, match="region's shape"):
        initreg.values("normal", (4, 5), name="w", seed=0, index=1, out=np.empty(4, np.float32))
    with pytest.raises(DTypeError, match="dtype"):
        initreg.values("normal", (4, 5), name="w", seed=0, out=np.empty((4, 5), np.float64))
    out = np.zeros((4, 5), np.float32)
    out.flags.writeable = False
    with pytest.raises(ParameterValueError, match="read-only"):
        initreg.values("normal", (4, 5), name="w", seed=0, out=out)
    with pytest.raises(InitregError):
        initreg.values("no-such-initializer", (4,), name="w", seed=0)


def test_a_failing_initializer_names_the_parameter():
    class Broken(initreg.Initializer):
        regions = "blocks"

        def fill(self, desc, out, rng):
            out[...] = np.nan
    with pytest.raises(InitializationError, match="'w'.*non-finite"):
        initreg.values(Broken(), (4, 5), name="w", seed=0, index=1)


def test_repeated_calls_keep_checking_what_differs():
    # values() remembers the checked Desc of exact (name, shape, dtype, layout) arguments: a look-alike that
    # compares equal (True == 1, 1.0 == 1, "float32" vs np.float32) must still be checked, and give the same values
    first = initreg.values("normal", (1, 3), name="w", seed=0)
    for shape in [(True, 3), (1.0, 3)]:
        with pytest.raises(ShapeError, match="non-integer dimension"):
            initreg.values("normal", shape, name="w", seed=0)
    assert_array_equal(initreg.values("normal", [1, 3], name="w", seed=0), first)
    assert_array_equal(initreg.values("normal", (1, 3), name="w", seed=0, dtype=np.float32), first)
    with pytest.raises(DTypeError):
        initreg.values("normal", (1, 3), name="w", seed=0, dtype="float33")
    assert_array_equal(initreg.values("normal", (1, 3), name="w", seed=1), initreg.values("normal", (1, 3), name="w", seed=1))
    assert not np.array_equal(initreg.values("normal", (1, 3), name="w", seed=1), first)
