"""Streams keyed by (seed, name): reproducible across order, threads and shards; independent across names."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from scipy import stats

import initreg
from initreg import Parameter, ParameterDict
from initreg.core.stream import BLOCK, Stream
from initreg.std import Normal, Uniform


@pytest.fixture
def threads():
    """Set the fill thread count for one test and restore it."""
    old = initreg.core.stream._num_threads
    yield initreg.set_num_threads
    initreg.set_num_threads(old)


SHAPE = (513, 300)  # 153,900 values: 3 blocks, the last one partial


def values(name="w", seed=5, init=None, shape=SHAPE, **kw):
    p = Parameter(name, shape=shape, **kw)
    p.initialize(init or Normal(1.0), seed=seed)
    return p.data()


def test_same_seed_and_name_same_bits_whatever_else_exists():
    alone = values("enc.0.weight")
    d = ParameterDict([Parameter(n, shape=SHAPE) for n in ("a", "enc.0.weight", "z", "enc.1.weight")])
    d.initialize(Normal(1.0), seed=5)
    assert np.array_equal(d["enc.0.weight"].data(), alone)


def test_order_of_creation_and_initialization_does_not_matter():
    names = ["x", "y", "z"]
    first = ParameterDict([Parameter(n, shape=SHAPE) for n in names])
    first.initialize(Uniform(), seed=9)
    second = ParameterDict([Parameter(n, shape=SHAPE) for n in reversed(names)])
    for n in ["z", "x", "y"]:
        second[n].initialize(Uniform(), seed=9)
    for n in names:
        assert np.array_equal(first[n].data(), second[n].data())


def test_deferred_gives_the_same_values_as_immediate():
    p = Parameter("w", shape=(None, SHAPE[1]))
    p.initialize(Normal(1.0), seed=5)
    p.shape = SHAPE
    assert np.array_equal(p.data(), values("w"))


@pytest.mark.parametrize("method", ["random", "uniform", "normal", "truncated_normal", "integers", "bernoulli"])
def test_one_or_two_threads_same_bits(method, threads):
    s = Stream(3, "layer.weight")
    args = {"integers": (0, 100), "bernoulli": (0.3,), "uniform": (-2.0, 3.0)}.get(method, ())
    dtype = np.int64 if method == "integers" else np.float32
    out = []
    for n in (1, 2):
        threads(n)
        arr = np.empty(5 * BLOCK + 17, dtype=dtype)
        getattr(s, method)(*args, out=arr)
        out.append(arr)
    assert np.array_equal(out[0], out[1])


@pytest.mark.parametrize("method", ["uniform", "normal", "truncated_normal"])
def test_whole_or_two_halves_of_blocks_same_bits(method):
    s = Stream(0, "w")
    n = 6 * BLOCK + 1000
    whole = getattr(s, method)(out=np.empty(n, np.float32))
    half = 3 * BLOCK
    parts = np.empty(n, np.float32)
    getattr(s, method)(out=parts[half:], start=half)  # the second shard first: order is irrelevant
    getattr(s, method)(out=parts[:half], start=0)
    assert np.array_equal(whole, parts)


@pytest.mark.parametrize("method", ["random", "uniform", "normal", "truncated_normal", "integers", "bernoulli"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_any_start_gives_the_whole_fills_bits(method, dtype):
    s = Stream(3, "w")
    n = 3 * BLOCK + 777
    args = (0, 5) if method == "integers" else (0.25,) if method == "bernoulli" else ()
    whole = getattr(s, method)(*args, out=np.empty(n, dtype))
    for start, stop in [(10, 20), (BLOCK - 5, BLOCK + 5), (123, 2 * BLOCK + 9), (n - 1, n), (0, n), (5, n)]:
        part = getattr(s, method)(*args, out=np.empty(stop - start, dtype), start=start, total=n)
        assert np.array_equal(part, whole[start:stop]), (start, stop)


def test_bad_start_or_size_is_refused():
    with pytest.raises(ValueError, match="start"):
        Stream(0, "w").normal(out=np.empty(10, np.float32), start=-1)
    with pytest.raises(ValueError, match="total"):
        Stream(0, "w").normal(out=np.empty(10, np.float32), start=5, total=12)


def test_different_names_give_different_uncorrelated_values():
    a, b = values("0.weight").ravel(), values("1.weight").ravel()
    assert not np.array_equal(a, b)
    # n = 153,900: under independence r ~ N(0, 1/n); |r| < 0.015 has false-alarm probability ~1e-9.
    r = np.corrcoef(a, b)[0, 1]
    assert abs(r) < 0.015


def test_different_seeds_differ_and_child_streams_are_independent():
    assert not np.array_equal(values(seed=1), values(seed=2))
    s = Stream(0, "w")
    a = s.normal(out=np.empty(100_000, np.float32))
    b = s.child("extra").normal(out=np.empty(100_000, np.float32))
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02  # sd 0.0032: 6 sigma


def test_blocks_are_not_copies_of_each_other():
    x = Stream(0, "w").uniform(out=np.empty(2 * BLOCK, np.float32))
    assert not np.array_equal(x[:BLOCK], x[BLOCK:])
    assert abs(np.corrcoef(x[:BLOCK], x[BLOCK:])[0, 1]) < 0.03  # sd 0.0039


def test_normal_and_uniform_distributions_are_right():
    # One large fixed-seed sample each; KS at alpha 1e-6 (deterministic: fixed seed).
    z = Stream(1, "n").normal(2.0, 3.0, out=np.empty(400_000, np.float64))
    assert stats.kstest(z, stats.norm(2.0, 3.0).cdf).pvalue > 1e-6
    z32 = Stream(1, "n32").normal(out=np.empty(400_000, np.float32))
    assert stats.kstest(z32, "norm").pvalue > 1e-6
    u = Stream(1, "u").uniform(-1.0, 4.0, out=np.empty(400_000, np.float32))
    assert u.min() >= -1.0 and u.max() <= 4.0 and stats.kstest(u, stats.uniform(-1, 5).cdf).pvalue > 1e-6


@pytest.mark.parametrize("a, b, side", [(1e300, np.inf, "a"), (-np.inf, -2e154, "b")])
def test_truncated_normal_refuses_a_bound_beyond_the_sampler(a, b, side):
    # the Stream method wrote +inf everywhere there (TruncatedNormal already refused); out stays as it was
    out = np.full(8, 7.0)
    with pytest.raises(initreg.FillArgumentError, match=f"{side}=.* beyond what the sampler computes.*constant"):
        Stream(2, "t").truncated_normal(0.0, 1.0, a, b, out=out)
    assert np.all(out == 7.0)


def test_truncated_normal_wide_and_narrow_intervals():
    t = Stream(2, "t").truncated_normal(0.0, 1.0, -2.0, 2.0, out=np.empty(300_000, np.float64))
    assert t.min() >= -2 and t.max() <= 2
    assert stats.kstest(t, stats.truncnorm(-2, 2).cdf).pvalue > 1e-6
    far = Stream(2, "f").truncated_normal(1.0, 2.0, 3.0, 3.5, out=np.empty(100_000, np.float64))
    assert far.min() >= 1 + 2 * 3.0 and far.max() <= 1 + 2 * 3.5
    assert stats.kstest(far, stats.truncnorm(3.0, 3.5, loc=1, scale=2).cdf).pvalue > 1e-6


def test_integers_and_bernoulli():
    k = Stream(0, "k").integers(3, 9, out=np.empty(60_000, np.int64))
    assert k.min() == 3 and k.max() == 8
    b = Stream(0, "b").bernoulli(0.25, out=np.empty(80_000, np.float32))
    assert set(np.unique(b)) == {0.0, 1.0}
    # binomial sd = sqrt(0.25*0.75/80000) = 0.0015: 0.01 is > 6 sd
    assert abs(b.mean() - 0.25) < 0.01


def test_map_blocks_sees_every_block_once_with_its_generator():
    s = Stream(4, "m")
    out = np.zeros(2 * BLOCK + 5, np.float64)
    s.map_blocks(lambda g, view: view.__setitem__(Ellipsis, g.random(view.size)), out=out)
    again = np.zeros_like(out)
    s.map_blocks(lambda g, view: view.__setitem__(Ellipsis, g.random(view.size)), out=again)
    assert np.array_equal(out, again) and (out > 0).all()
    assert np.array_equal(out[BLOCK:2 * BLOCK], s.generator(1).random(BLOCK))


def test_non_contiguous_out_gets_the_same_values():
    s = Stream(0, "w")
    full = np.empty((300, 400), np.float32)
    s.normal(out=full)
    fortran = np.empty((300, 400), np.float32, order="F")
    s.normal(out=fortran)
    assert np.array_equal(full, fortran)


@pytest.mark.parametrize("method", ["normal", "uniform"])
def test_a_fill_allocates_at_most_one_block_beyond_the_parameter(threads, method):
    threads(1)
    init = Normal(0.02) if method == "normal" else Uniform(0.07)
    p = Parameter("w", shape=(4096, 4096))
    param_bytes = 4096 * 4096 * 4
    tracemalloc.start()
    try:
        p.initialize(init, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    extra = peak - param_bytes
    assert p.state == "initialized"
    assert extra <= BLOCK * 4 + 64 * 1024, f"{extra} bytes beyond the parameter"  # one float32 block + bookkeeping


def test_seed_must_be_a_non_negative_int():
    with pytest.raises(ValueError, match="seed"):
        Stream(-1, "w")
    with pytest.raises(TypeError):
        initreg.seed("7")


def test_import_initreg_is_light():
    code = "import sys, initreg; print(sorted(m for m in ('scipy', 'cupy', 'pluggy', 'matplotlib', 'initreg.std') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


# --- the v4 normal and uniform at their extreme words (issue 23): no exact zeros, the tails, never high ----------

def _v4(op, kind, words, params):
    """The v4 values of Philox calls whose four words are ``words`` (four uint32 arrays), in ``kind``'s storage."""
    from initreg.core import v4_reference as ref

    x = [np.asarray(w, np.uint32).astype(np.uint64) for w in words]
    raw = ref.raw_params(op, params)
    clamp = ref.uniform_clamp(raw[0], raw[1], kind) if op == "uniform" else np.inf
    return ref._store(ref._values(op, kind, x, raw).reshape(-1), op, kind, clamp)  # noqa: SLF001 - the formulas


