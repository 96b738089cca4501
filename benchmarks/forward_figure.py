"""The figure of docs/validation.md's network-level check, and the pass/fail rates over seeds quoted there.

    python benchmarks/forward_figure.py                  # writes docs/img/forward_check.png (seed 0)
    python benchmarks/forward_figure.py --seeds 20       # also: how often each model passes over seeds 0..19

The models: a 50-layer ReLU MLP (width 256, a Linear(256, 10) head, zero biases) initialized by initreg with
He (N(0, 2/fan_in)) or Xavier-uniform weights, one batch of 64 N(0, 1) samples; and an nn.TransformerEncoderLayer
(d_model 64, 4 heads, feed-forward 256) with PyTorch's declared initializers, 8 sequences of 16 tokens.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import initreg
from initreg.validation.forward import ForwardReport, check_forward
from initreg.validation.forward_plot import plot_reports

FIGURE = Path(__file__).resolve().parents[1] / "docs" / "img" / "forward_check.png"
HE = {"*.weight": initreg.std.VarianceScaling(2.0, "fan_in", "untruncated_normal"), "*.bias": "zeros"}
XAVIER = {"*.weight": "xavier_uniform", "*.bias": "zeros"}


def mlp(depth: int = 50, width: int = 256, classes: int = 10) -> torch.nn.Sequential:
    """``depth`` Linear(width, width) + ReLU pairs and a Linear(width, classes) head."""
    layers: list[torch.nn.Module] = []
    for _ in range(depth):
        layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, classes))


def block() -> torch.nn.TransformerEncoderLayer:
    """A pre-LayerNorm transformer encoder block."""
    return torch.nn.TransformerEncoderLayer(64, 4, 256, batch_first=True, norm_first=True)


def run(model: torch.nn.Module, rules: dict | None, seed: int, label: str, batch: int = 64) -> ForwardReport:
    """Initialize ``model`` by ``rules`` (None: declared defaults) with ``seed`` and check it."""
    table = initreg.torch.initialize(model, rules, seed=seed)
    return check_forward(model, rules=table, seed=seed, batch=batch, label=label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=0, help="also count passes over seeds 0..N-1")
    parser.add_argument("--out", type=Path, default=FIGURE)
    args = parser.parse_args()
    he, xavier = run(mlp(), HE, 0, "He + ReLU"), run(mlp(), XAVIER, 0, "Xavier-uniform + ReLU")
    tb = run(block(), None, 0, "transformer block", batch=8)
    for r in (he, xavier, tb):
        print(f"{r.label}: {r.summary()}")
    plot_reports([he, xavier], args.out, title="50-layer ReLU MLP, width 256, batch 64 (× = failing layer)")
    print(f"figure written to {args.out} ({args.out.stat().st_size // 1024} KiB)")
    for seed in range(args.seeds):
        t = time.perf_counter()
        rs = [run(mlp(), HE, seed, "he"), run(mlp(), XAVIER, seed, "xavier"), run(block(), None, seed, "block", 8)]
        verdicts = ", ".join(f"{r.label} {'pass' if r.passed else 'FAIL'} ({len(r.failures())} failing, "
                             f"trend {r.trend:+.3f})" for r in rs)
        print(f"seed {seed}: {verdicts}  [{time.perf_counter() - t:.1f} s]", flush=True)


if __name__ == "__main__":
    main()
