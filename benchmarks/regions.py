"""Time and peak memory of regions of a (50257, 768) float32 parameter against its whole fill, one run.

    python benchmarks/regions.py [--repeats 7] [--threads 1 2] [--json]

Cases, for Normal(0.02) and Uniform(0.07) through ``initreg.values``: the whole tensor; the dim-0 shard that
rank 1 of 8 holds under FSDP2 (``torch.chunk``: rows 6283..12565, far off the 65,536-value block grid);
the dim-1 shard of tensor parallelism (columns 96..191: a strided region that touches every block); one
row. Time: best of ``--repeats``, cases taking turns. Memory: tracemalloc's peak during one call (NumPy
reports its buffers to tracemalloc), separately from the timing runs.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from typing import Any

SHAPE = (50257, 768)
CASES = {
    "whole": None,
    "dim-0 shard 1/8 (rows 6283:12566)": slice(6283, 12566),
    "dim-1 shard 1/8 (cols 96:192)": (slice(None), slice(96, 192)),
    "one row (30000)": 30000,
}


def measure(repeats: int, threads: list[int]) -> dict[str, Any]:
    """{init: {threads: {case: (best seconds, peak bytes)}}}."""
    import initreg
    from initreg import std

    inits = {"normal": std.Normal(0.02), "uniform": std.Uniform(0.07)}
    out: dict[str, Any] = {}
    for label, init in inits.items():
        out[label] = {}
        for n in threads:
            initreg.set_num_threads(n)
            run = {case: (lambda ix=ix: initreg.values(init, SHAPE, name="wte", seed=0, index=ix))
                   for case, ix in CASES.items()}
            for fn in run.values():
                fn()
            best = {case: float("inf") for case in run}
            for _ in range(repeats):
                for case, fn in run.items():
                    t0 = time.perf_counter()
                    fn()
                    best[case] = min(best[case], time.perf_counter() - t0)
            peaks = {}
            for case, fn in run.items():
                tracemalloc.start()
                fn()
                peaks[case] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            out[label][n] = {case: (best[case], peaks[case]) for case in run}
    initreg.set_num_threads(None)
    return out


def table(results: dict[str, Any]) -> str:
    """A Markdown table with each case's time and memory as a fraction of the whole fill's."""
    lines = ["| initializer | threads | case | time | × whole | peak memory | × whole |", "|---|---|---|---|---|---|---|"]
    for label, by_threads in results.items():
        for n, cases in by_threads.items():
            t_whole, m_whole = cases["whole"]
            for case, (t, m) in cases.items():
                lines.append(f"| {label} | {n} | {case} | {t * 1e3:.2f} ms | {t / t_whole:.3f} | "
                             f"{m / 2**20:.2f} MiB | {m / m_whole:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    results = measure(args.repeats, args.threads)
    print(json.dumps(results, indent=2) if args.json else table(results))


if __name__ == "__main__":
    main()
