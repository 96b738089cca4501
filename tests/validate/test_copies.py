"""Cross-tensor copies (issue 27): a tensor copied into another parameter, shifted or scaled, fails ``check``.

Power: a copy gives r = ±1 on the first 4096 values, z = 64 against a Bonferroni threshold of z ≈ 6.
"""

from __future__ import annotations

import re

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


def _pairwise(arrays, ties):
    """copies_check one pair at a time, as it was written first: the reference for the block-at-once version."""
    from initreg.validation import crosscheck, stats

    heads = {}
    for n, x in arrays.items():
        head = np.asarray(x).reshape(-1)[:crosscheck.PREFIX].astype(np.float64)
        if x.size >= crosscheck.MIN_SIZE and np.isfinite(head).all() and np.ptp(head) > 0:
            heads[n] = head - head.mean()
    out = {}
    for a in heads:
        best, others = (0.0, 1.0, None), 0
        for b in heads:
            if b == a or {a, b} in [set(t) for t in ties] or np.shares_memory(arrays[a], arrays[b]):
                continue
            k = min(heads[a].size, heads[b].size)
            r, p = stats.product_test(heads[a][:k], heads[b][:k])
            others += 1
            best = (r, p, b) if p < best[1] else best
        if others:
            out[a] = (best[0], min(1.0, others * best[1]), best[2])
    return out


def test_all_pairs_at_once_give_what_one_pair_at_a_time_gives():
    from initreg.validation.crosscheck import copies_check

    rng = np.random.default_rng(5)
    arrays = {f"a{i}": rng.standard_normal(int(rng.choice([5000, 4096, 2000, 1200, 800]))).astype(np.float32)
              for i in range(40)}
    arrays.update(a3=rng.standard_normal(5000).astype(np.float32), a5=rng.standard_normal(3000).astype(np.float32))
    arrays.update(copy=2 * arrays["a3"] + 1, view=arrays["a5"], part=arrays["a3"][:1500], flat=np.ones(5000))
    ties = [("a1", "a2")]
    got = {k: (o.statistic, o.p_value, re.search(r"with ('[^']*'|None) \(Bonferroni", o.detail).group(1))
           for k, o in copies_check(arrays, ties).items()}
    want = {k: (r, p, repr(b)) for k, (r, p, b) in _pairwise(arrays, ties).items()}
    assert got.keys() == want.keys() and got["copy"][2] == "'a3'" and got["a3"][2] == "'copy'"
    for k in want:
        assert got[k][2] == want[k][2], k
        np.testing.assert_allclose(got[k][:2], want[k][:2], rtol=1e-7, atol=1e-300, err_msg=k)
