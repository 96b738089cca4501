"""Every ```python block in docs/*.md and README.md runs; a ```output block right after one must equal what it printed."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^```(\w[\w-]*)?[^\n]*\n(.*?)^```\s*$", re.S | re.M)
#: a page with this line runs in a fresh interpreter (it sets process-wide state such as XLA_FLAGS before imports)
FRESH = "<!-- docs: fresh process -->"
#: ``<!-- docs: needs jax, flax -->``: the page is skipped where one of these modules is not installed
NEEDS = re.compile(r"<!-- docs: needs ([\w, ]+) -->")


def blocks(path: Path):
    """(kind, code, expected output or None, line) for each python block of a Markdown file."""
    found = [(m.group(1) or "", m.group(2), m.start()) for m in FENCE.finditer(path.read_text())]
    text = path.read_text()
    for i, (kind, code, pos) in enumerate(found):
        if kind != "python":
            continue
        expected = found[i + 1][1] if i + 1 < len(found) and found[i + 1][0] == "output" else None
        yield code, expected, text.count("\n", 0, pos) + 1


def run_page(path: Path) -> int:
    """Run every python block of ``path`` in one namespace, checking printouts; return how many ran."""
    namespace: dict = {"__name__": f"docs.{path.stem}"}
    ran = 0
    for code, expected, line in blocks(path):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, f"{path.name}:{line}", "exec"), namespace)
        ran += 1
        if expected is not None:
            assert buf.getvalue().rstrip() == expected.rstrip(), f"{path.name}:{line} printed something else:\n{buf.getvalue()}"
    return ran


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_doc_runs(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write files
    text = path.read_text()
    for found in NEEDS.finditer(text):
        for module in found.group(1).replace(",", " ").split():
            if importlib.util.find_spec(module) is None:  # found, not imported: a fresh page imports it itself
                pytest.skip(f"{path.name} needs {module}, which is not installed")
    if FRESH in text:
        code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from pathlib import Path; "
                f"import test_docs; print('ran', test_docs.run_page(Path({str(path)!r})))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                                  filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))))
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        ran = int(done.stdout.strip().splitlines()[-1].split()[-1])
    else:
        ran = run_page(path)
    if not ran:
        pytest.skip(f"{path.name} has no python blocks")
