"""``initreg show NAME``: an initializer's summary, arguments with defaults, formula and providing plugin."""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from typing import Any

from .output import interruptible


def add_parser(sub: Any) -> None:
    """Add the ``show`` subcommand."""
    p = sub.add_parser("show", help="describe one initializer",
                       description="Describe an initializer by name, alias or dist:name: summary, arguments with "
                                   "their defaults, formula, and the plugin providing it.")
    p.add_argument("name", help="initializer name, alias or dist:name (case-insensitive)")
    p.set_defaults(func=run)


@interruptible("show")
def run(args: argparse.Namespace) -> int:
    """Print the description; 2 when the name is unknown or ambiguous, or a plugin is broken in strict mode."""
    from ..errors import InitregError
    from ..plugins.registry import load_plugins, lookup

    try:
        load_plugins()
        info = lookup(args.name)
    except InitregError as exc:  # unknown, ambiguous, or INITREG_STRICT_PLUGINS with a broken plugin
        print(f"initreg show: {exc}", file=sys.stderr)
        return 2
    cls = info.cls
    summary, formula = split_doc(inspect.getdoc(cls) or "")
    print(f"{info.name}: {summary or '(no description)'}")
    print(f"  class:   {cls.__module__}.{cls.__qualname__}")
    print(f"  aliases: {', '.join(info.aliases) or '-'}")
    print(f"  plugin:  {info.plugin} (distribution {info.distribution} {info.version or ''})".rstrip())
    print("arguments:")
    lines = arguments(cls)
    for line in lines or ["(none)"]:
        print(f"  {line}")
    if formula:
        print("formula:")
        for line in formula.splitlines():
            print(f"  {line}".rstrip())
    return 0


def split_doc(doc: str) -> tuple[str, str]:
    """(summary, formula) of a docstring: its ``Formula: ...`` part, or else everything after the first paragraph."""
    m = re.search(r"\bFormula\s*:\s*(.+?)(?=\n\s*\n|\Z)", doc, re.S)
    if m:
        doc, formula = doc[:m.start()] + doc[m.end():], inspect.cleandoc(m.group(1))
    parts = doc.strip().split("\n\n", 1)
    if not m:
        formula = parts[1].strip() if len(parts) > 1 else ""
    return " ".join(parts[0].split()), formula


def arguments(cls: type) -> list[str]:
    """One ``name: annotation = default`` line per constructor argument."""
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return []
    out = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            out.append(("*" if p.kind is p.VAR_POSITIONAL else "**") + p.name)
            continue
        text = p.name
        if p.annotation is not p.empty:
            text += f": {p.annotation if isinstance(p.annotation, str) else inspect.formatannotation(p.annotation)}"
        text += " (required)" if p.default is p.empty else f" = {p.default!r}"
        out.append(text + (" (keyword-only)" if p.kind is p.KEYWORD_ONLY else ""))
    return out
