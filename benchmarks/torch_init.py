"""Initializing a PyTorch model: PyTorch's default init, the meta + to_empty + loop recipe, and initreg.torch, side by side.

    python benchmarks/torch_init.py                      # both models, Markdown table on stdout
    python benchmarks/torch_init.py --models gpt2 --repeats 3 --threads 2
    python benchmarks/torch_init.py --json

Models (plain torch.nn modules with these parameter lists): GPT-2 small (124 M parameters: vocabulary
50257, 1024 positions, width 768, 12 layers, biases, lm_head tied to wte) and a Llama-style model of
about 1 B (vocabulary 32000, width 2048, 16 layers, MLP 5632, RMSNorm, no biases, untied head).

Contenders, each run in its own fresh child process (so peak RSS is its own), ``--repeats`` times:

- ``torch default``: the modules built on the CPU; their constructors run PyTorch's default init;
- ``meta + to_empty + loop``: built under ``torch.device("meta")``, ``to_empty(device="cpu")``, then
  the usual loop: ``normal_(0, 0.02)`` for 2-D weights, ``ones_`` for norm weights, ``zeros_`` for biases;
- ``initreg rules``: built on meta, ``initreg.torch.initialize(model, rules, seed=0)`` with the same
  three rules (materializes and fills);
- ``initreg declared``: built on meta, ``initreg.torch.initialize(model, seed=0)``: PyTorch's own
  default distributions (as ``torch default``) from initreg's streams;
- ``initreg values only`` (the floor): the rules' plan, then ``initreg.values(..., out=np.empty(shape))``
  for each tensor, no torch tensors at all: what the core fills cost without the adapter.

Time: wall seconds of build + init (best of the repeats, the contenders taking turns) and the child's
CPU seconds (user + system; less sensitive to other load on a shared machine). Threads: torch.set_num_threads and
initreg.set_num_threads (and OMP/MKL/OpenBLAS variables) set to ``--threads`` in every child. Memory:
the child's peak resident size (VmHWM) minus its resident size after imports, over the model's bytes.
Before the clock each child also builds one ``nn.Embedding`` under the meta device: torch imports
``torch._dynamo`` the first time (about 1.2 s, once a process, whatever initializes the model); ``--cold``
leaves that on the clock of the meta contenders, as the figures before 2026-12-07 did.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

CONTENDERS = ["torch default", "meta + to_empty + loop", "initreg rules", "initreg declared", "initreg values only"]
MODELS = {"gpt2": "GPT-2 small (124 M)", "llama1b": "Llama-style 1 B"}


# --- the models -------------------------------------------------------------------------------------

def build(kind: str) -> Any:
    """The model as plain torch.nn modules (on the current default device)."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, width: int, mlp: int, bias: bool, norm: Any, heads_fused: bool):
            super().__init__()
            self.norm1, self.norm2 = norm(width), norm(width)
            if heads_fused:
                self.qkv = nn.Linear(width, 3 * width, bias=bias)
            else:
                self.q, self.k, self.v = (nn.Linear(width, width, bias=bias) for _ in range(3))
            self.o = nn.Linear(width, width, bias=bias)
            if bias:
                self.up, self.down = nn.Linear(width, mlp, bias=bias), nn.Linear(mlp, width, bias=bias)
            else:
                self.gate, self.up = nn.Linear(width, mlp, bias=False), nn.Linear(width, mlp, bias=False)
                self.down = nn.Linear(mlp, width, bias=False)

    model = nn.Module()
    if kind == "gpt2":
        model.wte, model.wpe = nn.Embedding(50257, 768), nn.Embedding(1024, 768)
        model.h = nn.ModuleList(Block(768, 3072, True, nn.LayerNorm, True) for _ in range(12))
        model.ln_f = nn.LayerNorm(768)
        model.lm_head = nn.Linear(768, 50257, bias=False)
        model.lm_head.weight = model.wte.weight
    else:
        model.embed = nn.Embedding(32000, 2048)
        model.layers = nn.ModuleList(Block(2048, 5632, False, nn.RMSNorm, False) for _ in range(16))
        model.norm = nn.RMSNorm(2048)
        model.lm_head = nn.Linear(2048, 32000, bias=False)
    return model


RULES = {"*norm*.weight": "ones", "*ln*.weight": "ones", "*.bias": "zeros", "*": ["normal", {"sigma": 0.02}]}


def usual_loop(model: Any) -> None:
    """What a user writes after to_empty: normal(0.02) for weights, ones for norms, zeros for biases."""
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif "norm" in name or "ln" in name:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)


