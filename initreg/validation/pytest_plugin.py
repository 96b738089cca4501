"""pytest plugin (entry point ``pytest11``): ``--initreg-validate`` and the ``initreg_validate`` fixture.

Nothing heavy is imported at pytest start-up: scipy and the registry load only when a validation runs.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest


def pytest_addoption(parser: Any) -> None:
    """Add ``--initreg-validate`` and ``--initreg-seed``."""
    group = parser.getgroup("initreg", "initreg validation")
    group.addoption("--initreg-validate", action="store_true", default=False,
                    help="add one test per installed initializer: validate it against its expected distribution")
    group.addoption("--initreg-seed", default="0", metavar="N",
                    help="seed of those validations (default 0, deterministic; 'random' for a fresh one)")


def _seed(config: Any) -> int | None:
    """The --initreg-seed value: None for a fresh seed, else a non-negative int; a pytest usage error otherwise."""
    from ..core.stream import seed_from_text

    try:
        return seed_from_text(config.getoption("initreg_seed"), "--initreg-seed")
    except ValueError as exc:
        raise pytest.UsageError(f"{exc}; the default is 0") from None


def pytest_configure(config: Any) -> None:
    """Refuse a bad --initreg-seed once, at start-up, instead of failing every validation item with it."""
    _seed(config)


@pytest.fixture
def initreg_validate(request: Any) -> Callable[..., Any]:
    """``initreg_validate(initializer_or_name, cases=None)``: the Report when every test passes, else AssertionError."""
    def run(initializer_or_name: Any, cases: Any = None, **kwargs: Any) -> Any:
        from initreg.validation import assert_valid

        kwargs.setdefault("seed", _seed(request.config))
        return assert_valid(initializer_or_name, cases, **kwargs)
    return run


class ValidationFailed(Exception):
    """Raised by a validation item; carries the Report for the failure text."""

    def __init__(self, report: Any):
        super().__init__(report.summary())
        self.report = report


class InitregValidationItem(pytest.Item):
    """One registered initializer (``dist:name``), validated with its default cases and configurations.

    The session's items share one family-wise error rate (Holm over all of their p-values): a session of
    correct initializers fails at random with probability ≤ 1e-3, however many items it holds.
    """

    def __init__(self, *, initializer: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.initializer = initializer

    def runtest(self) -> None:
        report = session_reports(self)[self.initializer]
        if report.failures():
            raise ValidationFailed(report)
        if not report.passed:
            pytest.skip(f"unchecked: {'; '.join(t.reason for t in report.unchecked)}")

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        if isinstance(excinfo.value, ValidationFailed):
            return excinfo.value.report.failure_text()
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"initreg validate {self.initializer}"


_REPORTS = pytest.StashKey[Any]()  # name → Report, or the exception the session's validation raised


def session_reports(item: Any) -> dict[str, Any]:
    """Every selected validation item's Report, computed once per session in one Holm family (as the CLI run)."""
    stash = item.config.stash
    if _REPORTS not in stash:
        from initreg.validation.runner import validate_each

        names = [i.initializer for i in item.session.items if isinstance(i, InitregValidationItem)]
        names = names if item.initializer in names else [*names, item.initializer]
        try:
            reports = validate_each([[name] for name in names], seed=_seed(item.config))
        except Exception as exc:  # kept, so the other items re-raise it instead of validating everything again
            stash[_REPORTS] = exc
            raise
        stash[_REPORTS] = dict(zip(names, reports))
    if isinstance(stash[_REPORTS], Exception):
        raise stash[_REPORTS]
    return stash[_REPORTS]


class InitregValidationCollector(pytest.Collector):
    """The ``initreg-validate`` node: one item per registration, ``initreg-validate::<distribution>:<name>``."""

    def collect(self) -> list[Any]:
        from initreg.plugins import registry

        return [InitregValidationItem.from_parent(self, name=f"{info.distribution}:{info.name}",
                                                  initializer=f"{info.distribution}:{info.name}")
                for info in registry.available()]


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: Any) -> Any:
    """With ``--initreg-validate``, the session collects the ``initreg-validate`` node beside the test files.

    Collected like any file, its items count in "collected N items" and ``-k``, ``-m`` and ``--collect-only``
    treat them as they treat every other test.
    """
    report = yield
    if (isinstance(collector, pytest.Session) and collector.config.getoption("initreg_validate")
            and report.outcome == "passed"):
        node = InitregValidationCollector.from_parent(collector, name="initreg-validate", path=collector.path,
                                                      nodeid="initreg-validate")
        report.result.append(node)
    return report
