"""PNG figures of a validation run (matplotlib, the ``plots`` extra): histogram vs density and a Q–Q plot per case."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependencyError


def require_matplotlib() -> Any:
    """The matplotlib Figure class, or MissingDependencyError naming the ``plots`` extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("validation plots need matplotlib, which is not installed; "
                                     "install the plots extra: pip install 'initreg[plots]'") from None
    return Figure


def slug(text: str) -> str:
    """A file-name-safe form of a label, distinct for distinct labels: ``xavier(factor_type='in')`` →
    ``xavier-factor_type-in-<8 hex digits>`` (a label changed on the way, or cut to 100 characters, gets a hash)."""
    import hashlib

    safe = re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-.") or "initializer"
    if safe == text and len(safe) <= 100:
        return safe
    return f"{safe[:100]}-{hashlib.sha1(text.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def plot_cases(cases: list, directory: Path) -> list[Path]:
    """Write one PNG per case result into ``directory`` (created if missing); return the paths."""
    figure_class = require_matplotlib()
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for result in cases:
        fig = figure_class(figsize=(10, 4), layout="constrained")
        left, right = fig.subplots(1, 2)
        kind = result.plot.get("kind")
        {"distribution": _distribution, "atoms": _atoms, "exact": _exact, "orthogonal": _orthogonal}.get(
            kind, _nothing)(result.plot, left, right)
        fig.suptitle(f"{result.initializer} — {result.case} {tuple(result.shape)} {result.dtype}", fontsize=10)
        path = directory / f"{slug(result.initializer)}__{slug(result.case)}.png"
        fig.savefig(path, dpi=90)
        paths.append(path)
    return paths


def _distribution(data: dict, hist_ax: Any, qq_ax: Any) -> None:
    counts, edges = data["hist"]
    width = np.diff(edges)
    total = max(counts.sum(), 1)
    hist_ax.bar(edges[:-1], counts / (total * width), width=width, align="edge", alpha=0.5, label="values")
    grid = np.linspace(edges[0], edges[-1], 400)
    hist_ax.plot(grid, data["continuous"].pdf(grid), color="C3", label="expected density")
    title = "continuous part" if data["atoms"] else "histogram"
    if data["atoms"]:
        shown = ", ".join(f"{v:g}: {f:.4f} (want {w:.4f})" for (w, v), f in zip(data["atoms"], data["atom_fractions"]))
        title += f"; atoms {shown}"
    hist_ax.set_title(title, fontsize=8)
    hist_ax.legend(fontsize=8)
    want = data["continuous"].ppf(data["probs"])
    qq_ax.plot(want, data["quantiles"], ".", markersize=2)
    lo, hi = float(np.min(want)), float(np.max(want))
    qq_ax.plot([lo, hi], [lo, hi], color="C3", linewidth=1)
    qq_ax.set_xlabel("expected quantile")
    qq_ax.set_ylabel("observed quantile")
    qq_ax.set_title("Q–Q plot", fontsize=8)


def _atoms(data: dict, left: Any, right: Any) -> None:
    values = [v for _, v in data["atoms"]]
    pos = np.arange(len(values))
    left.bar(pos - 0.2, data["atom_fractions"], width=0.4, label="observed")
    left.bar(pos + 0.2, [w for w, _ in data["atoms"]], width=0.4, label="expected")
    left.set_xticks(pos, [f"{v:g}" for v in values])
    left.legend(fontsize=8)
    left.set_title("point masses", fontsize=8)
    right.bar(pos, np.array(data["atom_fractions"]) - np.array([w for w, _ in data["atoms"]]))
    right.set_xticks(pos, [f"{v:g}" for v in values])
    right.set_title("observed − expected fraction", fontsize=8)


def _exact(data: dict, left: Any, right: Any) -> None:
    left.hist(data["values"], bins=50)
    left.set_title("values (exact: compare right)", fontsize=8)
    right.plot(data["want"], data["values"], ".", markersize=2)
    if data["want"].size:
        lo, hi = float(data["want"].min()), float(data["want"].max())
        right.plot([lo, hi], [lo, hi], color="C3", linewidth=1)
    right.set_xlabel("expected value (sorted)")
    right.set_ylabel("observed value (sorted)")
    right.set_title("Q–Q plot", fontsize=8)


def _orthogonal(data: dict, left: Any, right: Any) -> None:
    left.hist(data["values"], bins=50)
    left.set_title("entries (quantiles)", fontsize=8)
    right.plot(np.sort(data["norms"]), ".", markersize=3, label="norms of the orthogonal rows/columns")
    right.axhline(data["scale"], color="C3", linewidth=1, label=f"scale {data['scale']:g}")
    off = data["off"]
    worst = float(np.max(np.abs(off))) if off.size else 0.0
    right.legend(fontsize=8)
    right.set_title(f"{data['which']}: diagonal = norms², largest off-diagonal {worst:.2g}", fontsize=8)


def _nothing(data: dict, left: Any, right: Any) -> None:
    for ax in (left, right):
        ax.text(0.5, 0.5, "nothing to plot", ha="center", va="center")
