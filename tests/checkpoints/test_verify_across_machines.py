"""A checkpoint written under one CPU dispatch, BLAS and thread set-up verifies as identical under another (v4 bits)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ('seed = 5\n[[rule]]\npattern = "*.weight"\ninit = "truncatednormal"\n'
         '[[rule]]\npattern = "*.bias"\ninit = ["uniform", {low = -0.1, high = 0.1}]\n'
         '[[rule]]\npattern = "emb"\ninit = ["normal", {sigma = 0.02}]\n')
SPEC = [{"name": "l0.weight", "shape": [300, 257]}, {"name": "l0.bias", "shape": [257], "dtype": "float16"},
        {"name": "emb", "shape": [1000, 64], "dtype": "float64"}]


def _cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("INITREG_", "NPY_DISABLE", "OPENBLAS_"))}
    full.update(env, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "initreg", *argv], capture_output=True, text=True, env=full,
                          timeout=300)


def _baseline() -> str:
    m = np._core._multiarray_umath if hasattr(np, "_core") else np.core._multiarray_umath
    on = {k for k, v in m.__cpu_features__.items() if v}
    return " ".join(f for f in m.__cpu_dispatch__ if f in on)


@pytest.mark.slow
def test_init_under_baseline_simd_verifies_identical_under_the_default_and_the_reference(tmp_path):
    (tmp_path / "rules.toml").write_text(RULES)
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    out = tmp_path / "m.safetensors"
    written = _cli("init", "--params", str(tmp_path / "spec.json"), "--rules", str(tmp_path / "rules.toml"), "-q",
                   "-o", str(out), env={"NPY_DISABLE_CPU_FEATURES": _baseline(), "OPENBLAS_NUM_THREADS": "1",
                                        "INITREG_NUM_THREADS": "1"})
    assert written.returncode == 0, written.stderr
    for env in ({"OPENBLAS_NUM_THREADS": "2", "INITREG_NUM_THREADS": "2"},
                {"INITREG_V4_BACKEND": "reference", "OPENBLAS_CORETYPE": "Haswell"}):
        checked = _cli("verify", str(out), env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "identical" in checked.stdout.lower() and "different" not in checked.stdout.lower()


def _orthogonal_checkpoint(tmp_path: Path, env: dict[str, str]) -> Path:
    (tmp_path / "rules.toml").write_text('seed = 3\n[[rule]]\npattern = "*"\ninit = "orthogonal"\n')
    (tmp_path / "spec.json").write_text(json.dumps([{"name": "q.weight", "shape": [96, 80]},
                                                    {"name": "k.weight", "shape": [40, 64], "dtype": "float64"}]))
    out = tmp_path / "q.safetensors"
    done = _cli("init", "--params", str(tmp_path / "spec.json"), "--rules", str(tmp_path / "rules.toml"), "-q",
                "-o", str(out), env=env)
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
def test_orthogonal_written_under_another_blas_set_up_is_within_tolerance_never_different(tmp_path):
    out = _orthogonal_checkpoint(tmp_path, {"OPENBLAS_NUM_THREADS": "1", "OPENBLAS_CORETYPE": "Sandybridge"})
    checked = _cli("verify", str(out), env={"OPENBLAS_NUM_THREADS": "2"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "within tolerance (platform-dependent initializer" in checked.stdout
    from initreg.checkpoints.checkpoint import Checkpoint

    ckpt = Checkpoint.open(out)
    record = json.loads(ckpt.metadata(out)["initreg.tensors"])
    assert record["q.weight"]["portable"] is False


def test_a_real_change_to_an_orthogonal_tensor_is_still_different(tmp_path):
    from safetensors.numpy import load_file, save_file

    from initreg import verify

    out = _orthogonal_checkpoint(tmp_path, {})
    assert verify(out).status == 0 and sorted(verify(out).tolerated) == ["k.weight", "q.weight"]
    from initreg.checkpoints.checkpoint import Checkpoint

    meta = Checkpoint.open(out).metadata(out)
    tensors = load_file(out)
    tensors["q.weight"] = tensors["q.weight"].copy()
    tensors["q.weight"][5, 7] += 1e-3  # far beyond any BLAS's rounding: a changed value
    save_file(tensors, out, metadata=meta)
    result = verify(out)
    assert result.status == 1 and result.mismatches[0].tensor == "q.weight" and result.mismatches[0].index == (5, 7)
