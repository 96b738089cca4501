"""``initreg check``: test the arrays of a checkpoint against the distributions their rules promise."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import InitregError, ValidationError
from .forward import add_arguments as add_forward_arguments, run_forward
from .rule_args import add_rule_arguments, load_rules, rule_source, selected, with_vars
from .validate import check_outputs, finish, parse_alpha, parse_seed

EPILOG = """examples:
  initreg check model.safetensors --rules init.toml
  initreg check checkpoint-dir/ --rules init.toml --json report.json   (a sharded directory with its index)
  initreg check model.npz --rules init.toml --seed 0                   (bits too: made by initreg with seed 0)
  initreg check model.safetensors --rules init.toml --torch mymodels.resnet:resnet50   (names the rules leave: the
                                                      model's declared defaults, as initreg.torch plans them)
  initreg check --forward --torch mymodels.mlp:deep --rules init.toml   (one batch through the initialized model)
without --rules, the rules recorded in the checkpoint's metadata ("initreg.rules") are used.
exit status: 0 all passed, 1 a test failed (or, with --strict, an array was unchecked), 2 usage error"""


def add_parser(subparsers: Any) -> None:
    """Add the ``check`` subcommand."""
    p = subparsers.add_parser(
        "check", help="test a checkpoint's arrays against the distributions their rules promise",
        description="Read every array of a .safetensors/.npz file or a sharded safetensors directory, find the "
                    "initializer its rule assigns, and test the values against that initializer's expected() "
                    "distribution (the same tests as `initreg validate`, Holm-corrected at alpha). With a seed, "
                    "each array must also equal initreg's own values bit for bit.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH", nargs="?", help="a .safetensors or .npz file, or a directory with "
                                                           "model.safetensors.index.json")
    p.add_argument("--rules", metavar="FILE",
                   help="rule file (.toml or .json) or recipe:NAME; default: the checkpoint's provenance")
    add_rule_arguments(p)  # --recipe, --var, --only: shared with explain and init
    p.add_argument("--seed", default=None, metavar="N", help="the seed the arrays were made with (adds a bit check)")
    p.add_argument("--layout", choices=("OI", "IO"), default="OI", help="weight layout for the fans (default OI)")
    p.add_argument("--alpha", default="1e-3", metavar="A", help="family-wise error rate (default 1e-3)")
    p.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    p.add_argument("--plots", metavar="DIR", help="write one PNG per array (needs the plots extra)")
    p.add_argument("--details", action="store_true", help="print every test, not only the failing ones")
    p.add_argument("--strict", action="store_true", help="an array no rule covers fails the run (exit status 1)")
    p.add_argument("--sample", metavar="N", default=None,
                   help="test arrays of more than N values on a fixed random subset of N values plus one-pass tests "
                        "of every value (mean, variance, kurtosis, support, spread of every slice); default: all")
    p.add_argument("--torch", metavar="PKG.MODULE:FACTORY", default=None,
                   help="a PyTorch model factory (a function or nn.Module class, no arguments): names the rules leave "
                        "are checked against its modules' declared defaults (built on meta); with --forward, the "
                        "model built, initialized and run")
    add_forward_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the checkpoint; 0 when everything passed, 1 when a test failed, 2 on a usage error."""
    from ..checkpoints.checkpoint import Checkpoint, own_files
    from ..validation.arrays import check, provenance_rules, read_checkpoint

    if args.forward:
        return run_forward(args)
    if args.path is None:
        print("initreg check: error: give the checkpoint PATH to check (or --forward --torch PKG.MODULE:FACTORY)",
              file=sys.stderr)
        return 2
    try:
        alpha = parse_alpha(args.alpha)
        seed = None if args.seed is None else parse_seed(args.seed)
        if args.plots:
            from ..validation.plots import require_matplotlib

            require_matplotlib()
        check_outputs(args)
        ckpt = Checkpoint.open(args.path)
        arrays, meta = read_checkpoint(ckpt)
        arrays = selected(arrays, args)  # --only: check the matching arrays alone
        source = rule_source(args, args.rules, "--rules")
        if source:
            rules = load_rules(source)
        else:
            rules, recorded = provenance_rules(meta, ckpt.directory, own_files(ckpt))
            if rules is None:
                raise ValidationError(f"{args.path!r} records no rules (no 'initreg.rules' in its metadata); pass the "
                                   f"rules that made it with --rules FILE")
            seed = recorded if seed is None else seed
        rules = with_vars(rules, args)  # --var over the rules' (or the provenance's) own
        model = _torch_model(args.torch)
        sample = _parse_sample(args.sample)
        report = check(arrays, rules, seed=seed, alpha=alpha, layout=args.layout, model=model, sample=sample)
    except (InitregError, ValueError, OSError) as exc:
        print(f"initreg check: error: {exc}", file=sys.stderr)
        return 2
    return finish(report, args)


def _torch_model(target: str | None) -> Any:
    """The model ``--torch`` names, built on the meta device (None without --torch)."""
    if target is None:
        return None
    from .torch_source import build_meta

    return build_meta(target)


def _parse_sample(text: str | None) -> int | None:
    """--sample: an integer (check() says how small it may be), or None."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--sample must be an integer number of values per array, e.g. 1000000, got {text!r}") from None
