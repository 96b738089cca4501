"""The known-answer cases of the whole catalog: hashes of each portable initializer's values, whole and regions.

Run as a program it prints the hashes as JSON (``python catalog_bits.py [--torch] [--jax]``), so a test can compute
them in child processes under other CPU dispatch, BLAS and thread settings and compare with the frozen file.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

SEED = 20261206
DTYPES = ("float16", "float32", "float64")
REGION = (slice(3, 17), slice(5, 40, 3))  # rows 3..16, every third column from 5: an unaligned, strided region
SHAPES = {"dense": (64, 48), "conv": (8, 4, 3, 3)}

# (label, spec) for every portable initializer of the standard catalog and the structured plugin, with the
# configurations whose bits differ from the defaults' (another distribution, mode or interval)
CASES = [
    ("zero", "zero"), ("one", "one"), ("constant", ["constant", {"value": 0.1}]),
    ("uniform", "uniform"), ("uniform_lh", ["uniform", {"low": -3.0, "high": 5.0}]),
    ("normal", ["normal", {"sigma": 0.02}]),
    ("truncatednormal", "truncatednormal"),
    ("truncatednormal_far", ["truncatednormal", {"mean": 0.0, "sigma": 1.0, "a": 6.0, "b": 7.0}]),
    ("xavier", "xavier"), ("xavier_gaussian", ["xavier", {"rnd_type": "gaussian", "factor_type": "in"}]),
    ("msraprelu", "msraprelu"), ("variancescaling", "variancescaling"),
    ("variancescaling_untruncated", ["variancescaling", {"mode": "fan_out", "distribution": "untruncated_normal"}]),
    ("variancescaling_uniform", ["variancescaling", {"mode": "fan_avg", "distribution": "uniform"}]),
    ("glorotnormal", "glorotnormal"), ("glorotuniform", "glorotuniform"), ("henormal", "henormal"),
    ("heuniform", "heuniform"), ("lecunnormal", "lecunnormal"), ("lecununiform", "lecununiform"),
    ("xavier_normal", "xavier_normal"), ("xavier_uniform", "xavier_uniform"), ("padded_normal", "padded_normal"),
    ("inv_sqrt_uniform", "inv_sqrt_uniform"), ("bilinear", "bilinear"),
    ("mixture", ["mixture", {"components": [[0.25, ["uniform", {"low": 5.0, "high": 10.0}]], [0.5, "zero"],
                                            [0.25, ["normal", {"sigma": 2.0}]]]}]),
    ("sparse", "initreg-structured:sparse"), ("identity", "initreg-structured:identity"),
]
LSTM = ("lstmbias", "lstmbias", (64,))


def numpy_dispatch() -> list[str]:
    """The CPU features NumPy dispatches to on this machine (what ``NPY_DISABLE_CPU_FEATURES`` can turn off)."""
    m = np._core._multiarray_umath if hasattr(np, "_core") else np.core._multiarray_umath
    on = {k for k, v in m.__cpu_features__.items() if v}
    return [f for f in m.__cpu_dispatch__ if f in on]


def digest(a) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:20]


def numpy_hashes(device=None) -> dict[str, str]:
    """label/shape/dtype → hash of the values, and .../region → hash of values(index=REGION); computed on ``device``
    (``initreg.gpu(i)``: on that GPU, then copied to the host)."""
    import initreg
    from initreg.core.device import to_numpy
    from initreg.plugins.specs import create

    out = {}
    for label, spec in CASES:
        init = create(spec)
        for shape_name, shape in SHAPES.items():
            for dtype in DTYPES:
                key = f"{label}/{shape_name}/{dtype}"
                try:
                    whole = to_numpy(initreg.values(init, shape, name=f"{label}.weight", seed=SEED, dtype=dtype,
                                                    device=device))
                except initreg.InitregError:
                    continue  # an initializer for some shapes only (bilinear: 4-d; identity: square or conv)
                out[key] = digest(whole)
                if len(shape) == 2:
                    region = to_numpy(initreg.values(init, shape, name=f"{label}.weight", seed=SEED, dtype=dtype,
                                                     index=REGION, device=device))
                    assert np.array_equal(region, whole[REGION], equal_nan=True), key
                    out[key + "/region"] = digest(region)
    label, spec, shape = LSTM
    for dtype in DTYPES:
        out[f"{label}/{dtype}"] = digest(to_numpy(initreg.values(spec, shape, name="lstm.bias", seed=SEED, dtype=dtype,
                                                                 device=device)))
    return out


def torch_hashes(device: str = "cpu") -> dict[str, str]:
    """bfloat16 (and float32) values through the PyTorch adapter, the model on ``device`` ("cuda": filled there)."""
    import torch

    import initreg.torch as adapter

    out = {}
    for dtype in (torch.bfloat16, torch.float32):
        model = torch.nn.Sequential(torch.nn.Linear(48, 64), torch.nn.Conv2d(4, 8, 3), torch.nn.LayerNorm(64))
        model = model.to(device, dtype)
        adapter.initialize(model, {"*.weight": ["normal", {"sigma": 0.02}], "1.bias": "uniform"}, seed=SEED)
        for name, p in model.named_parameters():
            assert p.device.type == torch.device(device).type, name
            out[f"torch/{name}/{str(dtype).split('.')[1]}"] = digest(p.detach().cpu().view(
                torch.int16 if p.element_size() == 2 else torch.int32).numpy())
    return out


def jax_hashes(devices=None, axis: int | None = None) -> dict[str, str]:
    """bfloat16 (and float32) values through the JAX adapter; with ``devices``, the leaves sharded over a mesh of them
    (``axis`` of the kernel split; the bias split with it when ``axis`` is 1)."""
    import jax
    import jax.numpy as jnp

    import initreg.jax as adapter

    out = {}
    for dtype in (jnp.bfloat16, jnp.float32):
        tree = {"dense": {"kernel": jnp.zeros((48, 64), dtype), "bias": jnp.zeros((64,), dtype)}}
        if devices is not None:
            from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

            mesh = Mesh(np.array(devices), ("x",))
            kernel = P("x", None) if axis == 0 else P(None, "x") if axis == 1 else P()
            bias = P("x") if axis == 1 else P()
            tree = {"dense": {"kernel": jax.ShapeDtypeStruct((48, 64), dtype, sharding=NamedSharding(mesh, kernel)),
                              "bias": jax.ShapeDtypeStruct((64,), dtype, sharding=NamedSharding(mesh, bias))}}
        got = adapter.init(tree, {"*.kernel": "truncatednormal", "*.bias": ["uniform", {"low": -1.0, "high": 1.0}]},
                           seed=SEED)
        if devices is not None:
            for leaf in jax.tree.leaves(got):
                assert leaf.sharding.device_set == set(devices), leaf.sharding
        for path, leaf in (("dense.kernel", got["dense"]["kernel"]), ("dense.bias", got["dense"]["bias"])):
            out[f"jax/{path}/{jnp.dtype(dtype).name}"] = digest(np.asarray(leaf).view(np.uint8))
    return out


if __name__ == "__main__":
    found = numpy_hashes()
    if "--torch" in sys.argv:
        found.update(torch_hashes())
    if "--jax" in sys.argv:
        found.update(jax_hashes())
    print(json.dumps(found, sort_keys=True))
