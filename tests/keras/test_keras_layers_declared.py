"""Keras layers whose build draws a variable with an initializer not kept as ``<name>_initializer``: depthwise and
separable convolutions (7 of 9 keras.applications failed on them), LSTM's unit_forget_bias (the forget gate's bias was
declared 0 where Keras gives 1), Attention/RMSNormalization/Normalization's fixed initializers, and a VarianceScaling
on a 1-D variable (Keras: fan_in = fan_out = its size). Each declared initializer is checked against Keras's own draw.

Power: a random variable holds ≥ 4,096 values; Keras's draw is accepted at p > 10⁻⁶ against the declared distribution,
and the same check rejects (p ≤ 10⁻⁶) a distribution whose width is off by the fan the name would miss (ratio ≥ 2).
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import initreg  # noqa: E402
import initreg.keras as ik  # noqa: E402
from initreg.core.initializer import make_desc  # noqa: E402
from initreg.errors import InitializerTypeError  # noqa: E402
from initreg.validation.checks import check  # noqa: E402

L = keras.layers


def rejected(expected, real, path):
    return any((o.p_value is not None and o.p_value <= 1e-6) or o.passed is False for o in check(expected, real, path))


def keras_draw_is_declared(model, seed=0):
    """Every variable planned "declared"; Keras's own values are the declared initializer's (exactly, if constant)."""
    floats = [v for v in model.variables if keras.backend.is_float_dtype(v.dtype)]  # not seed-generator states
    theirs = {v.path: np.asarray(v.value).copy() for v in floats}
    table = ik.initialize(model, seed=seed)
    assert {r.name: r.source for r in table} == {p: "declared" for p in theirs}
    for row in table:
        ours = initreg.values(row.initializer, row.shape, name=row.name, seed=seed, layout="IO")
        if row.initializer.deterministic:
            assert np.array_equal(theirs[row.name], ours), row.name
        else:
            expected = row.initializer.expected(make_desc(row.name, row.shape, layout="IO"))
            assert not rejected(expected, theirs[row.name], row.name), (row.name, row.initializer_text)
    return theirs, table


def test_depthwise_and_separable_kernels_take_the_layers_depthwise_and_pointwise_initializers():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 512)),
                              L.DepthwiseConv2D(3, depthwise_initializer="he_uniform", name="dw"),
                              L.SeparableConv2D(64, 3, depthwise_initializer="he_uniform",
                                                pointwise_initializer="lecun_normal", name="sep")], name="s")
    theirs, table = keras_draw_is_declared(model)
    assert [table[p].init for p in ("s/dw/kernel", "s/sep/depthwise_kernel", "s/sep/pointwise_kernel")] == [
        "heuniform", "heuniform", "lecunnormal"]
    # the kernel (3, 3, 512, 1): fan_in 4,608 vs fan_out 9, so the fan the name would miss is far off
    wrong = initreg.std.VarianceScaling(2.0, "fan_out", "uniform").expected(make_desc("k", (3, 3, 512, 1), layout="IO"))
    assert rejected(wrong, theirs["s/dw/kernel"], "k")


def test_an_lstm_bias_keeps_kerass_unit_forget_bias():
    model = keras.Sequential([keras.Input((4, 3)), L.Bidirectional(L.LSTM(5), name="bi")], name="s")
    theirs, table = keras_draw_is_declared(model)
    bias = "s/bi/forward_lstm/lstm_cell/bias"
    assert table[bias].initializer_text == "lstmbias(forget_bias=1.0)"
    np.testing.assert_array_equal(theirs[bias], np.repeat([0.0, 1.0, 0.0, 0.0], 5))  # gates i, f, c, o


def test_an_lstm_bias_with_a_nonzero_initializer_under_unit_forget_bias_needs_a_rule_and_nothing_changes():
    model = keras.Sequential([keras.Input((4, 3)), L.LSTM(2, bias_initializer="ones", name="lstm")], name="s")
    before = [np.asarray(v.value).copy() for v in model.variables]
    with pytest.raises(InitializerTypeError, match=r"'s/lstm/lstm_cell/bias' \(Ones with unit_forget_bias=True\)"):
        ik.initialize(model, seed=0)
    assert all(np.array_equal(b, np.asarray(v.value)) for b, v in zip(before, model.variables))
    table = ik.initialize(model, {"*/bias": "ones"}, seed=0)
    assert table["s/lstm/lstm_cell/bias"].source == "rule"
    plain = keras.Sequential([keras.Input((4, 3)), L.LSTM(2, unit_forget_bias=False, name="lstm")], name="p")
    assert ik.plan(plain, seed=0)["p/lstm/lstm_cell/bias"].init == "zero"


def test_fixed_initializers_of_attention_and_normalization_layers_are_declared():
    x = keras.Input((4, 4096))
    y = L.Attention(use_scale=True, score_mode="concat", name="att")([x, x])
    y = L.AdditiveAttention(name="add")([y, y])
    y = L.RMSNormalization(name="rms")(y)
    y = L.Normalization(name="norm")(y)
    keras.utils.set_random_seed(1)
    theirs, table = keras_draw_is_declared(keras.Model(x, y, name="f"))
    assert {p: table[p].init for p in ("att/scale", "att/concat_score_weight", "rms/scale", "norm/mean",
                                      "norm/variance")} == {"att/scale": "one", "att/concat_score_weight": "one",
                                                            "rms/scale": "one", "norm/mean": "zero",
                                                            "norm/variance": "one"}
    limit = np.sqrt(3.0 / 4096)  # Keras's glorot on a 1-D variable: fan_in = fan_out = 4,096
    assert table["add/scale"].initializer == initreg.std.Uniform(low=-limit, high=limit)
    wrong = initreg.std.Uniform(low=-limit / 2, high=limit / 2).expected(make_desc("s", (4096,), layout="IO"))
    assert rejected(wrong, theirs["add/scale"], "s")


@pytest.mark.parametrize("name, want", [("glorot_normal", ("truncatednormal", np.sqrt(1 / 4096) / .87962566103423978)),
                                        ("he_uniform", ("uniform", np.sqrt(6 / 4096))),
                                        (keras.initializers.VarianceScaling(2.0, distribution="untruncated_normal"),
                                         ("normal", np.sqrt(2 / 4096)))])
def test_a_variance_scaling_bias_is_drawn_with_kerass_fans_of_a_1d_variable(name, want):
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((2,)), L.Dense(4096, bias_initializer=name, name="d")], name="s")
    _, table = keras_draw_is_declared(model)
    row = table["s/d/bias"]
    width = row.config.get("sigma", row.config.get("high"))
    assert row.init == want[0] and width == pytest.approx(want[1], rel=1e-12)


def test_spectral_normalizations_power_iteration_vector_is_declared_as_keras_draws_it():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,)), L.SpectralNormalization(L.Dense(8192, name="d"), name="sn")], name="s")
    theirs, table = keras_draw_is_declared(model)
    row = table["s/sn/vector_u"]
    assert row.initializer == initreg.std.TruncatedNormal(mean=0.0, sigma=0.02, a=-2.0, b=2.0)
    wrong = initreg.std.TruncatedNormal(sigma=0.04).expected(make_desc("u", (1, 8192), layout="IO"))
    assert rejected(wrong, theirs["s/sn/vector_u"], "u")


@pytest.mark.parametrize("seed", ["x", -1, 1.5])
def test_a_bad_seed_of_an_initreg_keras_initializer_is_refused_when_it_is_made(seed):
    from initreg.errors import SeedError

    with pytest.raises(SeedError, match="seed"):
        ik.Initializer("normal", seed=seed)  # was accepted, saved in the config, and failed in a layer's build
