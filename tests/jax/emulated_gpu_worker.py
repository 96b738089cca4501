"""Run by test_jax_emulated_gpu.py in a fresh interpreter: initreg.jax's GPU route on 4 fake devices and emulated CuPy.

The 4 CPU devices stand in for CUDA GPUs (``initreg.jax._GPU_PLATFORMS`` takes "cpu") and ``tests/emulated_cupy.py``
for CuPy, so each shard goes the way it would on GPUs: computed by v4's kernel under ``cupy.cuda.Device(i)`` for
its device, handed to XLA through DLPack, assembled with ``make_array_from_single_device_arrays``. Prints one JSON
line: {"checks": [[what, ok], ...]}.
"""

from __future__ import annotations

import json
import sys

import emulated_cupy

sys.modules["cupy"] = emulated_cupy
emulated_cupy.DEVICES = 4

import jax  # noqa: E402 - after the stand-in, as a machine with CuPy would have it
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import initreg.jax as ij  # noqa: E402
from initreg import std  # noqa: E402
from initreg.core import v4_gpu  # noqa: E402

SHAPES = {"w": ((16, 24), jnp.float32), "h": ((16, 8), jnp.bfloat16), "d": ((8, 16), jnp.float64),
          "t": ((8, 12), jnp.float16), "c": ((8, 12), jnp.float32)}
RULES = {"w": "xavier", "h": "normal", "d": "truncatednormal", "t": "uniform", "c": std.Constant(np.arange(12.0))}
MESHES = {1: (1, 1), 2: (2, 1), 4: (2, 2)}
SPECS = [P("a", "b"), P("b", "a"), P(None, "b"), P("a"), P()]


def main() -> None:
    assert jax.device_count() == 4 and jax.config.jax_enable_x64, (jax.device_count(), jax.config.jax_enable_x64)
    tree = {k: jax.ShapeDtypeStruct(s, d) for k, (s, d) in SHAPES.items()}
    host = {k: np.asarray(v) for k, v in ij.init(tree, RULES, seed=9).items()}  # "cpu" is not a GPU yet: the host
    launches: list[int] = []  # the device of each kernel launch
    real_launch = v4_gpu._launch
    v4_gpu._launch = lambda out, *a: launches.append(int(out.device.id)) or real_launch(out, *a)
    built_on_host: list[str] = []
    real_leaf_values = ij.leaf_values
    ij.leaf_values = lambda row, dtype, index=None: built_on_host.append(row.name) or real_leaf_values(row, dtype, index)
    ij._GPU_PLATFORMS = ("gpu", "cuda", "cpu")
    checks = []
    out = ij.init(tree, RULES, seed=9)  # no sharding: the default device, "GPU" 0
    checks.append(["unsharded: the host's bits", all(np.asarray(out[k]).tobytes() == host[k].tobytes() for k in SHAPES)])
    checks.append(["unsharded: on device 0", all(out[k].devices() == {jax.devices()[0]} for k in SHAPES)])
    checks.append(["unsharded: launches on device 0", launches and set(launches) == {0}])
    for n, mesh_shape in MESHES.items():
        mesh = Mesh(np.array(jax.devices()[:n]).reshape(mesh_shape), ("a", "b"))
        for spec in SPECS:
            launches.clear()
            sharded = {k: jax.ShapeDtypeStruct(s, d, sharding=NamedSharding(mesh, spec)) for k, (s, d) in SHAPES.items()}
            out = ij.init(sharded, RULES, seed=9)
            for k in SHAPES:
                arr = out[k]
                same = (arr.sharding == sharded[k].sharding and arr.dtype == SHAPES[k][1]
                        and np.asarray(arr).tobytes() == host[k].tobytes() and len(arr.addressable_shards) == n
                        and all(np.asarray(sh.data).tobytes() == host[k][sh.index].tobytes()
                                for sh in arr.addressable_shards))
                checks.append([f"{n} devices {spec} {k}: the host's bits, shard by shard", bool(same)])
            checks.append([f"{n} devices {spec}: a launch on each device", set(launches) == set(range(n))])
    checks.append(["no leaf was built on the host", built_on_host == []])
    print(json.dumps({"checks": checks}))


if __name__ == "__main__":
    main()
