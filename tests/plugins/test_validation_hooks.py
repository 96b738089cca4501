"""A plugin's initreg_validation_configs hook that misbehaves is blamed alone (audit finding 4)."""

from __future__ import annotations

import pytest
from scipy import stats

import initreg


class Good(initreg.Initializer):
    """N(0, sigma²) values."""

    name = "hookgood"

    def __init__(self, sigma=1.0):
        self.sigma = sigma

    def fill(self, desc, out, rng):
        rng.normal(0.0, self.sigma, out=out)

    def expected(self, desc):
        return stats.norm(0.0, self.sigma)


class NeedsArgs(Good):
    """N(0, sigma²) values; sigma required."""

    name = "hookneedsargs"

    def __init__(self, sigma):
        super().__init__(sigma)


def plugin(answer):
    class Plugin:
        @initreg.hookimpl
        def initreg_register_initializers(self, register):
            register(Good)
            register(NeedsArgs)

        @initreg.hookimpl
        def initreg_validation_configs(self, cls):
            if isinstance(answer, Exception):
                raise answer
            return answer(cls)
    return Plugin()


@pytest.fixture
def registered():
    names = []

    def add(answer):
        names.append(initreg.register_plugin(plugin(answer), name=f"hook-plugin-{len(names)}"))
    yield add
    for name in names:
        initreg.unregister_plugin(name)


def verdicts(report):
    return {t.label: (t.verdict, t.reason) for t in report.targets}


@pytest.mark.parametrize("answer, words", [
    (RuntimeError("hook boom"), "raised RuntimeError: hook boom"),
    (lambda cls: 5, "returned 5; return a list"),
])
def test_a_broken_hook_fails_only_its_own_classes_naming_the_plugin(registered, answer, words):
    registered(answer)
    found = verdicts(initreg.validate(["normal", "hookgood"], cases=[(64, 64)]))
    assert found["normal"] == ("pass", "") and found["hookgood"] == ("pass", "")
    verdict, reason = found["hookgood[hook-plugin-0 configs]"]
    assert verdict == "fail" and "plugin 'hook-plugin-0'" in reason and words in reason


def test_a_declared_config_with_a_wrong_keyword_fails_and_the_good_ones_run(registered):
    registered(lambda cls: [{"nope": 1}, {"sigma": 2.0}] if cls is Good else None)
    report = initreg.validate(["hookgood"], cases=[(64, 64)])
    found = verdicts(report)
    assert found["hookgood"][0] == "pass" and found["hookgood(sigma=2.0)"][0] == "pass"
    verdict, reason = found["hookgood(nope=1)"]
    assert verdict == "fail" and "declared {'nope': 1}, which does not build" in reason
    assert not report.passed and report.summary().startswith("FAILED")


def test_a_class_needing_arguments_is_unchecked_and_its_declared_configs_still_run(registered):
    registered(lambda cls: [{"sigma": 0.5}] if cls is NeedsArgs else None)
    found = verdicts(initreg.validate(["hookneedsargs"], cases=[(64, 64)]))
    assert found["hookneedsargs"][0] == "unchecked" and "needs constructor arguments" in found["hookneedsargs"][1]
    assert found["hookneedsargs(sigma=0.5)"][0] == "pass"


def test_validation_declarations_reports_each_plugin_separately(registered):
    from initreg.plugins.registry import validation_configs, validation_declarations

    registered(RuntimeError("boom"))
    registered(lambda cls: [{"sigma": 3.0}] if cls is Good else None)
    found = dict(validation_declarations(Good))
    assert isinstance(found["hook-plugin-0"], RuntimeError) and found["hook-plugin-1"] == [{"sigma": 3.0}]
    assert validation_configs(Good) == [{"sigma": 3.0}]
