"""Power of the joint checks (issue 27): each mutant of tests/validate/wrong.py JOINT over seeds 0..N-1.

    python benchmarks/validate_joint.py [--seeds 10] [--jobs 2]

A seed counts as caught when the run of that mutant alone, on the default cases at family alpha 1e-3, fails
on one of the tests meant for its class; the table also lists every test that failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "validate"))


def one(job: tuple[str, int]) -> tuple[str, int, bool, list[str]]:
    """(label, seed, caught by a meant test, failing tests) of one mutant run."""
    import initreg
    from wrong import JOINT  # noqa: E402

    label, seed = job
    make, kwargs, meant = JOINT[label]
    failed = sorted({r.test for r in initreg.validate([make()], seed=seed, **kwargs).failures()})
    return label, seed, bool(set(failed) & meant), failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    from wrong import JOINT  # noqa: E402

    jobs = [(label, s) for label in JOINT for s in range(args.seeds)]
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(one, jobs))
    else:
        results = [one(j) for j in jobs]
    print("| defect class | seeds caught | failing tests |")
    print("|---|---:|---|")
    for label in JOINT:
        mine = [r for r in results if r[0] == label]
        tests: set[Any] = set().union(*(set(r[3]) for r in mine))
        print(f"| {label} | {sum(r[2] for r in mine)}/{len(mine)} | {', '.join(sorted(tests))} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
