"""initreg.keras changes all or nothing (issue 25, item 11): a failing assign restores every variable."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import initreg.keras as ik  # noqa: E402


def test_a_failing_assign_restores_every_variable_assigned_before_it(monkeypatch):
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, name="a"), keras.layers.Dense(3, name="b")])
    before = [np.asarray(v.value).copy() for v in m.variables]
    calls = {"n": 0}
    real = type(m.variables[0]).assign

    def flaky(self, value):
        calls["n"] += 1
        if calls["n"] == 3:  # the third variable: two are already assigned
            raise RuntimeError("device lost")
        return real(self, value)

    monkeypatch.setattr(type(m.variables[0]), "assign", flaky)
    with pytest.raises(RuntimeError, match="device lost"):
        ik.initialize(m, seed=0)
    assert calls["n"] > 3  # the restore ran
    for old, v in zip(before, m.variables):
        np.testing.assert_array_equal(np.asarray(v.value), old)


def test_values_that_overflow_bfloat16_once_rounded_are_an_error_and_nothing_changes():
    from initreg.errors import InitializationError

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d", dtype="bfloat16")])
    before = [np.asarray(v.value).copy() for v in m.variables]
    with pytest.raises(InitializationError, match=r"overflow bfloat16"):
        ik.initialize(m, {"*kernel": ["constant", {"value": 3.4e38}]}, seed=0)
    for old, v in zip(before, m.variables):
        np.testing.assert_array_equal(np.asarray(v.value), old)
    with pytest.raises(InitializationError, match=r"'k'.*overflow float8_e4m3fn"):
        ik.Initializer(["normal", {"sigma": 1e4}], seed=1, name="k")((2, 2), dtype="float8_e4m3fn")
