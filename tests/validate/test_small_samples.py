"""Arrays of 20 to 999 values are tested by the tests whose law is exact at any n: KS, and a normal's mean and variance.

Size: the three p-values are exact (KS: scipy's kstwo; mean: z; variance: χ²(n − 1)), so a correct array fails at
alpha with probability ≤ alpha. Measured here on 200 fixed seeds of 256 values (T5's relative_attention_bias size).
Power at 256 values, raw p ≤ 10⁻⁶ (detected whatever else shares a Holm family of 1000 p-values), measured over
200 NumPy seeds (scratch simulation): std × √2 (fans swapped, ratio 2) 1.00, std × 2 or × ½ 1.00, mean + σ/2 0.99,
std × 1.2 0.24, mean + 0.3σ 0.41; a uniform with the right variance 0.00 (KS at 256 values cannot see its shape).
"""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.std import Normal, Uniform
from initreg.validation import checks
from initreg.validation.dists import parts

SEEDS = range(200)


def _pvalues(init, promise, seed, n=256):
    x = initreg.values(init, (n,), name="relative_attention_bias.weight", seed=seed, dtype="float32")
    return {o.test: o.p_value for o in checks.check(promise, x, "test") if o.p_value is not None}


def test_correct_small_normal_arrays_are_calibrated_and_never_fail_at_alpha():
    found = [_pvalues(Normal(0.125), Normal(0.125).expected(None), s) for s in SEEDS]
    assert {frozenset(f) for f in found} == {frozenset({"ks", "mean", "variance"})}
    for test in ("ks", "mean", "variance"):
        p = np.array([f[test] for f in found])
        assert 4 <= np.sum(p < 0.05) <= 18, test  # Binomial(200, 0.05): mean 10, this range holds 99.6 %
        assert p.min() > 1e-3 / 3, test


def test_correct_small_uniform_arrays_get_ks_only_and_pass():
    init = Uniform(1 / 16)  # PyTorch's Linear bias for fan_in 256
    found = [_pvalues(init, init.expected(None), s) for s in SEEDS]
    assert {frozenset(f) for f in found} == {frozenset({"ks"})}
    p = np.array([f["ks"] for f in found])
    assert 4 <= np.sum(p < 0.05) <= 18 and p.min() > 1e-3


@pytest.mark.parametrize("wrong, test", [(Normal(0.125 * 2 ** 0.5), "variance"), (Normal(0.25), "variance"),
                                         (Normal(0.0625), "variance"), (Normal(0.125, mean=0.0625), "mean")],
                         ids=["fans-swapped-ratio-2", "std-x2", "std-half", "mean-plus-half-sigma"])
def test_wrong_small_normal_fills_are_detected_at_one_in_a_million(wrong, test):
    promise = Normal(0.125).expected(None)
    hits = sum(_pvalues(wrong, promise, s)[test] <= 1e-6 for s in range(20))
    assert hits >= 19


def test_under_20_values_is_still_unchecked():
    x = initreg.values(Normal(1.0), (19,), name="w", seed=0)
    report = initreg.check({"w": x}, Normal(1.0))
    assert report.targets[0].verdict == "unchecked"


@pytest.mark.filterwarnings("ignore::initreg.UnusedRuleWarning")  # recipe:t5 covers heads this model lacks
def test_a_t5_relative_attention_bias_is_tested_and_a_doubled_one_fails():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import initreg.torch

    config = transformers.T5Config(vocab_size=128, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=8)
    model = transformers.T5Model(config)
    initreg.torch.initialize(model, "recipe:t5", seed=0)
    name = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"
    report = initreg.check(model, "recipe:t5")
    assert report.passed, report.failure_text()
    assert {r.test for r in report.rows if r.initializer == name and r.verdict == "pass"} == {"ks", "mean", "variance"}
    with torch.no_grad():
        model.get_parameter(name).mul_(2)
    assert [(r.initializer, r.test) for r in initreg.check(model, "recipe:t5").failures()] == [(name, "variance")]
