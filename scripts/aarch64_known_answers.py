"""Helper of scripts/aarch64_known_answers.sh: the parts that run inside the aarch64 Python, and the host-side check.

    python aarch64_known_answers.py harness-source FILE   (aarch64 or host) the standalone C harness over every
                                                          kernel-level known-answer case
    python aarch64_known_answers.py check-harness DIR CASES LABEL  (host, stdlib only) hash DIR/case<i>.bin, compare
    python aarch64_known_answers.py kernel-cases BACKEND  (aarch64) every known-answer case through v4_reference
                                                          (BACKEND=reference) or initreg.core._v4kernel (compiled)
    python aarch64_known_answers.py catalog               (aarch64) tests/core/catalog_bits.py's NumPy hashes

Each check prints one JSON line {"part", "checked", "mismatches": [...], ...} and exits 1 on any mismatch.
The case lists are the tests' own (tests/core/test_v4_known_answers.py, tests/core/catalog_bits.py), so this
script checks exactly what the frozen files hold.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests" / "core"
KNOWN = TESTS / "data" / "v4_known_answers.json"
CATALOG = TESTS / "data" / "catalog_bits_v4.json"

HARNESS = r"""
#include "_v4fill.h"
#include <stdio.h>
#include <stdlib.h>

typedef struct { int op, kind; unsigned long long start, n; double p0, p1, p2, p3; unsigned long long ilow, ispan; } v4_case;
static const v4_case CASES[] = {
%(cases)s
};

int main(int argc, char** argv) {
    const v4_u32 key[4] = {%(key)s};
    size_t c;
    if (argc < 2) return 1;
    v4_init();
    for (c = 0; c < sizeof(CASES) / sizeof(CASES[0]); ++c) {
        const v4_case* k = &CASES[c];
        v4_params P;
        char path[4096];
        FILE* f;
        void* out = malloc((size_t)k->n * 8);
        if (!out || v4_setup(&P, k->op, k->kind, key, k->p0, k->p1, k->p2, k->p3, k->ilow, k->ispan) < 0) return 2;
        v4_fill(&P, k->start, k->n, out);
        snprintf(path, sizeof path, "%%s/case%%zu.bin", argv[1], c);
        f = fopen(path, "wb");
        if (!f) return 3;
        if (fwrite(out, (size_t)v4_kind_size[k->kind], (size_t)k->n, f) != (size_t)k->n) return 4;
        fclose(f);
        free(out);
    }
    return 0;
}
"""


def _c_double(x: float) -> str:
    if x != x:
        return "__builtin_nan(\"\")"
    if x in (float("inf"), float("-inf")):
        return "__builtin_inf()" if x > 0 else "(-__builtin_inf())"
    return float(x).hex()


def case_row(op: str, params: tuple, kind: str, start: int, n: int) -> str:
    """One row of the harness's C case table: op and kind codes, range, the four double and two integer params."""
    from initreg.core import v4_reference

    raw = v4_reference.raw_params(op, params)
    if op == "integers":
        p, il, isp = (0.0, 0.0, 0.0, 0.0), raw[0], raw[1]
    else:
        p, il, isp = tuple(raw) + (0.0,) * (4 - len(raw)), 0, 0
    return "    {%d, %d, %dULL, %dULL, %s, %s, %s, %s, %dULL, %dULL}," % (
        v4_reference.OPS[op], v4_reference.KINDS[kind], start, n, *(_c_double(x) for x in p), il, isp)


def _known_answer_module():
    sys.path.insert(0, str(TESTS))
    import test_v4_known_answers as ka  # the case list of the frozen file (imports pytest for its decorators only)
    return ka


def harness_source(path: str) -> None:
    ka = _known_answer_module()
    rows, ids = [], []
    for name, kind, start, n in ka.cases():
        op, params, _ = ka.OPS[name]
        rows.append(case_row(op, params, kind, start, n))
        ids.append(ka.case_id(name, kind, start, n))
    key = ", ".join(f"{k}u" for k in ka.KEY)
    Path(path).write_text(HARNESS % {"cases": "\n".join(rows), "key": key})
    Path(path).with_suffix(".cases.json").write_text(json.dumps(ids))


def _report(part: str, checked: int, mismatches: list, **extra) -> int:
    print(json.dumps({"part": part, "checked": checked, "mismatches": mismatches[:20],
                      "n_mismatches": len(mismatches), **extra}))
    return 1 if mismatches or not checked else 0


def check_harness(out_dir: str, cases_json: str, label: str) -> int:
    frozen = json.loads(KNOWN.read_text())["hashes"]
    ids = json.loads(Path(cases_json).read_text())
    bad = []
    for i, cid in enumerate(ids):
        f = Path(out_dir) / f"case{i}.bin"
        got = hashlib.sha256(f.read_bytes()).hexdigest() if f.exists() else "missing"
        if got != frozen[cid]:
            bad.append(cid)
    return _report(f"c-kernel/{label}", len(ids), bad)


def _platform() -> dict:
    import numpy as np

    m = np._core._multiarray_umath if hasattr(np, "_core") else np.core._multiarray_umath
    return {"machine": platform.machine(), "python": platform.python_version(), "numpy": np.__version__,
            "numpy_path": np.__file__,
            "numpy_features": sorted(k for k, v in m.__cpu_features__.items() if v)}


def kernel_cases(which: str) -> int:
    import numpy as np

    from initreg.core import v4_backend, v4_reference

    ka = _known_answer_module()
    frozen = json.loads(KNOWN.read_text())
    assert frozen["algorithm"] == v4_reference.ALGORITHM == v4_backend.ALGORITHM, frozen["algorithm"]
    if which == "compiled" and v4_backend.backend() != "compiled":
        return _report(f"kernel-cases/{which}", 0, ["the compiled kernel is not importable here"])
    t0, bad = time.perf_counter(), []
    for c in ka.cases():
        if which == "reference":
            got = ka.reference(*c)
        else:
            name, kind, start, n = c
            op, params, _ = ka.OPS[name]
            got = np.empty(n, dtype=v4_reference.STORAGE[kind])
            v4_backend.fill(op, ka.KEY, start, got, *params, bfloat16=kind == "bfloat16")
        if ka.digest(got) != frozen["hashes"][ka.case_id(*c)]:
            bad.append(ka.case_id(*c))
    return _report(f"kernel-cases/{which}", len(ka.cases()), bad, seconds=round(time.perf_counter() - t0, 1),
                   **_platform())


def catalog() -> int:
    from initreg.core import v4_backend

    sys.path.insert(0, str(TESTS))
    import catalog_bits

    frozen = json.loads(CATALOG.read_text())
    want = {k: v for k, v in frozen["hashes"].items() if not k.startswith(("torch/", "jax/"))}
    t0 = time.perf_counter()
    got = catalog_bits.numpy_hashes()
    bad = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    return _report(f"catalog/{v4_backend.backend()}", len(want), bad,
                   seconds=round(time.perf_counter() - t0, 1), **_platform())


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "harness-source":
        harness_source(args[0])
        sys.exit(0)
    sys.exit({"check-harness": lambda: check_harness(*args), "kernel-cases": lambda: kernel_cases(*args),
              "catalog": catalog}[cmd]())
