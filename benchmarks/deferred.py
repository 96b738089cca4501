"""Deferred initialization of a 1,000-layer Sequential of Dense layers: the first forward pass, split.

    python benchmarks/deferred.py [--layers 1000] [--units 128 256 512] [--batch 4] [--repeats 3]

The network is declared without input sizes (``Dense(units)``: every weight is (units, None)),
initialized with Xavier (all values deferred; biases keep the layer's "zeros"), and called once on a batch: that first forward pass completes
every shape and draws every value. The time inside the initializers' ``fill`` methods (the fills
themselves) is summed by wrapping every Initializer subclass's ``fill``; the rest (shape
completion, parameter bookkeeping, checks, records, and the forward matmuls) is "outside". Each
width is measured ``--repeats`` times on a fresh network and the run with the smallest total is kept.
"Initialization overhead" leaves out the forward computation too: first forward − fills − a second
forward of the same network (which does all the layer work and no initialization).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import threading
import time
from typing import Any


class FillTimer:
    """Sums wall time spent in Initializer.fill (outermost calls only) while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._local = threading.local()
        self._undo: list[tuple[type, Any]] = []

    def install(self) -> None:
        """Wrap ``fill`` of every Initializer subclass that defines its own."""
        from initreg.initializer import Initializer

        seen, todo = set(), [Initializer]
        while todo:
            cls = todo.pop()
            if cls in seen:
                continue
            seen.add(cls)
            todo.extend(cls.__subclasses__())
            if "fill" in cls.__dict__:
                original = cls.__dict__["fill"]
                self._undo.append((cls, original))
                setattr(cls, "fill", self._wrap(original))

    def uninstall(self) -> None:
        """Restore the original methods."""
        for cls, original in reversed(self._undo):
            setattr(cls, "fill", original)
        self._undo.clear()

    def _wrap(self, fn: Any) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._local, "depth", 0)
            self._local.depth = depth + 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._local.depth = depth
                if depth == 0:
                    self.seconds += time.perf_counter() - t0
                    self.calls += 1
        return timed


def one_run(layers: int, units: int, batch: int, seed: int = 0) -> dict[str, Any]:
    """Build, initialize and run the first forward pass once; return the split."""
    import numpy as np

    import initreg
    from initreg import nn

    net = nn.Sequential()
    for _ in range(layers):
        net.add(nn.Dense(units))
    net.initialize(initreg.std.Xavier(), seed=seed)  # keeps activations O(1) through 1,000 layers: no denormals
    x = np.ones((batch, units), np.float32)
    timer = FillTimer()
    timer.install()
    try:
        t0 = time.perf_counter()
        net(x)
        total = time.perf_counter() - t0
    finally:
        timer.uninstall()
    t0 = time.perf_counter()
    net(x)  # the same forward once every value exists: the work any forward pass does
    steady = time.perf_counter() - t0
    params = net.collect_params()
    n_values = sum(int(np.prod(p.shape)) for p in params.values())
    assert all(p.state == "initialized" for p in params.values())
    return {"layers": layers, "units": units, "batch": batch, "parameters": len(params), "values": n_values,
            "total_s": total, "fill_s": timer.seconds, "fill_calls": timer.calls,
            "outside_share": (total - timer.seconds) / total, "forward_s": steady,
            "overhead_share": max(total - timer.seconds - steady, 0.0) / total, "threads": initreg.get_num_threads()}


def main() -> int:
    """Measure each width and print a Markdown table (or JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=1000)
    ap.add_argument("--units", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="initreg fill threads (default: all cores)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    import initreg

    initreg.set_num_threads(a.threads)
    one_run(10, 64, a.batch)  # warm up: imports, registry, code paths
    load = os.getloadavg()[0]
    rows = []
    for units in a.units:
        runs = [one_run(a.layers, units, a.batch) for _ in range(a.repeats)]
        rows.append(min(runs, key=lambda r: r["total_s"]))
    if a.json:
        print(json.dumps({"load_before": load, "rows": rows}, indent=1))
        return 0
    print(f"{a.layers} Dense layers, batch {a.batch}, {rows[0]['threads']} fill thread(s), best of {a.repeats}; "
          f"load average {load:.2f} before / {os.getloadavg()[0]:.2f} after\n")
    print("| units | parameters | values | first forward (ms) | in fills (ms) | second forward (ms) "
          "| outside the fills | initialization overhead |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['units']} | {r['parameters']} | {r['values']:,} | {r['total_s'] * 1e3:.1f} | {r['fill_s'] * 1e3:.1f} | "
              f"{r['forward_s'] * 1e3:.1f} | {r['outside_share'] * 100:.1f} % | {r['overhead_share'] * 100:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    raise SystemExit(main())
