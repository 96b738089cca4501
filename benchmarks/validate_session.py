"""False alarms of one pytest-plugin session (every registration an item, one Holm family) over many seeds.

    python benchmarks/validate_session.py --seeds 200 [--start 0] [--jobs 2] [--json out.json]

Each seed runs what ``pytest --initreg-validate --initreg-seed SEED`` runs: one Report per installed
registration from ``validate_each``, all in one Holm family at alpha = 1e-3, so a session fails exactly when
the CLI's whole-catalog run of that seed fails (it holds the same rows). A seed counts as a false alarm when
any item fails. Also kept per seed: the smallest raw p-value of each test, to show which tests come nearest.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

ALPHA = 1e-3


def one_seed(seed: int) -> dict[str, Any]:
    """The session of ``seed``: whether it passed, what failed, and each test's smallest raw p-value."""
    import initreg
    from initreg.validation.runner import validate_each

    names = [f"{i.distribution}:{i.name}" for i in initreg.available()]
    t0 = time.perf_counter()
    reports = validate_each([[n] for n in names], seed=seed, alpha=ALPHA)
    smallest: dict[str, float] = {}
    for report in reports:
        for r in report.rows:
            if r.p_value is not None:
                smallest[r.test] = min(smallest.get(r.test, 1.0), r.p_value)
    return {"seed": seed, "passed": all(r.passed or not r.failures() for r in reports),
            "failures": [f"{r.initializer} [{r.case}] {r.test} p={r.p_value:.3g}" for rep in reports
                         for r in rep.failures()],
            "items": len(reports), "p_values": reports[0].family_size, "smallest": smallest,
            "seconds": time.perf_counter() - t0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--json", default=None, help="write every seed's result here")
    args = parser.parse_args()
    seeds = range(args.start, args.start + args.seeds)
    t0 = time.perf_counter()
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:
            runs = list(pool.map(one_seed, seeds))
    else:
        runs = [one_seed(s) for s in seeds]
    failed = [r for r in runs if not r["passed"]]
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(runs, fh, indent=1)
    print(f"{len(failed)} of {len(runs)} seeded sessions failed (family alpha {ALPHA:g}; {runs[0]['items']} items, "
          f"{runs[0]['p_values']} p-values per session; {time.perf_counter() - t0:.0f} s)")
    for r in failed:
        print(f"  seed {r['seed']}: {'; '.join(r['failures'])}")
    tests = sorted({t for r in runs for t in r["smallest"]})
    print("smallest raw p-value of each test over all sessions:")
    for t in tests:
        print(f"  {t}: {min(r['smallest'].get(t, 1.0) for r in runs):.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
