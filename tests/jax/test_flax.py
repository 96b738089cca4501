"""flax_defaults against Flax's real init (initreg's validator, fixed keys and seeds), and Flax NNX state trees.

Power: each random leaf holds n ≥ 2¹⁸ values and is rejected at p ≤ 10⁻⁶ (Holm at alpha 10⁻³ over up to
1000 p-values, docs/validation.md): a 1 % error in the standard deviation is caught with probability
0.99 per leaf; swapped fans (ratio 4 here) and a missing truncation are caught with certainty. The last
test shows the check rejecting a distribution with the embedding's fans swapped.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
import jax.numpy as jnp  # noqa: E402
from flax import linen as nn  # noqa: E402
from flax import nnx  # noqa: E402
from jax import tree_util  # noqa: E402

import initreg  # noqa: E402
import initreg.jax as ij  # noqa: E402
from initreg.core.initializer import make_desc  # noqa: E402
from initreg.validation.checks import check  # noqa: E402

THRESHOLD = 1e-6


class Net(nn.Module):
    @nn.compact
    def __call__(self, tokens, image):
        x = nn.Embed(1024, 256)(tokens)  # (vocab, features): Flax's fan_in is the features axis
        x = nn.LayerNorm()(nn.Dense(1024)(x))  # kernel (256, 1024)
        y = nn.Conv(512, (3, 3))(image)  # kernel (3, 3, 64, 512)
        y = nn.BatchNorm(use_running_average=True)(y)
        return x, y


ARGS = (jnp.zeros((2, 3), jnp.int32), jnp.zeros((1, 4, 4, 64), jnp.float32))


def named(tree):
    return {tree_util.keystr(p, simple=True, separator="."): np.asarray(x)
            for p, x in tree_util.tree_flatten_with_path(tree)[0]}


@pytest.fixture(scope="module")
def flax_init():
    return named(Net().init(jax.random.key(0), *ARGS))


@pytest.fixture(scope="module")
def ours():
    shapes = jax.eval_shape(Net().init, jax.random.key(0), *ARGS)
    return ij.plan(shapes, seed=0, declared=ij.flax_defaults()), named(ij.init(shapes, seed=0, declared=ij.flax_defaults()))


def failures(expected, x, owner):
    return [(o.test, o.p_value, o.detail) for o in check(expected, x, owner)
            if (o.p_value is not None and o.p_value <= THRESHOLD) or o.passed is False]


def test_every_leaf_has_flax_defaults_and_the_same_names(flax_init, ours):
    table, values = ours
    assert set(values) == set(flax_init)
    assert all(r.source == "declared" for r in table)
    assert {r.name: r.init for r in table if r.name.endswith("kernel")} == {
        "params.Dense_0.kernel": "lecunnormal", "params.Conv_0.kernel": "lecunnormal"}


@pytest.mark.parametrize("name", ["params.Embed_0.embedding", "params.Dense_0.kernel", "params.Conv_0.kernel"])
def test_random_leaves_follow_flax_distribution(flax_init, ours, name):
    table, values = ours
    row = table[name]
    assert flax_init[name].size >= 2 ** 18
    expected = row.initializer.expected(make_desc(name, row.shape, layout=row.layout))
    assert failures(expected, flax_init[name], f"flax {name}") == []  # Flax's real draw fits initreg's law
    assert failures(expected, values[name], f"initreg {name}") == []  # and so do initreg's values


def test_constant_leaves_equal_flax(flax_init, ours):
    _, values = ours
    for name, x in flax_init.items():
        if not name.endswith(("kernel", "embedding")):
            assert np.array_equal(values[name], x), name


def test_the_check_rejects_swapped_embedding_fans(flax_init):
    wrong = initreg.std.VarianceScaling(1.0, "fan_in", "untruncated_normal")  # fan_in of "IO" is the vocab
    expected = wrong.expected(make_desc("e", (1024, 256), layout="IO"))
    assert failures(expected, flax_init["params.Embed_0.embedding"], "flax embedding")


class Small(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(6, 4, rngs=rngs)
        self.norm = nnx.LayerNorm(4, rngs=rngs)
        self.embed = nnx.Embed(9, 4, rngs=rngs)


def test_nnx_state_by_variable_paths_merges_back_into_a_model():
    graphdef, state = nnx.split(nnx.eval_shape(lambda: Small(nnx.Rngs(0))))
    table = ij.plan(state, seed=2, declared=ij.flax_defaults())
    assert {r.name for r in table} == {"linear.kernel", "linear.bias", "norm.scale", "norm.bias", "embed.embedding"}
    model = nnx.merge(graphdef, ij.init(state, seed=2, declared=ij.flax_defaults()))
    want = initreg.values(table["linear.kernel"].initializer, (6, 4), name="linear.kernel", seed=2, layout="IO")
    assert np.array_equal(np.asarray(model.linear.kernel.get_value()), want)
    assert np.all(np.asarray(model.norm.scale.get_value()) == 1)
    assert model.linear(jnp.zeros((1, 6))).shape == (1, 4)


def test_linen_partitioned_boxes_are_leaves_and_kept():
    class Boxed(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(3, kernel_init=nn.with_partitioning(nn.initializers.lecun_normal(), (None, "model")))(x)

    shapes = jax.eval_shape(Boxed().init, jax.random.key(0), jnp.ones((1, 5)))
    out = ij.init(shapes, seed=1, declared=ij.flax_defaults())
    box = out["params"]["Dense_0"]["kernel"]
    assert isinstance(box, nn.Partitioned) and box.names == (None, "model")
    row = ij.plan(shapes, seed=1, declared=ij.flax_defaults())["params.Dense_0.kernel"]
    assert np.array_equal(np.asarray(box.unbox()), initreg.values(row.initializer, (5, 3), name=row.name, seed=1,
                                                                   layout="IO"))
