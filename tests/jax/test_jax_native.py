"""Flax's native form (issue 26, item 11): a kernel_init= callable drawing initreg's values for a name."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
linen = pytest.importorskip("flax.linen")

import jax.numpy as jnp  # noqa: E402

import initreg  # noqa: E402
import initreg.jax as ij  # noqa: E402
from initreg.errors import ParameterValueError  # noqa: E402


def test_kernel_init_callable_gives_initregs_values_for_its_name_whatever_the_key():
    kinit = ij.initializer(["normal", {"sigma": 0.02}], name="params.Dense_0.kernel", seed=3)
    layer = linen.Dense(5, kernel_init=kinit)
    a = layer.init(jax.random.key(0), jnp.ones((1, 4)))["params"]["kernel"]
    b = layer.init(jax.random.key(1), jnp.ones((1, 4)))["params"]["kernel"]
    want = initreg.values(["normal", {"sigma": 0.02}], (4, 5), name="params.Dense_0.kernel", seed=3, layout="IO")
    np.testing.assert_array_equal(np.asarray(a), want)
    np.testing.assert_array_equal(np.asarray(b), want)  # keyed by the name, not by the JAX key
    half = ij.initializer("lecun_normal", name="k", seed=0)(None, (4, 5), jnp.bfloat16)
    assert half.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(half.astype(jnp.float32)), np.asarray(
        jnp.asarray(initreg.values("lecun_normal", (4, 5), name="k", seed=0, layout="IO")).astype(jnp.bfloat16)
        .astype(jnp.float32)))
    with pytest.raises(ParameterValueError, match="name"):
        ij.initializer("normal", name="")
