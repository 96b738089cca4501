"""``initreg.check_widths``: muP's width-independence at initialization, one forward check per width.

Each layer's gain (its output mean square over its input mean square, bias included) must not change with width by
more than ``tolerance`` between any two widths. Given its input, a layer's output units are i.i.d. (its rows are), so
the log gain has standard error sd(u)/(mean(u)·√n_units) over the per-unit sums u; the widths' inputs differ, but a
gain is conditioned on its own input, so depth does not add up noise. Per layer, every pair of widths is tested
one-sided at the tolerance's edge, Bonferroni over the pairs, then Holm across layers. A readout (``exempt``) is
reported, not failed: muP shrinks its output as 1/√width at initialization on purpose.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import ValidationError
from .forward import clip

#: layers reported but never failed: muP's readout (the names the mup recipe gives it)
READOUTS = ("*readout*", "*decoder*", "*lm_head*")
#: the default bound: a layer's gain may change by up to this factor between any two widths
WIDTH_TOLERANCE = 2.0


@dataclass
class WidthRow:
    """One layer across widths: its gain and output RMS per width, the largest change, and the verdict."""

    name: str
    param: str
    widths: list[int]
    gains: list[float]
    out_rms: list[float]
    change: float  # largest gain over smallest gain, across widths
    slope: float  # least-squares slope of log2(gain) per doubling of width
    p_value: float | None
    adjusted: float | None = None
    verdict: str = "pass"  # "pass", "fail", "reported" (exempt) or "skipped"
    detail: str = ""


@dataclass
class WidthReport:
    """The outcome of ``check_widths``: one row per layer, the per-width forward reports, ``passed``, ``plot()``."""

    rows: list[WidthRow]
    reports: dict[int, Any]  # width -> its ForwardReport
    alpha: float
    tolerance: float
    label: str = "model"

    @property
    def passed(self) -> bool:
        """True when no layer failed the width test or a per-width forward check, and one layer was tested."""
        return (any(r.verdict == "pass" for r in self.rows) and not self.failures()
                and all(not rep.failures() for rep in self.reports.values()))

    def failures(self) -> list[WidthRow]:
        """The layers whose gain changes with width beyond the tolerance."""
        return [r for r in self.rows if r.verdict == "fail"]

    def summary(self) -> str:
        """One line: verdict, widths, layers tested and failed, per-width forward failures."""
        tested = sum(1 for r in self.rows if r.verdict in ("pass", "fail"))
        forward = sum(len(rep.failures()) for rep in self.reports.values())
        verdict = "PASSED" if self.passed else "FAILED" if self.failures() or forward else "NOTHING CHECKED"
        return (f"{verdict}: widths {', '.join(map(str, self.reports))}; {tested} layers tested across widths, "
                f"{len(self.failures())} failed; {forward} per-width forward failures; Holm alpha={self.alpha:g}, "
                f"width tolerance ×{self.tolerance:.3g}")

    def table(self) -> str:
        """Every layer: gain per width, largest change, slope per doubling, adjusted p, verdict."""
        widths = list(self.reports)
        head = f"{'layer':<28} " + " ".join(f"{'g@' + str(w):>9}" for w in widths) + f" {'change':>7} {'slope':>6} " \
               f"{'adj p':>8} verdict"
        lines = [head]
        for r in self.rows:
            gains = " ".join(f"{g:>9.4g}" for g in r.gains) if r.gains else " ".join(f"{'–':>9}" for _ in widths)
            adj = "–" if r.adjusted is None else f"{r.adjusted:.2g}"
            lines.append(f"{clip(r.name, 28):<28} {gains} {r.change:>7.3g} {r.slope:>+6.2f} {adj:>8} {r.verdict}")
        return "\n".join(lines)

    def __str__(self) -> str:
        lines = [self.summary()]
        lines += [f"  FAIL {r.name} ({r.param}): {r.detail}" for r in self.failures()]
        for width, rep in self.reports.items():
            lines += [f"  FAIL at width {width}: {r.name} ({r.param}): {r.detail}" for r in rep.failures()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<WidthReport {self.summary()}>"

    def plot(self, path: str | Path, *others: WidthReport) -> Path:
        """A PNG of each layer's output RMS against width (log-log), as mup's coordinate check draws it; one panel
        for this report and one for each of ``others``."""
        from .forward_plot import plot_widths

        return plot_widths([self, *others], Path(path))


def check_widths(models: Mapping[int, Any], inputs: Any = None, *, rules: Any = None, seed: int = 0,
                 batch: int = 64, alpha: float = 1e-3, tolerance: float = WIDTH_TOLERANCE,
                 exempt: Any = READOUTS, label: str = "model") -> WidthReport:
    """Run ``check_forward`` on one initialized model per width and test that each layer's gain does not depend on it.

    ``models``: width → torch module, built alike but for width and initialized (e.g. with ``"recipe:mup"``).
    ``rules``: one rule set or table for every width, or a mapping width → the table ``initialize`` returned.
    ``exempt``: glob patterns of layers reported, never failed (muP's readout). Half of ``alpha`` is the width
    test's family; the other half is split evenly between the per-width forward checks.
    """
    from .forward import check_forward

    widths = _check_models(models, alpha, tolerance, exempt)
    per_rules = _per_width(rules, widths)
    each = alpha / 2 / len(widths)
    reports = {w: check_forward(models[w], inputs, rules=per_rules[w], seed=seed, batch=batch, alpha=each,
                                label=f"{label} width {w}") for w in widths}
    rows = _rows(reports, widths, tolerance, tuple(exempt))
    _holm(rows, alpha / 2, tolerance)
    return WidthReport(rows, reports, float(alpha), float(tolerance), label)


def _per_width(rules: Any, widths: list[int]) -> dict[int, Any]:
    """Width → rules: a mapping keyed by every width as given, else the one rule set for each width."""
    keys = list(rules) if isinstance(rules, Mapping) else []
    if keys and all(isinstance(k, int) and not isinstance(k, bool) for k in keys):  # keyed by width, not by pattern
        if set(keys) != set(widths):
            missing = sorted(set(widths) - set(keys))
            extra = sorted(set(keys) - set(widths))
            raise ValidationError(f"check_widths: rules is keyed by width but its widths {sorted(keys)} do not match "
                                  f"the models' {widths} (missing {missing}, extra {extra}); give one table per "
                                  f"width, or one rule set for every width")
        return dict(rules)
    return {w: rules for w in widths}


def _check_models(models: Any, alpha: Any, tolerance: Any, exempt: Any) -> list[int]:
    """The widths in increasing order, after refusing fewer than two models, bad widths and bad settings."""
    if not isinstance(models, Mapping) or len(models) < 2:
        raise ValidationError(f"check_widths: models must map at least two widths to models, got "
                              f"{type(models).__name__}; pass e.g. {{64: build(64), 256: build(256)}}")
    for w in models:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ValidationError(f"check_widths: width {w!r} is not a positive int; key each model by its width")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance > 1:
        raise ValidationError(f"check_widths: tolerance must be a number > 1 (a factor on a layer's gain), got "
                              f"{tolerance!r}; the default is {WIDTH_TOLERANCE:g}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValidationError(f"check_widths: alpha must be a number in (0, 1), got {alpha!r}; the default is 1e-3")
    if (isinstance(exempt, str) or not isinstance(exempt, (list, tuple, set, frozenset))
            or not all(isinstance(p, str) for p in exempt)):
        raise ValidationError(f"check_widths: exempt must be a list of glob patterns, got {exempt!r}; "
                              f"e.g. exempt=['*readout*']")
    return sorted(models)


def _rows(reports: dict[int, Any], widths: list[int], tolerance: float, exempt: tuple[str, ...]) -> list[WidthRow]:
    """One WidthRow per layer present at every width, in the first width's forward order."""
    by_width = {w: {(r.name, r.param): r for r in reports[w].rows} for w in widths}
    rows = []
    for key in by_width[widths[0]]:
        per = [by_width[w].get(key) for w in widths]
        name, param = key
        if any(r is None for r in per):
            rows.append(WidthRow(name, param, widths, [], [], math.nan, math.nan, None, verdict="skipped",
                                 detail="the layer does not run at every width"))
            continue
        stats = [_gain(r) for r in per]
        if any(s is None for s in stats):
            rows.append(WidthRow(name, param, widths, [], [r.out_rms for r in per], math.nan, math.nan, None,
                                 verdict="skipped", detail="no input or output scale at some width"))
            continue
        gains = [g for g, _ in stats]
        if not all(math.isfinite(g) and math.isfinite(se) for g, se in stats):  # undefined: a failure, never a pass
            rows.append(WidthRow(name, param, widths, gains, [r.out_rms for r in per], math.nan, math.nan, None,
                                 verdict="fail", detail="non-finite gain at some width (NaN or inf activations or "
                                                        "weights)"))
            continue
        row = WidthRow(name, param, widths, gains, [r.out_rms for r in per], max(gains) / min(gains),
                       _slope(widths, gains), _pairs_p(stats, tolerance))
        if any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(param, p) for p in exempt):
            row.verdict, row.p_value = "reported", None
            row.detail = "exempt (a readout): its scale is reported, not held to width-independence"
        rows.append(row)
    return rows