def test_float32_normals_are_never_zero_at_the_extreme_radius_words_and_any_quarter_turn():
    turns = np.arange(-512, 512, dtype=np.int64)
    angles = np.concatenate([(q * (1 << 30) + turns) % (1 << 32) for q in range(4)]                 # θ near 0, π/2, π, 3π/2
                            + [np.arange(0, 1 << 32, 1 << 12, dtype=np.int64)]).astype(np.uint32)  # and 2²⁰ angles between
    for radius in (0, 1, 2, (1 << 31) - 1, 1 << 31, (1 << 32) - 256, (1 << 32) - 1):
        r = np.full(angles.size, radius, np.uint32)
        values = _v4("normal", "float32", [r, angles, r, angles], (0.0, 1.0))
        assert np.count_nonzero(values == 0) == 0, f"radius word {radius:#x}"
        assert np.all(np.isfinite(values))


def test_float32_normals_reach_6_76_sigma():
    zero = np.zeros(1, np.uint32)
    largest = _v4("normal", "float32", [zero, zero, zero, zero], (0.0, 1.0))[0]
    assert 6.76 < largest < 6.77  # √(−2 ln(½·2⁻³²)): the smallest radius uniform is half a step above 0


def test_float64_normals_from_the_extreme_words_are_finite_and_non_zero():
    w = np.array([0, 2 ** 32 - 1, 0, 2 ** 32 - 1], np.uint32)
    for words in ([w, w, w[::-1], w[::-1]], [w, w[::-1], w, w[::-1]]):
        values = _v4("normal", "float64", words, (0.0, 1.0))
        assert np.all(np.isfinite(values)) and np.count_nonzero(values == 0) == 0


