"""Wall time of the full default validation run, and a simulation of the power claimed in docs/validation.md.

    python benchmarks/validate.py [--repeats 3] [--json]      # time `initreg.validate()` (every installed initializer)
    python benchmarks/validate.py --power [--seeds 20]        # detection rate of the four errors, default sizes
                                                              # and of issue 15's subtle defect classes (10 seeds)
    python benchmarks/validate.py --false-positives [--jobs 2] # seeds 0..59, whole catalog: how many runs fail

Timing: each repeat is one whole default run in this process (scipy already imported; the first run, which also
imports scipy and loads the plugins, is reported separately as "cold"). Power: for each error and each seed, the
deliberately wrong initializer of tests/validate/wrong.py is validated on the default cases; it is "detected at
m = 1000" when some p-value of that run is ≤ alpha/1000, the first Holm threshold of a run of 1000 p-values
(the largest family the docs allow for), so detection does not depend on what else shares the run.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ALPHA = 1e-3


def timing(repeats: int) -> dict[str, Any]:
    """Seconds of the cold first run and of ``repeats`` warm runs, with what the run covered."""
    import initreg

    t0 = time.perf_counter()
    report = initreg.validate()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        again = initreg.validate()
        warm.append(time.perf_counter() - t0)
        assert again.as_dict()["rows"] == report.as_dict()["rows"], "a fixed-seed run changed between repeats"
    return {"cold_s": cold, "warm_s": warm, "passed": report.passed, "initializers": len(report.targets),
            "cases": len(report.cases), "p_values": report.family_size,
            "exact_checks": sum(1 for r in report.rows if r.p_value is None and r.verdict in ("pass", "fail")),
            "summary": report.summary()}


def power(seeds: int) -> dict[str, Any]:
    """Per error: runs failed, runs and cases detected at the worst-case threshold, per-case z."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "validate"))
    import initreg
    from wrong import mixture_weights, std_off, swapped_xavier, uncorrected_truncation  # noqa: E402

    errors = {
        "1 % std error (Normal)": lambda: std_off(1.01),
        "fans swapped (Xavier gaussian, factor in)": lambda: swapped_xavier(rnd_type="gaussian", factor_type="in"),
        "no truncation correction (VarianceScaling)": uncorrected_truncation,
        "mixture weight +0.02 (tutorial: .27/.48/.25)": lambda: mixture_weights((0.27, 0.48, 0.25)),
    }
    threshold = ALPHA / 1000
    out: dict[str, Any] = {}
    for label, make in errors.items():
        failed = detected = 0
        zs: list[float] = []  # per (seed, case): the strongest evidence in that case
        for seed in range(seeds):
            report = initreg.validate([make()], seed=seed)
            failed += not report.passed
            detected += min(r.p_value for r in report.rows if r.p_value is not None) <= threshold
            for case in {r.case for r in report.rows}:
                ps = [r.p_value for r in report.rows if r.case == case and r.p_value is not None]
                zs.append(_z(min(ps)))
        out[label] = {"seeds": seeds, "failed_runs": failed, "detected_runs": detected,
                      "detected_cases": sum(z >= _z(threshold) for z in zs), "cases": len(zs),
                      "median_z": statistics.median(zs), "threshold_z": _z(threshold)}
    return out


def subtle_power(seeds: int) -> dict[str, Any]:
    """Per subtle defect class of wrong.SUBTLE: seeds whose run failed, and the tests that failed."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "validate"))
    import initreg
    from wrong import SUBTLE  # noqa: E402

    out: dict[str, Any] = {}
    for label, (make, kwargs) in SUBTLE.items():
        caught, tests = 0, set()
        for seed in range(seeds):
            report = initreg.validate([make()], seed=seed, **kwargs)
            caught += not report.passed
            tests |= {r.test for r in report.failures()}
        out[label] = {"seeds": seeds, "caught": caught, "tests": sorted(tests)}
    return out


def _one_seed(seed: int) -> dict[str, Any]:
    import initreg

    report = initreg.validate(seed=seed)
    return {"seed": seed, "passed": report.passed, "p_values": report.family_size,
            "failures": [f"{r.initializer} [{r.case}] {r.test}" for r in report.failures()],
            "targets": len(report.targets), "seconds": report.seconds}


def false_positives(seeds: int, jobs: int) -> dict[str, Any]:
    """Runs of the whole catalog at seeds 0..seeds-1 and which of them failed."""
    t0 = time.perf_counter()
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            runs = list(pool.map(_one_seed, range(seeds)))
    else:
        runs = [_one_seed(s) for s in range(seeds)]
    failed = [r for r in runs if not r["passed"]]
    return {"seeds": seeds, "failed": len(failed), "failed_runs": failed, "p_values": runs[0]["p_values"],
            "targets": runs[0]["targets"], "wall_s": time.perf_counter() - t0}


def _z(p: float) -> float:
    """The two-sided normal z of a p-value (p below 1e-300 counts as 1e-300: z ≈ 37)."""
    from scipy import stats

    return float(stats.norm.isf(max(p, 1e-300) / 2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--power", action="store_true", help="simulate the power claims instead of timing")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--false-positives", action="store_true", help="whole catalog at seeds 0..59: failing runs")
    parser.add_argument("--jobs", type=int, default=1, help="processes for --false-positives")
    parser.add_argument("--subtle-seeds", type=int, default=10)
    args = parser.parse_args()
    if args.false_positives:
        result = false_positives(60, args.jobs)
        if args.json:
            print(json.dumps(result, indent=2))
            return 0
        print(f"{result['failed']} of {result['seeds']} seeded runs failed (family alpha {ALPHA:g}; "
              f"{result['targets']} configurations, {result['p_values']} p-values per run; {result['wall_s']:.0f} s)")
        for r in result["failed_runs"]:
            print(f"  seed {r['seed']}: {'; '.join(r['failures'])}")
        return 0
    if args.power:
        result = power(args.seeds)
        subtle = subtle_power(args.subtle_seeds)
        if args.json:
            print(json.dumps({"errors": result, "subtle": subtle}, indent=2))
            return 0
        print("| error | runs failed | runs detected at alpha/1000 | cases detected at alpha/1000 | median z per case |")
        print("|---|---:|---:|---:|---:|")
        for label, r in result.items():
            print(f"| {label} | {r['failed_runs']}/{r['seeds']} | {r['detected_runs']}/{r['seeds']} | "
                  f"{r['detected_cases']}/{r['cases']} | {_fmt(r['median_z'])} |")
        print(f"(z ≥ {_fmt(r['threshold_z'])} is p ≤ alpha/1000; z is capped at 37, p < 1e-300)")
        print()
        print("| defect class | seeds caught | failing tests |")
        print("|---|---:|---|")
        for label, r in subtle.items():
            print(f"| {label} | {r['caught']}/{r['seeds']} | {', '.join(r['tests'])} |")
        return 0
    result = timing(args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    warm = result["warm_s"]
    print(f"{result['summary']}")
    print(f"{result['initializers']} initializer configurations, {result['cases']} cases, "
          f"{result['p_values']} p-values, {result['exact_checks']} exact checks")
    print(f"cold run (imports scipy, loads plugins): {result['cold_s']:.2f} s")
    print(f"warm runs: best {min(warm):.2f} s, median {statistics.median(warm):.2f} s over {len(warm)}")
    return 0


def _fmt(z: float | None) -> str:
    return "–" if z is None or not math.isfinite(z) else f"{z:.1f}"


if __name__ == "__main__":
    sys.exit(main())
