"""``initreg validate``: exit status 0 / 1 / 2, summary, JSON and plots; and the pytest plugin."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import numpy.fft  # noqa: F401 - loaded here: pytester unloads modules first imported in-process, and numpy.fft cannot load twice
import pytest

import initreg
from initreg.cli import main

from .wrong import std_off

pytest_plugins = ["pytester"]


def test_all_pass_exit_0_with_a_summary_and_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["validate", "normal", "orthogonal", "--shape", "64,32,3,3", "--shape", "300,20",
                 "--seed", "4", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "PASSED: 3 passed, 0 failed, 0 unchecked" in printed
    data = json.loads(out.read_text())
    assert data["passed"] and data["seed"] == 4
    assert {c["case"] for c in data["cases"]} == {"64x32x3x3", "300x20"}


def test_a_failing_initializer_exits_1_and_shows_the_failing_test(capsys):
    mod = types.ModuleType("nb_cli_wrong")

    class TooWide(type(std_off(1.5))):
        name = "toowide"

        def __init__(self):
            super().__init__(initreg.std.Normal(0.01), initreg.std.Normal(0.015))

    @initreg.hookimpl
    def initreg_register_initializers(register):
        register(TooWide)

    mod.initreg_register_initializers = initreg_register_initializers
    initreg.register_plugin(mod)
    try:
        assert main(["validate", "toowide", "--shape", "64,64"]) == 1
    finally:
        initreg.unregister_plugin(mod)
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "variance" in printed and "toowide" in printed


@pytest.mark.parametrize("argv, words", [
    (["nosuch"], "no initializer named 'nosuch'"),
    (["--shape", "3,a"], "write it like 64,32,3,3"),
    (["--alpha", "2"], "--alpha must be a number in (0, 1)"),
    (["--seed", "-3"], "--seed must be a non-negative integer or 'random'"),
])
def test_usage_errors_exit_2_and_say_what_to_fix(argv, words, capsys):
    assert main(["validate", *argv]) == 2
    assert words in capsys.readouterr().err


def test_plots_and_a_fresh_seed(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["validate", "uniform", "--shape", "64,64", "--seed", "random", "--plots", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "(fresh)" in printed and "1 plots written" in printed
    assert (tmp_path / "uniform__64x64.png").exists()


def test_the_command_runs_as_a_program():
    out = subprocess.run([sys.executable, "-m", "initreg", "validate", "zero", "normal", "--shape", "64,64"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "PASSED" in out.stdout


def test_without_rich_progress_and_table_are_plain_text(monkeypatch, capsys):
    for mod in ("rich", "rich.console", "rich.progress", "rich.table"):
        monkeypatch.setitem(sys.modules, mod, None)
    assert main(["validate", "zero", "normal", "--shape", "64,64"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["initreg validate: [#####.....]  50%  zero [64x64]",
                                         "initreg validate: [##########] 100%  normal [64x64]"]
    lines = captured.out.splitlines()
    assert lines[0].split() == ["initializer", "plugin", "verdict", "tests", "note"]
    assert lines[1].split()[:4] == ["zero", "initreg", "PASS", "3"]  # the exact check, the bitwise replay, the regions
    assert lines[-1].startswith("PASSED: 2 passed")


# --- the pytest plugin ---------------------------------------------------------------------------------

def test_fixture_returns_the_report_or_raises_with_the_failing_rows(pytester):
    pytester.makepyfile(test_author="""
        import initreg

        class Wide(initreg.Initializer):
            def fill(self, desc, out, rng):
                rng.normal(0.0, 0.02, out=out)

            def expected(self, desc):
                from scipy import stats
                return stats.norm(0.0, 0.01)

        def test_good(initreg_validate):
            report = initreg_validate(initreg.std.Normal(0.01), cases=[(64, 64)])
            assert report.passed

        def test_by_name(initreg_validate):
            assert initreg_validate("uniform", cases=[(64, 64)]).passed

        def test_bad(initreg_validate):
            initreg_validate(Wide(), cases=[(64, 64)])
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: initreg validation failed*", "*FAIL wide*variance*"])


def test_option_adds_one_test_per_installed_initializer(pytester):
    pytester.makepyfile(test_nothing="def test_ok():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--initreg-validate", "-k", "zero or lstmbias or ok", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*initreg-validate::initreg:lstmbias PASSED*", "*initreg-validate::initreg:zero PASSED*"])
    from initreg.plugins import registry

    # the items are collected, not appended afterwards: pytest's count includes them
    result.stdout.fnmatch_lines([f"*collected {1 + len(registry.available())} items / * deselected / 3 selected*"])
    plain = pytester.runpytest("-p", "no:cacheprovider", "--co", "-q")
    assert "initreg-validate" not in plain.stdout.str()


def test_validate_each_puts_every_group_in_one_holm_family_like_one_cli_run():
    from initreg.validation.runner import validate_each

    whole = initreg.validate(["normal", "uniform"], cases=[(64, 64)])
    parts = validate_each([["normal"], ["uniform"]], cases=[(64, 64)])
    assert [r.adjusted for p in parts for r in p.rows] == [r.adjusted for r in whole.rows]
    assert parts[0].family_size == parts[1].family_size == whole.family_size
    own = sum(1 for r in parts[0].rows if r.p_value is not None)
    assert own < whole.family_size and f"{whole.family_size} p-values" in parts[0].summary()
    alone = initreg.validate(["normal"], cases=[(64, 64)])
    # the same raw p-values, but alone the family is smaller, so each adjusted p-value is at most the shared one
    assert [r.p_value for r in alone.rows] == [r.p_value for r in parts[0].rows]
    assert all(a.adjusted <= b.adjusted for a, b in zip(alone.rows, parts[0].rows) if a.adjusted is not None)


@pytest.mark.slow
def test_the_plugin_session_is_one_holm_family_over_its_items(pytester):
    pytester.makeconftest("""
        import initreg

        class Wide(initreg.Initializer):
            def fill(self, desc, out, rng):
                rng.normal(0.0, 0.02, out=out)

            def expected(self, desc):
                from scipy import stats
                return stats.norm(0.0, 0.01)

        class WidePlugin:
            @initreg.hookimpl
            def initreg_register_initializers(self, register):
                register(Wide)

        initreg.register_plugin(WidePlugin(), name="wide-plugin")
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "--initreg-validate", "-k", "wide or msraprelu or zero", "-v")
    result.assert_outcomes(passed=2, failed=1)

    class Wide(initreg.Initializer):
        def fill(self, desc, out, rng):
            rng.normal(0.0, 0.02, out=out)

        def expected(self, desc):
            from scipy import stats
            return stats.norm(0.0, 0.01)

    def count(name):
        return sum(1 for r in initreg.validate([name]).rows if r.p_value is not None)

    # the failing item's report counts the p-values of every selected item (zero has none), not its own alone
    family = count(Wide()) + count("msraprelu")
    result.stdout.fnmatch_lines([f"*FAILED: 0 passed, 1 failed, 0 unchecked; {family} p-values (Holm*"])
