"""The Report: rows with statistics and Holm-adjusted p-values, JSON, Markdown and PNG plots."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import initreg
from initreg.errors import MissingDependencyError
from initreg.validation import Case

from .wrong import std_off, tutorial_mixture

CASES = [Case("m", (128, 64)), Case("conv", (16, 8, 3, 3))]


@pytest.fixture(scope="module")
def report():
    return initreg.validate(["normal", tutorial_mixture(), "orthogonal", "bilinear", std_off(1.5)], cases=CASES)


def test_rows_carry_statistic_p_adjusted_and_verdict(report):
    tested = [r for r in report.rows if r.p_value is not None]
    assert len(tested) == report.family_size > 20
    m = report.family_size
    for r in tested:
        assert r.p_value <= r.adjusted <= 1.0
        assert r.adjusted <= min(1.0, m * r.p_value) + 1e-15  # Holm never exceeds Bonferroni
        assert r.verdict == ("fail" if r.adjusted <= report.alpha else "pass")
    assert {r.verdict for r in report.rows} >= {"pass", "fail", "skipped"}
    assert not report.passed
    assert report.verdict("normal") == "pass" and report.verdict(
        "claims(promised=normal(sigma=0.01), actual=normal(sigma=0.015))") == "fail"


def test_to_json_round_trips_through_the_json_module(report, tmp_path):
    path = tmp_path / "r.json"
    text = report.to_json(path)
    data = json.loads(path.read_text())
    assert data == json.loads(text)
    assert data["passed"] is False and data["seed"] == 0 and data["alpha"] == 1e-3
    assert data["family_size"] == report.family_size
    assert len(data["rows"]) == len(report.rows)
    assert {"initializer", "case", "test", "statistic", "p_value", "adjusted", "verdict", "detail"} == set(data["rows"][0])
    assert [t["label"] for t in data["initializers"]][:2] == ["normal", (
        "mixture(components=[[0.25, uniform(low=5.0, high=10.0)], [0.5, zero], [0.25, uniform(low=-10.0, high=-5.0)]])")]


def test_to_markdown_lists_every_initializer_and_the_failures(report):
    md = report.to_markdown()
    assert md.startswith("**FAILED")
    assert "| normal | initreg | pass |" in md
    # one summary line for the failing initializer, then one line per failing row
    assert md.count("| fail |") == 1 + len(report.failures())
    assert len(report.to_markdown(details=True).splitlines()) > len(md.splitlines())


def test_plot_writes_one_png_per_case(report, tmp_path):
    pytest.importorskip("matplotlib")
    paths = report.plot(tmp_path / "plots")
    assert len(paths) == len(report.cases) and len(set(paths)) == len(paths)
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    assert {p.name for p in paths} >= {"normal__m.png", "bilinear__conv.png", "orthogonal__m.png"}


def test_plot_file_names_are_distinct_for_distinct_labels_and_bounded():
    from initreg.validation.plots import slug

    labels = ["x/y", "x-y", "x y", "xavier(factor_type='in')", "xavier(factor_type='out')", "n" * 300, "n" * 301]
    names = [slug(t) for t in labels]
    assert len(set(names)) == len(labels) and all(len(n) <= 109 for n in names)
    assert slug("x-y") == "x-y" and slug("normal") == "normal"  # a safe label is its own name


def test_plot_without_matplotlib_names_the_plots_extra(report, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'initreg\[plots\]'") as info:
        report.plot(tmp_path)
    assert isinstance(info.value, ImportError)


def test_initreg_validate_stays_a_function_and_the_package_stays_light():
    code = ("import sys, initreg, initreg.validation, initreg.validation.expected, initreg.validation.pytest_plugin\n"
            "assert 'scipy' not in sys.modules and 'matplotlib' not in sys.modules, 'heavy import'\n"
            "assert callable(initreg.validate) and initreg.validate is initreg.validation.validate\n"
            "print(initreg.validate(['zero'], cases=[(4, 4)]).passed)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
