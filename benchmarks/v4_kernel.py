"""The v4 bit kernel's fill speed against torch and NumPy, float32, one run side by side.

    python benchmarks/v4_kernel.py [--sizes 1000,1000000,10000000] [--quick]

For each size: initreg v4 (``v4_backend.fill``) on one thread and on two Python threads filling halves (the
kernel releases the GIL for its whole range), torch's ``normal_``/``uniform_``/``nn.init.trunc_normal_`` with
1 and 2 intra-op threads (if torch imports), NumPy's ``Generator.standard_normal``/``random`` (one thread), and
``memset`` of the same bytes. Warm arrays (allocated and touched once) unless ``--fresh``; min and median of
the repeats; the load average before and after is printed, since on a shared machine it decides the spread.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from initreg.core import v4_backend  # noqa: E402

KEY = v4_backend.key_words(0, "bench.weight")
OPS = {"normal": (0.0, 1.0), "uniform": (0.0, 1.0), "truncated_normal": (0.0, 1.0, -2.0, 2.0)}


def repeats(n: int, quick: bool) -> int:
    r = 2000 if n <= 10_000 else (30 if n <= 1_000_000 else 7)
    return max(3, r // 4) if quick else r


CLOCK = time.perf_counter


def timeit(fn, reps: int, setup=None) -> tuple[float, float]:
    ts = []
    for _ in range(reps):
        arg = setup() if setup else None
        t0 = CLOCK()
        fn(arg)
        ts.append(CLOCK() - t0)
    return min(ts), statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,1000000,10000000")
    ap.add_argument("--fresh", action="store_true", help="a new array for every repeat (page faults included)")
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time one-thread runs by the calling thread's CPU time (robust on a busy machine; the "
                         "two-thread runs are then skipped)")
    args = ap.parse_args()
    global CLOCK
    if args.cpu_time:
        CLOCK = time.thread_time
    sizes = [int(s) for s in args.sizes.split(",")]

    try:
        import torch
    except ImportError:
        torch = None
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__ if torch else '-'}, "
          f"v4 backend: {v4_backend.backend()}, cpus: {len(os.sched_getaffinity(0))}, "
          f"{'fresh' if args.fresh else 'warm'} arrays, clock: {'thread CPU time' if args.cpu_time else 'wall'}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    pool = ThreadPoolExecutor(max_workers=1)
    gen = np.random.default_rng(0)
    libc = ctypes.CDLL(None)

    rows = []
    for n in sizes:
        reps = repeats(n, args.quick)
        warm = np.empty(n, np.float32)
        warm.fill(0)

        def target(_=None):
            if args.fresh:
                return np.empty(n, np.float32)
            return warm

        for op, params in OPS.items():
            res: dict[str, tuple[float, float]] = {}

            def v4_1(a, op=op, params=params):
                v4_backend.fill(op, KEY, 0, a, *params)

            def v4_2(a, op=op, params=params):
                h = n // 2
                f = pool.submit(v4_backend.fill, op, KEY, 0, a[:h], *params)
                v4_backend.fill(op, KEY, h, a[h:], *params)
                f.result()

            res["v4 1T"] = timeit(v4_1, reps, target if args.fresh else lambda: warm)
            if not args.cpu_time:
                res["v4 2T"] = timeit(v4_2, reps, target if args.fresh else lambda: warm)
            if torch is not None:
                tw = torch.empty(n)
                tw.zero_()

                def tt(_=None):
                    return torch.empty(n) if args.fresh else tw

                tf = {"normal": lambda t: t.normal_(), "uniform": lambda t: t.uniform_(),
                      "truncated_normal": lambda t: torch.nn.init.trunc_normal_(t)}[op]
                for nt in ((1,) if args.cpu_time else (1, 2)):
                    torch.set_num_threads(nt)
                    tf(tw)
                    res[f"torch {nt}T"] = timeit(tf, reps if op != "truncated_normal" else max(3, reps // 4), tt)
            if op == "normal":
                res["numpy"] = timeit(lambda a: gen.standard_normal(out=a, dtype=np.float32), reps, target)
            elif op == "uniform":
                res["numpy"] = timeit(lambda a: gen.random(out=a, dtype=np.float32), reps, target)
                res["memset"] = timeit(lambda a: libc.memset(ctypes.c_void_p(a.ctypes.data), 0, a.nbytes), reps,
                                       target)
            rows.append((n, op, res))
            line = f"n={n:>9,d} {op:17s}"
            for k, (mn, md) in res.items():
                line += f" | {k} {n / mn / 1e6:8.1f} M/s (med {n / md / 1e6:7.1f})"
            print(line, flush=True)

    print("\nspeed ratios at the min (v4 / other; above 1: v4 is faster):")
    for n, op, res in rows:
        parts = []
        for mine in ("v4 1T", "v4 2T"):
            if mine not in res:
                continue
            for other in (f"torch {mine[-2:]}", "numpy", "memset"):
                if other in res:
                    parts.append(f"{mine} / {other} {res[other][0] / res[mine][0]:.2f}x")
        print(f"  n={n:>10,d} {op:17s} " + ", ".join(parts))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    pool.shutdown()


if __name__ == "__main__":
    main()
