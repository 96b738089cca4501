"""What the forward pass's undo log costs: first forward of a 1,000-layer Dense network, log on vs off.

    python benchmarks/forward_undo.py [--layers 1000] [--units 128] [--repeats 100]

The outermost block call records each parameter it completes (Parameter.save_state) so that an error
later in the pass can put every one back. This builds the network afresh for each run, initializes it
with Constant(0) (near-free fills, so the fixed cost per parameter shows), and times the first forward
with the log as shipped and with save_state replaced by a no-op, alternating in one process so both
see the same machine load; the minimum of each is printed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=1000)
    ap.add_argument("--units", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=100)
    args = ap.parse_args()

    from initreg import init, nn
    from initreg.parameters.parameter import Parameter

    shipped = Parameter.save_state
    variants = {"undo log on": shipped, "undo log off": lambda self, log: None}
    x = np.ones((4, args.units), np.float32)
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(args.repeats):
        for label, save_state in variants.items():
            Parameter.save_state = save_state
            net = nn.Sequential()
            net.add(*(nn.Dense(args.units) for _ in range(args.layers)))
            net.initialize(init.Constant(0.0), seed=0)
            t = time.perf_counter()
            net(x)
            best[label] = min(best[label], time.perf_counter() - t)
    Parameter.save_state = shipped
    on, off = best["undo log on"], best["undo log off"]
    print(f"{args.layers} Dense({args.units}) layers, first forward, best of {args.repeats}: "
          f"log on {on * 1e3:.1f} ms, log off {off * 1e3:.1f} ms, "
          f"difference {(on - off) * 1e6 / args.layers:.2f} µs per layer ({(on - off) / off * 100:.1f} %)")


if __name__ == "__main__":
    main()
