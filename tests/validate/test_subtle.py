"""Teeth for the subtle defect classes of issue 15: each mutant of tests/validate/wrong.py fails on the test meant for it.

One seed each here (the suite stays fast); ``python benchmarks/validate.py --power`` runs 10 seeds per class and
docs/validation.md reports ≥ 9/10 for every one. Power per class at the default cases (stated in the docs):
tails (t(60) or a 0.92/1.08 scale mixture at the right variance) through the kurtosis z pooled over the four
cases, z ≈ 9–20 against a threshold of 4.9; a copied run of 2000 values gives 1997 repeated windows where
≤ 1e-13 are expected; precision and resolution defects move counts by thousands of standard deviations;
stream keys that drop a name part or seed bits give r = 1 with some variant stream; QR without the sign fix
gives a diagonal sign z ≈ −0.8·√512 ≈ −18.
"""

from __future__ import annotations

import pytest

import initreg

from .wrong import SUBTLE

#: which test must catch each class (at least one of these fails)
CATCHES = {
    "tails: Student-t(60) at the right variance": {"kurtosis", "kurtosis-pooled", "tails"},
    "tails: scale mixture 0.92/1.08 at the right variance": {"kurtosis-pooled"},
    "repeated block: 2000 values copied": {"repeats"},
    "float32 values in float64 parameters": {"precision"},
    "bfloat16 values in float32 parameters": {"precision"},
    "quantized to 400 levels": {"resolution"},
    "stream keyed by the last name part": {"other-name"},
    "stream keyed by the first name parts": {"other-name"},
    "stream ignores the seed": {"other-seed"},
    "stream keyed by the seed's low 32 bits": {"other-seed"},
    "orthogonal: QR without the sign fix": {"haar"},
}


@pytest.mark.parametrize("label", list(SUBTLE))
def test_each_subtle_defect_fails_on_its_own_test(label):
    make, kwargs = SUBTLE[label]
    report = initreg.validate([make()], seed=0, **kwargs)
    assert not report.passed
    assert {r.test for r in report.failures()} & CATCHES[label], report.failure_text()


def test_every_defect_class_has_a_named_catching_test():
    assert set(CATCHES) == set(SUBTLE)


def test_lag1_is_skipped_on_orthogonal_matrices_and_the_haar_test_runs_instead():
    report = initreg.validate(["orthogonal"], cases=[(256, 256), (512, 128)])
    lag = [r for r in report.rows if r.test == "lag-1"]
    assert lag and all(r.verdict == "skipped" and "orthogonal" in r.detail for r in lag)
    assert [r.verdict for r in report.rows if r.test == "haar"] == ["pass"] * 4  # two configurations × two cases
