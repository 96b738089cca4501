"""Helpers for tests that drive the ``initreg`` command in-process."""

from __future__ import annotations

import json
from pathlib import Path

from initreg.cli import main


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``initreg ARGV``."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def write_cli_files(tmp_path: Path, monkeypatch, rules: str, spec: list) -> Path:
    """``rules.toml`` and ``spec.json`` in ``tmp_path``, made the working directory; return it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules.toml").write_text(rules)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    return tmp_path


def importable(tmp_path: Path, monkeypatch, module: str, source: str) -> None:
    """Make ``source`` importable as ``module`` (for --torch MODULE:FUNCTION), fresh for this test."""
    import sys
    import textwrap

    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
