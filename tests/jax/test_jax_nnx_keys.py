"""An NNX state with random keys (a module keeping an nnx.Rngs, as nnx.Dropout does) passed to initreg.jax.init: the
key leaf was a raw JAX ValueError ("Internal: canonicalize_dtype called on extended dtype key<fry>"); now a TreeError
naming the leaf and the split that leaves the keys out. Splitting the parameters out fills them, keys untouched."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
nnx = pytest.importorskip("flax.nnx")

import initreg  # noqa: E402
import initreg.jax as ij  # noqa: E402
from initreg.errors import TreeError  # noqa: E402


class Net(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(4, 8, rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return self.drop(self.linear(x))


def test_a_random_key_leaf_is_a_tree_error_naming_it_and_the_parameters_alone_are_filled():
    model = Net(nnx.Rngs(0))
    graphdef, state = nnx.split(model)
    with pytest.raises(TreeError, match=r"'drop\.rngs\.key'.*random key.*nnx\.split\(model, nnx\.Param") as info:
        ij.init(state, seed=0, declared=ij.flax_defaults())
    assert isinstance(info.value, TypeError)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    key_before = np.asarray(jax.random.key_data(model.drop.rngs.key.get_value()))
    filled = nnx.merge(graphdef, ij.init(params, seed=0, declared=ij.flax_defaults()), rest)
    want = initreg.values("lecun_normal", (4, 8), name="linear.kernel", seed=0, layout="IO")
    assert np.array_equal(np.asarray(filled.linear.kernel.get_value()), want)
    assert np.array_equal(np.asarray(jax.random.key_data(filled.drop.rngs.key.get_value())), key_before)
