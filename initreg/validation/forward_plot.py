"""The forward check's figure: output and gradient RMS per layer against depth, one line per report (a coord check)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .plots import require_matplotlib


def plot_reports(reports: Sequence[Any], path: Path, title: str | None = None) -> Path:
    """Write a two-panel PNG (activation RMS, output-gradient RMS, log scale) of ``reports`` to ``path``."""
    figure_class = require_matplotlib()
    fig = figure_class(figsize=(9.0, 3.4), dpi=100)
    axes = fig.subplots(1, 2)
    for report in reports:
        mark = "FAILED" if report.failures() else "passed"
        label = f"{report.label} ({mark}, trend {report.trend:+.2f})" if report.trend is not None else report.label
        xs = [r.index for r in report.rows if r.out_rms > 0]
        axes[0].plot(xs, [r.out_rms for r in report.rows if r.out_rms > 0], marker=".", ms=3, lw=1, label=label)
        fails = [r for r in report.rows if r.verdict == "fail" and r.out_rms > 0]
        axes[0].scatter([r.index for r in fails], [r.out_rms for r in fails], marker="x", s=14, c="red", lw=0.8)
        grads = [(r.index, r.grad_out_rms) for r in report.rows if r.grad_out_rms]
        axes[1].plot([i for i, _ in grads], [g for _, g in grads], marker=".", ms=3, lw=1, label=report.label)
    for ax, what in zip(axes, ("output RMS (pre-activation)", "RMS of ∂loss/∂output")):
        ax.set_yscale("log")
        ax.set_xlabel("layer (forward order)")
        ax.set_ylabel(what)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    axes[0].set_title(title or "activation scale per layer (× = failing layer)", fontsize=9)
    axes[1].set_title("gradient scale per layer (reported only)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def check_plot_path(path: Any) -> Any:
    """``path`` as a Path, after checking matplotlib is there (so a run fails before, not after, its work)."""
    require_matplotlib()
    return Path(path)


def plot_widths(reports: Sequence[Any], path: Path) -> Path:
    """Write a PNG of each layer's output RMS against width (log-log, one line per layer), one panel per report."""
    figure_class = require_matplotlib()
    fig = figure_class(figsize=(4.6 * len(reports), 3.6), dpi=100)
    axes = fig.subplots(1, len(reports), squeeze=False)[0]
    for ax, report in zip(axes, reports):
        for row in report.rows:
            if not row.out_rms or not all(v > 0 for v in row.out_rms):
                continue
            mark = " ✗" if row.verdict == "fail" else " (reported)" if row.verdict == "reported" else ""
            ax.plot(row.widths, row.out_rms, "--" if row.verdict == "reported" else "-", marker=".", ms=4, lw=1,
                    label=f"{row.name}{mark}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width")
        ax.set_ylabel("output RMS (pre-activation)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        ax.set_title(f"{report.label}: {'passed' if report.passed else 'FAILED'} (✗: gain depends on width)",
                     fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
