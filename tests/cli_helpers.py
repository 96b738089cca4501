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
