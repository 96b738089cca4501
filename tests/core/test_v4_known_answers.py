"""v4 bits are frozen: fills hash to what initreg-philox-v4 gave when it was written, in the compiled kernel and
in the NumPy reference alike, whole and from unaligned starts, and any region equals the same positions of the
whole fill.

A kernel may be rewritten for speed only if every hash here stays; a change of bits is an ALGORITHM bump and
a new data file. To record the hashes (once, from the reference):
``INITREG_V4_REFREEZE=1 python -m pytest tests/core/test_v4_known_answers.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from initreg.core import v4_backend, v4_reference

DATA = Path(__file__).parent / "data" / "v4_known_answers.json"
KEY = v4_backend.key_words(20240917, "decoder.layers.3.mlp.up_proj.weight")
FLOATS = ("float64", "float32", "float16", "bfloat16")
SIZES = (1, 3, 4, 5, 65537, 200003)
STARTS = (0, 7)
LARGE_OPS = {"uniform", "normal", "tn_2sd", "tn_far", "integers", "bernoulli"}  # the 200003-value fills

OPS: dict[str, tuple[str, tuple, tuple[str, ...]]] = {
    "uniform": ("uniform", (0.0, 1.0), FLOATS),
    "uniform_sym": ("uniform", (-0.05, 0.05), FLOATS),
    "normal": ("normal", (0.0, 1.0), FLOATS),
    "normal_small": ("normal", (0.1, 0.02), FLOATS),
    "tn_2sd": ("truncated_normal", (0.0, 1.0, -2.0, 2.0), FLOATS),
    "tn_far": ("truncated_normal", (0.0, 0.02, 6.0, 7.0), FLOATS),
    "tn_narrow": ("truncated_normal", (1.0, 0.5, 0.5, 0.51), FLOATS),
    "tn_logspace": ("truncated_normal", (0.0, 1.0, -45.0, -40.0), FLOATS),
    "tn_halfline": ("truncated_normal", (0.0, 1.0, 0.0, float("inf")), FLOATS),
    "integers": ("integers", (-7, 1000), FLOATS + ("int64", "int32", "uint8")),
    "integers_wide": ("integers", (0, 1 << 64), ("uint64", "int64")),
    "bernoulli": ("bernoulli", (0.3,), FLOATS + ("bool", "int8")),
}


def cases() -> list[tuple[str, str, int, int]]:
    out = []
    for name, (_, _, kinds) in OPS.items():
        for kind in kinds:
            for n in SIZES:
                if n == 200003 and name not in LARGE_OPS:
                    continue
                for start in STARTS:
                    out.append((name, kind, start, n))
            out.append((name, kind, (1 << 33) + 3, 1001))  # far into the stream: call counters above 2**32
    return out


def case_id(name: str, kind: str, start: int, n: int) -> str:
    return f"{name}/{kind}/{start}+{n}"


def storage(kind: str) -> np.dtype:
    return v4_reference.STORAGE[kind]


def compiled(name: str, kind: str, start: int, n: int) -> np.ndarray:
    op, params, _ = OPS[name]
    out = np.empty(n, dtype=storage(kind))
    return v4_backend.fill(op, KEY, start, out, *params, bfloat16=kind == "bfloat16")


def reference(name: str, kind: str, start: int, n: int) -> np.ndarray:
    op, params, _ = OPS[name]
    return v4_reference.fill(op, KEY, start, n, kind, *params)


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _refreeze() -> None:
    data = {"algorithm": v4_reference.ALGORITHM, "key": list(KEY),
            "hashes": {case_id(*c): digest(reference(*c)) for c in cases()}}
    DATA.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if os.environ.get("INITREG_V4_REFREEZE") == "1":  # pragma: no cover - run by hand, once per ALGORITHM
    _refreeze()

FROZEN = json.loads(DATA.read_text())


def test_the_frozen_file_is_this_algorithm() -> None:
    assert FROZEN["algorithm"] == v4_reference.ALGORITHM == v4_backend.ALGORITHM
    assert tuple(FROZEN["key"]) == KEY
    assert set(FROZEN["hashes"]) == {case_id(*c) for c in cases()}


@pytest.fixture(scope="module")
def kernel() -> str:
    if v4_backend.backend() != "compiled":
        pytest.skip("the compiled kernel is not built here (the reference is checked on its own below)")
    return "compiled"


@pytest.mark.parametrize("name", sorted(OPS))
def test_reference_matches_the_frozen_hashes(name: str) -> None:
    for c in cases():
        if c[0] == name:
            assert digest(reference(*c)) == FROZEN["hashes"][case_id(*c)], case_id(*c)


@pytest.mark.parametrize("name", sorted(OPS))
def test_compiled_equals_reference_and_the_frozen_hashes(kernel: str, name: str) -> None:
    for c in cases():
        if c[0] != name:
            continue
        got, want = compiled(*c), reference(*c)
        assert got.tobytes() == want.tobytes(), case_id(*c)
        assert digest(got) == FROZEN["hashes"][case_id(*c)], case_id(*c)


REGIONS = [(0, 1), (1, 1), (3, 2), (4, 4), (5, 11), (1000, 1), (4095, 7), (12345, 40000), (65535, 3), (99990, 10)]


@pytest.mark.parametrize("name", ["uniform", "normal", "tn_2sd", "tn_logspace", "integers", "bernoulli"])
@pytest.mark.parametrize("kind", ["float32", "float64", "bfloat16"])
def test_a_region_is_the_same_positions_of_the_whole_fill(name: str, kind: str) -> None:
    total = 100000
    whole_ref = reference(name, kind, 0, total)
    fills = [reference]
    if v4_backend.backend() == "compiled":
        fills.append(compiled)
        assert compiled(name, kind, 0, total).tobytes() == whole_ref.tobytes()
    for fill in fills:
        for s, n in REGIONS:
            assert fill(name, kind, s, n).tobytes() == whole_ref[s:s + n].tobytes(), (fill.__name__, s, n)


def test_a_strided_and_sharded_layout_costs_only_its_region() -> None:
    """Column shards of a (rows, cols) weight: each row's slice is one region of the flat stream."""
    rows, cols, lo, hi = 64, 1000, 375, 500
    whole = np.empty((rows, cols), dtype=np.float32)
    v4_backend.fill("normal", KEY, 0, whole, 0.0, 0.02)
    shard = np.empty((rows, hi - lo), dtype=np.float32)
    for r in range(rows):
        v4_backend.fill("normal", KEY, r * cols + lo, shard[r], 0.0, 0.02)
    assert shard.tobytes() == np.ascontiguousarray(whole[:, lo:hi]).tobytes()
