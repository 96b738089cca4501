"""Keras models as their users build them (issue 26, items 6, 8): MultiHeadAttention's private sublayers get
Keras's own initializers, a custom add_weight variable is never filled silently, "orthogonal" is translated with
Keras's gain, and an unseeded initreg.keras.Initializer follows keras.utils.set_random_seed.

Power: KS two-sample against Keras's own draws (fixed seeds; 2,048 values per kernel) accepts at p > 10⁻³; the
global default U(±0.07) it replaces is rejected at p < 10⁻⁶.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from scipy import stats  # noqa: E402

import initreg  # noqa: E402
import initreg.keras as ik  # noqa: E402
from initreg.errors import RuleError  # noqa: E402


def attention(seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((5, 32))
    y = keras.layers.MultiHeadAttention(num_heads=4, key_dim=16, name="mha")(x, x)
    return keras.Model(x, y, name="net")


def test_multi_head_attention_variables_get_kerass_own_initializers():
    model = attention()
    theirs = {v.path: np.asarray(v.value).ravel() for v in model.variables}
    table = ik.initialize(model, seed=0)
    assert all(r.source == "declared" for r in table), [(r.name, r.source) for r in table if r.source != "declared"]
    for v in model.variables:
        row = table[v.path]
        if v.path.endswith("kernel"):
            # glorot uniform with the fans EinsumDense.build gives it (input axes vs output axes of its equation)
            assert row.init == "axes_variance_scaling" and row.config["mode"] == "fan_avg", row.config
            ours = np.asarray(v.value).ravel()
            assert stats.ks_2samp(ours, theirs[v.path]).pvalue > 1e-3, v.path
            wrong = initreg.values("uniform", tuple(v.shape), name=v.path, seed=0).ravel()  # the old global default
            assert stats.ks_2samp(wrong, theirs[v.path]).pvalue < 1e-6, v.path
        else:
            assert not np.asarray(v.value).any(), v.path  # biases: zeros


class Scaled(keras.layers.Layer):
    def build(self, input_shape):
        self.gain = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gain")

    def call(self, x):
        return x * self.gain


def test_a_custom_add_weight_variable_is_an_error_not_the_global_default():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, name="d"), Scaled(name="s")])
    before = [np.asarray(v.value).copy() for v in model.variables]
    path = model.layers[1].gain.path
    with pytest.raises(RuleError, match=r"(?s)add_weight.*'" + path + "': 'ones'"):
        ik.initialize(model, seed=0)
    assert all(np.array_equal(b, np.asarray(v.value)) for b, v in zip(before, model.variables))
    table = ik.initialize(model, seed=0, default="keep")
    assert table[path].source == "keep" and np.all(np.asarray(model.layers[1].gain.value) == 1)
    table = ik.initialize(model, {"*gain": "ones"}, seed=0)
    assert table[path].source == "rule"


def test_orthogonal_is_translated_with_kerass_gain_one():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, kernel_initializer="orthogonal", name="d")])
    table = ik.initialize(model, seed=0)
    w = np.asarray(model.layers[0].kernel.value)
    assert table[model.layers[0].kernel.path].source == "declared"
    np.testing.assert_allclose(w.T @ w, np.eye(8), atol=1e-5)


def test_an_unseeded_initreg_initializer_follows_keras_set_random_seed():
    init = ik.Initializer("normal")
    keras.utils.set_random_seed(5)
    a = np.asarray(init((4, 4)))
    keras.utils.set_random_seed(5)
    b = np.asarray(init((4, 4)))
    keras.utils.set_random_seed(6)
    c = np.asarray(init((4, 4)))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
