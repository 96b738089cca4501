"""``initreg plugins``: every plugin with its distribution, version, status, initializers and error."""

from __future__ import annotations

import argparse
import json
import warnings
from typing import Any

from .output import print_table


def add_parser(sub: Any) -> None:
    """Add the ``plugins`` subcommand."""
    p = sub.add_parser("plugins", help="list initializer plugins and their status",
                       description="List every plugin of the 'initreg' entry-point group: distribution, version, "
                                   "status (active, disabled, failed), the initializers it registers and the error "
                                   "of a failed one.")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the plugin records; a broken plugin is reported, never fatal."""
    from ..errors import PluginWarning
    from ..registry import plugins

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # the listing itself reports every failure
        records = plugins()
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=2))
        return 0
    rows = [[r.name, r.distribution, r.version or "-", r.status,
             " ".join(r.error.split()) if r.error else (", ".join(r.initializers) or "-")] for r in records]
    print_table(["PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "INITIALIZERS / ERROR"], rows)
    return 0

