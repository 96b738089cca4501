"""initreg.jax.init against jax.jit(model.init) and jax.random.normal on a Flax transformer-shaped tree (CPU).

    python benchmarks/jax_init.py [--layers 6] [--width 2048] [--ff 8192] [--repeats 2]

The model: ``--layers`` blocks of q, k, v, o projections (width × width, nn.Dense), a feed-forward pair
(width × ff, ff × width) and two LayerNorms; 6 × 2048 × 8192 gives 302 M float32 values (1.21 GB).
Each method runs in its own fresh interpreter (so peaks do not mix), which reports the wall time of
the initialization (``block_until_ready`` included), its compile time where there is one, and its
peak resident size above the size just before (``ru_maxrss`` against ``/proc/self/statm``):

- ``initreg``: ``initreg.jax.init(jax.eval_shape(model.init, ...), seed=0, declared=initreg.jax.flax_defaults())``;
- ``jit(model.init)``: compiled first (``lower(...).compile()``, reported apart), then run;
- ``jax.random.normal``: one jitted function drawing every leaf's shape (compiled apart), then run;
- ``8 devices``: 8 fake CPU devices (``XLA_FLAGS``), every kernel sharded by rows or by columns over
  all 8 (vectors replicated), against ``initreg`` unsharded in an 8-device interpreter. The last
  column compares these with the unsharded 8-device run, the others with ``initreg.jax.init``. A
  second table has the three 8-device builds taking turns in one interpreter, round by round.

The best of ``--repeats`` runs is shown. Threads: initreg's fill threads (``initreg.get_num_threads()``)
and XLA's own pool, both on the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, resource, sys, time
method, layers, width, ff = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
import jax, jax.numpy as jnp
import flax.linen as nn
import initreg, initreg.jax


class Block(nn.Module):
    width: int
    ff: int

    @nn.compact
    def __call__(self, x):
        h = nn.LayerNorm()(x)
        q, k, v = nn.Dense(self.width, name="query")(h), nn.Dense(self.width, name="key")(h), nn.Dense(self.width, name="value")(h)
        a = jax.nn.softmax(q @ k.swapaxes(-1, -2) / self.width ** 0.5) @ v
        x = x + nn.Dense(self.width, name="out")(a)
        h = nn.LayerNorm()(x)
        return x + nn.Dense(self.width, name="down")(nn.gelu(nn.Dense(self.ff, name="up")(h)))


class Model(nn.Module):
    layers: int
    width: int
    ff: int

    @nn.compact
    def __call__(self, x):
        for i in range(self.layers):
            x = Block(self.width, self.ff, name=f"block_{i}")(x)
        return x


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


model, key, x = Model(layers, width, ff), jax.random.key(0), jnp.ones((1, 4, width))
shapes = jax.eval_shape(model.init, key, x)
leaves = jax.tree.leaves(shapes)
out = {"values": sum(l.size for l in leaves), "bytes": sum(l.size * l.dtype.itemsize for l in leaves),
       "largest": max(l.size * l.dtype.itemsize for l in leaves), "threads": initreg.get_num_threads()}
compile_s = None
if method == "jit":
    t0 = time.perf_counter()
    run = jax.jit(model.init).lower(key, x).compile()
    compile_s = time.perf_counter() - t0
    call = lambda: run(key, x)
elif method == "normal":
    shp = [l.shape for l in leaves]
    def draw(key):
        return [jax.random.normal(k, s, jnp.float32) for k, s in zip(jax.random.split(key, len(shp)), shp)]
    t0 = time.perf_counter()
    run = jax.jit(draw).lower(key).compile()
    compile_s = time.perf_counter() - t0
    call = lambda: run(key)
elif method in ("initreg", "unsharded8"):
    call = lambda: initreg.jax.init(shapes, seed=0, declared=initreg.jax.flax_defaults())
elif method in ("rows8", "cols8"):
    from jax.sharding import NamedSharding, PartitionSpec as P
    mesh = jax.make_mesh((jax.device_count(),), ("model",))
    split = P("model", None) if method == "rows8" else P(None, "model")
    def place(path, l):
        spec = split if len(l.shape) == 2 else P()
        return jax.ShapeDtypeStruct(l.shape, l.dtype, sharding=NamedSharding(mesh, spec))
    sharded = jax.tree_util.tree_map_with_path(place, shapes)
    call = lambda: initreg.jax.init(sharded, seed=0, declared=initreg.jax.flax_defaults())
if method == "turns8":  # the three 8-device builds taking turns in one interpreter, so load drift hits all alike
    from jax.sharding import NamedSharding, PartitionSpec as P
    mesh = jax.make_mesh((jax.device_count(),), ("model",))
    def placed(split):
        return jax.tree_util.tree_map(lambda l: jax.ShapeDtypeStruct(l.shape, l.dtype, sharding=NamedSharding(
            mesh, split if len(l.shape) == 2 else P())), shapes)
    trees = {"unsharded": shapes, "rows": placed(P("model", None)), "cols": placed(P(None, "model"))}
    out["turns"] = {k: [] for k in trees}
    for _ in range(int(os.environ.get("TURNS", "3"))):
        for k, t in trees.items():
            t0 = time.perf_counter()
            r = jax.block_until_ready(initreg.jax.init(t, seed=0, declared=initreg.jax.flax_defaults()))
            out["turns"][k].append(time.perf_counter() - t0)
            del r
    print(json.dumps(out))
    sys.exit(0)
base = rss()
t0 = time.perf_counter()
result = jax.block_until_ready(call())
out["seconds"] = time.perf_counter() - t0
out["peak_above"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
out["compile"] = compile_s
out["devices"] = jax.device_count()
print(json.dumps(out))
"""


