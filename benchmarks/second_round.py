"""The performance issue's targets, side by side with PyTorch in one run: fresh arrays, per-call cost, peak memory.

    python benchmarks/second_round.py                  # every section (~4 min on 2 cores), Markdown on stdout
    python benchmarks/second_round.py --json           # the same as JSON
    python benchmarks/second_round.py --sections small peak --repeats 3

Sections (each (section, threads) runs in a fresh child process; contenders take turns, best of ``--repeats``):

- ``fresh``: Normal, Uniform and truncated normal (σ = 1, ±2σ) of a *new* float32 array of 4096² and
  16384×4096 values per call (first-touch page faults paid, as a new parameter pays them): initreg's
  ``Stream`` fills into ``np.empty``, torch's ``init.*_`` on ``torch.empty``, and the fresh-memory write
  limit (``np.empty(...).fill``). GB/s of values written; 1 and 2 threads.
- ``trunc_runs``: the truncated normal at 4096² on 2 threads against torch ``trunc_normal_``, ``--runs``
  separate child processes in a row (the target is ≥ 10× in every one).
- ``small``: µs per call at 1e2–1e5 values: ``Stream.normal`` and ``Normal.fill`` into a new array and
  ``Parameter.initialize(force_reinit=True)`` against ``torch.nn.init.normal_(torch.empty(n))``.
- ``peak``: (parameter + peak traced memory of the fill) / parameter, tracemalloc (NumPy reports its
  buffers), ``Parameter.initialize`` of a fresh parameter, after a warm-up fill (1e6 values) of another name.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

FRESH_SIZES = {"4096x4096": (4096, 4096), "16384x4096": (16384, 4096)}
SMALL_SIZES = [100, 1000, 10000, 100000]
PEAK_SIZES = [100_000, 1_000_000, 10_000_000]
SETTLE = 0.05  # s idle before each timing: another library's spinning worker threads stop first


def _threads(n: int) -> None:
    import initreg
    import torch

    initreg.set_num_threads(n)
    torch.set_num_threads(n)


def _best(fns: dict[str, Callable[[], Any]], repeats: int, loops: int = 1) -> dict[str, float]:
    """Best seconds per call of each function, the functions taking turns."""
    best = {k: float("inf") for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            time.sleep(SETTLE)
            t0 = time.perf_counter()
            for _ in range(loops):
                fn()
            best[k] = min(best[k], (time.perf_counter() - t0) / loops)
    return best


def child_fresh(threads: int, repeats: int, sizes: list[str], ops: list[str]) -> dict[str, Any]:
    """GB/s of each contender on fresh arrays, per (op, size)."""
    import numpy as np
    import torch

    from initreg.core.stream import Stream

    _threads(threads)
    s = Stream(0, "layer.weight")
    out: dict[str, Any] = {}
    for size in sizes:
        shape = FRESH_SIZES[size]
        nbytes = 4 * shape[0] * shape[1]
        fns: dict[str, Callable[[], Any]] = {"write limit (np.empty().fill)": lambda: np.empty(shape, np.float32).fill(0.5)}
        if "normal" in ops:
            fns["initreg normal"] = lambda: s.normal(0.0, 0.02, out=np.empty(shape, np.float32))
            fns["torch normal"] = lambda: torch.nn.init.normal_(torch.empty(shape), 0.0, 0.02)
        if "uniform" in ops:
            fns["initreg uniform"] = lambda: s.uniform(-0.07, 0.07, out=np.empty(shape, np.float32))
            fns["torch uniform"] = lambda: torch.nn.init.uniform_(torch.empty(shape), -0.07, 0.07)
        if "truncated_normal" in ops:
            fns["initreg truncated_normal"] = lambda: s.truncated_normal(0.0, 1.0, -2.0, 2.0, out=np.empty(shape, np.float32))
            fns["torch truncated_normal"] = lambda: torch.nn.init.trunc_normal_(torch.empty(shape), 0.0, 1.0, -2.0, 2.0)
        out[size] = {k: nbytes / t / 1e9 for k, t in _best(fns, repeats).items()}
    return out


def child_small(threads: int, repeats: int) -> dict[str, Any]:
    """µs per call at each small size."""
    import numpy as np
    import torch

    import initreg
    from initreg.core.initializer import make_desc
    from initreg.core.stream import Stream

    _threads(threads)
    init = initreg.std.Normal(0.02)
    s = Stream(0, "w")
    out: dict[str, Any] = {}
    for n in SMALL_SIZES:
        desc = make_desc("w", (n,), "float32")
        p = initreg.Parameter("w", shape=(n,))
        p.initialize(init, seed=0)
        fns = {"initreg Stream.normal": lambda: s.normal(0.0, 0.02, out=np.empty(n, np.float32)),
               "initreg Normal.fill": lambda: init.fill(desc, np.empty(n, np.float32), s),
               "initreg Parameter.initialize": lambda: p.initialize(init, seed=0, force_reinit=True),
               "torch init.normal_": lambda: torch.nn.init.normal_(torch.empty(n), 0.0, 0.02)}
        loops = max(3, int(2e6 / max(n, 1000)) // 10)  # ≥ ~20 ms a timing
        out[str(n)] = {k: t * 1e6 for k, t in _best(fns, repeats, loops).items()}
    return out


def child_peak(threads: int, sizes: list[int]) -> dict[str, Any]:
    """(parameter + peak extra) / parameter bytes of each initializer's initialize()."""
    import tracemalloc

    import initreg

    initreg.set_num_threads(threads)
    inits = {"normal": initreg.std.Normal(0.02), "uniform": initreg.std.Uniform(0.07),
             "truncated_normal": initreg.create(["truncatednormal", {"sigma": 0.02}])}
    out: dict[str, Any] = {}
    for name, init in inits.items():
        initreg.Parameter("warm", shape=(1_000_000,)).initialize(init, seed=0)  # lazy imports, the pool: not the fill's cost
        for n in sizes:
            p = initreg.Parameter(f"w{n}", shape=(n,))
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            p.initialize(init, seed=0)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            out.setdefault(name, {})[str(n)] = (peak - before) / (4 * n)  # the parameter itself is traced too
            del p
    return out


