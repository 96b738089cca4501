"""``initreg plugins``: every plugin with its distribution, version, status, load time, initializers and error."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from .output import emit_json, interruptible, print_table


def add_parser(sub: Any) -> None:
    """Add the ``plugins`` subcommand."""
    p = sub.add_parser("plugins", help="list initializer plugins and their status",
                       description="List every plugin of the 'initreg' entry-point group: distribution, version, "
                                   "status (active, disabled, failed), load time, the initializers it registers, "
                                   "names another distribution claims too, and the error of a failed one.")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a plugin failed to load or two distributions claim one name (for CI)")
    p.set_defaults(func=run)


@interruptible("plugins")
def run(args: argparse.Namespace) -> int:
    """Print the plugin records; with --check, 1 when one failed or clashes (a broken plugin is never fatal)."""
    from ..errors import PluginWarning
    from ..plugins.registry import DISABLE_ENV, plugins

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # the listing itself reports every failure
        records = plugins()
    if args.json:
        emit_json(json.dumps([r.as_dict() for r in records], indent=2))
    else:
        print_table(["PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "LOAD", "INITIALIZERS / ERROR"],
                    [[r.name, r.distribution, r.version or "-", r.status, _seconds(r.load_time_s), _detail(r)]
                     for r in records])
    failed = [r.name for r in records if r.status == "failed"]
    clashing = sorted({name for r in records for name in r.clashes})
    if clashing and not args.json:
        print(f"\n{len(clashing)} name(s) claimed by more than one distribution: {', '.join(clashing)}; "
              f"choose one with dist:name, or disable one with {DISABLE_ENV}=...")
    if args.check and (failed or clashing):
        problems = ([f"{len(failed)} plugin(s) failed ({', '.join(failed)})"] if failed else []) + \
                   ([f"{len(clashing)} name clash(es) ({', '.join(clashing)})"] if clashing else [])
        print(f"initreg plugins --check: {'; '.join(problems)}", file=sys.stderr)
        return 1
    return 0


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.0f} s"


def _detail(r: Any) -> str:
    if r.error:
        return " ".join(r.error.split())
    if r.status == "disabled":
        return r.reason or "disabled"
    names = [f"{n} (clash: also {', '.join(r.clashes[n])})" if n in r.clashes else n for n in r.initializers]
    return ", ".join(names) or "-"