@pytest.mark.parametrize("low,high", [(5.0, 10.0), (-0.07, 0.07), (0.0, 1.0), (-3.0, 3.0), (1e6, 1e6 + 1), (-10.0, -5.0)])
def test_float32_uniform_never_returns_high_for_any_of_its_2_to_the_24_inputs(low, high):
    words = (np.arange(1 << 24, dtype=np.uint64) << np.uint64(8)).astype(np.uint32)
    out = _v4("uniform", "float32", [words, words, words, words], (low, high))[0::4]
    assert out.max() < np.float32(high) and out.min() >= np.float32(low)
    assert np.all(np.diff(out) >= 0)  # still monotone in the input: only values that rounded to high moved


@pytest.mark.parametrize("low,high", [(5.0, 10.0), (-0.07, 0.07), (0.0, 3.0)])
def test_float64_uniform_never_returns_high_for_its_largest_inputs(low, high):
    top = np.full(4096, 2 ** 32 - 1, np.uint32)
    low_words = (np.uint32(2 ** 32 - 1) - (np.arange(4096, dtype=np.uint32) << np.uint32(11)))
    out = _v4("uniform", "float64", [top, low_words, top, low_words], (low, high))
    assert out.max() < high


@pytest.mark.parametrize("a,b", [(40.0, 50.0), (10.0, 10.5), (1000.0, np.inf), (-np.inf, -1000.0), (-50.0, -40.0),
                                 (3.0, 4.0)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_far_tail_truncated_normals_match_scipy(a, b, dtype):
    """n = 20000: the mean test's z and the KS test catch a shift of 0.03 standard deviations with power > 0.99."""
    values = np.empty(20000, dtype)
    Stream(11, "tail").truncated_normal(0.0, 1.0, a, b, out=values)
    want = stats.truncnorm(a, b)
    x = values.astype(np.float64)
    assert np.all((values >= np.asarray(a, dtype)) & (values <= np.asarray(b, dtype)))
    with np.errstate(invalid="ignore"):
        sd, mean = float(want.std()), float(want.mean())
    if not np.isfinite(sd):  # scipy's moments give NaN at 1000σ: the central 68 % of the quantiles instead
        sd = float(want.ppf(0.8413) - want.ppf(0.1587)) / 2
    rounding = 2 * float(np.spacing(np.asarray(abs(mean), dtype)))
    assert abs(x.mean() - mean) < 4.5 * sd / np.sqrt(x.size) + rounding
    if dtype == "float64":
        assert stats.kstest(x, want.cdf).pvalue > 1e-4