def run(kind: str, contender: str) -> Any:
    """Build and initialize ``kind`` the way ``contender`` does; the model."""
    import torch

    if contender == "torch default":
        return build(kind)
    with torch.device("meta"):
        model = build(kind)
    if contender == "initreg values only":
        import numpy as np

        import initreg
        import initreg.torch

        arrays = {}
        for row in initreg.torch.explain(model, RULES, seed=0):
            arrays[row.name] = initreg.values(row.initializer, row.shape, name=row.name, seed=0,
                                              out=np.empty(row.shape, dtype=np.float32))
        return arrays
    if contender == "meta + to_empty + loop":
        model.to_empty(device="cpu")
        if kind == "gpt2":
            model.lm_head.weight = model.wte.weight  # to_empty breaks ties: re-tie, as users must
        usual_loop(model)
        return model
    import initreg.torch

    initreg.torch.initialize(model, RULES if contender == "initreg rules" else None, seed=0)
    return model


# --- one measurement in a child process ---------------------------------------------------------------

def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def child(kind: str, contender: str, threads: int, cold: bool = False) -> dict[str, Any]:
    """Time and peak memory of one build + init (run in a fresh process)."""
    import torch

    import initreg
    import initreg.torch  # noqa: F401 - imported before the baseline, like torch

    if not cold:  # torch's first Embedding under the meta device imports torch._dynamo (~1.2 s, once a process)
        with torch.device("meta"):
            torch.nn.Embedding(2, 2)
    torch.set_num_threads(threads)
    initreg.set_num_threads(threads)
    base = _status("VmRSS")
    t0, c0 = time.perf_counter(), time.process_time()
    model = run(kind, contender)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _status("VmHWM")
    if isinstance(model, dict):  # the floor: NumPy arrays
        nbytes, count = sum(a.nbytes for a in model.values()), sum(a.size for a in model.values())
    else:
        params = {id(p): p for p in model.parameters()}.values()
        assert all(not p.is_meta for p in params)
        nbytes, count = sum(p.numel() * p.element_size() for p in params), sum(p.numel() for p in params)
    return {"model": kind, "contender": contender, "seconds": seconds, "cpu_seconds": cpu, "extra_bytes": peak - base,
            "model_bytes": nbytes, "parameters": count}


def once(kind: str, contender: str, threads: int, cold: bool = False) -> dict[str, Any]:
    """One fresh child process's measurement."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    out = subprocess.run([sys.executable, __file__, "--child", kind, contender, "--threads", str(threads)]
                         + (["--cold"] if cold else []), capture_output=True, text=True, env=env, timeout=900)
    if out.returncode:
        raise RuntimeError(f"{kind} / {contender} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(kind: str, contenders: list[str], threads: int, repeats: int, cold: bool = False) -> list[dict[str, Any]]:
    """Per contender: the best wall and CPU time and the largest peak, the contenders taking turns (round robin)."""
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    for _ in range(repeats):  # turns: a burst of load on this shared machine hits every contender alike
        for c in contenders:
            runs[c].append(once(kind, c, threads, cold))
    out = []
    for c in contenders:
        best = dict(min(runs[c], key=lambda r: r["seconds"]))
        best["all_seconds"] = [r["seconds"] for r in runs[c]]
        best["cpu_seconds"] = min(r["cpu_seconds"] for r in runs[c])
        best["extra_bytes"] = max(r["extra_bytes"] for r in runs[c])
        out.append(best)
    return out


def table(results: list[dict[str, Any]], threads: int) -> str:
    """Markdown: one row per (model, contender), with initreg's speed-up over the faster PyTorch recipe."""
    lines = ["| model | contender | wall s (best; all runs) | CPU s (best) | peak RSS − baseline | ÷ model bytes | "
             "wall speed-up over the faster torch recipe |", "|---|---|---|---|---|---|---|"]
    for kind in MODELS:
        rows = [r for r in results if r["model"] == kind]
        if not rows:
            continue
        peers = [r["seconds"] for r in rows if not r["contender"].startswith("initreg")]
        anchor = min(peers) if peers else None
        for r in rows:
            mib = r["extra_bytes"] / 2 ** 20
            ratio = r["extra_bytes"] / r["model_bytes"]
            speed = f"{anchor / r['seconds']:.2f}× faster" if anchor and r["contender"].startswith("initreg") else ""
            every = ", ".join(f"{s:.2f}" for s in r["all_seconds"])
            lines.append(f"| {MODELS[kind]} ({r['model_bytes'] / 2 ** 20:.0f} MiB) | {r['contender']} | "
                         f"{r['seconds']:.2f} ({every}) | {r['cpu_seconds']:.2f} | {mib:.0f} MiB | {ratio:.3f} | {speed} |")
    lines.append("")
    lines.append(f"threads: {threads}; Python {platform.python_version()}; {platform.machine()}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=CONTENDERS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cold", action="store_true", help="leave torch's one-time meta-device import on the clock")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "CONTENDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.threads, args.cold)))
        return
    results = [r for kind in args.models for r in measure(kind, args.contenders, args.threads, args.repeats, args.cold)]
    print(json.dumps(results, indent=2) if args.json else table(results, args.threads))


if __name__ == "__main__":
    main()
