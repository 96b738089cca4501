"""flax_defaults() on Flax's RNN cells: their recurrent kernels (hi, hf, hg, ho; hr, hz, hn) are Flax's orthogonal(),
not the LeCun normal of every other kernel (they were, silently: W·Wᵀ off the identity by ~1 per entry's scale);
MGUCell's forget-gate bias (if.bias) is Flax's ones, not zeros.

The check is exact up to float32 rounding (W·Wᵀ = I within 1e-5); LeCun normal's W·Wᵀ has off-diagonal entries of
size ~1/√h (0.18 for h = 32), so it cannot pass."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
nn = pytest.importorskip("flax.linen")

import jax.numpy as jnp  # noqa: E402

import initreg.jax as ij  # noqa: E402


@pytest.mark.parametrize("cell, recurrent", [(nn.LSTMCell, "hi hf hg ho"), (nn.OptimizedLSTMCell, "hi hf hg ho"),
                                             (nn.GRUCell, "hr hz hn"), (nn.MGUCell, "hf hn")])
def test_recurrent_kernels_are_orthogonal_as_flax_draws_them_and_input_kernels_lecun(cell, recurrent):
    rnn = nn.RNN(cell(32))
    x = jnp.ones((1, 3, 16))
    flax_own = rnn.init(jax.random.key(0), x)["params"]["cell"]
    shapes = jax.eval_shape(rnn.init, jax.random.key(0), x)
    table = ij.plan(shapes, seed=0, declared=ij.flax_defaults())
    ours = ij.init(shapes, seed=0, declared=ij.flax_defaults())["params"]["cell"]
    for name in recurrent.split():
        for w in (np.asarray(flax_own[name]["kernel"]), np.asarray(ours[name]["kernel"])):
            np.testing.assert_allclose(w @ w.T, np.eye(32), atol=1e-5, err_msg=name)
        assert table[f"params.cell.{name}.kernel"].init == "orthogonal"
    first_input = "ii" if "hi" in recurrent else "ir" if "hr" in recurrent else "if"
    assert table[f"params.cell.{first_input}.kernel"].init == "lecunnormal"
    for name, bias in flax_own.items():  # biases: Flax's constants (MGUCell's forget gate: ones)
        if "bias" in bias:
            assert np.array_equal(np.asarray(ours[name]["bias"]), np.asarray(bias["bias"])), name
