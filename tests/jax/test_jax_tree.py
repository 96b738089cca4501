"""initreg.jax.init over pytrees: names from paths, bits equal to initreg.values, dtypes, rules, bad input."""

from __future__ import annotations

import dataclasses
import sys
import warnings

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from jax import tree_util  # noqa: E402

import initreg  # noqa: E402
import initreg.jax as ij  # noqa: E402
from initreg import std  # noqa: E402
from initreg.errors import (ParameterValueError, RuleError, ShardingError, TreeError,  # noqa: E402
                            UnusedRuleWarning)


@dataclasses.dataclass
class Block:
    w: object
    b: object


tree_util.register_dataclass(Block, data_fields=["w", "b"], meta_fields=[])


def shapes():
    return {"enc": [Block(jax.ShapeDtypeStruct((6, 10), jnp.float32), jax.ShapeDtypeStruct((10,), jnp.float32)),
                    Block(np.zeros((3, 3, 4, 5), np.float32), jnp.ones((5,), jnp.float32))],
            "emb": (jax.ShapeDtypeStruct((7, 3), jnp.float32),)}


RULES = {"*.w": "xavier", "*.b": std.Normal(0.5), "emb.*": "orthogonal"}
NAMES = {"enc.0.w", "enc.0.b", "enc.1.w", "enc.1.b", "emb.0"}


def test_names_are_paths_and_every_leaf_equals_values():
    tree = shapes()
    out = ij.init(tree, RULES, seed=11)
    assert tree_util.tree_structure(out) == tree_util.tree_structure(tree)
    table = ij.plan(tree, RULES, seed=11)
    assert {r.name for r in table} == NAMES
    flat = dict((tree_util.keystr(p, simple=True, separator="."), x) for p, x in tree_util.tree_flatten_with_path(out)[0])
    for row in table:
        got = flat[row.name]
        assert isinstance(got, jax.Array) and got.dtype == jnp.float32
        want = initreg.values(row.initializer, row.shape, name=row.name, seed=11, dtype="float32", layout="IO")
        assert np.asarray(got).tobytes() == want.tobytes(), row.name
    assert table["emb.0"].source == "rule" and table["enc.1.b"].init == "normal"


def test_sep_changes_names_and_values():
    a = ij.init(shapes(), {"*/w": "xavier"}, seed=1, sep="/")
    b = ij.init(shapes(), {"*.w": "xavier"}, seed=1)
    w_slash, w_dot = np.asarray(a["enc"][0].w), np.asarray(b["enc"][0].w)
    assert w_slash.shape == w_dot.shape and not np.array_equal(w_slash, w_dot)  # another name, another stream
    want = initreg.values("xavier", (6, 10), name="enc/0/w", seed=1, layout="IO")
    assert np.array_equal(w_slash, want)


def test_layout_io_gives_the_fans_of_an_io_kernel():
    row = ij.plan({"k": jax.ShapeDtypeStruct((3, 3, 4, 5), jnp.float32)}, "lecun_normal", seed=0)["k"]
    assert row.layout == "IO"
    desc = initreg.core.initializer.make_desc("k", (3, 3, 4, 5), layout=row.layout)
    assert (desc.fan_in, desc.fan_out) == (36, 45)


def test_dtypes_bfloat16_rounds_like_jax_float16_direct_float64_without_x64_is_float32():
    tree = {"h": jax.ShapeDtypeStruct((33, 17), jnp.bfloat16), "f": jax.ShapeDtypeStruct((9, 4), jnp.float16),
            "d": np.zeros((5, 2), np.float64)}
    out = ij.init(tree, "normal", seed=3)
    f32 = initreg.values("normal", (33, 17), name="h", seed=3, layout="IO")
    assert out["h"].dtype == jnp.bfloat16
    assert np.asarray(out["h"]).view(np.uint16).tobytes() == \
        np.asarray(jnp.asarray(f32).astype(jnp.bfloat16)).view(np.uint16).tobytes()
    assert np.asarray(out["f"]).tobytes() == initreg.values("normal", (9, 4), name="f", seed=3, dtype="float16",
                                                            layout="IO").tobytes()
    assert not jax.config.jax_enable_x64 and out["d"].dtype == jnp.float32  # float64 only with x64 (sharded test)
    assert np.array_equal(np.asarray(out["d"]), initreg.values("normal", (5, 2), name="d", seed=3, layout="IO"))


