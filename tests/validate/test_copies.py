"""Cross-tensor copies (issue 27): a tensor copied into another parameter, shifted or scaled, fails ``check``.

Power: a copy gives r = ±1 on the first 4096 values, z = 64 against a Bonferroni threshold of z ≈ 6.
"""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.std import Normal, Zero
from initreg.errors import ValidationError

SIZE = (128, 64)


def _state(copy=None) -> dict:
    rng = np.random.default_rng(0)
    state = {f"h.{i}.weight": (0.02 * rng.standard_normal(SIZE)).astype(np.float32) for i in range(4)}
    state["h.0.bias"] = np.zeros(128, np.float32)
    state["h.1.bias"] = np.zeros(128, np.float32)  # exact promises may repeat: zeros everywhere is right
    if copy is not None:
        state["h.3.weight"] = copy(state["h.1.weight"]).astype(np.float32)
    return state


RULES = {"*.weight": Normal(0.02), "*.bias": Zero()}


def test_independent_tensors_pass_and_exact_promises_may_repeat():
    report = initreg.check(_state(), RULES)
    assert report.passed, report.failure_text()
    assert sum(r.test == "copies" for r in report.rows) == 4


@pytest.mark.parametrize("copy", [lambda w: w, lambda w: w + 0.001, lambda w: -1.0 * w],
                         ids=["same", "shifted", "scaled"])
def test_a_copied_tensor_fails_on_copies(copy):
    report = initreg.check(_state(copy), RULES)
    failing = {r.initializer for r in report.failures() if r.test == "copies"}
    assert failing == {"h.1.weight", "h.3.weight"}, report.failure_text()


def test_a_tie_or_shared_memory_is_no_copy():
    state = _state(lambda w: w)
    assert initreg.check(state, RULES, ties=[("h.1.weight", "h.3.weight")]).passed
    state["h.3.weight"] = state["h.1.weight"]  # one array under two names, as a tied PyTorch state_dict holds it
    assert initreg.check(state, RULES).passed
    with pytest.raises(ValidationError, match="ties must be pairs"):
        initreg.check(state, RULES, ties=[("a", "b", "c")])