def _child(args: list[str]) -> Any:
    """Run one part in a fresh interpreter; its last stdout line is the JSON result."""
    res = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def measure(a: argparse.Namespace) -> dict[str, Any]:
    """Every requested section, each (section, threads) in its own child process."""
    res: dict[str, Any] = {"machine": {"nproc": os.cpu_count(), "load_before": os.getloadavg()[0]}, "repeats": a.repeats}
    sizes = ",".join(a.sizes)
    for t in a.threads:
        if "fresh" in a.sections:
            res.setdefault("fresh", {})[str(t)] = _child(["fresh", str(t), str(a.repeats), sizes, "normal,uniform,truncated_normal"])
        if "small" in a.sections:
            res.setdefault("small", {})[str(t)] = _child(["small", str(t), str(a.repeats)])
        if "peak" in a.sections:
            res.setdefault("peak", {})[str(t)] = _child(["peak", str(t), ",".join(map(str, PEAK_SIZES))])
    if "trunc_runs" in a.sections:
        res["trunc_runs"] = [_child(["fresh", "2", str(a.repeats), "4096x4096", "truncated_normal"])["4096x4096"]
                             for _ in range(a.runs)]
    res["machine"]["load_after"] = os.getloadavg()[0]
    return res


def markdown(res: dict[str, Any]) -> str:
    """One table per section, with each target and whether it is met."""
    out: list[str] = []
    if "fresh" in res:
        out += ["### Fresh arrays (GB/s of float32 values written)", "",
                "| op | size | initreg 1 thr | initreg 2 thr | 2/1 (≥ 1.6) | torch 2 thr | initreg/torch, 2 thr | share of write limit, 2 thr |",
                "|---|---|---|---|---|---|---|---|"]
        one, two = res["fresh"].get("1", {}), res["fresh"].get("2", {})
        for size in two:
            lim = two[size]["write limit (np.empty().fill)"]
            for op in ("normal", "uniform", "truncated_normal"):
                a1, a2, t2 = one.get(size, {}).get(f"initreg {op}", float("nan")), two[size][f"initreg {op}"], two[size][f"torch {op}"]
                target = " (≥ 10)" if op == "truncated_normal" else ""
                share = f"{a2 / lim:.0%}" + (" (≥ 30 %)" if op == "uniform" else "")
                out.append(f"| {op} | {size} | {a1:.2f} | {a2:.2f} | {a2 / a1:.2f}× | {t2:.2f} | {a2 / t2:.2f}×{target} | {share} |")
            out.append(f"| write limit | {size} | {one.get(size, {}).get('write limit (np.empty().fill)', float('nan')):.2f} | {lim:.2f} | | | | |")
        out.append("")
    if "trunc_runs" in res:
        ratios = [r["initreg truncated_normal"] / r["torch truncated_normal"] for r in res["trunc_runs"]]
        out += ["### Truncated normal, 4096² fresh, 2 threads, separate runs (target ≥ 10× torch in every run)", "",
                "runs: " + ", ".join(f"{x:.2f}×" for x in ratios) + f" — {'met' if min(ratios) >= 10 else 'missed'}", ""]
    if "small" in res:
        out += ["### Per-call cost (µs, fresh 1-D float32 arrays)", "",
                "| values | threads | Stream.normal | Normal.fill | Parameter.initialize | torch normal_ | fill/torch (≤ 1.5 to 1e4) | initialize/torch (≤ 2 at 1e3) |",
                "|---|---|---|---|---|---|---|---|"]
        for t, rows in res["small"].items():
            for n, r in rows.items():
                tt = r["torch init.normal_"]
                out.append(f"| {int(n):,} | {t} | {r['initreg Stream.normal']:.1f} | {r['initreg Normal.fill']:.1f} | "
                           f"{r['initreg Parameter.initialize']:.1f} | {tt:.1f} | {r['initreg Normal.fill'] / tt:.2f}× | "
                           f"{r['initreg Parameter.initialize'] / tt:.2f}× |")
        if "1" in res["small"] and "2" in res["small"]:
            worst = max(res["small"]["2"][n][k] / res["small"]["1"][n][k] for n in res["small"]["1"]
                        for k in res["small"]["1"][n] if k.startswith("initreg"))
            out += ["", f"2 threads / 1 thread, worst over sizes and calls: {worst:.2f}× (target ≤ 1.05×: "
                        f"{'met' if worst <= 1.05 else 'missed'})"]
        out.append("")
    if "peak" in res:
        out += ["### Peak memory of Parameter.initialize ((parameter + peak extra) / parameter, tracemalloc; target ≤ 1.02 from 1e5)", "",
                "| initializer | threads | " + " | ".join(f"{n:,}" for n in PEAK_SIZES) + " |", "|---|---|" + "---|" * len(PEAK_SIZES)]
        for t, rows in res["peak"].items():
            for name, by in rows.items():
                out.append(f"| {name} | {t} | " + " | ".join(f"{by[str(n)]:.3f}" for n in PEAK_SIZES) + " |")
        out.append("")
    m = res["machine"]
    out.append(f"{m['nproc']} CPUs, load average {m['load_before']:.2f} before / {m['load_after']:.2f} after, best of {res['repeats']}.")
    return "\n".join(out)


def main() -> int:
    """Parse arguments; run the sections (or one child's part of them)."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, threads = sys.argv[2], int(sys.argv[3])
        if kind == "fresh":
            r = child_fresh(threads, int(sys.argv[4]), sys.argv[5].split(","), sys.argv[6].split(","))
        elif kind == "small":
            r = child_small(threads, int(sys.argv[4]))
        else:
            r = child_peak(threads, [int(x) for x in sys.argv[4].split(",")])
        print(json.dumps(r))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sections", nargs="+", default=["fresh", "trunc_runs", "small", "peak"],
                    choices=["fresh", "trunc_runs", "small", "peak"])
    ap.add_argument("--sizes", nargs="+", default=list(FRESH_SIZES), choices=list(FRESH_SIZES))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = measure(a)
    print(json.dumps(res, indent=1) if a.json else markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
