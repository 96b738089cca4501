"""Run by test_jax_sharded.py in a fresh interpreter with 8 fake CPU devices: sharded leaves against the unsharded array.

Prints one JSON line: {"devices": 8, "checks": [[what, equal], ...], "errors": [...]}.
"""

from __future__ import annotations

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import initreg
import initreg.jax as ij
from initreg import std
from initreg.core.keys import BLOCK

SHAPES = {"w": ((16, 24), jnp.float32), "o": ((8, 8), jnp.float32), "c": ((8, 12), jnp.float32),
          "h": ((16, 8), jnp.bfloat16), "d": ((8, 16), jnp.float64), "k": ((2, 2, 8, 16), jnp.float32)}
RULES = {"w": "xavier", "o": "orthogonal", "c": std.Constant(np.arange(12.0)), "h": "normal", "d": "normal",
         "k": "lecun_normal"}
# mesh shapes for 1, 2, 4 and 8 devices, and specs over them (None: a replicated axis; P(): fully replicated)
MESHES = {1: (1, 1), 2: (2, 1), 4: (2, 2), 8: (2, 4)}
SPECS = [P("a", "b"), P("b", "a"), P(None, "b"), P("a"), P(), P(("a", "b"))]


def main() -> None:
    assert jax.device_count() == 8 and jax.config.jax_enable_x64, (jax.device_count(), jax.config.jax_enable_x64)
    plain = ij.init({k: jax.ShapeDtypeStruct(s, d) for k, (s, d) in SHAPES.items()}, RULES, seed=9)
    checks, errors = [], []
    table = ij.plan({k: jax.ShapeDtypeStruct(s, d) for k, (s, d) in SHAPES.items()}, RULES, seed=9)
    for k, (s, d) in SHAPES.items():  # the unsharded array is initreg.values (bfloat16: rounded from float32)
        row = table[k]
        ref = initreg.values(row.initializer, s, name=k, seed=9, dtype="float32" if d == jnp.bfloat16 else d,
                             layout="IO")
        ref = np.asarray(jnp.asarray(ref).astype(d))
        checks.append([f"plain {k}", np.asarray(plain[k]).tobytes() == ref.tobytes()])
    for n, mesh_shape in MESHES.items():
        mesh = Mesh(np.array(jax.devices()[:n]).reshape(mesh_shape), ("a", "b"))
        for spec in SPECS:
            sharding = NamedSharding(mesh, spec)
            tree = {k: jax.ShapeDtypeStruct(s, d, sharding=sharding if len(s) == 2 else
                                            NamedSharding(mesh, P(None, None, *spec)))
                    for k, (s, d) in SHAPES.items()}
            out = ij.init(tree, RULES, seed=9)
            for k in SHAPES:
                arr = out[k]
                same = (arr.sharding == tree[k].sharding and np.asarray(arr).tobytes() == np.asarray(plain[k]).tobytes()
                        and len(arr.addressable_shards) == n
                        and all(np.asarray(sh.data).tobytes() == np.asarray(plain[k])[sh.index].tobytes()
                                for sh in arr.addressable_shards))
                checks.append([f"{n} devices {spec} {k}", bool(same)])
    mesh = Mesh(np.array(jax.devices()).reshape(2, 4), ("a", "b"))
    # distinct shards are computed once: each from its own region, except the column shards of a block-wise
    # initializer that is not addressable (each would compute every block): those are sliced from one whole
    calls: list = []
    real = ij.leaf_values
    ij.leaf_values = lambda row, dtype, index=None: calls.append(index) or real(row, dtype, index)
    rows, cols = 8, BLOCK  # a row is one stream block

    class BlockWise(std.Normal):  # its own fill, not declared addressable: regions cost whole blocks
        def fill(self, desc, out, rng):
            rng.normal(self.mean, self.sigma, out=out)

    try:
        for init, spec, expect in (("normal", P(), ["region"]), ("normal", P("a"), ["region"] * 2),
                                   ("normal", P(("a", "b")), ["region"] * 8), ("normal", P(None, "b"), ["region"] * 4),
                                   (BlockWise(), P("a"), ["region"] * 2), (BlockWise(), P(None, "b"), [None])):
            calls.clear()
            leaf = jax.ShapeDtypeStruct((rows, cols), jnp.float32, sharding=NamedSharding(mesh, spec))
            out = ij.init({"h": leaf}, init, seed=0)
            got = [None if ix is None else "region" for ix in calls]
            ref = initreg.values(init, (rows, cols), name="h", seed=0, layout="IO")
            checks.append([f"{init} {spec}: computed {expect}", got == expect and np.array_equal(np.asarray(out["h"]),
                                                                                                  ref)])
    finally:
        ij.leaf_values = real
    try:  # 10 rows over 4 devices: not a whole number of rows each
        ij.init({"u": jax.ShapeDtypeStruct((10, 3), jnp.float32, sharding=NamedSharding(mesh, P("b")))}, seed=0)
        errors.append("no error for an uneven sharding")
    except initreg.ShardingError as exc:
        checks.append(["uneven sharding names the leaf", "'u'" in str(exc) and isinstance(exc, ValueError)])
    except Exception as exc:  # jax raised its own error first: also acceptable, but say so
        checks.append([f"uneven sharding raised {type(exc).__name__}", isinstance(exc, ValueError)])
    print(json.dumps({"devices": jax.device_count(), "checks": checks, "errors": errors}))


if __name__ == "__main__":
    sys.exit(main())
