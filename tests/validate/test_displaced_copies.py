"""A tensor holding another's values displaced (one value, one row or beyond the first 4096 further on) fails check.

Before, the `copies` row correlated the first 4096 values position by position, so `k_proj` drawn with
`q_proj`'s stream one value (or one row) further on passed `check` (768 × 768, Normal(0.02)). The
`displaced-copies` row looks up every window of 4 distinct, non-zero, non-atom values of each array's first 4096
in every other array, at any offset. Size: two correct windows coincide with probability ≤ q⁴ (q ≈ 5·10⁻⁷ for a
float32 normal under the resolution test's bound); the row's Poisson mean takes 2⁻¹⁶ per value (≈ 10⁻⁹ expected
windows here), so a correct run has no shared window and a copy has thousands. A partial copy of 16 values gives
13 shared windows: p ≈ 10⁻¹¹⁰.
"""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.std import Constant, Mixture, Normal, Orthogonal, TruncatedNormal, Uniform, Xavier, Zero

SHAPE = (768, 768)


def _qk():
    q = initreg.values(Normal(0.02), SHAPE, name="attn.q_proj.weight", seed=0)
    k = initreg.values(Normal(0.02), SHAPE, name="attn.k_proj.weight", seed=0)
    return q, k


@pytest.mark.parametrize("shift", [1, 768, 5000], ids=["one-value", "one-row", "beyond-the-prefix"])
def test_a_stream_drawn_with_another_tensors_offset_fails(shift):
    q, k = _qk()
    k.reshape(-1)[shift:] = q.reshape(-1)[:q.size - shift]
    report = initreg.check({"attn.q_proj.weight": q, "attn.k_proj.weight": k}, Normal(0.02))
    assert {(r.initializer, r.test) for r in report.failures()} == {("attn.q_proj.weight", "displaced-copies"),
                                                                    ("attn.k_proj.weight", "displaced-copies")}
    assert f"appear in 'attn.k_proj.weight' from index {shift}" in report.failures()[0].detail
    tied = initreg.check({"attn.q_proj.weight": q, "attn.k_proj.weight": k}, Normal(0.02),
                         ties=[("attn.q_proj.weight", "attn.k_proj.weight")])
    assert tied.passed, tied.failure_text()


def test_sixteen_copied_values_are_enough():
    q, k = _qk()
    k.reshape(-1)[100_000:100_016] = q.reshape(-1)[50:66]
    report = initreg.check({"attn.q_proj.weight": q, "attn.k_proj.weight": k}, Normal(0.02))
    rows = [r for r in report.failures() if r.test == "displaced-copies"]
    assert [r.statistic for r in rows] == [13.0, 13.0] and all(r.p_value < 1e-100 for r in rows)


def test_independent_arrays_of_every_kind_share_no_window():
    four_atoms = Mixture(components=[(0.25, Constant(1.0)), (0.25, Constant(2.0)), (0.25, Constant(3.0)),
                                     (0.25, Constant(4.0))])
    rules = {"n": Normal(0.02), "u": Uniform(0.05), "x": Xavier(), "t": TruncatedNormal(0.02),
             "m": Mixture(components=[(0.5, Zero()), (0.5, Normal(1.0))]), "a": four_atoms, "o": Orthogonal(),
             "s": initreg.create("sparse"), "d": initreg.create("deltaorthogonal")}
    arrays = {f"{p}{i}": initreg.values(init, (64, 64, 3, 3) if p == "d" else (256, 512), name=f"{p}{i}", seed=0,
                                        dtype="float64" if i == 2 else "float32")
              for p, init in rules.items() for i in range(3)}
    rules = {f"{p}*": init for p, init in rules.items()}
    report = initreg.check(arrays, rules)
    rows = [r for r in report.rows if r.test == "displaced-copies"]
    assert len(rows) == len(arrays)
    assert report.passed, report.failure_text()
    assert all(r.statistic == 0 for r in rows)
