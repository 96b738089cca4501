"""``initreg check --forward --torch PKG.MODULE:FACTORY``: build a model, initialize it, run the network-level check."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import FactoryError, InitregError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--forward`` group of ``initreg check`` (it also reads --torch, --rules, --seed, --alpha, --json, --plots)."""
    g = parser.add_argument_group("network-level check (--forward; PATH is not used)")
    g.add_argument("--forward", action="store_true",
                   help="build the --torch model, initialize it with --rules (or its declared defaults) and --seed, "
                        "run one batch and check every layer's activation scale against its weights' promise")
    g.add_argument("--batch", default="64", metavar="N", help="with --forward: samples in the generated batch (64)")
    g.add_argument("--tolerance", default=None, metavar="F",
                   help="with --forward: how far (a factor on the second moment) a segment may miss its initializer's "
                        "gain before it fails (default √2)")


def run_forward(args: argparse.Namespace) -> int:
    """0 when every layer passed, 1 when one failed, 2 on a usage error."""
    from .validate import check_outputs, parse_alpha, parse_seed

    try:
        if not args.torch:
            raise FactoryError("--forward needs the model: --torch PKG.MODULE:FACTORY (a function or nn.Module class "
                               "that takes no arguments)")
        alpha = parse_alpha(args.alpha)
        seed = parse_seed(args.seed) if args.seed is not None else 0
        if seed is None:
            raise ValueError(f"--seed {args.seed!r}: --forward needs a fixed seed (a non-negative integer; default 0)")
        batch = _positive_int("--batch", args.batch)
        tolerance = _factor(args.tolerance)
        if args.plots:
            from ..validation.plots import require_matplotlib

            require_matplotlib()
        check_outputs(args)
        from .rule_args import load_rules, rule_source, with_vars

        rules = with_vars(load_rules(rule_source(args, args.rules, "--rules")), args)  # --recipe, --var as elsewhere
        model, table = build(args.torch, rules, seed)
        from ..validation.forward import check_forward

        report = check_forward(model, rules=table, seed=seed, batch=batch, alpha=alpha, tolerance=tolerance,
                               label=args.torch)
    except (InitregError, ValueError, OSError) as exc:
        print(f"initreg check: error: {exc}", file=sys.stderr)
        return 2
    print(report.table() if args.details or report.failures() or len(report.rows) <= 40 else _short(report))
    print(report)
    try:
        if args.json:
            report.to_json(args.json)
            print(f"report written to {args.json}")
        if args.plots:
            from pathlib import Path

            path = report.plot(Path(args.plots) / "forward_check.png")
            print(f"plot written to {path}")
    except OSError as exc:  # checked before the run; this is what changed since
        print(f"initreg check: error: cannot write the report: {exc}", file=sys.stderr)
        return 2
    return 0 if report.passed else 1


def build(target: str, rules: Any, seed: int) -> tuple[Any, Any]:
    """The factory's model, built for real and filled by ``initreg.torch.initialize``; and the table it followed."""
    from .. import torch as adapter
    from .torch_source import build_module

    model = build_module(target, meta=False)
    return model, adapter.initialize(model, rules, seed=seed)


def _positive_int(flag: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise ValueError(f"{flag} must be an integer ≥ 2, got {text!r}")
    return value


def _factor(text: str | None) -> float:
    from ..validation.forward import TOLERANCE

    if text is None:
        return TOLERANCE
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 1:
        raise ValueError(f"--tolerance must be a number > 1 (a factor on the second moment), got {text!r}")
    return value


def _short(report: Any) -> str:
    """The first and last 10 layers of a long table."""
    lines = report.table().splitlines()
    return "\n".join(lines[:11] + [f"    … {len(lines) - 21} more layers (--details shows all)"] + lines[-10:])
