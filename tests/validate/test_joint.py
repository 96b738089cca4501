"""Joint checks of issue 27: values right one by one but wrong together fail on the test meant for them.

One seed per class here (fast); the slow test below runs seeds 0–9 per class and requires ≥ 9 caught, the
figure docs/validation.md reports. Why each has power at the default cases (n = 2¹⁸ per case, threshold
z ≈ 7 after Bonferroni over 2¹⁷ lags and Holm): ρ = 0.05 across 3 block pairs gives z ≈ 0.05·√196608 ≈ 22;
shared Box–Muller radii correlate magnitudes at ≈ 0.5 on half the lag-1 and lag-2 pairs (z > 100); a
rank-1 part holding 1 % of the energy is far above the BBP threshold (θ = √(0.01·p) ≥ 1.6 > (p/n)^¼) and puts
λ₁ tens of Tracy–Widom units above the edge; rows at std 0.95/1.05 shift each row's mean score by ≈ 1.5
standard errors, a Levene F of ≈ 3 on 511 degrees of freedom; A ⊗ B of Haar factors has E[(√L·w)⁴] ≈ 9
against Haar's 3 (z ≈ 300).
"""

from __future__ import annotations

import numpy as np
import pytest

import initreg
from initreg.validation import joint

from .wrong import JOINT, KEYS


@pytest.mark.parametrize("label", list(JOINT))
def test_each_joint_defect_fails_on_its_own_test(label):
    make, kwargs, tests = JOINT[label]
    report = initreg.validate([make()], seed=0, **kwargs)
    assert {r.test for r in report.failures()} & tests, report.failure_text()


@pytest.mark.slow
@pytest.mark.parametrize("label", list(JOINT))
def test_each_joint_defect_is_caught_in_at_least_9_of_10_seeds(label):
    make, kwargs, tests = JOINT[label]
    caught = sum(bool({r.test for r in initreg.validate([make()], seed=s, **kwargs).failures()} & tests)
                 for s in range(10))
    assert caught >= 9, f"{label}: {caught}/10"


def test_correct_iid_values_pass_every_joint_check():
    rng = np.random.default_rng(5)
    for x in (rng.standard_normal((512, 512)), rng.uniform(-1, 1, (256, 128, 3, 3)), rng.standard_t(3, (1024, 256))):
        outcomes = joint.autocorrelation_check(x) + joint.homogeneity_check(x)
        assert len(outcomes) == 3 and all(o.p_value > 1e-4 for o in outcomes), outcomes
    edge = joint.spectral_edge_check(rng.standard_normal((300, 700)), 0.0, 1.0, 0.0)
    assert edge[0].p_value > 1e-3, edge


def test_a_correlation_at_one_lag_is_found_at_that_lag():
    rng = np.random.default_rng(1)
    z = rng.standard_normal(1 << 17)
    z[1000:] += 0.2 * z[:-1000]  # values 1000 apart correlated at ≈ 0.2
    (values, _), = [joint.autocorrelation_check(z)]
    assert values.p_value < 1e-12 and "at lag 1000:" in values.detail


def test_the_tracy_widom_approximation_matches_known_quantiles():
    # TW₁ quantiles (Bornemann 2010): P(TW₁ > 0.9793) = 0.05, P(TW₁ > 2.0234) = 0.01
    assert joint.tw1_sf(0.9793) == pytest.approx(0.05, rel=0.05)
    assert joint.tw1_sf(2.0234) == pytest.approx(0.01, rel=0.1)


def test_orthogonal_haar_true_is_the_sign_corrected_gaussian_qr_and_passes_as_haar():
    from initreg.std import Orthogonal

    init = Orthogonal(1.0, haar=True)
    assert init.expected(None).haar and not Orthogonal(1.0).expected(None).haar
    assert Orthogonal(1.0, rand_type="normal").expected(None).haar
    report = initreg.validate([init], cases=[(256, 256), (128, 512)])
    assert report.passed, report.failure_text()
    kurt = [r for r in report.rows if r.test == "haar-kurtosis"]
    assert len(kurt) == 2 and all("two-sided" in r.detail for r in kurt)
    # the default (uniform entries) is not Haar: two-sided, its lighter tails fail; one-sided, they pass
    w = initreg.values(Orthogonal(1.0), (512, 512), name="w", seed=0)
    assert joint.haar_moment_check(np.asarray(w), 1.0, haar=True)[0].p_value < 1e-6
    assert joint.haar_moment_check(np.asarray(w), 1.0, haar=False)[0].p_value == 1.0


def test_orthogonal_haar_must_be_a_bool():
    from initreg.errors import InitializerArgumentError
    from initreg.std import Orthogonal

    with pytest.raises(InitializerArgumentError, match="haar must be True or False"):
        Orthogonal(haar="yes")


@pytest.mark.parametrize("label", list(KEYS))
def test_each_key_defect_fails_on_its_own_test(label):
    make, kwargs, tests = KEYS[label]
    report = initreg.validate([make()], cases=[(512, 512)], seed=0, **kwargs)
    assert {r.test for r in report.failures()} & tests, report.failure_text()


def test_correct_keys_pass_the_key_checks_and_confusable_names_are_the_documented_ones():
    from initreg.validation.keychecks import confusable_names

    report = initreg.validate(["normal"], cases=[(512, 512)], seed=0)
    rows = {r.test: r for r in report.rows}
    assert rows["key-collisions"].verdict == "pass" and rows["key-collisions"].statistic == 0
    assert rows["confusable-names"].verdict == "pass"
    assert [w for w, _, _ in confusable_names("a.b")] == ["'.' vs '_'", "case", "NFC vs NFD"]
    assert [w for w, _, _ in confusable_names("AB")] == ["NFC vs NFD"]  # no '.', no lower case: nothing to confuse


@pytest.mark.slow
def test_one_output_unit_at_twice_the_std_in_a_gpt2_sized_weight_fails_check():
    from initreg.std import Normal

    rng = np.random.default_rng(0)
    w = (0.02 * rng.standard_normal((768, 3072))).astype(np.float32)  # HF GPT-2 Conv1D: (in, out)
    assert initreg.check({"h.0.mlp.c_fc.weight": w}, Normal(0.02)).passed
    w[:, 1234] *= 2.0
    report = initreg.check({"h.0.mlp.c_fc.weight": w}, Normal(0.02))
    failing = [r for r in report.failures() if r.test == "homogeneity"]
    assert failing and "slice 1234" in failing[0].detail, report.failure_text()
