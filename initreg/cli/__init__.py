"""The ``initreg`` command: one module per subcommand, each with ``add_parser(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Sequence

# subcommand name -> module defining add_parser(subparsers) that sets func=run(args) -> int
COMMANDS = {
    "validate": "initreg.cli.validate",
    "check": "initreg.cli.check",
    "plugins": "initreg.cli.plugins",
    "show": "initreg.cli.show",
    "explain": "initreg.cli.rules",
    "init": "initreg.cli.rules",
    "verify": "initreg.cli.verify",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the initreg command with every available subcommand."""
    from ..version import __version__

    parser = argparse.ArgumentParser(prog="initreg", description="Initial values for array parameters.")
    parser.add_argument("--version", action="version", version=f"initreg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    seen = set()
    for module in COMMANDS.values():
        if module in seen:
            continue
        seen.add(module)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue  # that command is not built yet
            raise
        mod.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the initreg command; return its exit status (0 ok, 1 failed check, 2 usage or other error, 130 Ctrl-C)."""
    from .output import emit_json, error_line, json_stdout

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    as_json = getattr(args, "json", None) is True  # --json to stdout (check's and validate's --json name a file)
    try:
        with json_stdout(as_json) as finish:
            try:
                status = int(args.func(args) or 0)
            except KeyboardInterrupt:
                print(f"initreg {args.command}: interrupted", file=sys.stderr)
                status = 130
            except BrokenPipeError:
                raise
            except Exception as exc:  # an uncaught exception is a bug: one line and status 2, never a traceback
                line = error_line(args.command, exc)
                print(line, file=sys.stderr)
                if as_json:
                    emit_json(json.dumps({"status": 2, "error": line}))
                status = 2
            finish(status)
        return status
    except BrokenPipeError:  # `initreg ... | head`: the reader left; exit quietly like other Unix tools
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
