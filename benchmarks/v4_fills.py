"""What a user gets from the v4 bits: ``Stream`` fills and ``initreg.values`` against torch and memset, one run.

    python benchmarks/v4_fills.py [--n 10000000] [--repeats 7]

float32, 10⁷ values: ``Stream.normal``/``uniform``/``truncated_normal`` on 1 and 2 fill threads, warm arrays
(allocated and touched once) and fresh ones (a new array each repeat, page faults included), beside torch's
``normal_``/``uniform_``/``nn.init.trunc_normal_`` (its default intra-op threads) and ``memset`` of the same bytes
into the same kind of memory; then the per-call cost of ``initreg.values(init, (1000,), name=, seed=, out=)``
against torch's ``normal_`` on 1,000 values. Min and median of the repeats, and the load average.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import initreg  # noqa: E402
from initreg.core import v4_backend  # noqa: E402
from initreg.core.stream import Stream, set_num_threads  # noqa: E402

LIBC = ctypes.CDLL(None)
LIBC.memset.argtypes, LIBC.memset.restype = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t], ctypes.c_void_p


def timed(fn, repeats: int) -> tuple[float, float]:
    """(min, median) seconds of ``fn()`` over ``repeats`` runs, after one warm-up."""
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts), statistics.median(ts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    import torch

    n, rep = a.n, a.repeats
    print(f"load average before: {os.getloadavg()[0]:.2f}; backend {v4_backend.backend()}; torch threads "
          f"{torch.get_num_threads()}; n = {n:,} float32\n")
    warm = np.empty(n, np.float32)
    warm.fill(0)
    tw = torch.empty(n)
    tw.zero_()
    stream = Stream(0, "bench.weight")
    rows = []
    for fresh in (False, True):
        def arr():
            return np.empty(n, np.float32) if fresh else warm

        def tarr():
            return torch.empty(n) if fresh else tw

        memset = timed(lambda: (lambda x: LIBC.memset(x.ctypes.data, 0, x.nbytes))(arr()), rep)
        torch_t = {"normal": timed(lambda: tarr().normal_(0.0, 0.02), rep),
                   "uniform": timed(lambda: tarr().uniform_(-0.07, 0.07), rep),
                   "truncated_normal": timed(lambda: torch.nn.init.trunc_normal_(tarr(), std=0.02, a=-0.04, b=0.04),
                                             rep)}
        for threads in (1, 2):
            set_num_threads(threads)
            ours = {"normal": timed(lambda: stream.normal(0.0, 0.02, out=arr()), rep),
                    "uniform": timed(lambda: stream.uniform(-0.07, 0.07, out=arr()), rep),
                    "truncated_normal": timed(lambda: stream.truncated_normal(0.0, 0.02, -2.0, 2.0, out=arr()), rep)}
            for op, (tmin, tmed) in ours.items():
                omin, omed = torch_t[op]
                rows.append((("fresh" if fresh else "warm"), threads, op, tmin, tmed, omin / tmin, omed / tmed,
                             memset[0] / tmin if op == "uniform" else None))
    set_num_threads(None)
    print("| arrays | threads | fill | initreg min / median (ms) | × torch (min, median) | uniform ÷ memset |")
    print("|---|---:|---|---:|---:|---:|")
    for kind, threads, op, tmin, tmed, rmin, rmed, ms in rows:
        print(f"| {kind} | {threads} | {op} | {tmin * 1e3:.1f} / {tmed * 1e3:.1f} | {rmin:.2f}, {rmed:.2f} | "
              f"{'' if ms is None else f'{ms:.2f}'} |")
    init = initreg.create("normal", sigma=0.02)
    out = np.empty(1000, np.float32)
    calls = 2000
    per = timed(lambda: [initreg.values(init, (1000,), name="w", seed=0, out=out) for _ in range(calls)], 5)
    tper = timed(lambda: [torch.empty(1000).normal_(0.0, 0.02) for _ in range(calls)], 5)
    print(f"\nper call at 1,000 values: initreg.values {per[0] / calls * 1e6:.1f} / {per[1] / calls * 1e6:.1f} µs, "
          f"torch normal_ {tper[0] / calls * 1e6:.1f} / {tper[1] / calls * 1e6:.1f} µs (min / median): "
          f"{per[0] / tper[0]:.1f}× torch's time")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
