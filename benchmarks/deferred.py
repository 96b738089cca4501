"""Deferred initialization of a 1,000-layer Sequential of Dense layers: the first forward pass, split.

    python benchmarks/deferred.py [--layers 1000] [--units 128 256 512] [--batch 4] [--repeats 3] [--init constant]

The network is declared without input sizes (``Dense(units)``: every weight is (units, None)),
initialized with Xavier (all weights deferred; biases keep the layer's "zeros" and are drawn at
``initialize()``), and called once on a batch: that first forward pass completes every weight's
shape and draws its values. Timers split that pass: the time inside the initializers' ``fill``
methods (the fills themselves: every Initializer subclass's ``fill`` is wrapped) and the time
inside the leaf layers' ``forward`` (the layer work: matmul, bias, activation). A second forward of
the same network, with the leaf timer only, gives the block calls every forward pays (``__call__``,
device and shape checks): second forward − its layer work. "Outside the fills" is first forward −
fills, everything else included; "initialization overhead" is first forward − fills − layer work −
block calls: shape completion, descriptors, streams, the finite check, bookkeeping. Each width is
measured ``--repeats`` times on a fresh network and the run with the smallest total is kept.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import threading
import time
from typing import Any, Callable


class MethodTimer:
    """Sums wall time spent in one method of a class tree (outermost calls, counted calls only) while installed."""

    def __init__(self, base: type, method: str, counts: Callable[[Any], bool] = lambda obj: True) -> None:
        self.base, self.method, self.counts = base, method, counts
        self.seconds = 0.0
        self.calls = 0
        self.times: list[float] = []
        self._local = threading.local()
        self._undo: list[tuple[type, Any]] = []

    def install(self) -> None:
        """Wrap the method in every subclass of ``base`` that defines its own."""
        seen, todo = set(), [self.base]
        while todo:
            cls = todo.pop()
            if cls in seen:
                continue
            seen.add(cls)
            todo.extend(cls.__subclasses__())
            if self.method in cls.__dict__:
                original = cls.__dict__[self.method]
                self._undo.append((cls, original))
                setattr(cls, self.method, self._wrap(original))

    def uninstall(self) -> None:
        """Restore the original methods."""
        for cls, original in reversed(self._undo):
            setattr(cls, self.method, original)
        self._undo.clear()

    def _wrap(self, fn: Any) -> Any:
        @functools.wraps(fn)
        def timed(obj: Any, *args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._local, "depth", 0)
            if depth or not self.counts(obj):
                return fn(obj, *args, **kwargs)
            self._local.depth = 1
            t0 = time.perf_counter()
            try:
                return fn(obj, *args, **kwargs)
            finally:
                self._local.depth = 0
                self.times.append(time.perf_counter() - t0)
                self.seconds += self.times[-1]
                self.calls += 1
        return timed


def timed_call(net: Any, x: Any, *timers: MethodTimer) -> float:
    """Seconds one call ``net(x)`` takes with ``timers`` installed."""
    for t in timers:
        t.install()
    try:
        t0 = time.perf_counter()
        net(x)
        return time.perf_counter() - t0
    finally:
        for t in reversed(timers):
            t.uninstall()


INITIALIZERS = {
    "xavier": lambda std: std.Xavier(),  # keeps activations O(1) through 1,000 layers: no denormals
    "constant": lambda std: std.Constant(0.01),  # a fill that is one ndarray.fill: the per-parameter floor shows
}


def one_run(layers: int, units: int, batch: int, init: str = "xavier", seed: int = 0) -> dict[str, Any]:
    """Build, initialize and run the first forward pass once; return the split."""
    import numpy as np

    import initreg
    from initreg import nn

    net = nn.Sequential()
    for _ in range(layers):
        net.add(nn.Dense(units))
    net.initialize(INITIALIZERS[init](initreg.std), seed=seed)
    x = np.ones((batch, units), np.float32)
    fills = MethodTimer(initreg.Initializer, "fill")
    first_work, second_work = (MethodTimer(nn.Block, "forward", counts=lambda block: not block._children)  # leaves
                               for _ in range(2))
    total = timed_call(net, x, fills, first_work)
    second = timed_call(net, x, second_work)  # the same forward once every value exists
    plumbing = second - second_work.seconds  # block calls and shape checks: what every forward pass does
    overhead = total - fills.seconds - first_work.seconds - plumbing
    params = net.collect_params()
    n_values = sum(int(np.prod(p.shape)) for p in params.values())
    assert all(p.state == "initialized" for p in params.values())
    return {"layers": layers, "units": units, "batch": batch, "parameters": len(params), "values": n_values,
            "total_s": total, "fill_s": fills.seconds, "fill_calls": fills.calls, "layer_s": first_work.seconds,
            "plumbing_s": plumbing, "second_forward_s": second, "outside_share": (total - fills.seconds) / total,
            "overhead_s": overhead, "overhead_share": overhead / total,
            "fill_median_s": float(np.median(fills.times)), "fill_p95_s": float(np.percentile(fills.times, 95)),
            "threads": initreg.get_num_threads()}


def main() -> int:
    """Measure each width and print a Markdown table (or JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=1000)
    ap.add_argument("--units", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="initreg fill threads (default: all cores)")
    ap.add_argument("--init", choices=sorted(INITIALIZERS), default="xavier",
                    help="constant: near-free fills, to show the fixed cost per parameter")
    ap.add_argument("--fill-times", action="store_true", help="also print the median and 95th percentile of one fill")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    import initreg

    initreg.set_num_threads(a.threads)
    one_run(10, 64, a.batch)  # warm up: imports, registry, code paths
    load = os.getloadavg()[0]
    rows = []
    for units in a.units:
        runs = [one_run(a.layers, units, a.batch, a.init) for _ in range(a.repeats)]
        rows.append(min(runs, key=lambda r: r["total_s"]))
    if a.json:
        print(json.dumps({"load_before": load, "rows": rows}, indent=1))
        return 0
    print(f"{a.layers} Dense layers, {a.init}, batch {a.batch}, {rows[0]['threads']} fill thread(s), best of {a.repeats}; "
          f"load average {load:.2f} before / {os.getloadavg()[0]:.2f} after\n")
    print("| units | parameters | values | first forward (ms) | in fills (ms) | layer work (ms) | block calls (ms) "
          "| second forward (ms) | outside the fills | initialization overhead | per drawn parameter (µs) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['units']} | {r['parameters']} | {r['values']:,} | {r['total_s'] * 1e3:.1f} | {r['fill_s'] * 1e3:.1f} | "
              f"{r['layer_s'] * 1e3:.1f} | {r['plumbing_s'] * 1e3:.1f} | {r['second_forward_s'] * 1e3:.1f} | {r['outside_share'] * 100:.1f} % | "
              f"{r['overhead_share'] * 100:.1f} % | {r['overhead_s'] * 1e6 / max(r['fill_calls'], 1):.1f} |")
    if a.fill_times:
        print("\n| units | fills | median fill (ms) | 95th percentile (ms) | sum (ms) |\n|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['units']} | {r['fill_calls']} | {r['fill_median_s'] * 1e3:.2f} | {r['fill_p95_s'] * 1e3:.2f} | "
                  f"{r['fill_s'] * 1e3:.0f} |")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    raise SystemExit(main())
