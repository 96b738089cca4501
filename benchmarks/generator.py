"""Figures of the v4 generator (docs/validation.md): zeros and tail masses of 10⁹ float32 normals, the uniform's
upper bound, and far-tail truncated normals against scipy.

    python benchmarks/generator.py [--draws 1e9] [--json]

Tails: ``Stream(0, "tails").normal`` in float32, drawn in shards of 2²⁴ values; for each t the two-sided count
of |x| > t against n·2Φ(−t) (a two-sided Poisson p-value), beside NumPy's float32 ziggurat
(``Generator.standard_normal(dtype=float32)``, PCG64 seed 0) and the v2 kernel (24-bit radius, kept here for the
comparison). Uniform: every one of the 2²⁴ float32 inputs (and the 4096 largest float64 inputs) through the
kernel for several (low, high). Truncated normal: 10⁶ float64 values per interval, KS against
``scipy.stats.truncnorm`` and the mean's error in standard errors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np

THRESHOLDS = (5.0, 5.5, 5.77, 6.0)
SHARD = 1 << 24


def legacy_box_muller(g: np.random.Generator, view: np.ndarray) -> None:
    """The v2 float32 Box–Muller kernel (24-bit radius and angle words; radius word 0 → two exact zeros)."""
    n = view.size
    h = (n + 1) // 2
    r = view[:h]
    raw = g.bit_generator.random_raw(h)
    u, f = raw.view(np.uint32), raw.view(np.float32)
    np.right_shift(u, np.uint32(8), out=u)
    np.subtract(np.uint32(1 << 24), u[:h], out=u[:h])
    i = u.view(np.int32)
    np.copyto(r, i[:h], casting="unsafe")
    np.multiply(r, np.float32(2.0 ** -24), out=r)
    theta = f[:h]
    np.copyto(theta, i[h:], casting="unsafe")
    np.multiply(theta, np.float32(2.0 * math.pi * 2.0 ** -24), out=theta)
    s = f[h:]
    np.log(r, out=r)
    np.multiply(r, -2.0, out=r)
    np.sqrt(r, out=r)
    np.sin(theta, out=s)
    np.multiply(s, r, out=s)
    np.cos(theta, out=theta)
    np.multiply(r, theta, out=r)
    view[h:] = s[: n - h]


def tails(draws: int) -> dict[str, Any]:
    """Zeros and |x| > t counts of ``draws`` float32 normals from initreg v4, NumPy and the v2 kernel."""
    from scipy import special, stats

    from initreg.core.stream import Stream

    stream = Stream(0, "tails")
    rng = np.random.default_rng(0)
    buf = np.empty(SHARD, np.float32)
    counts = {k: {"zeros": 0, **{str(t): 0 for t in THRESHOLDS}, "max": 0.0} for k in ("initreg v4", "numpy", "v2 kernel")}
    done = 0
    t0 = time.perf_counter()
    while done < draws:
        n = min(SHARD, draws - done)
        view = buf[:n]
        for k in counts:
            if k == "initreg v4":
                stream.normal(out=view, start=done)
            elif k == "numpy":
                rng.standard_normal(out=view, dtype=np.float32)
            else:
                stream.child("v2").map_blocks(legacy_box_muller, out=view, start=done)
            c = counts[k]
            c["zeros"] += int(np.count_nonzero(view == 0))
            a = np.abs(view)
            c["max"] = max(c["max"], float(a.max()))
            for t in THRESHOLDS:
                c[str(t)] += int(np.count_nonzero(a > t))
        done += n
    expected = {str(t): draws * 2 * float(special.ndtr(-t)) for t in THRESHOLDS}
    pvalues = {k: {str(t): _poisson_two_sided(c[str(t)], expected[str(t)], stats) for t in THRESHOLDS}
               for k, c in counts.items()}
    return {"draws": draws, "counts": counts, "expected": expected, "p": pvalues, "seconds": time.perf_counter() - t0}


def _poisson_two_sided(k: int, lam: float, stats: Any) -> float:
    return float(min(1.0, 2 * min(stats.poisson.cdf(k, lam), stats.poisson.sf(k - 1, lam))))


def uniform_bounds() -> list[dict[str, Any]]:
    """The largest value v4 gives (float32: over all 2²⁴ inputs; float64: its 4096 largest) against ``high``."""
    from initreg.core import v4_reference as ref

    all32 = (np.arange(1 << 24, dtype=np.uint64) << np.uint64(8)) & np.uint64(0xFFFFFFFF)
    top = np.full(4096, 0xFFFFFFFF, np.uint64)
    low64 = np.uint64(0xFFFFFFFF) - (np.arange(4096, dtype=np.uint64) << np.uint64(11))
    out = []
    for low, high in ((5.0, 10.0), (-0.07, 0.07), (0.0, 1.0), (-3.0, 3.0), (1e6, 1e6 + 1.0), (-10.0, -5.0)):
        row: dict[str, Any] = {"low": low, "high": high}
        for dtype, words in (("float32", [all32] * 4), ("float64", [top, low64, top, low64])):
            clamp = ref.uniform_clamp(low, high, dtype)
            values = ref._store(ref._values("uniform", dtype, words, (low, high)).reshape(-1), "uniform", dtype, clamp)
            row[dtype] = {"max": float(values.max()), "below_high": bool(values.max() < np.asarray(high, dtype))}
        out.append(row)
    return out


def truncated(n: int) -> list[dict[str, Any]]:
    """KS p-value and mean error (in standard errors) of float64 truncated normals against scipy."""
    from scipy import stats

    from initreg.core.stream import Stream

    out = []
    for a, b in ((10.0, math.inf), (100.0, math.inf), (1000.0, math.inf), (40.0, 50.0), (1000.0, 1000.5),
                 (-math.inf, -1000.0), (-50.0, -40.0), (3.0, 4.0)):
        x = np.empty(n, np.float64)
        Stream(7, f"truncated[{a}, {b}]").truncated_normal(0.0, 1.0, a, b, out=x)
        want = stats.truncnorm(a, b)
        with np.errstate(invalid="ignore"):
            mean, sd = float(want.mean()), float(want.std())
        if not math.isfinite(sd):
            sd = float(want.ppf(0.8413) - want.ppf(0.1587)) / 2
        out.append({"a": a, "b": b, "mean": float(x.mean()), "scipy_mean": mean,
                    "mean_error_se": (float(x.mean()) - mean) / (sd / math.sqrt(n)),
                    "ks_p": float(stats.kstest(x, want.cdf).pvalue), "min": float(x.min()), "max": float(x.max())})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--draws", type=float, default=1e9)
    ap.add_argument("--truncated-n", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res = {"load_before": os.getloadavg()[0], "uniform": uniform_bounds(), "truncated": truncated(a.truncated_n),
           "tails": tails(int(a.draws))}
    res["load_after"] = os.getloadavg()[0]
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    t = res["tails"]
    print(f"float32 normals: {t['draws']:.3g} draws each ({t['seconds']:.0f} s)\n")
    print("| source | exact zeros | " + " | ".join(f"|x| > {s}" for s in THRESHOLDS) + " | max |x| |")
    print("|---|---:|" + "---:|" * len(THRESHOLDS) + "---:|")
    print("| expected (normal) | 0 | " + " | ".join(f"{t['expected'][str(s)]:.1f}" for s in THRESHOLDS) + " | |")
    for k, c in t["counts"].items():
        print(f"| {k} | {c['zeros']} | " + " | ".join(f"{c[str(s)]} (p={t['p'][k][str(s)]:.2g})" for s in THRESHOLDS)
              + f" | {c['max']:.3f} |")
    print("\n| uniform(low, high) | float32 max (all 2²⁴ inputs) | < high | float64 max (top 4096) | < high |")
    print("|---|---:|---|---:|---|")
    for r in res["uniform"]:
        print(f"| ({r['low']:.10g}, {r['high']:.10g}) | {r['float32']['max']!r} | {r['float32']['below_high']} | "
              f"{r['float64']['max']!r} | {r['float64']['below_high']} |")
    print("\n| truncated normal [a, b] | mean | scipy mean | error (SE) | KS p | min | max |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in res["truncated"]:
        print(f"| [{r['a']:g}, {r['b']:g}] | {r['mean']:.6f} | {r['scipy_mean']:.6f} | {r['mean_error_se']:.2f} | "
              f"{r['ks_p']:.3g} | {r['min']:.4f} | {r['max']:.4f} |")
    print(f"\nload average {res['load_before']:.2f} before, {res['load_after']:.2f} after")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    raise SystemExit(main())
