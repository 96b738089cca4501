"""Seed checkpoint of a ~1 B-parameter model: ``initreg init --torch`` vs ``safetensors.torch.save_file``.

    python benchmarks/torch_seed_checkpoint.py [--model llama_1b] [--threads 2] [--repeats 1]

Each measurement is a fresh interpreter that first imports torch, safetensors and initreg (not timed)
and reports its own peak resident size (``ru_maxrss``):

- ``save_file``: the model is built on the CPU with PyTorch's default init (not timed), then
  ``safetensors.torch.save_file(model.state_dict(), path)`` is timed; a second row adds the ``fsync``
  that ``initreg init`` does before its rename (so both have the bytes on disk);
- ``initreg init --torch``: ``main(["init", "--torch", "benchmarks.torch_models:MODEL", ...])`` is timed:
  building the model on meta, planning, drawing every tensor and writing it (the next tensor is drawn
  while one is written), fsync and rename.

The rules give every weight normal(0.02) and the RMSNorm weights ones, so every tensor is drawn by a
rule. The model factory is in benchmarks/torch_models.py. A fresh interpreter that only imports the
libraries gives the baseline resident size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = """seed = 0
[[rule]]
pattern = "*norm.weight"
init = "ones"
[[rule]]
pattern = "*.weight"
init = "normal"
sigma = 0.02
"""
PRELUDE = """
import json, os, resource, sys, time
import torch, safetensors.torch, initreg
from initreg.cli import main
threads = int(sys.argv[1])
torch.set_num_threads(threads)
initreg.set_num_threads(threads)
sys.path.insert(0, {root!r})
import benchmarks.torch_models as models
def report(seconds):
    print(json.dumps({{"seconds": seconds, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
"""
BASELINE = "report(0.0)\n"
SAVE_FILE = """
model = getattr(models, sys.argv[2])()
t0 = time.perf_counter()
safetensors.torch.save_file(model.state_dict(), sys.argv[3])
t1 = time.perf_counter()
if sys.argv[4] == "fsync":
    fd = os.open(sys.argv[3], os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
report(time.perf_counter() - t0 if sys.argv[4] == "fsync" else t1 - t0)
"""
INIT = """
import initreg.torch as adapter
if not hasattr(adapter, "plan_module"):  # before the adapter's planner is merged: the same rows for a rule-covered model
    import initreg.cli.torch_source as ts
    def plan_module(module, rules, seed=None):
        return initreg.plan([initreg.Entry(n, tuple(p.shape)) for n, p in module.named_parameters()], rules, seed=seed)
    ts.default_planner = lambda: plan_module
t0 = time.perf_counter()
code = main(["init", "--torch", "benchmarks.torch_models:" + sys.argv[2], "--rules", sys.argv[3], "--seed", "0",
             "-q", "-o", sys.argv[4]])
assert code == 0
report(time.perf_counter() - t0)
"""


def child(body: str, *args: str) -> dict:
    """{seconds, peak} from a fresh interpreter running PRELUDE + body with ``args``."""
    code = PRELUDE.format(root=ROOT) + body
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    """Measure and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="llama_1b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, ROOT)
    import torch

    from benchmarks import torch_models

    with torch.device("meta"):
        model_bytes = torch_models.n_bytes(getattr(torch_models, args.model)())
    t = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        rules = os.path.join(tmp, "rules.toml")
        with open(rules, "w") as fh:
            fh.write(RULES)
        out = os.path.join(tmp, "model.safetensors")
        base = child(BASELINE, t)["peak"]
        runs: dict[str, list[dict]] = {"save_file": [], "save_file + fsync": [], "initreg init --torch": []}
        for _ in range(args.repeats):
            runs["save_file"].append(child(SAVE_FILE, t, args.model, out, "-"))
            os.unlink(out)
            runs["save_file + fsync"].append(child(SAVE_FILE, t, args.model, out, "fsync"))
            os.unlink(out)
            runs["initreg init --torch"].append(child(INIT, t, args.model, rules, out))
            size = os.path.getsize(out)
            os.unlink(out)
    best = {k: min(r["seconds"] for r in v) for k, v in runs.items()}
    peak = {k: min(r["peak"] for r in v) for k, v in runs.items()}
    print(f"model {args.model}: {model_bytes / 1e9:.2f} GB of float32 parameters, file {size / 1e9:.2f} GB; "
          f"{args.threads} threads; baseline resident size (imports only) {base / 2**20:.0f} MiB\n")
    print("| what | seconds | × save_file | peak RSS | peak above baseline, × model bytes |")
    print("|---|---:|---:|---:|---:|")
    for k in runs:
        print(f"| {k} | {best[k]:.2f} | {best[k] / best['save_file']:.2f} | {peak[k] / 2**20:.0f} MiB | "
              f"{(peak[k] - base) / model_bytes:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
