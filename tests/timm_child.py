"""timm code run in a child Python whose path starts with the stand-in torchvision of tests/torch/timm_shim.

timm imports torchvision at import time, and PyPI's torchvision breaks transformers in the process that loads it
(docs/torch.md, "timm models"), so the tests that build timm models do it in a child that prints its results.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SHIM = ROOT / "tests" / "torch" / "timm_shim"

needs_timm = pytest.mark.skipif(
    importlib.util.find_spec("timm") is None or importlib.util.find_spec("torch") is None, reason="needs timm and torch")


def run_child(code: str, timeout: int = 300) -> dict:
    """The JSON the child ``code`` prints after ``RESULT``; its output's tail is the failure message otherwise."""
    path = [str(SHIM), str(ROOT), os.environ.get("PYTHONPATH")]  # the stand-in first, then initreg as here
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, path)))
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=timeout)
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT")), None)
    assert line is not None, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(line[len("RESULT"):])
