"""The Report of a validation run: one row per (initializer, case, test), summaries, JSON and Markdown."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One test of one initializer on one case, with its p-value adjusted for the whole run (Holm)."""

    initializer: str
    case: str
    test: str
    statistic: float | None
    p_value: float | None
    adjusted: float | None
    verdict: str
    detail: str = ""


@dataclass
class Target:
    """One initializer configuration of the run: its label, registered name, distribution and verdict."""

    label: str
    name: str
    plugin: str
    spec: str | None
    verdict: str = "unchecked"
    reason: str = ""


@dataclass
class CaseResult:
    """What a plot of one (initializer, case) needs: shape, dtype and summaries of the values."""

    initializer: str
    case: str
    shape: tuple
    dtype: str
    plot: dict = field(default_factory=dict)


@dataclass
class Report:
    """The outcome of ``initreg.validate``: ``passed``, ``rows``, per-initializer ``targets``, and exports."""

    rows: list[Row]
    targets: list[Target]
    cases: list[CaseResult]
    seed: int | None
    alpha: float
    fresh_seed: bool = False
    seconds: float = 0.0
    family: int | None = None  # the Holm family's size when it spans more than this report (pytest session)

    @property
    def passed(self) -> bool:
        """True when no test failed and at least one ran (unchecked initializers never count as passed)."""
        return bool(self.checked) and not any(r.verdict == "fail" for r in self.rows)

    @property
    def family_size(self) -> int:
        """How many p-values the Holm correction covered (the whole family, when it spans several reports)."""
        own = sum(1 for r in self.rows if r.p_value is not None)
        return own if self.family is None else self.family

    @property
    def checked(self) -> list[Target]:
        """The initializers on which at least one test ran."""
        return [t for t in self.targets if t.verdict in ("pass", "fail")]

    @property
    def unchecked(self) -> list[Target]:
        """The initializers nothing could be checked on (no expected(), no applicable case, needs arguments)."""
        return [t for t in self.targets if t.verdict == "unchecked"]

    def ok(self, strict: bool = False) -> bool:
        """``passed``; with ``strict``, also nothing unchecked (every initializer or array promised something)."""
        return self.passed and not (strict and self.unchecked)

    def failures(self) -> list[Row]:
        """The failing rows."""
        return [r for r in self.rows if r.verdict == "fail"]

    def verdict(self, label: str) -> str:
        """ "pass", "fail" or "unchecked" for one initializer label."""
        for t in self.targets:
            if t.label == label:
                return t.verdict
        raise KeyError(f"no initializer labelled {label!r} in this report; labels: {[t.label for t in self.targets]}")

    def summary(self) -> str:
        """One line: how many initializers passed, failed, were unchecked; tests run; seed; alpha."""
        count = {v: sum(1 for t in self.targets if t.verdict == v) for v in ("pass", "fail", "unchecked")}
        verdict = "PASSED" if self.passed else "FAILED" if self.failures() else "NOTHING CHECKED"
        if self.passed and self.unchecked:  # a pass that covers less than everything says so up front
            shown = ", ".join(t.label for t in self.unchecked[:3]) + (", ..." if len(self.unchecked) > 3 else "")
            verdict += f" (but {len(self.unchecked)} promise nothing or were not checked: {shown})"
        return (f"{verdict}: {count['pass']} passed, {count['fail']} failed, "
                f"{count['unchecked']} unchecked; {self.family_size} p-values (Holm, family alpha={self.alpha:g}), "
                f"{sum(1 for r in self.rows if r.p_value is None and r.verdict in ('pass', 'fail'))} exact checks; "
                f"seed={'unknown' if self.seed is None else self.seed}{' (fresh)' if self.fresh_seed else ''}")

    def __repr__(self) -> str:
        return f"<Report {self.summary()}>"

    def __str__(self) -> str:
        """The summary line, then every failing row (name, case, test, statistic, p, what was expected) and
        every unchecked name: ``print(report)`` names each failing parameter."""
        return self.failure_text()

    def failure_text(self) -> str:
        """The failing rows as plain text, one per line, each with the promise it broke."""
        lines = [self.summary()]
        promised = {t.label: t.spec or t.name for t in self.targets}
        for r in self.failures():
            stat = "" if r.statistic is None else f" statistic={_num(r.statistic)}"
            p = "" if r.p_value is None else f" p={_num(r.p_value)} adjusted={_num(r.adjusted)}"
            lines.append(f"  FAIL {r.initializer} [{r.case}] {r.test}:{stat}{p} — {r.detail} (expected: what "
                         f"{promised.get(r.initializer, r.initializer)} promises)")
        for t in self.targets:
            if t.verdict == "unchecked":
                lines.append(f"  UNCHECKED {t.label}: {t.reason}")
        return "\n".join(lines)

    # -- exports --------------------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: verdict, seed, alpha, initializers, cases and every row."""
        return {
            "passed": self.passed,
            "seed": self.seed,
            "fresh_seed": self.fresh_seed,
            "alpha": self.alpha,
            "family_size": self.family_size,
            "seconds": round(self.seconds, 3),
            "initializers": [asdict(t) for t in self.targets],
            "cases": [{"initializer": c.initializer, "case": c.case, "shape": list(c.shape), "dtype": c.dtype}
                      for c in self.cases],
            "rows": [{k: _json_num(v) for k, v in asdict(r).items()} for r in self.rows],
        }

    def to_json(self, path: str | Path | None = None, indent: int | None = 2) -> str:
        """The report as JSON (NaN and infinities as null); also written to ``path`` when given."""
        text = json.dumps(self.as_dict(), indent=indent, ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def to_markdown(self, details: bool = False) -> str:
        """A Markdown summary: one line per initializer, then failing rows (every row with ``details=True``)."""
        out = [f"**{self.summary()}**", "",
               "| initializer | plugin | verdict | tests | smallest p (adjusted) |",
               "|---|---|---|---|---|"]
        for t in self.targets:
            rows = [r for r in self.rows if r.initializer == t.label and r.verdict in ("pass", "fail")]
            best = min((r for r in rows if r.p_value is not None), key=lambda r: r.p_value, default=None)
            smallest = f"{_num(best.p_value)} ({_num(best.adjusted)})" if best else "–"
            verdict = t.verdict if t.verdict != "unchecked" else f"unchecked ({t.reason})"
            out.append(f"| {_cell(t.label)} | {_cell(t.plugin)} | {_cell(verdict)} | {len(rows)} | {smallest} |")
        shown = self.rows if details else self.failures()
        if shown:
            out += ["", "| initializer | case | test | statistic | p | adjusted p | verdict | detail |",
                    "|---|---|---|---|---|---|---|---|"]
            for r in shown:
                out.append(f"| {_cell(r.initializer)} | {r.case} | {r.test} | {_num(r.statistic)} | {_num(r.p_value)} | "
                           f"{_num(r.adjusted)} | {r.verdict} | {_cell(r.detail)} |")
        return "\n".join(out) + "\n"

    def plot(self, directory: str | Path) -> list[Path]:
        """Write one PNG per (initializer, case): histogram against the expected density and a Q–Q plot."""
        from .plots import plot_cases

        return plot_cases(self.cases, Path(directory))


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    return f"{value:.4g}"


def _json_num(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
