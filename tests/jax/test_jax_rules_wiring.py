"""vars=, only= and name_map= through initreg.jax (issue 24): a new head on loaded Flax params (linen and NNX), kept
leaves returned as they are, stages drawing the whole tree's values, and expression errors that change nothing."""

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
from initreg import Rules  # noqa: E402
from initreg.planning.expressions import expr  # noqa: E402


def named(tree):
    return {tree_util.keystr(p, simple=True, separator="."): x for p, x in tree_util.tree_flatten_with_path(tree)[0]}


def arbitrary(tree, seed):
    """A tree like ``tree`` whose leaves hold values no initializer draws (stands for a loaded checkpoint)."""
    rng = np.random.default_rng(seed)
    return tree_util.tree_map(lambda x: jnp.asarray(rng.standard_normal(x.shape).astype(x.dtype) + 3.0), tree)


class Linen(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.BatchNorm(use_running_average=True)(nn.Dense(8)(x))
        return nn.Dense(3, name="head")(nn.relu(x))


def linen_shapes():
    return jax.eval_shape(Linen().init, jax.random.key(0), jnp.ones((1, 5)))


def test_a_new_linen_head_is_redrawn_and_every_other_leaf_is_returned_as_it_was():
    rules = Rules([("*.bias", "zeros"), ("*.kernel", initreg.init.Normal(0.02))])
    a, b = arbitrary(linen_shapes(), 1), arbitrary(linen_shapes(), 2)
    outs = [ij.init(t, rules, seed=3, only="params.head.*", declared=ij.flax_defaults()) for t in (a, b)]
    for before, after in ((a, outs[0]), (b, outs[1])):
        old, new = named(before), named(after)
        for name in old:
            if not name.startswith("params.head."):
                assert new[name] is old[name], name  # the leaf itself: batch statistics included
    for name in ("params.head.kernel", "params.head.bias"):
        first, second = np.asarray(named(outs[0])[name]), np.asarray(named(outs[1])[name])
        assert first.tobytes() == second.tobytes()  # whatever the rest held
        assert first.tobytes() != np.asarray(named(a)[name]).tobytes()
    row = ij.plan(a, rules, seed=3, only="params.head.*")["params.head.kernel"]
    assert np.array_equal(named(outs[0])["params.head.kernel"],
                          initreg.values(row.initializer, (8, 3), name="params.head.kernel", seed=3, layout="IO"))
    assert Linen().apply(outs[0], jnp.ones((1, 5))).shape == (1, 3)


class Small(nnx.Module):
    def __init__(self, rngs):
        self.body = nnx.Linear(5, 8, rngs=rngs)
        self.bn = nnx.BatchNorm(8, rngs=rngs)
        self.head = nnx.Linear(8, 3, rngs=rngs)


def params_of(model):
    return nnx.split(model, (nnx.Param, nnx.BatchStat), ...)[1]


def nnx_state(model):
    return {k: np.asarray(v).tobytes() for k, v in named(params_of(model)).items()}


def test_a_new_nnx_head_is_redrawn_in_place_and_the_rest_stays_bit_identical():
    models = []
    for seed in (1, 2):
        m = Small(nnx.Rngs(seed))
        nnx.update(m, arbitrary(params_of(m), seed))
        models.append((m, nnx_state(m)))
    for m, before in models:
        table = ij.initialize(m, seed=4, only="head.*")
        after = nnx_state(m)
        assert sorted(n for n in after if after[n] != before[n]) == ["head.bias.value", "head.kernel.value"]
        assert table["bn.mean"].kept and table["head.kernel"].source == "declared"
    (a, _), (b, _) = models
    assert np.array_equal(a.head.kernel.get_value(), b.head.kernel.get_value())
    want = initreg.values(initreg.create("lecun_normal"), (8, 3), name="head.kernel", seed=4, layout="IO")
    assert np.array_equal(np.asarray(a.head.kernel.get_value()), want)
    assert not np.asarray(a.head.bias.get_value()).any()


def test_a_keep_rule_returns_the_leaf_itself_even_a_shape():
    shapes = linen_shapes()
    out = ij.init(shapes, Rules([("params.Dense_0.*", "keep"), ("*", "zeros")]), seed=0)
    assert named(out)["params.Dense_0.kernel"] is named(shapes)["params.Dense_0.kernel"]  # nothing drawn for it
    assert not np.asarray(named(out)["params.head.kernel"]).any()


def stage_tree(start, stop):
    return {"layers": {str(i - start): {"w": jax.ShapeDtypeStruct((4, 4), jnp.float32)} for i in range(start, stop)}}


def test_stage_trees_draw_the_whole_trees_values_under_the_mapped_names():
    rules = Rules([("layers.{i}.w", ("normal", {"sigma": expr("init_std / sqrt(i + 1)")}))])
    whole = named(ij.init(stage_tree(0, 6), rules, seed=5, vars={"init_std": 0.1}))
    for start, stop in ((0, 2), (2, 4), (4, 6)):
        mapping = [(r"^layers\.(?P<i>\d+)\.", "layers.{i + offset}.")]
        table = ij.plan(stage_tree(start, stop), rules, seed=5, vars={"init_std": 0.1, "offset": start},
                        name_map=mapping)
        got = named(ij.init(stage_tree(start, stop), rules, seed=5, vars={"init_std": 0.1, "offset": start},
                            name_map=mapping))
        for name, x in got.items():
            global_name = table[name].key_name
            assert global_name == f"layers.{int(name.split('.')[1]) + start}.w"
            assert np.asarray(x).tobytes() == np.asarray(whole[global_name]).tobytes()
    with pytest.raises(initreg.RuleError, match="name_map maps both"):
        ij.init(stage_tree(0, 2), rules, seed=5, vars={"init_std": 0.1}, name_map=lambda n: "layers.0.w")


def test_vars_reach_expressions_and_errors_leave_an_nnx_model_as_it_was():
    m = Small(nnx.Rngs(0))
    before = nnx_state(m)
    rules = Rules([("{layer}.kernel", ("normal", {"sigma": expr("scale / fan_in")})), ("*", "zeros")])
    table = ij.plan(params_of(m), rules, seed=0, vars={"scale": 4.0})
    assert table["head.kernel"].args == {"sigma": 0.5} and table["head.kernel"].variables == {"scale": 4.0,
                                                                                             "fan_in": 8}
    with pytest.raises(initreg.RuleError, match=r"rule 1 \(\{layer\}.kernel\), parameter 'body.kernel': expression "
                                                r"'scale / fan_in' uses unknown variable\(s\) 'scale'"):
        ij.initialize(m, rules, seed=0)
    with pytest.raises(initreg.RuleError, match="expression '1 / \\(fan_in - fan_in\\)' cannot be computed"):
        ij.initialize(m, {"*.kernel": ("normal", {"sigma": expr("1 / (fan_in - fan_in)")})}, seed=0)
    assert nnx_state(m) == before
    ij.initialize(m, rules, seed=0, vars={"scale": 4.0})
    want = initreg.values(["normal", {"sigma": 0.5}], (8, 3), name="head.kernel", seed=0, layout="IO")
    assert np.array_equal(np.asarray(m.head.kernel.get_value()), want)
