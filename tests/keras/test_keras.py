"""initreg.keras on the JAX backend: variables by path, Keras's defaults as declared (checked against Keras's own init),
the Keras initializer's config round trip, bad input.

Power: each random variable holds n ≥ 2¹⁸ values, rejected at p ≤ 10⁻⁶ (docs/validation.md): a 1 % error in
the standard deviation is caught with probability 0.99, swapped fans (ratio 4) with certainty.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
if keras.backend.backend() != "jax":  # pragma: no cover - conftest sets KERAS_BACKEND before Keras loads
    pytest.skip("these tests run Keras on its JAX backend", allow_module_level=True)

import initreg  # noqa: E402
import initreg.keras as ik  # noqa: E402
from initreg.errors import InitializerTypeError, ParameterValueError, RuleError, TreeError, UnusedRuleWarning  # noqa: E402
from initreg.core.initializer import make_desc  # noqa: E402
from initreg.validation.checks import check  # noqa: E402


def model(**dense):
    return keras.Sequential([keras.Input((6, 6, 4)), keras.layers.Conv2D(16, 3, name="conv"),
                             keras.layers.BatchNormalization(name="bn"), keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dropout(0.1), keras.layers.Dense(32, name="dense", **dense),
                             keras.layers.Embedding(50, 8, name="emb")], name="net")


def big():
    return keras.Sequential([keras.Input((256,)), keras.layers.Dense(1024, name="dense"),
                             keras.layers.LayerNormalization(name="ln"), keras.layers.Embedding(1024, 256, name="emb")],
                            name="net")


def test_every_variable_by_path_equals_values_and_keras_defaults_are_declared():
    m = model()
    table = ik.initialize(m, {"*dense/bias": "ones"}, seed=4)
    paths = [v.path for v in m.variables if v.dtype != "uint32"]
    assert [r.name for r in table] == paths and "net/conv/kernel" in paths
    by = {r.name: r for r in table}
    assert {k: (by[k].source, by[k].init) for k in ("net/conv/kernel", "net/bn/moving_variance", "net/emb/embeddings",
                                                    "net/dense/bias")} == {
        "net/conv/kernel": ("declared", "glorotuniform"), "net/bn/moving_variance": ("declared", "one"),
        "net/emb/embeddings": ("declared", "uniform"), "net/dense/bias": ("rule", "one")}
    for v in m.variables:
        if v.path in by:
            row = by[v.path]
            want = initreg.values(row.initializer, tuple(v.shape), name=v.path, seed=4, layout="IO")
            assert np.asarray(v.value).tobytes() == want.tobytes(), v.path
    assert by["net/conv/kernel"].layout == "IO"


@pytest.fixture(scope="module")
def keras_values():
    keras.utils.set_random_seed(0)
    m = big()
    return {v.path: np.asarray(v.value) for v in m.variables}, ik.plan(m, seed=0)


@pytest.mark.parametrize("path", ["net/dense/kernel", "net/emb/embeddings"])
def test_keras_own_init_follows_the_declared_distribution(keras_values, path):
    real, table = keras_values
    row = table[path]
    assert real[path].size >= 2 ** 18
    expected = row.initializer.expected(make_desc(path, row.shape, layout="IO"))
    bad = [o for o in check(expected, real[path], path) if (o.p_value is not None and o.p_value <= 1e-6) or o.passed is False]
    assert bad == []
    assert row.source == "declared"


def test_keras_constants_equal(keras_values):
    real, table = keras_values
    for path in ("net/dense/bias", "net/ln/gamma", "net/ln/beta"):
        assert np.array_equal(initreg.values(table[path].initializer, table[path].shape, name=path, seed=0), real[path])


def test_the_check_rejects_a_wrong_fan():
    keras.utils.set_random_seed(1)
    m = big()
    x = np.asarray(m.get_layer("dense").kernel.value)  # glorot uniform over fan_avg
    wrong = initreg.std.VarianceScaling(1.0, "fan_in", "uniform").expected(make_desc("k", x.shape, layout="IO"))
    assert any(o.p_value is not None and o.p_value <= 1e-6 for o in check(wrong, x, "k"))


def test_initializer_as_kernel_initializer_and_its_config_round_trip():
    init = ik.Initializer(initreg.std.Normal(sigma=0.5, mean=1.0), seed=3, name="w")
    config = init.get_config()
    assert config == {"spec": initreg.std.Normal(sigma=0.5, mean=1.0).dumps(), "seed": 3, "name": "w"}
    again = ik.Initializer.from_config(config)
    assert again == init and again.initializer == initreg.std.Normal(sigma=0.5, mean=1.0)
    assert keras.initializers.deserialize(keras.initializers.serialize(init)) == init
    m = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, kernel_initializer=init, name="d")])
    k = np.asarray(m.get_layer("d").kernel.value)
    assert np.array_equal(k, initreg.values(init.initializer, (5, 7), name="w", seed=3, layout="IO"))
    table = ik.plan(m, seed=0)  # initialize() replays the declared initreg initializer under the variable's path
    assert table[m.get_layer("d").kernel.path].init == "normal"
    restored = keras.Sequential.from_config(m.get_config())
    assert restored.get_layer("d").kernel_initializer == init


def test_unused_rule_warns_strict_raises_and_nothing_is_assigned():
    m = big()
    before = [np.asarray(v.value).copy() for v in m.variables]
    with pytest.raises(RuleError):
        ik.initialize(m, {"*/nothing": "ones"}, seed=0, strict=True)
    assert all(np.array_equal(a, np.asarray(v.value)) for a, v in zip(before, m.variables))
    with pytest.warns(UnusedRuleWarning):
        ik.initialize(m, {"*/nothing": "ones"}, seed=0)


def test_bad_input():
    with pytest.raises(TreeError) as info:
        ik.initialize("not a model")
    assert isinstance(info.value, TypeError)
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ParameterValueError, match="not built"):
        ik.initialize(unbuilt)
    with pytest.raises(ParameterValueError, match="name"):
        ik.Initializer("normal", name="")


def test_an_array_constant_is_declared_and_a_bad_dtype_is_a_dtype_error():
    from initreg.errors import DTypeError

    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
        4, kernel_initializer=keras.initializers.Constant(np.arange(12.0).reshape(3, 4)), name="d")])
    ik.initialize(m, seed=0)
    np.testing.assert_array_equal(np.asarray(m.layers[0].kernel.value), np.arange(12.0).reshape(3, 4))
    with pytest.raises(DTypeError, match="'nope' is not a Keras dtype"):
        ik.Initializer("normal", seed=1)((2, 2), dtype="nope")


def test_a_keras_initializer_without_an_equivalent_needs_a_rule():
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, kernel_initializer="identity", name="d")])
    before = np.asarray(m.get_layer("d").kernel.value).copy()
    with pytest.raises(InitializerTypeError, match="Identity") as info:
        ik.initialize(m, seed=0)
    assert isinstance(info.value, TypeError) and np.array_equal(before, np.asarray(m.get_layer("d").kernel.value))
    table = ik.initialize(m, {"*/d/kernel": "orthogonal"}, seed=0)  # a rule settles it
    assert table[m.get_layer("d").kernel.path].source == "rule"
