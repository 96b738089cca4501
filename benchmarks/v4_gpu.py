"""v4's fills on a CUDA GPU against torch's, and initreg.torch.initialize of models on the GPU (needs CuPy and CUDA).

    python benchmarks/v4_gpu.py [--size 100000000] [--repeats 10] [--models gpt2,llama1b]

Fills (float32, ``--size`` values, preallocated, the GPU synchronized around every timing; min and median of
``--repeats`` after one warm-up): ``initreg.core.v4_gpu.fill`` (NVRTC, ``--fmad=false``) against torch's
``normal_``/``uniform_``/``nn.init.trunc_normal_`` on the same GPU, and the write bandwidth of ``fill_(1)``.
Models (``benchmarks/torch_init.py``'s GPT-2 small and Llama-style 1 B): PyTorch's default construction on the
GPU (``with torch.device("cuda")``) against meta + ``initreg.torch.initialize(model, rules, seed=0,
device="cuda")`` with the normal(0.02) rules, the values computed on the GPU; best of ``--repeats`` (at most 3).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeats: int, sync) -> tuple[float, float]:
    """(min, median) seconds of ``fn()`` with the device synchronized before and after each call; one warm-up."""
    fn()
    sync()
    ts = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return min(ts), statistics.median(ts)


def fills(n: int, repeats: int) -> list[str]:
    import cupy
    import torch

    from initreg.core import v4_backend, v4_gpu

    key = v4_backend.key_words(0, "bench.weight")
    sync = torch.cuda.synchronize
    out = cupy.empty(n, cupy.float32)
    t = torch.empty(n, device="cuda")
    rows = ["| fill | initreg v4 (ms, min / median) | torch (ms, min / median) | torch / initreg | initreg GB/s |",
            "|---|---|---|---|---|"]
    for op, params, theirs in (
            ("normal", (0.0, 1.0), lambda: t.normal_()),
            ("uniform", (0.0, 1.0), lambda: t.uniform_()),
            ("truncated_normal", (0.0, 1.0, -2.0, 2.0), lambda: torch.nn.init.trunc_normal_(t))):
        ours = timed(lambda: v4_gpu.fill(op, key, 0, out, *params), repeats, sync)
        ref = timed(theirs, repeats, sync)
        rows.append(f"| {op} | {ours[0] * 1e3:.3f} / {ours[1] * 1e3:.3f} | {ref[0] * 1e3:.3f} / {ref[1] * 1e3:.3f} | "
                    f"{ref[0] / ours[0]:.2f}× | {4 * n / ours[0] / 1e9:.0f} |")
    bw = timed(lambda: t.fill_(1.0), repeats, sync)
    rows.append(f"| fill_(1) (write bandwidth) | - | {bw[0] * 1e3:.3f} / {bw[1] * 1e3:.3f} | - | {4 * n / bw[0] / 1e9:.0f} |")
    return rows


def models(kinds: list[str], repeats: int) -> list[str]:
    import torch

    import initreg.torch
    import torch_init

    rows = ["| model | torch default on the GPU (s) | meta + initreg.torch.initialize on the GPU (s) | speed-up |",
            "|---|---|---|---|"]
    for kind in kinds:
        def default() -> None:
            with torch.device("cuda"):
                torch_init.build(kind)

        def ours() -> None:
            with torch.device("meta"):
                model = torch_init.build(kind)
            initreg.torch.initialize(model, torch_init.RULES, seed=0, device="cuda")

        a = timed(default, min(repeats, 3), torch.cuda.synchronize)
        b = timed(ours, min(repeats, 3), torch.cuda.synchronize)
        rows.append(f"| {torch_init.MODELS[kind]} | {a[0]:.3f} | {b[0]:.3f} | {a[0] / b[0]:.2f}× |")
    return rows


def main() -> int:
    """Print the two Markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=100_000_000)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--models", default="gpt2,llama1b")
    args = ap.parse_args()
    import initreg

    if not initreg.gpu_available(0):
        print("no CUDA GPU with CuPy here")
        return 1
    import torch

    print(f"{torch.cuda.get_device_name(0)}; torch {torch.__version__}\n")
    print("\n".join(fills(args.size, args.repeats)))
    print()
    print("\n".join(models([k for k in args.models.split(",") if k], args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
