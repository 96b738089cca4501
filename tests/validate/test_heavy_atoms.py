"""Heavy tails and atoms: moment tests are skipped (and say so) without the moments they need; atoms match at the
dtype's precision; two plugins registering one name are validated separately and by their qualified names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import initreg
from initreg.std import Constant, Mixture, Normal

SITE = Path(__file__).resolve().parent.parent / "fixtures" / "studentt_site"


@pytest.fixture
def studentt_site(tmp_path, monkeypatch, clean_registry):
    """Two fixture distributions, initreg-clash (Student-t(3)) and initreg-fancy (Student-t(2)), both naming 'studentt'."""
    site = tmp_path / "site"
    shutil.copytree(SITE, site)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for mod in [m for m in sys.modules if m.startswith("initreg_fx_")]:
        del sys.modules[mod]


def rows(report, test):
    return [r for r in report.rows if r.test == test]


def test_student_t3_passes_with_the_fourth_moment_tests_skipped(studentt_site):
    report = initreg.validate(["initreg-clash:studentt"], cases=[(512, 512)])
    assert report.passed, report.failure_text()
    (var,) = rows(report, "variance")
    assert var.verdict == "skipped" and "fourth moment" in var.detail.replace("4th", "fourth")
    assert rows(report, "mean")[0].verdict == "pass"  # a finite variance: the mean test still runs
    assert {r.verdict for r in rows(report, "kurtosis")} == {"skipped"}
    assert rows(report, "tails")[0].verdict == "pass"


def test_student_t2_skips_mean_and_variance_and_still_tests_the_distribution(studentt_site):
    report = initreg.validate(["initreg-fancy:studentt"], cases=[(512, 512)])
    assert report.passed, report.failure_text()
    assert rows(report, "mean")[0].verdict == "skipped" and "variance" in rows(report, "mean")[0].detail
    assert {r.test for r in report.rows if r.verdict == "pass"} >= {"ks", "anderson-darling", "tails", "resolution"}


def test_a_student_t_promise_still_catches_the_wrong_degrees_of_freedom(studentt_site):
    from initreg_fx_clash import StudentT
    from .wrong import Claims

    report = initreg.validate([Claims(StudentT(df=3.0), StudentT(df=4.0))], cases=[(512, 512)])
    assert not report.passed


def test_validate_with_no_names_runs_both_claims_of_one_name(studentt_site):
    report = initreg.validate(["initreg-clash:studentt", "initreg-fancy:studentt"], cases=[(256, 256)])
    assert [t.label for t in report.targets] == ["initreg-clash:studentt", "initreg-fancy:studentt",
                                                 "initreg-fancy:studentt(df=9.0)"]
    assert report.passed, report.failure_text()
    full = initreg.validate(cases=[(64, 64)])  # the whole catalog: the shared name does not abort the run
    qualified = {t.label for t in full.targets if t.name == "studentt"}
    assert qualified == {"initreg-clash:studentt", "initreg-fancy:studentt", "initreg-fancy:studentt(df=9.0)"}
    assert {t.plugin for t in full.targets if t.name == "studentt"} == {"initreg-clash", "initreg-fancy"}


def test_a_bare_shared_name_is_a_usage_error_naming_the_qualified_forms(studentt_site):
    from initreg.errors import AmbiguousInitializerError

    with pytest.raises(AmbiguousInitializerError, match="initreg-clash:studentt"):
        initreg.validate(["studentt"], cases=[(64, 64)])


def test_the_pytest_plugin_counts_ids_and_selects_both_claims(studentt_site, tmp_path):
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(studentt_site), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--initreg-validate",
                          "--collect-only", "-q", "-k", "studentt or test_one", str(tmp_path)],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    ids = [line for line in run.stdout.splitlines() if "::" in line]
    assert "initreg-validate::initreg-clash:studentt" in ids and "initreg-validate::initreg-fancy:studentt" in ids
    assert len(ids) == 3, run.stdout
    assert "3/" in run.stdout and "tests collected" in run.stdout  # "3/N tests collected (M deselected)"
    total = int(run.stdout.split("3/")[1].split()[0])
    assert total == 1 + len(initreg.available()), run.stdout  # the test file's test plus one per registration


def test_an_atom_the_dtype_cannot_represent_matches_at_the_dtypes_precision():
    mix = Mixture([(0.5, Constant(0.01)), (0.5, Normal(1.0))])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        report = initreg.validate([mix], cases=[(512, 512)])
    assert report.passed, report.failure_text()
    (support,) = rows(report, "support")
    assert support.verdict == "pass"
    # the same promise on float64 parameters matches 0.01 exactly
    assert initreg.validate([mix], cases=[(512, 512)], dtype="float64").passed


def test_an_atom_at_the_wrong_value_still_fails():
    from .wrong import Claims

    promised = Mixture([(0.5, Constant(0.01)), (0.5, Normal(1.0))])
    actual = Mixture([(0.5, Constant(0.0100001)), (0.5, Normal(1.0))])
    assert not initreg.validate([Claims(promised, actual)], cases=[(512, 512)]).passed


def test_the_cli_validates_a_qualified_name_and_refuses_the_bare_shared_one(studentt_site, capsys):
    from initreg.cli import main

    assert main(["validate", "initreg-fancy:studentt", "--shape", "128,128"]) == 0
    out = capsys.readouterr().out
    assert "initreg-fancy:studentt(df=9.0)" in out
    assert main(["validate", "studentt", "--shape", "128,128"]) == 2
    assert "initreg-clash:studentt" in capsys.readouterr().err


def test_strict_makes_an_initializer_that_promises_nothing_a_failure(capsys):
    from initreg.cli import main

    class Silent(initreg.Initializer):
        """Promises nothing."""

        def fill(self, desc, out, rng):
            out.fill(0.5)

    initreg.register_plugin(type("P", (), {"initreg_register_initializers": staticmethod(
        initreg.hookimpl(lambda register: register(Silent)))}), name="silent-fixture")
    try:
        assert main(["validate", "silent", "normal", "--shape", "64,64"]) == 0
        assert "promise nothing" in capsys.readouterr().out
        assert main(["validate", "silent", "normal", "--shape", "64,64", "--strict"]) == 1
    finally:
        initreg.unregister_plugin("silent-fixture")