def once(method: str, layers: int, width: int, ff: int) -> dict:
    """One fresh interpreter measuring ``method``."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    if method.endswith("8"):
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    done = subprocess.run([sys.executable, "-c", CHILD, method, str(layers), str(width), str(ff)], env=env,
                          capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise SystemExit(f"{method} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    """Measure every method and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--ff", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    labels = {"initreg": "initreg.jax.init", "jit": "jax.jit(model.init)", "normal": "jax.random.normal (jitted)",
              "unsharded8": "initreg.jax.init, 8 devices, unsharded",
              "rows8": "initreg.jax.init, 8 devices, kernels sharded by rows (P('model', None))",
              "cols8": "initreg.jax.init, 8 devices, kernels sharded by columns (P(None, 'model'))"}
    best: dict[str, dict] = {}
    for _ in range(args.repeats):  # methods take turns, so a busy spell of a shared machine spreads over all
        for method in labels:
            r = once(method, args.layers, args.width, args.ff)
            old = best.get(method)
            if old is None:
                best[method] = r
            else:
                old["seconds"] = min(old["seconds"], r["seconds"])
                old["peak_above"] = min(old["peak_above"], r["peak_above"])
                if r["compile"] is not None:
                    old["compile"] = min(old["compile"], r["compile"])
    turns = once("turns8", args.layers, args.width, args.ff)["turns"]
    info = best["initreg"]
    tree, mib = info["bytes"], 2 ** 20
    print(f"{info['values'] / 1e6:.0f} M float32 values, {tree / 1e9:.2f} GB, largest leaf {info['largest'] / mib:.0f} MiB; "
          f"initreg threads: {info['threads']}; best of {args.repeats}\n")
    print("| method | init (s) | compile (s) | peak above start (MiB) | peak / (1.1 × tree + 64 MiB) | time / reference |")
    print("|---|---|---|---|---|---|")
    for method, label in labels.items():
        r = best[method]
        ref = best["unsharded8"] if method in ("rows8", "cols8") else info
        comp = f"{r['compile']:.2f}" if r["compile"] is not None else "-"
        print(f"| {label} | {r['seconds']:.2f} | {comp} | {r['peak_above'] / mib:.0f} | "
              f"{r['peak_above'] / (1.1 * tree + 64 * mib):.2f} | {r['seconds'] / ref['seconds']:.2f}× |")
    print("\n8 devices, the three builds taking turns in one interpreter (seconds per round; ratio to unsharded):\n")
    print("| round | unsharded | rows | columns | rows / unsharded | columns / unsharded |")
    print("|---|---|---|---|---|---|")
    for i, (u, r, c) in enumerate(zip(turns["unsharded"], turns["rows"], turns["cols"]), 1):
        print(f"| {i} | {u:.2f} | {r:.2f} | {c:.2f} | {r / u:.2f}× | {c / u:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
