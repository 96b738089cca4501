"""v4 bits do not depend on the CPU's SIMD level, NumPy's dispatch, the BLAS set-up or the compiler's -march.

Child processes compute the known-answer fills with NumPy's CPU dispatch cut down (``NPY_DISABLE_CPU_FEATURES``:
no AVX-512, then baseline only) and ``OPENBLAS_NUM_THREADS`` 1 and 2, in the reference and the compiled kernel;
and the kernel's C source is built as a standalone program for ``-march=x86-64``, ``x86-64-v2``, ``x86-64-v3``,
``native`` (with and without the SIMD Philox). Every one gives the frozen hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from catalog_bits import numpy_dispatch
from initreg.core import v4_backend

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "initreg" / "core"
FROZEN = json.loads((Path(__file__).parent / "data" / "v4_known_answers.json").read_text())
KEY = tuple(FROZEN["key"])

# a cut of the known-answer cases (tests/core/test_v4_known_answers.py): every operation, every float kind
CASES = [
    ("uniform", "uniform", (0.0, 1.0), "float32", 7, 65537),
    ("uniform", "uniform", (0.0, 1.0), "float64", 0, 65537),
    ("uniform_sym", "uniform", (-0.05, 0.05), "bfloat16", 7, 65537),
    ("normal", "normal", (0.0, 1.0), "float32", 7, 200003),
    ("normal", "normal", (0.0, 1.0), "float64", 0, 200003),
    ("normal", "normal", (0.0, 1.0), "float16", 7, 65537),
    ("normal_small", "normal", (0.1, 0.02), "bfloat16", 0, 65537),
    ("tn_2sd", "truncated_normal", (0.0, 1.0, -2.0, 2.0), "float32", 7, 200003),
    ("tn_far", "truncated_normal", (0.0, 0.02, 6.0, 7.0), "float64", 0, 65537),
    ("tn_narrow", "truncated_normal", (1.0, 0.5, 0.5, 0.51), "float32", 7, 65537),
    ("tn_logspace", "truncated_normal", (0.0, 1.0, -45.0, -40.0), "float64", 7, 65537),
    ("integers", "integers", (-7, 1000), "int64", 7, 65537),
    ("bernoulli", "bernoulli", (0.3,), "float32", 7, 65537),
]

CHILD = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    from initreg.core import v4_backend, v4_reference
    cases, key = json.loads(sys.argv[1]), tuple(json.loads(sys.argv[2]))
    out = {}
    for name, op, params, kind, start, n in cases:
        ref = v4_reference.fill(op, key, start, n, kind, *params)
        out["reference/" + name + "/" + kind] = hashlib.sha256(ref.tobytes()).hexdigest()
        if v4_backend.backend() == "compiled":
            got = np.empty(n, v4_reference.STORAGE[kind])
            v4_backend.fill(op, key, start, got, *params, bfloat16=kind == "bfloat16")
            out["compiled/" + name + "/" + kind] = hashlib.sha256(got.tobytes()).hexdigest()
    m = np._core._multiarray_umath if hasattr(np, "_core") else np.core._multiarray_umath
    out["_features"] = sorted(k for k, v in m.__cpu_features__.items() if v)
    print(json.dumps(out))
""")


def _frozen(name: str, kind: str, start: int, n: int) -> str:
    return FROZEN["hashes"][f"{name}/{kind}/{start}+{n}"]


def _environments() -> list[dict[str, str]]:
    dispatch = numpy_dispatch()
    no_avx512 = [f for f in dispatch if f.startswith("AVX512") or f == "X86_V4"]
    envs = [{"OPENBLAS_NUM_THREADS": "1"}, {"OPENBLAS_NUM_THREADS": "2"}]
    if no_avx512:
        envs.append({"NPY_DISABLE_CPU_FEATURES": " ".join(no_avx512), "OPENBLAS_NUM_THREADS": "2"})
    if dispatch:
        envs.append({"NPY_DISABLE_CPU_FEATURES": " ".join(dispatch), "OPENBLAS_NUM_THREADS": "1"})
    return envs


@pytest.mark.slow
@pytest.mark.parametrize("env", _environments(), ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()))
def test_child_processes_under_cut_down_cpu_dispatch_give_the_frozen_hashes(env: dict[str, str]) -> None:
    full_env = {**os.environ, **env}
    full_env.pop("INITREG_V4_BACKEND", None)
    args = [json.dumps([[c[0], c[1], list(c[2]), c[3], c[4], c[5]] for c in CASES]), json.dumps(list(KEY))]
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], env=full_env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    disabled = set(env.get("NPY_DISABLE_CPU_FEATURES", "").split())
    assert not disabled & set(got["_features"]), "the child's NumPy still ran the disabled features"
    for name, op, params, kind, start, n in CASES:
        want = _frozen(name, kind, start, n)
        assert got[f"reference/{name}/{kind}"] == want, (name, kind, env)
        if f"compiled/{name}/{kind}" in got:
            assert got[f"compiled/{name}/{kind}"] == want, (name, kind, env)


# --- the C kernel built for several -march levels, as a standalone program ------------------------------------------

sys.path.insert(0, str(ROOT / "scripts"))
from aarch64_known_answers import HARNESS, case_row  # noqa: E402 - the one standalone C harness, shared with the aarch64 run


def _harness_source() -> str:
    rows = []
    for name, op, params, kind, start, n in CASES:
        rows.append(case_row(op, params, kind, start, n))
    return HARNESS % {"cases": "\n".join(rows), "key": ", ".join(f"{k}u" for k in KEY)}


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


MARCHES = [("x86-64", ()), ("x86-64-v2", ("sse4_2", "popcnt")), ("x86-64-v3", ("avx2", "fma", "bmi2")),
           ("native", ())]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64", reason="x86-64 Linux")
@pytest.mark.parametrize("philox", ["simd", "generic"])
@pytest.mark.parametrize("march,flags", MARCHES, ids=[m for m, _ in MARCHES])
def test_the_kernel_built_for_each_march_gives_the_frozen_bits(tmp_path: Path, march: str, flags: tuple,
                                                               philox: str) -> None:
    if not set(flags) <= _cpu_flags():
        pytest.skip(f"this CPU cannot run -march={march}")
    src = tmp_path / "harness.c"
    src.write_text(_harness_source())
    exe = tmp_path / "harness"
    cmd = ["gcc", "-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno", f"-march={march}",
           "-DV4_NO_CLONES", f"-I{CORE}", str(src), "-o", str(exe)]
    if philox == "generic":
        cmd.insert(1, "-DV4_PHILOX_GENERIC")
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run([str(exe), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for i, (name, op, params, kind, start, n) in enumerate(CASES):
        data = (tmp_path / f"case{i}.bin").read_bytes()
        assert hashlib.sha256(data).hexdigest() == _frozen(name, kind, start, n), (march, philox, name, kind)


def test_the_cases_here_are_known_answer_cases() -> None:
    for name, op, params, kind, start, n in CASES:
        assert f"{name}/{kind}/{start}+{n}" in FROZEN["hashes"]
    assert v4_backend.ALGORITHM == FROZEN["algorithm"]
