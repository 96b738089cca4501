"""A malformed promise (expected()) fails its own initializer's case; the run, the CLI and pytest go on (finding 3)."""

from __future__ import annotations

import numpy.fft  # noqa: F401 - loaded here: pytester unloads modules first imported in-process
import numpy as np
import pytest
from scipy import stats

import initreg
from initreg.core.expected import Atom, Exact, Mixture, Orthogonal, Sparse
from cli_helpers import run

pytest_plugins = ["pytester"]


def promising(make, constant: bool = False, name: str = "bad"):
    """An initializer that fills N(0, 1) (or zeros) and promises ``make(desc)``."""
    class Bad(initreg.Initializer):
        """Fills N(0, 1) or zeros, promises whatever it is given."""

        def fill(self, desc, out, rng):
            if constant:
                out.fill(0.0)
            else:
                rng.normal(0.0, 1.0, out=out)

        def expected(self, desc):
            return make(desc)
    Bad.name = name
    return Bad


BROKEN = {
    "orthogonal zero": (lambda d: Orthogonal(0.0), True, "Orthogonal scale must be > 0"),
    "orthogonal str": (lambda d: Orthogonal("a"), False, "Orthogonal scale must be a real number, got 'a'"),
    "atom None": (lambda d: Atom(None), False, "Atom value must be a real number, got None"),
    "mixture flat": (lambda d: Mixture((stats.norm(0, 1),)), False, "(weight, distribution) pairs"),
    "mixture None": (lambda d: Mixture(None), False, "(weight, distribution) pairs"),
    "sparse str": (lambda d: Sparse("a", stats.norm(0, 1)), False, "Sparse nonzeros must be an int"),
    "sparse negative": (lambda d: Sparse(-1, stats.norm(0, 1)), False, "Sparse nonzeros must be ≥ 0"),
    "exact object": (lambda d: Exact([object()]), True, "checking the promise raised TypeError"),
    "exact ragged": (lambda d: Exact([[1], [1, 2]]), True, "checking the promise raised ValueError"),
    "norm overflow": (lambda d: stats.norm(0, 1e300), False, "checking the promise raised OverflowError"),
}


@pytest.mark.parametrize("what", sorted(BROKEN))
def test_validate_fails_the_broken_initializer_and_checks_the_others(what):
    make, constant, words = BROKEN[what]
    report = initreg.validate(["zero", promising(make, constant)(), "one"], cases=[(64, 64)])
    verdicts = {t.label: t.verdict for t in report.targets}
    assert verdicts == {"zero": "pass", "bad": "fail", "one": "pass"}, verdicts
    rows = [r for r in report.rows if r.initializer == "bad" and r.verdict == "fail"]
    assert any(words in r.detail for r in rows), [r.detail for r in rows]


def test_check_fails_only_the_array_whose_promise_is_malformed():
    ragged = promising(lambda d: Exact([[1], [1, 2]]), True)()
    good = (0.07 * np.random.default_rng(1).uniform(-1, 1, (64, 64))).astype(np.float32)
    report = initreg.check({"a": good, "b": np.zeros((64, 64), np.float32)}, {"a": initreg.std.Uniform(0.07),
                                                                             "b": ragged})
    assert {t.label: t.verdict for t in report.targets} == {"a": "pass", "b": "fail"}
    rows = {r.initializer: r for r in report.rows if r.test == "expected"}
    assert "checking the promise raised ValueError" in rows["b"].detail


@pytest.fixture
def zdiv_plugin():
    class Plugin:
        @initreg.hookimpl
        def initreg_register_initializers(self, register):
            register(promising(lambda d: Orthogonal(0.0), True, "zdiv"))
    initreg.register_plugin(Plugin(), name="zdiv-fixture")
    yield
    initreg.unregister_plugin("zdiv-fixture")


def test_cli_validate_reports_the_broken_plugin_as_failed_not_internal_error(zdiv_plugin, capsys):
    code, out, err = run(capsys, "validate", "zero", "one", "zdiv")
    assert code == 1, out + err
    assert "internal error" not in err
    assert "Orthogonal scale must be > 0" in out and "2 passed, 1 failed" in out


CONFTEST = '''
import initreg
from initreg.core.expected import Orthogonal


class Zdiv(initreg.Initializer):
    """Zero fill, a zero-scale orthogonal promise."""

    name = "zdiv"

    def fill(self, desc, out, rng):
        out.fill(0.0)

    def expected(self, desc):
        return Orthogonal(0.0)


class Plugin:
    @initreg.hookimpl
    def initreg_register_initializers(self, register):
        register(Zdiv)


initreg.register_plugin(Plugin(), name="zdiv-conftest")


def pytest_unconfigure(config):
    initreg.unregister_plugin("zdiv-conftest")
'''


def test_pytest_items_fail_only_for_the_broken_initializer(pytester):
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest("-p", "no:cacheprovider", "--initreg-validate", "-k",
                                "zdiv or initreg:zero or initreg:one", "-v")
    for line in ("*initreg-validate::*:zdiv FAILED*", "*initreg-validate::initreg:one PASSED*",
                 "*initreg-validate::initreg:zero PASSED*"):
        result.stdout.fnmatch_lines([line])
    result.assert_outcomes(passed=2, failed=1)


RAISING = '''
import initreg.validation.runner as runner

CALLS = []
ORIGINAL = runner.validate_each


def broken(*args, **kwargs):
    CALLS.append(1)
    raise RuntimeError(f"validation broke (call {len(CALLS)})")


runner.validate_each = broken


def pytest_unconfigure(config):
    runner.validate_each = ORIGINAL  # pytester runs in this process: later tests need the real one
'''


def test_pytest_runs_a_failing_session_validation_once_and_every_item_reports_it(pytester):
    pytester.makeconftest(RAISING)
    result = pytester.runpytest("-p", "no:cacheprovider", "--initreg-validate", "-k", "initreg:zero or initreg:one")
    result.assert_outcomes(failed=2)
    assert "validation broke (call 1)" in result.stdout.str() and "call 2" not in result.stdout.str()


def test_a_bad_initreg_seed_is_a_usage_error(pytester):
    pytester.makepyfile(test_nothing="def test_ok():\n    pass\n")
    for bad in ("abc", "-3"):
        result = pytester.runpytest("-p", "no:cacheprovider", "--initreg-validate", "--initreg-seed", bad, "-k", "zero")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert f"--initreg-seed must be a non-negative integer or 'random', got '{bad}'" in result.stderr.str()
