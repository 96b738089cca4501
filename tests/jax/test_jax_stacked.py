"""Layers stacked by nn.scan / nn.vmap (one leaf holds every layer's kernel on its first axis): with flax_defaults()
each was drawn with the whole stack's fans, silently (6 scanned layers: Dense kernels 0.036 std where Flax draws
0.088, attention query/key/value kernels 0.41 where Flax draws 0.088). ``stacked=`` draws them with one layer's fans.

Power: every kernel checked holds ≥ 2¹⁷ values; ours is accepted against Flax's own draw (KS two-sample, p > 10⁻⁶)
and the same test rejects the whole-stack fans (std off by √4 = 2 or more) at p < 10⁻⁶.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
nn = pytest.importorskip("flax.linen")
from scipy import stats  # noqa: E402

import jax.numpy as jnp  # noqa: E402

import initreg  # noqa: E402
import initreg.jax as ij  # noqa: E402
from initreg.errors import InitializerTypeError, RuleError  # noqa: E402


class Block(nn.Module):
    @nn.compact
    def __call__(self, x, _):
        h = nn.MultiHeadDotProductAttention(num_heads=4)(x, x)
        return x + nn.Dense(x.shape[-1])(h), None


class Scanned(nn.Module):
    @nn.compact
    def __call__(self, x):
        stack = nn.scan(Block, variable_axes={"params": 0}, split_rngs={"params": True}, length=4)
        x, _ = stack(name="layers")(x, None)
        return nn.Dense(8, name="head")(x)


X = jnp.ones((1, 3, 256))
KERNELS = ["params.layers.Dense_0.kernel", "params.layers.MultiHeadDotProductAttention_0.query.kernel",
           "params.layers.MultiHeadDotProductAttention_0.out.kernel"]


@pytest.fixture(scope="module")
def trees():
    shapes = jax.eval_shape(Scanned().init, jax.random.key(0), X)
    flax_own = Scanned().init(jax.random.key(1), X)
    return shapes, flax_own


def leaf(tree, name):
    for key in name.split("."):
        tree = tree[key]
    return np.asarray(tree)


def test_stacked_leaves_are_drawn_with_one_layers_fans_as_flax_draws_them(trees):
    shapes, flax_own = trees
    declared = ij.flax_defaults()
    ours = ij.init(shapes, seed=0, declared=declared, stacked="params.layers.*")
    whole = ij.init(shapes, seed=0, declared=declared)  # the stack's fans: what it drew before stacked=
    for name in KERNELS:
        theirs = leaf(flax_own, name).ravel()
        assert theirs.size >= 2 ** 17
        assert stats.ks_2samp(leaf(ours, name).ravel(), theirs).pvalue > 1e-6, name
        assert stats.ks_2samp(leaf(whole, name).ravel(), theirs).pvalue < 1e-6, name
    # outside the stack nothing changes, bit for bit
    assert np.array_equal(leaf(ours, "params.head.kernel"), leaf(whole, "params.head.kernel"))
    assert not leaf(ours, "params.layers.Dense_0.bias").any()


def test_each_stacked_leaf_is_values_of_its_row_and_a_rules_initializer_is_stacked_too(trees):
    shapes, _ = trees
    rules = {"*Dense_0.kernel": "glorot_uniform"}
    table = ij.plan(shapes, rules, seed=3, declared=ij.flax_defaults(), stacked=["params.layers.*"])
    ours = ij.init(shapes, rules, seed=3, declared=ij.flax_defaults(), stacked=["params.layers.*"])
    row = table["params.layers.Dense_0.kernel"]
    assert (row.source, row.init, row.config["scale"], row.config["mode"]) == ("rule", "variancescaling", 4.0,
                                                                               "fan_avg")
    for name in KERNELS + ["params.head.kernel"]:
        r = table[name]
        want = initreg.values(r.initializer, r.shape, name=name, seed=3, layout=r.layout)
        assert leaf(ours, name).tobytes() == want.tobytes(), name
    limit = np.sqrt(6 / (256 + 256))  # glorot uniform of one (256, 256) layer
    drawn = leaf(ours, "params.layers.Dense_0.kernel")
    assert drawn.max() <= limit and drawn.max() > 0.99 * limit


def test_a_bad_stacked_pattern_or_an_initializer_without_a_per_layer_form_is_an_error(trees):
    shapes, _ = trees
    declared = ij.flax_defaults()
    with pytest.raises(RuleError, match=r"stacked='params\.layer\.\*' matches no leaf"):
        ij.plan(shapes, seed=0, declared=declared, stacked="params.layer.*")
    with pytest.raises(RuleError, match="stacked= must be a pattern"):
        ij.plan(shapes, seed=0, declared=declared, stacked=3)
    with pytest.raises(InitializerTypeError, match=r"'params\.layers\.Dense_0\.kernel' \(orthogonal\(\), shape "
                                                   r"\(4, 256, 256\)\).*Nothing was drawn") as info:
        ij.init(shapes, {"*Dense_0.kernel": "orthogonal"}, seed=0, declared=declared, stacked="params.layers.*")
    assert isinstance(info.value, TypeError)


def test_an_nnx_module_is_filled_with_stacked_fans_and_left_whole_on_an_error():
    nnx = pytest.importorskip("flax.nnx")

    @nnx.vmap(in_axes=0, out_axes=0)
    def ensemble(key):
        return nnx.Linear(512, 256, rngs=nnx.Rngs(params=key))

    model = ensemble(jax.random.split(jax.random.key(0), 4))
    flax_own = np.asarray(model.kernel.get_value()).copy()
    with pytest.raises(InitializerTypeError):
        ij.initialize(model, {"kernel": "orthogonal"}, seed=0, stacked="kernel")
    assert np.array_equal(np.asarray(model.kernel.get_value()), flax_own)
    table = ij.initialize(model, seed=0, stacked="*")
    assert table["kernel"].config["scale"] == 4.0
    assert stats.ks_2samp(np.asarray(model.kernel.get_value()).ravel(), flax_own.ravel()).pvalue > 1e-6


def test_an_empty_stack_is_an_empty_array_not_a_scale_error():
    empty = ij.init({"l": {"k": jax.ShapeDtypeStruct((0, 4, 4), jnp.float32)}}, "lecun_normal", seed=0, stacked="l.*")
    assert empty["l"]["k"].shape == (0, 4, 4)
