"""``initreg validate``: check installed initializers against the distributions they promise."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .output import Progress, print_table

from ..errors import InitregError

EPILOG = """examples:
  initreg validate                         every installed initializer, default cases
  initreg validate xavier normal --seed 3
  initreg validate orthogonal --shape 64,32,3,3 --shape 300,20
  initreg validate --json report.json --plots plots/
exit status: 0 all passed, 1 a test failed or nothing was checked (or, with --strict, something was unchecked),
2 usage error"""


def add_parser(subparsers: Any) -> None:
    """Add the ``validate`` subcommand."""
    p = subparsers.add_parser(
        "validate", help="test initializers against the distributions they promise",
        description="Fill real parameters with each initializer and test the values against its expected() "
                    "distribution (goodness of fit, moments, counts, support, streams, exact and structural "
                    "checks), Holm-corrected at the family level alpha.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="registered names or JSON specs such as '[\"normal\", {\"sigma\": 0.1}]' (default: all installed)")
    p.add_argument("--shape", action="append", metavar="SHAPE",
                   help="validate on this shape instead of the default cases, e.g. 64,32,3,3 (repeatable)")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None, help="dtype of the cases (default float32)")
    p.add_argument("--seed", default="0", metavar="N",
                   help="seed of the run (default 0: deterministic); 'random' draws a fresh one and reports it")
    p.add_argument("--alpha", default="1e-3", metavar="A", help="family-wise error rate of the run (default 1e-3)")
    p.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    p.add_argument("--plots", metavar="DIR", help="write one PNG per (initializer, case) (needs the plots extra)")
    p.add_argument("--details", action="store_true", help="print every test, not only the failing ones")
    p.add_argument("--strict", action="store_true",
                   help="an initializer that promises nothing (unchecked) fails the run (exit status 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the validation; 0 when everything passed, 1 when a test failed, 2 on a usage error."""
    from ..validation.cases import parse_shape

    try:
        seed = parse_seed(args.seed)
        alpha = parse_alpha(args.alpha)
        cases = [parse_shape(s) for s in args.shape] if args.shape else None
        if args.plots:
            from ..validation.plots import require_matplotlib

            require_matplotlib()
        check_outputs(args)
    except (InitregError, ValueError) as exc:
        return usage_error(exc)
    from ..validation import validate

    try:
        with Progress("initreg validate") as bar:
            report = validate(args.names or None, cases, seed, alpha, dtype=args.dtype, progress=bar.update)
    except InitregError as exc:  # unknown names, bad specs, bad cases: errors in the arguments
        return usage_error(exc)
    return finish(report, args)


def finish(report: Any, args: argparse.Namespace) -> int:
    """Print the report, write --json and --plots; the exit status (0 passed, 1 failed, 2 when they cannot be written)."""
    print_report(report, args.details)
    try:
        if args.json:
            report.to_json(args.json)
            print(f"report written to {args.json}")
        if args.plots:
            paths = report.plot(args.plots)
            print(f"{len(paths)} plots written to {args.plots}")
    except OSError as exc:  # checked before the run; this is what changed since (a full disk, a removed folder)
        print(f"initreg {args.command}: error: cannot write the report: {exc}", file=sys.stderr)
        return 2
    return 0 if report.ok(strict=args.strict) else 1


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before a long run, a --json file or --plots folder that cannot be written (ValueError naming it)."""
    import os
    from pathlib import Path

    if getattr(args, "json", None):
        path = Path(args.json)
        parent = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise ValueError(f"--json {args.json!r} is a folder; name the report file, e.g. {str(path / 'report.json')!r}")
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise ValueError(f"--json {args.json!r}: cannot write into {str(parent)!r} (no such folder, or not "
                             f"writable); create it or pick another path")
    if getattr(args, "plots", None):
        folder = Path(args.plots)
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            why = "not a folder" if not existing.is_dir() else "not writable"
            raise ValueError(f"--plots {args.plots!r}: {str(existing)!r} is {why}; name a folder to write the PNGs into")


def parse_seed(text: str) -> int | None:
    """--seed: a non-negative integer, or None for "random"."""
    from ..core.stream import seed_from_text

    return seed_from_text(text, "--seed")


def parse_alpha(text: str) -> float:
    """--alpha: a number in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise ValueError(f"--alpha must be a number in (0, 1), got {text!r}; the default is 1e-3")
    return value


def usage_error(exc: BaseException) -> int:
    """Print ``exc`` as the command's one-line usage error on stderr; return exit status 2."""
    print(f"initreg validate: error: {exc}", file=sys.stderr)
    return 2


def print_report(report: Any, details: bool) -> None:
    """The summary table, the failing (or every) row, and the verdict line."""
    rows = []
    for t in report.targets:
        mine = [r for r in report.rows if r.initializer == t.label and r.verdict in ("pass", "fail")]
        ps = [r.p_value for r in mine if r.p_value is not None]
        note = t.reason if t.verdict != "pass" else (f"smallest p {min(ps):.3g}" if ps else "exact checks only")
        rows.append((t.label, t.plugin, t.verdict.upper(), str(len(mine)), note))
    shown = report.rows if details else report.failures()
    print_table(("initializer", "plugin", "verdict", "tests", "note"), rows)
    if shown:
        print()
        print_table(("initializer", "case", "test", "p", "adjusted", "verdict", "detail"),
                    [_detail_cells(r) for r in shown], title="every test" if details else "failing tests")
    print(report.summary())


def _detail_cells(r: Any) -> tuple[str, ...]:
    def num(v: float | None) -> str:
        return "–" if v is None else f"{v:.3g}"
    return (r.initializer, r.case, r.test, num(r.p_value), num(r.adjusted), r.verdict, r.detail)

