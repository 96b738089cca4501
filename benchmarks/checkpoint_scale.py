"""Large checkpoints: a Llama-style spec of about 1 B float32 parameters written as 1 GB shards.

    python benchmarks/checkpoint_scale.py [--layers 16] [--width 2048] [--mlp 5632] [--vocab 32000]
                                          [--shard-size 1GB] [--workers 2] [--dir DIR]

Rows (each write in a fresh interpreter, wall time and its own peak RSS):

- ``tofile``: the plain write limit: for each planned file an already filled array of its size written
  with ``ndarray.tofile`` (only the writes are timed), with and without a final fsync, each file deleted right
  after its write (so the next one reuses its page cache); and once more keeping every file until the end, as
  a saved checkpoint's files stay (and as ``initreg init``'s do);
- ``init``: ``initreg init -o DIR --max-shard-size SIZE`` in one process (the files are fsynced);
- ``init --dask``: the same through a 2-worker LocalCluster started beforehand (its start-up is reported
  apart), peak RSS of the client and of each worker; per-task overhead from 200 empty tasks;
- ``verify --sample 4`` and full ``verify`` of the written checkpoint.

The outputs are deleted at the end. Needs about 2 × the model's size of free disk.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec, so a child would report its parent's peak
PEAK = """
def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
"""

CHILD = PEAK + """
import sys, time
from initreg.cli import main
t0 = time.perf_counter()
code = main(sys.argv[1:])
print(time.perf_counter() - t0)
print(peak())
sys.exit(code)
"""

TOFILE = PEAK + """
import os, sys, time, numpy as np
sizes, directory, sync, keep = [int(s) for s in sys.argv[1].split(",")], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
spent = 0.0
for i, n in enumerate(sizes):
    a = np.ones(n // 4, dtype=np.float32)  # filled before the clock starts
    path = os.path.join(directory, f"plain-{i}.bin")
    t0 = time.perf_counter()
    a.tofile(path)
    if sync:
        fd = os.open(path, os.O_RDONLY); os.fsync(fd); os.close(fd)
    spent += time.perf_counter() - t0
    del a
    if not keep:
        os.unlink(path)
for i in range(len(sizes) if keep else 0):
    os.unlink(os.path.join(directory, f"plain-{i}.bin"))
print(spent)
print(peak())
"""


def llama_spec(layers: int, width: int, mlp: int, vocab: int) -> list[dict]:
    """The tensors of a Llama-style decoder (untied embedding and head), in transformers' names and order."""
    spec = [{"name": "model.embed_tokens.weight", "shape": [vocab, width]}]
    for i in range(layers):
        p = f"model.layers.{i}."
        spec += [{"name": p + f"self_attn.{x}_proj.weight", "shape": [width, width]} for x in "qkvo"]
        spec += [{"name": p + "mlp.gate_proj.weight", "shape": [mlp, width]},
                 {"name": p + "mlp.up_proj.weight", "shape": [mlp, width]},
                 {"name": p + "mlp.down_proj.weight", "shape": [width, mlp]},
                 {"name": p + "input_layernorm.weight", "shape": [width]},
                 {"name": p + "post_attention_layernorm.weight", "shape": [width]}]
    spec += [{"name": "model.norm.weight", "shape": [width]}, {"name": "lm_head.weight", "shape": [vocab, width]}]
    return spec


RULES = """seed = 0

[[rule]]
pattern = "*norm.weight"
init = "ones"

[[rule]]
pattern = "*.weight"
init = "xavier"
"""


def child(args: list[str], cwd: str) -> tuple[float, int]:
    done = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"initreg {' '.join(args)} failed:\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    return float(lines[-2]), int(lines[-1])


def same_bytes(a: str, b: str, step: int = 64 << 20) -> bool:
    """Whether two files hold the same bytes, read a piece at a time (this process stays small)."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(step), fb.read(step)
            if x != y:
                return False
            if not x:
                return True


def main() -> int:
    """Run every row once and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--mlp", type=int, default=5632)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--shard-size", default="1GB")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where to write (default: a temporary directory)")
    a = ap.parse_args()

    from distributed import Client, LocalCluster

    from initreg.checkpoints.shards import parse_size, plan_shards

    spec = llama_spec(a.layers, a.width, a.mlp, a.vocab)
    sizes = [4 * math.prod(e["shape"]) for e in spec]
    total, largest = sum(sizes), max(sizes)
    plan = plan_shards({e["name"]: (tuple(e["shape"]), "float32") for e in spec}, parse_size(a.shard_size))
    file_sizes = [f.size for f in plan.files]
    work = tempfile.mkdtemp(prefix="initreg-scale-", dir=a.dir)
    rows = []
    try:
        with open(os.path.join(work, "spec.json"), "w") as f:
            json.dump(spec, f)
        with open(os.path.join(work, "rules.toml"), "w") as f:
            f.write(RULES)
        print(f"model: {sum(math.prod(e['shape']) for e in spec) / 1e9:.3f} B float32 values, {total / 1e9:.2f} GB "
              f"in {len(spec)} tensors (largest {largest / 1e6:.0f} MB), {len(plan.files)} files of at most "
              f"{a.shard_size}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n", flush=True)
        for sync, keep in (("0", "0"), ("1", "0"), ("0", "1")):
            done = subprocess.run([sys.executable, "-c", TOFILE, ",".join(map(str, file_sizes)), work, sync, keep],
                                  capture_output=True, text=True, check=True)
            t, rss = done.stdout.split()
            what = " + fsync" if sync == "1" else ", files kept" if keep == "1" else ""
            rows.append((f"ndarray.tofile{what} (limit)", float(t), int(rss), ""))
        kept = rows[-1][1]
        init = ["init", "--params", "spec.json", "--rules", "rules.toml", "-q", "--max-shard-size", a.shard_size]
        t, rss = child([*init, "-o", "single"], work)
        rows.append(("initreg init (one process)", t, rss, f"{kept / t:.0%} of kept-files tofile's throughput"))
        single = t
        t0 = time.perf_counter()
        with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            start = time.perf_counter() - t0
            from initreg.dask import share_cores

            client.run(share_cores, a.workers)  # as initreg init --dask does for the LocalCluster it starts
            t, rss = child([*init, "-o", "dask", "--dask", cluster.scheduler_address], work)
            namespace: dict = {}
            exec(PEAK, namespace)
            peaks = client.run(namespace["peak"])
            rows.append((f"initreg init --dask ({a.workers} local workers; client)", t, rss,
                         f"{t / single:.2f}× one process; cluster start {start:.1f} s apart"))
            for addr, peak in sorted(peaks.items()):
                rows.append((f"  worker {addr.rsplit(':', 1)[-1]}", None, peak, ""))
            t0 = time.perf_counter()
            client.gather(client.map(lambda i: i, range(200), pure=False))
            per_task = (time.perf_counter() - t0) / 200
            from initreg.dask import tasks
            from initreg.checkpoints.filewriter import plan_pieces

            nrows = {e["name"]: type("R", (), {"initializer": __import__("initreg").create("normal")}) for e in spec}
            ntasks = len(tasks(plan_pieces(plan, nrows)))
        same = all(same_bytes(os.path.join(work, "single", f.filename), os.path.join(work, "dask", f.filename))
                   for f in plan.files)
        t, rss = child(["verify", "single", "--sample", "4", "-q"], work)
        rows.append(("initreg verify --sample 4", t, rss, f"{t / single:.1%} of the write"))
        t, rss = child(["verify", "single", "-q"], work)
        rows.append(("initreg verify (every value)", t, rss, f"{t / single:.2f}× the write"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    limit = rows[0][1]
    print("| run | wall (s) | GB/s | of tofile's throughput | peak RSS (MB) | note |")
    print("|---|---|---|---|---|---|")
    for name, t, rss, note in rows:
        if t is None:
            print(f"| {name} | | | | {rss / 1e6:.0f} | |")
            continue
        rate = total / t / 1e9
        print(f"| {name} | {t:.2f} | {rate:.2f} | {limit / t:.0%} | {rss / 1e6:.0f} | {note} |")
    print(f"\nlargest tensor + 256 MiB = {(largest + (256 << 20)) / 1e6:.0f} MB; dask files byte-identical to the "
          f"single run: {same}; {ntasks} write tasks for this plan; per-task overhead (200 empty tasks, "
          f"{a.workers} workers): {per_task * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
