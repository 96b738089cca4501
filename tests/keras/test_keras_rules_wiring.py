"""vars=, only= and name_map= through initreg.keras (issue 24): a new head on a loaded model, paths mapped to another
model's, expression errors that assign nothing."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
if keras.backend.backend() != "jax":  # pragma: no cover - conftest sets KERAS_BACKEND before Keras loads
    pytest.skip("these tests run Keras on its JAX backend", allow_module_level=True)

import initreg  # noqa: E402
import initreg.keras as ik  # noqa: E402
from initreg import Rules  # noqa: E402
from initreg.planning.expressions import expr  # noqa: E402


def model(name="net"):
    return keras.Sequential([keras.Input((6, 6, 4)), keras.layers.Conv2D(8, 3, name="conv"),
                             keras.layers.BatchNormalization(name="bn"), keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(16, name="body"), keras.layers.Dense(3, name="head")], name=name)


def values_of(m):
    return {v.path: np.asarray(keras.ops.convert_to_numpy(v.value)).tobytes() for v in m.variables}


def load_arbitrary(m, seed):
    """Every variable (the BatchNormalization statistics too) holds values no initializer draws."""
    rng = np.random.default_rng(seed)
    for v in m.variables:
        if keras.backend.is_float_dtype(v.dtype):
            v.assign(rng.standard_normal(tuple(v.shape)).astype(v.dtype) + 3.0)
    return values_of(m)


@pytest.mark.parametrize("init", [None, Rules([("*bias", "zeros"), ("*kernel", initreg.init.Normal(0.02))])])
def test_a_new_head_is_redrawn_and_every_other_variable_stays_bit_identical(init):
    a, b = model(), model()
    before_a, before_b = load_arbitrary(a, 1), load_arbitrary(b, 2)
    tables = [ik.initialize(m, init, seed=5, only="net/head/*") for m in (a, b)]
    for m, before in ((a, before_a), (b, before_b)):
        now = values_of(m)
        assert sorted(n for n in now if now[n] != before[n]) == ["net/head/bias", "net/head/kernel"]
    head_a, head_b = (values_of(m)["net/head/kernel"] for m in (a, b))
    assert head_a == head_b  # whatever the rest held
    row = tables[0]["net/head/kernel"]
    want = initreg.values(row.initializer, (16, 3), name="net/head/kernel", seed=5, layout="IO")
    assert head_a == want.tobytes()
    assert tables[0]["net/bn/moving_mean"].kept and tables[0]["net/conv/kernel"].key is None


def test_a_name_map_draws_another_models_values_and_a_collision_assigns_nothing():
    reference, renamed = model("net"), model("copy")
    ik.initialize(reference, seed=7)
    table = ik.initialize(renamed, seed=7, name_map=[(r"^copy/", "net/")])
    assert table["copy/head/kernel"].key_name == "net/head/kernel"
    assert values_of(renamed) == {p.replace("net/", "copy/", 1): x for p, x in values_of(reference).items()}
    before = values_of(renamed)
    with pytest.raises(initreg.RuleError, match="name_map maps both"):
        ik.initialize(renamed, seed=8, name_map=lambda path: "one")
    assert values_of(renamed) == before


def test_vars_reach_expressions_over_a_capture_and_errors_assign_nothing():
    m = model()
    before = load_arbitrary(m, 3)
    rules = Rules([("net/{layer}/kernel", ("normal", {"sigma": expr("gain / sqrt(fan_in)")})), ("*", "zeros")])
    with pytest.raises(initreg.RuleError, match=r"rule 1 \(net/\{layer\}/kernel\), parameter 'net/conv/kernel': "
                                                r"expression 'gain / sqrt\(fan_in\)' uses unknown variable\(s\) 'gain'"):
        ik.initialize(m, rules, seed=0)
    with pytest.raises(initreg.RuleError, match=r"argument 'sigma': expression 'gain /' is not valid"):
        ik.initialize(m, {"*kernel": ("normal", {"sigma": expr("gain /")})}, seed=0, vars={"gain": 2.0})
    assert values_of(m) == before
    table = ik.initialize(m, rules, seed=0, vars={"gain": 2.0})
    row = table["net/head/kernel"]
    assert row.args == {"sigma": 0.5} and row.variables == {"gain": 2.0, "fan_in": 16}
    assert values_of(m)["net/head/kernel"] == initreg.values(["normal", {"sigma": 0.5}], (16, 3), name=row.name,
                                                              seed=0, layout="IO").tobytes()
