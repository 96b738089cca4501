"""Every ```python block in docs/*.md and README.md runs; a ```output block right after one must equal what it printed."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```(\w[\w-]*)?[^\n]*\n(.*?)^```\s*$", re.S | re.M)


def blocks(path: Path):
    """(kind, code, expected output or None, line) for each python block of a Markdown file."""
    found = [(m.group(1) or "", m.group(2), m.start()) for m in FENCE.finditer(path.read_text())]
    text = path.read_text()
    for i, (kind, code, pos) in enumerate(found):
        if kind != "python":
            continue
        expected = found[i + 1][1] if i + 1 < len(found) and found[i + 1][0] == "output" else None
        yield code, expected, text.count("\n", 0, pos) + 1


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_doc_runs(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write files
    namespace: dict = {"__name__": f"docs.{path.stem}"}
    ran = 0
    for code, expected, line in blocks(path):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
        ran += 1
        if expected is not None:
            assert buf.getvalue().rstrip() == expected.rstrip(), f"{path.name}:{line} printed something else"
    if not ran:
        pytest.skip(f"{path.name} has no python blocks")
