"""GB/s of initreg's Uniform and Normal fills of a 4096×4096 float32 parameter against NumPy, same run.

    python benchmarks/fill.py [--repeats 7] [--json]

NumPy's in-place fills are ``Generator.random(out=, dtype=float32)`` and
``Generator.standard_normal(out=, dtype=float32)`` (default PCG64 generator, one thread: NumPy's
generators are single-threaded). initreg is measured twice: ``Initializer.fill`` into the existing
array (what NumPy's ``out=`` does) and ``Parameter.initialize(force_reinit=True)`` (fresh buffer,
finiteness check, record). All run in turns (round robin, best of ``--repeats``) at 1 and 2 threads.
``Stream.normal`` (v3 kernel) runs beside the v2 Box–Muller kernel it replaced (benchmarks/generator.py's
``legacy_box_muller``, through ``Stream.map_blocks``: the same block machinery), both N(0, 1) float32.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable


def measure(repeats: int, threads: list[int]) -> dict[str, Any]:
    """Best seconds per (threads, case) with the cases taking turns."""
    import numpy as np

    import initreg
    from initreg import Parameter
    from initreg.core.initializer import make_desc
    from initreg.core.stream import Stream
    from initreg.std import Normal, Uniform
    from generator import legacy_box_muller  # noqa: E402 - benchmarks/ is on sys.path when run as a script

    shape = (4096, 4096)
    buf = np.empty(shape, np.float32)
    rng = np.random.default_rng(0)
    desc = make_desc("weight", shape, "float32")
    stream = Stream(0, "weight")
    uni, nor = Uniform(0.07), Normal(0.01)

    class OutsideNormal(Normal):
        """Normal's fill defined outside initreg (as a plugin's is): its buffer starts as NaN, the sentinel."""

        def fill(self, desc, out, rng):
            rng.normal(self.mean, self.sigma, out=out)

    outside = OutsideNormal(0.01)
    params = {"uniform": Parameter("weight", shape=shape), "normal": Parameter("weight", shape=shape),
              "outside": Parameter("weight", shape=shape)}
    params["uniform"].initialize(uni, seed=0)
    params["normal"].initialize(nor, seed=0)
    params["outside"].initialize(outside, seed=0)
    cases: dict[str, Callable[[], Any]] = {
        "numpy random(out=)": lambda: rng.random(out=buf, dtype=np.float32),
        "initreg Uniform fill": lambda: uni.fill(desc, buf, stream),
        "initreg Uniform initialize": lambda: params["uniform"].initialize(uni, force_reinit=True, seed=0),
        "numpy standard_normal(out=)": lambda: rng.standard_normal(out=buf, dtype=np.float32),
        "initreg Normal fill": lambda: nor.fill(desc, buf, stream),
        "initreg Normal initialize": lambda: params["normal"].initialize(nor, force_reinit=True, seed=0),
        "initreg Normal initialize, fill outside initreg": lambda: params["outside"].initialize(outside, force_reinit=True,
                                                                                               seed=0),
        "Stream.normal (v3 kernel)": lambda: stream.normal(out=buf),
        "v2 kernel via Stream.map_blocks": lambda: stream.map_blocks(legacy_box_muller, out=buf),
        "ndarray.fill (write bandwidth)": lambda: buf.fill(0.5),
    }
    out: dict[str, Any] = {"bytes": buf.nbytes, "repeats": repeats, "seconds": {}}
    for n in threads:
        initreg.set_num_threads(n)
        best = {k: float("inf") for k in cases}
        for fn in cases.values():
            fn()
        for _ in range(repeats):
            for k, fn in cases.items():
                t0 = time.perf_counter()
                fn()
                best[k] = min(best[k], time.perf_counter() - t0)
        out["seconds"][str(n)] = best
    return out


def markdown(res: dict[str, Any]) -> str:
    """A table of GB/s per case and thread count, with initreg's ratio to NumPy."""
    threads = list(res["seconds"])
    gbs = {n: {k: res["bytes"] / s / 1e9 for k, s in res["seconds"][n].items()} for n in threads}
    lines = ["| fill (4096×4096 float32) | " + " | ".join(f"{n} thread{'s' if n != '1' else ''}" for n in threads) + " |",
             "|---|" + "---|" * len(threads)]
    for k in res["seconds"][threads[0]]:
        cells = []
        for n in threads:
            v = gbs[n][k]
            base = gbs[n]["numpy random(out=)" if "niform" in k else "numpy standard_normal(out=)"] if k.startswith("initreg") else None
            if k == "Stream.normal (v3 kernel)":
                cells.append(f"{v:.2f} ({v / gbs[n]['v2 kernel via Stream.map_blocks']:.3f}× v2)")
                continue
            cells.append(f"{v:.2f}" + (f" ({v / base:.1f}× NumPy)" if base else ""))
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    """Measure and print the table (or JSON)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    load = os.getloadavg()[0]
    res = measure(a.repeats, a.threads)
    res["load_before"] = load
    res["load_after"] = os.getloadavg()[0]
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"GB/s, best of {a.repeats}, load average {load:.2f} before / {res['load_after']:.2f} after\n")
        print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    raise SystemExit(main())
