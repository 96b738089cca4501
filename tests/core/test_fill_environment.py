"""INITREG_NUM_THREADS and INITREG_V4_BACKEND with values they do not take: one warning naming the value, then the
default, instead of a silent default (a typo of 'reference' used to test the compiled kernel against itself)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import initreg
from initreg.core import stream as rnd

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env_threads(monkeypatch):
    """Fill threads from the environment only (no set_num_threads), with the one-warning memory cleared."""
    monkeypatch.setattr(rnd, "_num_threads", None)
    monkeypatch.setattr(rnd, "_warned_env", set(), raising=False)
    return lambda text: monkeypatch.setenv("INITREG_NUM_THREADS", text)


@pytest.mark.parametrize("text", ["0", "-3", "two", "2.5"])
def test_a_bad_thread_count_warns_once_naming_it_and_uses_the_cpu_count(env_threads, text):
    env_threads(text)
    with pytest.warns(initreg.InitregWarning, match=f"INITREG_NUM_THREADS='{text}' is not a positive integer") as got:
        n = initreg.get_num_threads()
    assert len(got) == 1 and n == max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                         else (os.cpu_count() or 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert initreg.get_num_threads() == n  # the second time: no warning


@pytest.mark.parametrize("text, want", [("3", 3), (" 4 ", 4), ("", None)])
def test_a_good_or_empty_thread_count_is_taken_quietly(env_threads, text, want):
    env_threads(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        n = initreg.get_num_threads()
    assert n == want or want is None and n >= 1


def _backend(value: str) -> subprocess.CompletedProcess:
    code = ("import warnings, initreg; warnings.simplefilter('always'); from initreg.core import v4_backend; "
            "print(v4_backend.backend(), initreg.values('normal', (2,), name='w', seed=1).tolist())")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "INITREG_V4_BACKEND": value}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_an_unknown_backend_name_warns_and_the_known_ones_do_not():
    bad, reference, compiled = _backend("referense"), _backend("Reference"), _backend("compiled")
    assert bad.returncode == reference.returncode == compiled.returncode == 0, bad.stderr + reference.stderr
    assert "INITREG_V4_BACKEND='referense' is not 'reference' or 'compiled'" in bad.stderr
    assert bad.stderr.count("InitregWarning") == 1
    assert "InitregWarning" not in reference.stderr + compiled.stderr
    assert reference.stdout.split()[0] == "reference"
    assert reference.stdout.split()[1:] == bad.stdout.split()[1:] == compiled.stdout.split()[1:]  # the same bits
