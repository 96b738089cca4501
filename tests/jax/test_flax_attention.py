"""Flax attention kernels get fans that follow their axes (issue 26, item 5) and a Flax self.param leaf that
flax_defaults() does not cover is an error, not initreg's global default (item 8).

Power: each kernel holds 2,048 values; the two-sample KS test against Flax's own draws (fixed seeds) accepts at
p > 10⁻³ and rejects the heads-times-too-large fan-in of plain lecun_normal (std ratio 2) at p < 10⁻⁶.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
linen = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")
from scipy import stats  # noqa: E402

import jax.numpy as jnp  # noqa: E402

import initreg  # noqa: E402
import initreg.jax as ij  # noqa: E402
from initreg.errors import RuleError  # noqa: E402

KERNELS = ["query", "key", "value", "out"]


def linen_params():
    m = linen.MultiHeadDotProductAttention(num_heads=4, qkv_features=64)
    x = jnp.ones((1, 3, 32))
    return jax.eval_shape(m.init, jax.random.key(0), x), m.init(jax.random.key(1), x)


@pytest.mark.parametrize("which", KERNELS)
def test_linen_attention_kernels_follow_flaxs_own_distribution(which):
    shapes, theirs = linen_params()
    ours = ij.init(shapes, seed=0, declared=ij.flax_defaults())
    a = np.asarray(ours["params"][which]["kernel"]).ravel()
    b = np.asarray(theirs["params"][which]["kernel"]).ravel()
    assert stats.ks_2samp(a, b).pvalue > 1e-3
    row = ij.plan(shapes, seed=0, declared=ij.flax_defaults())[f"params.{which}.kernel"]
    wrong = initreg.values("lecun_normal", row.shape, name=row.name, seed=0, layout="IO").ravel()
    if which != "out":  # the old rule: fan_in = in * heads
        assert stats.ks_2samp(wrong, b).pvalue < 1e-6


def test_nnx_attention_kernels_follow_flaxs_own_distribution():
    theirs = nnx.MultiHeadAttention(num_heads=4, in_features=32, qkv_features=64, decode=False, rngs=nnx.Rngs(1))
    ours = nnx.MultiHeadAttention(num_heads=4, in_features=32, qkv_features=64, decode=False, rngs=nnx.Rngs(2))
    table = ij.initialize(ours, seed=0)
    for which in KERNELS:
        assert table[f"{which}.kernel"].source == "declared"
        a = np.asarray(getattr(ours, which).kernel[...]).ravel()
        b = np.asarray(getattr(theirs, which).kernel[...]).ravel()
        assert stats.ks_2samp(a, b).pvalue > 1e-3, which


class WithPositions(linen.Module):
    @linen.compact
    def __call__(self, x):
        pos = self.param("pos_embedding", linen.initializers.normal(0.02), (1, 4, 8))
        return linen.Dense(8)(x + pos)


def test_a_self_param_leaf_flax_defaults_do_not_cover_is_an_error_naming_it():
    shapes = jax.eval_shape(WithPositions().init, jax.random.key(0), jnp.ones((1, 4, 8)))
    with pytest.raises(RuleError, match=r"(?s)'params.pos_embedding'.*declared="):
        ij.init(shapes, seed=0, declared=ij.flax_defaults())
    out = ij.init(shapes, {"*pos_embedding": ["normal", {"sigma": 0.02}]}, seed=0, declared=ij.flax_defaults())
    assert out["params"]["pos_embedding"].shape == (1, 4, 8)
    assert ij.plan(shapes, seed=0)["params.pos_embedding"].source == "global default"  # a plain tree: no declarations