def test_seed_from_global_seed_and_fresh_seed_is_one_for_the_whole_tree(monkeypatch):
    tree = {"a": jax.ShapeDtypeStruct((4, 4), jnp.float32)}
    initreg.seed(5)
    try:
        assert np.array_equal(np.asarray(ij.init(tree, "normal")["a"]), np.asarray(ij.init(tree, "normal", seed=5)["a"]))
    finally:
        initreg.seed(None)
    table = ij.plan(tree, "normal")
    assert table.seed is not None and table.rows[0].key is not None  # a concrete seed: the plan replays


def test_defaults_are_declared_and_user_rules_win():
    tree = {"params": {"Dense_0": {"kernel": jax.ShapeDtypeStruct((4, 8), jnp.float32),
                                   "bias": jax.ShapeDtypeStruct((8,), jnp.float32)}}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unused default rules (embedding, scale, ...) never warn
        table = ij.plan(tree, {"*.bias": "ones"}, seed=0, declared=ij.flax_defaults())
    assert table["params.Dense_0.kernel"].source == "declared" and table["params.Dense_0.kernel"].init == "lecunnormal"
    assert table["params.Dense_0.bias"].source == "rule" and table["params.Dense_0.bias"].init == "one"
    out = ij.init(tree, {"*.bias": "ones"}, seed=0, declared=ij.flax_defaults())
    assert np.all(np.asarray(out["params"]["Dense_0"]["bias"]) == 1)


def test_a_rule_matching_nothing_warns_and_strict_raises():
    tree = {"w": jax.ShapeDtypeStruct((2, 2), jnp.float32)}
    with pytest.warns(UnusedRuleWarning, match=r"\*\.kernel"):
        ij.init(tree, {"*.kernel": "xavier"}, seed=0)
    with pytest.raises(RuleError, match="strict=True"):
        ij.init(tree, {"*.kernel": "xavier"}, seed=0, strict=True)


def test_a_leaf_that_is_not_an_array():
    for bad in ("abc", object(), 3):
        with pytest.raises(TreeError, match=r"\['b'\]") as info:
            ij.init({"a": jax.ShapeDtypeStruct((2,), jnp.float32), "b": bad}, seed=0)
        assert isinstance(info.value, TypeError) and "ShapeDtypeStruct" in str(info.value)


def test_a_name_collision_after_joining():
    tree = {"a.b": jax.ShapeDtypeStruct((2,), jnp.float32), "a": {"b": jax.ShapeDtypeStruct((3,), jnp.float32)}}
    with pytest.raises(ParameterValueError, match=r"both named 'a\.b'.*sep=") as info:
        ij.init(tree, seed=0)
    assert isinstance(info.value, ValueError)
    assert ij.plan(tree, seed=0, sep="/")["a/b"].shape == (3,)  # another sep tells them apart


def test_a_leaf_that_is_a_bool_array_is_a_dtype_error():
    with pytest.raises(TypeError, match="'m'.*bool"):
        ij.init({"m": jax.ShapeDtypeStruct((2,), jnp.bool_)}, seed=0)


class _Leaf:
    """An array-like leaf carrying a sharding (as a ShapeDtypeStruct would)."""

    def __init__(self, sharding):
        self.shape, self.dtype, self.sharding = (4, 4), np.dtype(np.float32), sharding


class _ElsewhereSharding:
    """A sharding over devices of another process: nothing addressable here."""

    addressable_devices: frozenset = frozenset()

    class mesh:  # noqa: N801 - mimics Mesh.devices
        devices = np.array([], dtype=object)


def test_a_sharding_with_no_addressable_devices():
    with pytest.raises(ShardingError, match="none of this process's") as info:
        ij.init({"w": _Leaf(_ElsewhereSharding())}, seed=0)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ShardingError, match="not a jax.sharding.Sharding"):
        ij.init({"w": _Leaf("cpu")}, seed=0)


def test_initializer_failure_leaves_nothing_half_done():
    tree = {"a": jax.ShapeDtypeStruct((3,), jnp.float32), "b": jax.ShapeDtypeStruct((3,), jnp.float32)}
    with pytest.raises(initreg.InitregError):
        ij.init(tree, {"b": "xavier"}, seed=0)  # a 1-D weight has no fans
    assert isinstance(tree["a"], jax.ShapeDtypeStruct)  # the input tree is never changed


