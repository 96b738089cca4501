"""validate on cases too small for any distribution test: unchecked, never PASSED (audit finding 6).

Under 1000 values only the tests with an exact law run (KS; a normal's mean and variance), down to 20 values.
"""

from __future__ import annotations

from scipy import stats

import initreg
from cli_helpers import run


class WrongSmall(initreg.Initializer):
    """Promises N(0, 1), fills with std 1000."""

    name = "wrongsmall"

    def fill(self, desc, out, rng):
        rng.normal(0.0, 1000.0, out=out)

    def expected(self, desc):
        return stats.norm(0, 1)


def test_a_case_under_the_minimum_is_unchecked_not_passed():
    report = initreg.validate([WrongSmall()], cases=[(19,)])
    assert not report.passed and report.summary().startswith("NOTHING CHECKED")
    target = report.targets[0]
    assert target.verdict == "unchecked"
    assert "insufficient" in target.reason and "19 continuous values, needs 20" in target.reason


def test_a_wrong_case_under_1000_values_fails_on_the_exact_tests():
    report = initreg.validate([WrongSmall()], cases=[(999,)])
    assert not report.passed
    assert {"ks", "variance"} <= {r.test for r in report.failures()}


def test_small_cases_still_pass_where_a_check_of_the_promise_ran():
    report = initreg.validate(["zero", "uniform", "orthogonal", "normal"], cases=[(4, 4)])
    verdicts = {t.label: t.verdict for t in report.targets}
    assert verdicts["zero"] == verdicts["uniform"] == verdicts["orthogonal"] == "pass"  # exact, support, structure
    assert verdicts["normal"] == "unchecked"
    assert initreg.validate(["normal"], cases=[(30, 30)]).targets[0].verdict == "pass"  # KS, mean, variance


def test_cli_validate_of_a_small_shape_does_not_say_passed(capsys):
    code, out, err = run(capsys, "validate", "normal", "--shape", "4,4")
    assert code == 1, out + err
    assert "NOTHING CHECKED" in out and "PASSED" not in out
