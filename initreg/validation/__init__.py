"""Statistical validation of initializers against the distributions they promise.

``initreg.validate(...)`` is :func:`validate` here. Importing this package stays light (no scipy): the
runner, the tests and the report load on first use, so the pytest plugin costs nothing until asked.
"""

from __future__ import annotations

from typing import Any

__all__ = ["validate", "assert_valid", "Report", "Row", "Case", "DEFAULT_CASES"]

_LAZY = {
    "Report": ("initreg.validation.report", "Report"),
    "Row": ("initreg.validation.report", "Row"),
    "Case": ("initreg.validation.cases", "Case"),
    "DEFAULT_CASES": ("initreg.validation.cases", "DEFAULT_CASES"),
}


def validate(names: Any = None, cases: Any = None, seed: int | None = 0, alpha: float = 1e-3, **kwargs: Any) -> Any:
    """Validate initializers (all installed ones by default) and return a Report; see docs/validation.md."""
    from .runner import validate as run

    return run(names, cases, seed, alpha, **kwargs)


def assert_valid(initializer: Any, cases: Any = None, seed: int | None = 0, alpha: float = 1e-3, **kwargs: Any) -> Any:
    """Validate one initializer (instance or registered name); return the Report, or raise AssertionError with its failures.

    The AssertionError's message lists the failing rows; its ``report`` attribute is the whole Report.
    """
    report = validate([initializer], cases, seed, alpha, **kwargs)
    if not report.passed:
        what = "failed" if report.failures() else "checked nothing (an unchecked initializer is never a pass)"
        error = AssertionError(f"initreg validation {what}\n" + report.failure_text())
        error.report = report  # type: ignore[attr-defined]  # the rows, for a closer look in the test
        raise error
    return report


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'initreg.validation' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
