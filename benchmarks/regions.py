"""Time and peak memory of regions of a (50257, 768) float32 parameter against its whole fill, one run.

    python benchmarks/regions.py [--repeats 7] [--threads 1 2] [--shape 16384 4096] [--json]

Cases, for Normal(0.02) and Uniform(0.07) through ``initreg.values``: the whole tensor; the dim-0 shard that
rank 1 of 8 holds under FSDP2 (``torch.chunk``: rows 6283..12565, far off the 65,536-value block grid);
the dim-1 shard of tensor parallelism (columns 96..191: a strided region that touches every block); one
row. ``--shape R C`` times the same cases (1/8 rows, 1/8 columns, one row) of another weight. Time: best and
median of ``--repeats``, cases taking turns. Memory: tracemalloc's peak during one call (NumPy
reports its buffers to tracemalloc), separately from the timing runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import tracemalloc
from typing import Any

SHAPE = (50257, 768)


def cases(shape: tuple[int, int]) -> dict[str, Any]:
    """The whole tensor, rank 1's 1/8 shards along each dimension (torch.chunk's split) and one row."""
    rows, cols = -(-shape[0] // 8), -(-shape[1] // 8)
    return {"whole": None,
            f"dim-0 shard 1/8 (rows {rows}:{2 * rows})": slice(rows, 2 * rows),
            f"dim-1 shard 1/8 (cols {cols}:{2 * cols})": (slice(None), slice(cols, 2 * cols)),
            f"one row ({shape[0] * 3 // 5})": shape[0] * 3 // 5}


def measure(repeats: int, threads: list[int], shape: tuple[int, int] = SHAPE) -> dict[str, Any]:
    """{init: {threads: {case: (best seconds, peak bytes, median seconds)}}}."""
    import initreg
    from initreg import std

    inits = {"normal": std.Normal(0.02), "uniform": std.Uniform(0.07)}
    out: dict[str, Any] = {}
    for label, init in inits.items():
        out[label] = {}
        for n in threads:
            initreg.set_num_threads(n)
            run = {case: (lambda ix=ix: initreg.values(init, shape, name="wte", seed=0, index=ix))
                   for case, ix in cases(shape).items()}
            for fn in run.values():
                fn()
            times: dict[str, list[float]] = {case: [] for case in run}
            for _ in range(repeats):
                for case, fn in run.items():
                    t0 = time.perf_counter()
                    fn()
                    times[case].append(time.perf_counter() - t0)
            peaks = {}
            for case, fn in run.items():
                tracemalloc.start()
                fn()
                peaks[case] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            out[label][n] = {case: (min(times[case]), peaks[case], statistics.median(times[case])) for case in run}
    initreg.set_num_threads(None)
    return out


def table(results: dict[str, Any]) -> str:
    """A Markdown table with each case's time and memory as a fraction of the whole fill's."""
    lines = ["| initializer | threads | case | time min / median | × whole (min, median) | peak memory | × whole |",
             "|---|---|---|---|---|---|---|"]
    for label, by_threads in results.items():
        for n, by_case in by_threads.items():
            t_whole, m_whole, med_whole = by_case["whole"]
            for case, (t, m, med) in by_case.items():
                lines.append(f"| {label} | {n} | {case} | {t * 1e3:.2f} / {med * 1e3:.2f} ms | {t / t_whole:.3f}, "
                             f"{med / med_whole:.3f} | {m / 2**20:.2f} MiB | {m / m_whole:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shape", type=int, nargs=2, default=list(SHAPE), help="the weight's (rows, columns)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    load = os.getloadavg()
    results = measure(args.repeats, args.threads, tuple(args.shape))
    print(json.dumps(results, indent=2) if args.json else table(results))
    print(f"load average before / after: {load[0]:.2f} / {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
