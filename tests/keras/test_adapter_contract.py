"""One adapter contract (issue 22, step 4): plan/initialize of one signature on torch, JAX and Keras; old names warn."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
keras = pytest.importorskip("keras")
nnx = pytest.importorskip("flax.nnx")

import jax.numpy as jnp  # noqa: E402

import initreg  # noqa: E402
import initreg.jax as ij  # noqa: E402
import initreg.keras as ik  # noqa: E402
import initreg.torch as it  # noqa: E402
from initreg.adapter_contract import KEYWORDS, Adapter  # noqa: E402
from initreg.errors import RuleError, TreeError  # noqa: E402


@pytest.mark.parametrize("adapter", [it, ij, ik], ids=["torch", "jax", "keras"])
@pytest.mark.parametrize("verb", ["plan", "initialize"])
def test_every_adapter_has_the_contracts_signature(adapter, verb):
    assert isinstance(adapter, Adapter)
    params = list(inspect.signature(getattr(adapter, verb)).parameters.values())
    assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and params[0].default is inspect.Parameter.empty
    assert params[1].name == "init" and params[1].default is None  # the model (any name), then init
    for name, default in KEYWORDS.items():
        p = inspect.signature(getattr(adapter, verb)).parameters[name]
        assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default == default, (adapter, verb, name)


def test_torch_explain_still_works_with_a_deprecation_warning():
    m = torch.nn.Linear(3, 2)
    with pytest.warns(DeprecationWarning, match=r"initreg.torch.plan") as caught:
        old = it.explain(m, {"bias": "zeros"}, seed=1)
    assert caught[0].filename == __file__  # points at the caller
    assert [r.as_dict() for r in old] == [r.as_dict() for r in it.plan(m, {"bias": "zeros"}, seed=1)]


def test_jax_defaults_keyword_still_works_with_a_deprecation_warning():
    tree = {"Dense_0": {"kernel": jax.ShapeDtypeStruct((4, 3), jnp.float32)}}
    with pytest.warns(DeprecationWarning, match=r"declared="):
        old = ij.init(tree, seed=0, defaults=ij.flax_defaults())
    new = ij.init(tree, seed=0, declared=ij.flax_defaults())
    assert np.array_equal(old["Dense_0"]["kernel"], new["Dense_0"]["kernel"])
    with pytest.raises(RuleError, match="declared= only"):
        ij.plan(tree, seed=0, defaults=ij.flax_defaults(), declared=ij.flax_defaults())


def test_the_seed_policy_is_one_for_all_adapters():
    # seed=, else the rules' seed, else the global seed: the same key for the same name everywhere
    rules = initreg.Rules({"*": "normal"}, seed=33)
    m = torch.nn.Module()
    m.w = torch.nn.Parameter(torch.zeros(3))
    keys = {it.plan(m, rules)["w"].key, ij.plan({"w": jax.ShapeDtypeStruct((3,), jnp.float32)}, rules)["w"].key}
    assert len(keys) == 1 and it.plan(m, rules).seed == 33
    initreg.seed(34)
    try:
        assert it.plan(m, "normal").seed == ij.plan({"w": np.zeros(3, np.float32)}, "normal").seed == 34
    finally:
        initreg.seed(None)


def test_default_is_the_calls_default_on_every_adapter_and_keep_keeps():
    k = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    before = np.asarray(k.get_layer("d").kernel.value).copy()
    table = ik.initialize(k, {"*bias": "ones"}, default="keep", seed=0)
    assert table[k.get_layer("d").bias.path].source == "rule"
    assert table[k.get_layer("d").kernel.path].source == "declared"  # Keras declares glorot: "keep" is for the rest
    assert not np.array_equal(before, np.asarray(k.get_layer("d").kernel.value))
    out = ij.init({"w": jax.ShapeDtypeStruct((3,), jnp.float32)}, default="zeros", seed=0)
    assert not np.asarray(out["w"]).any()
    with pytest.raises(initreg.ParameterValueError, match="keep"):
        ij.init({"w": jax.ShapeDtypeStruct((3,), jnp.float32)}, default="keep", seed=0)


class Block(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(4, 3, rngs=rngs)
        self.norm = nnx.BatchNorm(3, rngs=rngs)


def test_jax_initialize_fills_an_nnx_module_in_place_and_refuses_plain_trees():
    model = Block(nnx.Rngs(0))
    table = ij.initialize(model, {"*.bias": "ones"}, seed=3)
    assert table["linear.kernel"].source == "declared" and table["norm.mean"].init == "zero"
    row = table["linear.kernel"]
    np.testing.assert_array_equal(np.asarray(model.linear.kernel[...]), initreg.values(
        row.initializer, row.shape, name=row.name, seed=3, layout="IO"))
    assert np.all(np.asarray(model.linear.bias[...]) == 1)
    with pytest.raises(TreeError, match=r"initreg.jax.init\(tree"):
        ij.initialize({"w": np.zeros(3, np.float32)})
