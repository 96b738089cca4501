"""``initreg init`` end to end: wall time and peak memory of writing a model's checkpoint, per format.

    python benchmarks/init_checkpoint.py [--layers 6] [--width 4096] [--repeats 3]

The model: ``--layers`` blocks of a (width/2, width) float32 weight (Xavier by rule), a bias and a
gamma (the default Uniform); 6 × 4096 gives about 50 M values, 201 MB. Each run is a fresh
interpreter that imports initreg, calls the CLI's ``main`` and reports its own peak resident size
(``ru_maxrss``); a fresh interpreter that only imports initreg gives the baseline. The table shows
the best wall time and the lowest peak of ``--repeats`` runs, and the peak above the baseline as a
multiple of the largest parameter and of the whole model.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

CHILD = """
import resource, sys
from initreg.cli import main
code = main(sys.argv[1:]) if len(sys.argv) > 1 else 0
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # Linux reports KiB
sys.exit(code)
"""


def write_inputs(directory: str, layers: int, width: int) -> tuple[int, int]:
    """The spec and rule files; return (total bytes, largest parameter's bytes)."""
    spec = []
    for i in range(layers):
        spec += [{"name": f"layers.{i}.weight", "shape": [width // 2, width]},
                 {"name": f"layers.{i}.bias", "shape": [width // 2]}, {"name": f"layers.{i}.gamma", "shape": [width]}]
    with open(os.path.join(directory, "spec.json"), "w") as f:
        json.dump(spec, f)
    with open(os.path.join(directory, "rules.toml"), "w") as f:
        f.write('seed = 0\n[[rule]]\npattern = "*.weight"\ninit = "xavier"\n')
    sizes = [4 * math.prod(e["shape"]) for e in spec]
    return sum(sizes), max(sizes)


def run(directory: str, args: list[str]) -> tuple[float, int]:
    """(wall seconds, peak bytes) of one fresh interpreter running the CLI with ``args``."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=directory, capture_output=True, text=True,
                          check=True)
    return time.perf_counter() - t0, int(done.stdout.strip().splitlines()[-1])


def main() -> int:
    """Measure both formats and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--width", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        total, largest = write_inputs(d, a.layers, a.width)
        base = min(run(d, [])[1] for _ in range(a.repeats))
        print(f"model: {total / 1e6:.1f} MB in {3 * a.layers} parameters, largest {largest / 1e6:.1f} MB; "
              f"baseline (import initreg) {base / 1e6:.1f} MB\n")
        print("| format | best wall (s) | peak RSS (MB) | above baseline | × largest parameter | × model |")
        print("|---|---|---|---|---|---|")
        for fmt in ("safetensors", "npz"):
            runs = [run(d, ["init", "--params", "spec.json", "--rules", "rules.toml", "-o", f"out.{fmt}", "-q"])
                    for _ in range(a.repeats)]
            wall, peak = min(r[0] for r in runs), min(r[1] for r in runs)
            extra = peak - base
            print(f"| .{fmt} | {wall:.2f} | {peak / 1e6:.1f} | {extra / 1e6:.1f} MB | {extra / largest:.2f} | "
                  f"{extra / total:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
