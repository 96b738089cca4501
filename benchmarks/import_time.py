"""Cold start of fresh interpreters: ``import numpy``, ``import initreg``, and the first ``initreg.create(name)``.

Run: ``python benchmarks/import_time.py [-n 30] [--name xavier]``. Each round starts one fresh process per case
(cases interleaved so machine load hits them alike); the table gives best and median wall time, and the best
times' differences from ``import numpy`` (targets: import within 30 ms, first create within 150 ms).
Bytecode caches are allowed and written by a warm-up run first (PYTHONDONTWRITEBYTECODE is removed from the
children's environment), as after a ``pip install``, which compiles them: without caches every import compiles
initreg from source, which measures the compiler, not initreg.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def cases(name: str) -> list[tuple[str, str]]:
    """(label, code) per measured command."""
    return [("python -c 'pass'", "pass"),
            ("import numpy", "import numpy"),
            ("import initreg", "import initreg"),
            (f"import initreg; initreg.create('{name}')", f"import initreg; initreg.create('{name}')")]


def measure(codes: list[str], rounds: int) -> list[list[float]]:
    """Wall seconds of ``python -c code`` for each code, ``rounds`` times each, interleaved."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for code in codes:  # warm-up: writes the bytecode caches
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
    times: list[list[float]] = [[] for _ in codes]
    for _ in range(rounds):
        for i, code in enumerate(codes):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env)
            times[i].append(time.perf_counter() - t0)
    return times


def main() -> None:
    """Print a Markdown table of the measurements."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--rounds", type=int, default=30, help="fresh processes per case (best of N)")
    ap.add_argument("--name", default="xavier", help="initializer to create (falls back to 'normal' if unknown)")
    args = ap.parse_args()
    import initreg

    names = {e.name for e in initreg.available()} | {a for e in initreg.available() for a in e.aliases}
    name = args.name if args.name in names else "normal"
    if name != args.name:
        print(f"note: {args.name!r} is not registered; measuring {name!r}")
    labelled = cases(name)
    runs = measure([code for _, code in labelled], args.rounds)
    best = {label: min(t) * 1e3 for (label, _), t in zip(labelled, runs)}
    base = best["import numpy"]
    print(f"python {sys.version.split()[0]}, {args.rounds} fresh processes per command, ms\n")
    print("| command | best | median | best − numpy |")
    print("|---|---:|---:|---:|")
    for (label, _), t in zip(labelled, runs):
        print(f"| `{label}` | {min(t) * 1e3:.1f} | {statistics.median(t) * 1e3:.1f} | {best[label] - base:+.1f} |")


if __name__ == "__main__":
    main()