def _gain(row: Any) -> tuple[float, float] | None:
    """(output mean square / input mean square, SE of its log over the layer's output units), or None."""
    if not (math.isfinite(row.in_rms) and math.isfinite(row.out_rms)):  # NaN gain: _rows fails the layer
        return math.nan, math.nan
    if row.verdict == "skipped" or row.out_se is None or row.in_rms <= 0 or row.out_rms <= 0:
        return None
    return row.out_rms ** 2 / row.in_rms ** 2, row.out_se


def _pairs_p(stats: list[tuple[float, float]], tolerance: float) -> float:
    """p of "no two widths' gains differ by more than ×tolerance": one-sided per pair, Bonferroni over the pairs."""
    from scipy import stats as st

    worst, pairs = 1.0, 0
    for i in range(len(stats)):
        for j in range(i + 1, len(stats)):
            (gi, si), (gj, sj) = stats[i], stats[j]
            excess = abs(math.log(gi / gj)) - math.log(tolerance)
            se = math.hypot(si, sj)
            p = (1.0 if excess <= 0 else 0.0) if se == 0 else float(st.norm.sf(excess / se))
            p = p if p == p else 0.0  # NaN: undefined, so the pair fails
            worst, pairs = min(worst, p), pairs + 1
    return min(1.0, worst * pairs)


def _slope(widths: list[int], gains: list[float]) -> float:
    """Least-squares slope of log2(gain) against log2(width): 0 width-independent, +1 growing as the width."""
    from .stats import least_squares_slope

    return least_squares_slope([math.log2(w) for w in widths], [math.log2(g) for g in gains])


def _holm(rows: list[WidthRow], alpha: float, tolerance: float) -> None:
    """Holm-adjust the layers' p-values; fail each layer whose adjusted p is below ``alpha``, saying by how much."""
    from .stats import holm

    family = [r for r in rows if r.p_value is not None]
    for r, running in zip(family, holm([r.p_value for r in family])):
        r.adjusted = running
        if running < alpha:
            low, high = r.gains.index(min(r.gains)), r.gains.index(max(r.gains))
            r.verdict = "fail"
            r.detail = (f"its gain (output over input mean square) is {r.gains[low]:.3g} at width {r.widths[low]} and "
                        f"{r.gains[high]:.3g} at width {r.widths[high]}: ×{r.change:.3g} apart, beyond ×{tolerance:.3g} "
                        f"(slope {r.slope:+.2f} per doubling; adjusted p={running:.3g} < alpha={alpha:g})")

