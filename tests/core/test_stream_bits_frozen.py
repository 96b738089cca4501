"""The CPU stream's bits are frozen per ALGORITHM: fills hash to what initreg-sfc64-blocks-v3 wrote when it shipped.

A kernel may be rewritten for speed or memory only if every hash here stays; a change of bits is an
ALGORITHM bump and a new data file (tests/core/data/stream_bits_<version>.json).
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from initreg.core.stream import ALGORITHM, Stream

FROZEN = json.loads((Path(__file__).parent / "data" / "stream_bits_v3.json").read_text())
SIZES = [1, 2, 3, 5, 10, 999, 1000, 1001, 4097, 65535, 65536, 65537, 100000, 131074, 200003]
OPS = ("normal", "uniform", "uniform2", "trunc", "trunc_narrow", "random")


def _fill(stream: Stream, op: str, out: np.ndarray, start: int = 0, total: int | None = None) -> None:
    where = {"out": out, "start": start, "total": total}
    if op == "normal":
        stream.normal(0.0, 0.02, **where)
    elif op == "uniform":
        stream.uniform(-0.07, 0.07, **where)
    elif op == "uniform2":
        stream.uniform(0.0, 3.0, **where)
    elif op == "random":
        stream.random(**where)
    elif op == "trunc":
        stream.truncated_normal(0.0, 1.0, -2.0, 2.0, **where)
    else:
        stream.truncated_normal(0.0, 1.0, 2.5, 3.0, **where)


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(a.tobytes()).hexdigest()[:16]


def test_the_frozen_file_is_for_this_algorithm():
    assert ALGORITHM == "initreg-sfc64-blocks-v3"
    assert len(FROZEN) == 414


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("op", OPS)
def test_fills_hash_to_the_frozen_bits(dtype, op):
    for n in SIZES:
        if dtype == "float16" and n > 70000:
            continue
        stream = Stream(7, f"layer{n}.weight")
        a = np.empty(n, dtype)
        _fill(stream, op, a)
        assert _digest(a) == FROZEN[f"{dtype}/{n}/{op}"], (dtype, n, op)
        if n > 10:  # a region at an unaligned start inside a larger fill
            b = np.empty(n // 3, dtype)
            _fill(stream, op, b, n // 5, n)
            assert _digest(b) == FROZEN[f"{dtype}/{n}/{op}/region"], (dtype, n, op, "region")