def test_import_initreg_imports_no_framework():
    import subprocess

    code = ("import sys, initreg; assert not {'jax', 'flax', 'keras'} & set(sys.modules), sys.modules.keys(); "
            "initreg.jax; assert 'jax' in sys.modules and 'keras' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _mapping_of(address: int) -> tuple[int, int, str] | None:
    """(start, end, VmFlags) of this process's memory mapping holding ``address`` (Linux /proc/self/smaps)."""
    found = None
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                found = (lo, hi) if lo <= address < hi else None
            elif head == "VmFlags:" and found is not None:
                return (*found, line)
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_a_large_leaf_is_adopted_from_its_own_mapping_without_huge_page_advice(monkeypatch):
    import gc
    import weakref

    from initreg.planning import leaves

    made = []

    def mapped(shape, dtype):  # the real one, keeping a weak reference to each mapping it makes
        arr = leaves.mapped.__wrapped__(shape, dtype)
        made.append(weakref.ref(arr.base.base.obj))
        return arr

    mapped.__wrapped__ = leaves.mapped
    monkeypatch.setattr(leaves, "mapped", mapped)
    tree = {"big": jax.ShapeDtypeStruct((1024, 1024), jnp.float32), "small": jax.ShapeDtypeStruct((64, 16), jnp.float32)}
    out = jax.block_until_ready(ij.init(tree, "normal", seed=0))
    for key in tree:
        assert np.array_equal(np.asarray(out[key]), initreg.values(std.Normal(), tree[key].shape, name=key, seed=0))
    assert len(made) == 1 and made[0]() is not None  # the 4 MiB leaf only, alive while its array is
    address = out["big"].unsafe_buffer_pointer()
    lo, hi, flags = _mapping_of(address)
    # adopted, not copied: the array's data starts a page of an anonymous mapping (the kernel may merge it with a
    # neighbour) that has no MADV_HUGEPAGE ("hg"), as XLA's own buffers (NumPy advises huge pages from 4 MiB)
    assert address % 4096 == 0 and lo <= address and address + 4 * 2 ** 20 <= hi
    assert " hg" not in flags
    assert out["small"].unsafe_buffer_pointer() % 64 == 0
    del out
    gc.collect()
    assert made[0]() is None  # unmapped with the array


@pytest.mark.parametrize("dtype, init", [
    (jnp.bfloat16, ["constant", {"value": 3.4e38}]),  # finite in float32, inf in bfloat16
    (jnp.float8_e4m3fn, ["normal", {"sigma": 1000}]),  # no inf: beyond 448 is NaN
])
def test_values_that_overflow_a_narrow_float_once_rounded_are_an_error(dtype, init):
    with pytest.raises(initreg.InitializationError, match=r"'w'.*overflow"):
        ij.init({"w": jax.ShapeDtypeStruct((3, 4), dtype)}, init, seed=0)
    with pytest.raises(initreg.InitializationError, match=r"'k'.*overflow"):
        ij.initializer(init, name="k", seed=0)(None, (3, 4), dtype)


def test_a_dimension_that_is_not_a_whole_number_is_a_shape_error_not_truncated():
    with pytest.raises(initreg.ShapeError, match="non-integer dimension 2.7"):
        ij.initializer("normal", name="k", seed=0)(None, (2.7, 3), jnp.float32)
    leaf = type("Leaf", (), {"shape": (2.5,), "dtype": "float32"})()
    with pytest.raises(initreg.ShapeError, match="non-integer dimension 2.5"):
        ij.init({"w": leaf}, "normal", seed=0)


def test_the_uncovered_error_suggests_zeros_for_an_integer_leaf():
    # an optax step count (0-D int32) was suggested xavier_uniform, which cannot fill it
    tree = {"params": {"w": jnp.ones((3, 4))}, "opt": {"count": jnp.zeros((), jnp.int32)}}
    with pytest.raises(RuleError, match=r"'opt\.count': 'zeros',"):
        initreg.jax.plan(tree, {"params.w": "zeros"}, seed=0, declared={"params.w": "zeros"})
