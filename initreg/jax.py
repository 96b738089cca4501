"""JAX and Flax: a pytree of shapes (or arrays) to a pytree of ``jax.Array``s, chosen by name rules, sharded leaves shard by shard.

A leaf's name is its tree path joined with ``sep`` (``params.Dense_0.kernel``); the plan is
``initreg.plan`` over those names, and leaf ``n`` of shape ``s`` and dtype ``d`` equals
``initreg.values(row.initializer, s, name=n, seed=seed, dtype=d, layout=layout)`` bit for bit
(bfloat16: computed in float32, rounded to nearest even; under ``name_map=``, ``name=row.key_name``); a leaf
outside ``only=`` is returned as given. A leaf with a sharding is built by
``jax.make_array_from_callback``, each addressable shard computed from its own index region, so the
array is the same on any number of devices; on CUDA GPUs (with CuPy) each shard is computed on its own GPU.
Flax NNX variables and linen metadata boxes (``nn.Partitioned``) are leaves under their own path, rebuilt
around the new value.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from typing import Any, Callable

import jax
import numpy as np
from jax import tree_util

from .core.device import gpu, gpu_available
from .core.shapes import check_shape, compute_dtype, narrow_overflow, narrowed
from .errors import ParameterValueError, RuleError, ShapeError, ShardingError, TreeError, format_shape
from .planning.explanation import Explanation, Row
from .planning.leaves import (aligned_empty, check_names, deprecated_keyword, is_keep, leaf_values,
                              plan_leaves, uncovered_error, with_default)
from .planning.precedence import Entry
from .planning.regions import Region, addressable, locate, region_mode, values
from .planning.rules import Rules

__all__ = ["init", "initialize", "initializer", "plan", "flax_defaults"]


def flax_defaults(sep: str = ".") -> Rules:
    """Flax's default initializers as rules by leaf name (kernels, recurrent kernels, biases, scales, embeddings)."""
    from .plugins.specs import create
    from .std import LecunNormal, One, Orthogonal, VarianceScaling, Zero

    def axes(in_axes: int) -> Any:  # registered by the adapters' plugin (initreg.torch.plugin, no torch import)
        return create(["axes_variance_scaling", {"in_axes": in_axes}])

    def last(word: str) -> str:  # the whole name, or its last segment
        return f"re:(?:.*{re.escape(sep)})?{word}"

    return Rules([
        # attention's DenseGeneral kernels: Flax flattens them to (inputs, features) before lecun_normal
        (last(f"(?:query|key|value){re.escape(sep)}kernel"), axes(1)),
        (last(f"out{re.escape(sep)}kernel"), axes(-1)),
        # the recurrent kernels of LSTMCell, OptimizedLSTMCell, GRUCell, MGUCell: Flax's orthogonal() (Haar)
        (last(f"h[ifgorzn]{re.escape(sep)}kernel"), Orthogonal(scale=1.0, rand_type="normal")),
        (last("kernel"), LecunNormal()),  # fans of "IO" / HWIO: in = shape[-2] times the window
        (last(f"if{re.escape(sep)}bias"), One()),  # MGUCell's forget gate (forget_bias_init=ones); no other cell has it
        (last("bias"), Zero()),
        (last("scale"), One()),  # LayerNorm, BatchNorm, RMSNorm, GroupNorm
        # Embed draws N(0, 1 / features): Flax's fan_in with out_axis=0 is the features axis, "IO"'s fan_out
        (last("embedding"), VarianceScaling(1.0, "fan_out", "untruncated_normal")),
        (last("mean"), Zero()),  # BatchNorm running statistics
        (last("var"), One()),
    ])


def initializer(init: Any, *, name: str, seed: int | None = None, layout: str = "IO") -> Callable[..., Any]:
    """A Flax ``kernel_init=`` callable ``(key, shape, dtype)`` giving initreg's values for ``name`` (the JAX key is ignored).

    The values are ``initreg.values(init, shape, name=name, seed=seed, dtype=dtype, layout=layout)``: keyed by the
    name and seed, not by the key Flax passes, so one callable used by two layers gives both the same values (give
    each its own name). The seed is ``seed``, else the global seed, else fresh entropy drawn once, here.
    """
    from .planning.leaves import adapter_seed
    from .planning.regions import values
    from .plugins.specs import create

    spec = create(init)
    if not isinstance(name, str) or not name:
        raise ParameterValueError(f"initreg.jax.initializer: name must be a non-empty str (the values are keyed by "
                                  f"it), got {name!r}; pass the leaf's path, e.g. name='params.Dense_0.kernel'")
    fixed = adapter_seed(seed, None)

    def kernel_init(key: Any, shape: Any, dtype: Any = None) -> jax.Array:
        dt = np.dtype(jax.dtypes.canonicalize_dtype(dtype or jax.numpy.float32))
        computed = compute_dtype(dt, f"parameter {name!r}")
        out = values(spec, _dims(shape, name), name=name, seed=fixed, dtype=computed, layout=layout)
        return jax.numpy.asarray(out if computed == dt else narrowed(out, dt, name))

    return kernel_init


def _dims(shape: Any, name: str) -> tuple[int, ...]:
    """A JAX shape as ints; a dimension that is not a whole number (2.5) is a ShapeError, never truncated."""
    dims = check_shape(tuple(shape) if isinstance(shape, (tuple, list)) else shape, name)
    if dims is None or None in dims:
        raise ShapeError(f"parameter {name!r}: shape {shape!r} has unknown dimensions; JAX leaves have known shapes")
    return dims


# --- the tree ---------------------------------------------------------------------------------------

def _box_kind(x: Any) -> str | None:
    """"nnx" for a Flax NNX Variable, "meta" for a linen metadata box, None otherwise (checked only if Flax is loaded)."""
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(x, nnx.Variable):
        return "nnx"
    meta = sys.modules.get("flax.core.meta")
    if meta is not None and isinstance(x, meta.AxisMetadata):
        return "meta"
    return None


def _unbox(x: Any) -> tuple[Any, Callable[[Any], Any]]:
    """(the array-like inside a leaf, a function putting a new value back the way it was held)."""
    kind = _box_kind(x)
    if kind == "nnx":
        return x.get_value(), lambda v: x.replace(v)
    if kind == "meta":
        return x.unbox(), x.replace_boxed
    return x, lambda v: v


class _Leaf:
    """One leaf: its name, path text, shape, dtype, sharding (or None) and how to rebuild it around a value."""

    __slots__ = ("name", "where", "shape", "dtype", "sharding", "rebox", "original")

    def __init__(self, name: str, where: str, value: Any, rebox: Callable[[Any], Any], original: Any = None):
        shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
        if shape is None or dtype is None or isinstance(value, (str, bytes)):
            raise TreeError(f"the leaf at {where} ({name!r}) is a {type(value).__name__}, not an array: give every leaf "
                            f"a shape and a dtype (a jax.ShapeDtypeStruct, e.g. from jax.eval_shape, or an array), "
                            f"or take it out of the tree")
        if jax.dtypes.issubdtype(dtype, jax.dtypes.extended):  # a PRNG key (an NNX Rngs stream), never a parameter
            raise TreeError(f"the leaf at {where} ({name!r}) is a random key (dtype {dtype}), not a parameter: pass "
                            f"only the parameters, e.g. graphdef, params, rest = nnx.split(model, nnx.Param, ...), "
                            f"or fill an NNX module with initreg.jax.initialize(model)")
        try:
            self.shape = _dims(shape, name)
            self.dtype = np.dtype(jax.dtypes.canonicalize_dtype(dtype))  # float64 stays float64 only under x64
        except TypeError as exc:
            raise TreeError(f"the leaf at {where} ({name!r}) has shape {shape!r} and dtype {dtype!r}: {exc}") from None
        compute_dtype(self.dtype, f"parameter {name!r}")
        self.name, self.where, self.rebox, self.original = name, where, rebox, original  # original: the leaf as given
        self.sharding = getattr(value, "sharding", None) if not isinstance(value, np.ndarray) else None


def _leaves(tree: Any, sep: str) -> tuple[list[_Leaf], Any]:
    """The leaves of ``tree`` (named by path) and its treedef."""
    if not isinstance(sep, str):
        raise ParameterValueError(f"sep must be a string (the text between path keys), got {sep!r}")
    flat, treedef = tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: _box_kind(x) is not None)
    leaves = []
    for path, x in flat:
        value, rebox = _unbox(x)
        leaves.append(_Leaf(tree_util.keystr(path, simple=True, separator=sep), tree_util.keystr(path) or "the root",
                            value, rebox, x))
    check_names([leaf.name for leaf in leaves], [leaf.where for leaf in leaves],
                f"pass another sep= (now {sep!r}) or rename the keys")
    return leaves, treedef


def _entries(leaves: list[_Leaf], layout: str, declared: Any) -> list[Entry]:
    declared = Rules(declared) if declared is not None and not isinstance(declared, Rules) else declared
    out = []
    for leaf in leaves:
        rule = declared.match(leaf.name) if declared is not None else None
        out.append(Entry(leaf.name, leaf.shape, str(leaf.dtype), layout, declared=rule.init if rule else None))
    return out


def _declared(declared: Any, defaults: Any, where: str) -> Any:
    """``declared=``, or the deprecated ``defaults=`` (which meant the same) with a DeprecationWarning."""
    if defaults is None:
        return declared
    if declared is not None:
        raise RuleError(f"initreg.jax.{where}: give declared= only (defaults= is its old name), not both")
    deprecated_keyword(f"initreg.jax.{where}", "defaults", "declared")
    return defaults


def _plan(leaves: list[_Leaf], init: Any, seed: Any, strict: bool, default: Any, declared: Any,
          layout: str, options: dict[str, Any], stacked: Any = None) -> Explanation:
    """The plan of the leaves; with ``declared=`` rules, a leaf they do not cover is an error (never a silent default)."""
    if is_keep(default):
        raise ParameterValueError("initreg.jax: default='keep' cannot keep leaves of a tree, which may hold only "
                                  "shapes; give rules for every leaf or an initializer as default=")
    init = with_default(init, default)
    table = plan_leaves(_entries(leaves, layout, declared), init, seed, strict, **options)
    if declared is not None:
        uncovered = [r for r in table if r.source == "global default"]
        if uncovered:
            raise uncovered_error(uncovered, "the declared= rules match none of them, as Flax's self.param leaves",
                                  ", or add them to declared=", names=[r.name for r in table])
    return _stacked(table, stacked)


def _stacked(table: Explanation, stacked: Any) -> Explanation:
    """The table with each leaf ``stacked`` matches drawn as its stack of layers (first axis) with one layer's fans.

    A VarianceScaling (Flax's lecun_normal, axes_variance_scaling, a rule's glorot_uniform) takes the stack's
    length as a spatial axis (both fans times it) and its scale times it: each layer's variance is its own.
    An initializer without fans is unchanged; any other (orthogonal, xavier) is an error: nothing is drawn."""
    if stacked is None:
        return table
    from . import std
    from .core.fans import check_layout
    from .errors import InitializerTypeError
    from .planning.patterns import checked_pattern
    from .plugins.specs import create

    patterns = [stacked] if isinstance(stacked, str) else list(stacked) if isinstance(stacked, (list, tuple)) else None
    if not patterns:
        raise RuleError(f"stacked= must be a pattern such as 'params.layers.*' or a non-empty list of patterns, "
                        f"got {stacked!r}")
    matchers = [checked_pattern(p, f"stacked= pattern {p!r}").match for p in patterns]
    rows, matched, refused = [], 0, []
    for row in table:
        if not any(m(row.name) for m in matchers):
            rows.append(row)
            continue
        matched += 1
        init = row.initializer
        if row.kept or isinstance(init, (std.Constant, std.Uniform, std.Normal, std.TruncatedNormal)):
            rows.append(row)  # no fans: a stack of layers draws what one layer draws
            continue
        if not isinstance(init, std.VarianceScaling) or len(row.shape) < 3:
            refused.append(f"{row.name!r} ({row.initializer_text}, shape {format_shape(row.shape)})")
            continue
        one = len(row.shape) - 1  # one layer's axes
        in_axes = getattr(init, "in_axes", None)
        if in_axes is not None:  # fans over chosen axes: one letter per axis
            k = in_axes if in_axes > 0 else one + in_axes
            roles = "I" * k + "O" * (one - k)
        else:
            roles = check_layout(row.layout)
            roles = ("L" * (one - 2) + "IO" if roles == "IO" else "OI" + "L" * (one - 2)) if len(roles) == 2 else roles
        new = create(["variance_scaling", {"scale": float(init.scale) * max(1, row.shape[0]), "mode": init.mode,
                                           "distribution": init.distribution}])
        rows.append(replace(row, initializer=new, init=new.name, config=new.config(), args=new.explicit_config(),
                            layout="T" + roles))  # T: the stack, a spatial axis of both fans
    if not matched:
        example = table.rows[0].name if len(table) else ""
        raise RuleError(f"stacked={stacked!r} matches no leaf (names such as {example!r}); "
                        f"patterns are globs over the whole name ('params.layers.*') or 're:' regular expressions")
    if refused:
        raise InitializerTypeError(f"stacked= leaves {', '.join(refused)}: this initializer cannot be drawn layer by "
                                   f"layer; give them a rule with a variance_scaling, a normal of fixed sigma or a "
                                   f"constant. Nothing was drawn")
    return Explanation(rows, table.seed, table.diagnostics)


def plan(tree: Any, init: Any = None, *, seed: int | None = None, strict: bool = False, default: Any = None,
         declared: Any = None, layout: str = "IO", sep: str = ".", defaults: Any = None, vars: Any = None,
         only: Any = None, name_map: Any = None, stacked: Any = None) -> Explanation:
    """The table of what :func:`init` gives each leaf of ``tree``, and why."""
    leaves, _ = _leaves(tree, sep)
    return _plan(leaves, init, seed, strict, default, _declared(declared, defaults, "plan"), layout,
                 dict(vars=vars, only=only, name_map=name_map), stacked)


def init(tree: Any, init: Any = None, *, seed: int | None = None, strict: bool = False, default: Any = None,
         declared: Any = None, layout: str = "IO", sep: str = ".", defaults: Any = None, vars: Any = None,
         only: Any = None, name_map: Any = None, stacked: Any = None) -> Any:
    """A pytree like ``tree`` with each leaf a ``jax.Array`` of initreg's values for its name, sharded as the leaf is.

    ``init``: what ``initialize`` takes (an initializer, a Rules, ``{pattern: init}``). ``declared``: rules
    giving each leaf its *declared* initializer (``flax_defaults()``), so ``init``'s rules win over them and
    an unused one never warns. The seed is ``seed``, else the rules' seed, else the global seed, else fresh.
    ``vars``, ``only`` and ``name_map`` are initreg.plan's: a leaf outside ``only`` (or kept by a "keep" rule) is
    returned as it is, and values are drawn under the mapped names. ``stacked``: patterns of leaves whose first
    axis stacks layers (``nn.scan``/``nn.vmap`` over params); a fan-scaled initializer draws them with one layer's fans.
    """
    tree, _ = _init(tree, init, seed, strict, default, _declared(declared, defaults, "init"), layout, sep,
                    dict(vars=vars, only=only, name_map=name_map), stacked)
    return tree


def _init(tree: Any, init: Any, seed: Any, strict: bool, default: Any, declared: Any, layout: str,
          sep: str, options: dict[str, Any], stacked: Any = None) -> tuple[Any, Explanation]:
    leaves, treedef = _leaves(tree, sep)
    table = _plan(leaves, init, seed, strict, default, declared, layout, options, stacked)
    drawn = [(row, leaf) for row, leaf in zip(table, leaves) if not row.kept]
    shardings = {id(leaf): _checked_sharding(leaf) for _, leaf in drawn}  # checked before any value is computed
    arrays = [leaf.original if row.kept else leaf.rebox(_build(row, leaf, shardings[id(leaf)]))
              for row, leaf in zip(table, leaves)]
    return tree_util.tree_unflatten(treedef, arrays), table


def initialize(model: Any, init: Any = None, *, seed: int | None = None, strict: bool = False, default: Any = None,
               declared: Any = None, layout: str = "IO", sep: str = ".", vars: Any = None, only: Any = None,
               name_map: Any = None, stacked: Any = None) -> Explanation:
    """Fill a Flax NNX module's parameters in place (names: state paths; declared: ``flax_defaults()``); the table."""
    nnx = _nnx_of(model)
    declared = flax_defaults(sep) if declared is None else declared
    _, params, _ = nnx.split(model, (nnx.Param, nnx.BatchStat), ...)  # rng state is not a parameter
    new, table = _init(params, init, seed, strict, default, declared, layout, sep,
                       dict(vars=vars, only=only, name_map=name_map), stacked)
    nnx.update(model, new)  # every value was computed before this one update; kept leaves are their own values
    return table


def _nnx_of(model: Any) -> Any:
    """flax.nnx, when ``model`` is an NNX module; else TreeError pointing to init(tree) for plain pytrees."""
    nnx = sys.modules.get("flax.nnx")
    if nnx is None or not isinstance(model, nnx.Module):
        raise TreeError(f"initreg.jax.initialize fills a Flax NNX module in place; got {type(model).__name__}. For a "
                        f"pytree (linen params, eval_shape output), use initreg.jax.init(tree, ...), which returns "
                        f"the new tree")
    return nnx


# --- arrays -----------------------------------------------------------------------------------------

def _checked_sharding(leaf: _Leaf) -> Any:
    """The leaf's sharding, checked to have an addressable shard of a valid shape here; None for an unsharded leaf."""
    sharding = leaf.sharding
    if sharding is None:
        return None
    devices = getattr(sharding, "addressable_devices", None)
    if devices is None:
        raise ShardingError(f"the leaf {leaf.name!r} has sharding {sharding!r}, which is not a jax.sharding.Sharding; "
                            f"give a NamedSharding (or None for the default device)")
    if not devices:
        mesh = getattr(sharding, "mesh", None)
        ids = sorted(d.id for d in getattr(mesh, "devices", np.empty(0)).flat) if mesh is not None else "?"
        raise ShardingError(f"the leaf {leaf.name!r} has sharding {sharding!r} whose devices {ids} are none of this "
                            f"process's (process {jax.process_index()}, devices "
                            f"{[d.id for d in jax.local_devices()]}); build the mesh over devices that include some "
                            f"of this process's, e.g. jax.make_mesh(...) or Mesh(jax.devices(), ...)")
    try:
        sharding.shard_shape(leaf.shape)
    except (ValueError, TypeError) as exc:
        raise ShardingError(f"the leaf {leaf.name!r} of shape {format_shape(leaf.shape)} cannot take sharding "
                            f"{sharding!r}: {exc}") from None
    return sharding


def _index_key(index: Any) -> tuple:
    """A hashable form of a shard's index (a tuple of slices): replicated shards share one key."""
    return tuple((s.start, s.stop, s.step) if isinstance(s, slice) else s for s in (index or ()))


def _region_blocks(shape: tuple[int, ...], index: Any) -> int:
    """How many stream blocks the region ``whole[index]`` overlaps (what computing it on its own costs)."""
    return len(Region(*locate(shape, () if index is None else index)).blocks())


_GPU_PLATFORMS = ("gpu", "cuda")  # where CuPy can compute a leaf (tests/jax/emulated_gpu_worker.py adds "cpu")


def _build_on_gpus(row: Row, leaf: _Leaf, sharding: Any) -> jax.Array | None:
    """The leaf computed on its CUDA GPUs by v4's kernel (CuPy), each shard on its own device; None to build on the host.

    The host builds it where a device is not a GPU CuPy can use, or the dtype is neither one v4 computes nor
    bfloat16 (rounded from float32 by XLA's conversion, to nearest even as on the host).
    """
    if sharding is None:
        if jax.default_backend() not in _GPU_PLATFORMS or getattr(jax.config, "jax_default_device", None) is not None:
            return None
        sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    if not all(d.platform in _GPU_PLATFORMS for d in sharding.device_set):
        return None
    dt = np.dtype(leaf.dtype)
    computed = compute_dtype(dt, f"parameter {row.name!r}")
    placed = sharding.addressable_devices_indices_map(leaf.shape)
    if (computed != dt and dt.name != "bfloat16") or not placed or not all(
            gpu_available(d.local_hardware_id) for d in placed):
        return None
    import cupy

    arrays = []
    for device, index in placed.items():
        with cupy.cuda.Device(device.local_hardware_id):
            part = values(row.initializer, row.shape, name=row.key_name, seed=row.seed, dtype=computed,
                          layout=row.layout, index=() if index is None else index, device=gpu(device.local_hardware_id))
            cupy.cuda.get_current_stream().synchronize()  # written before XLA's streams read it
        shard = jax.dlpack.from_dlpack(part, device=device)  # the GPU it was computed on: no copy
        if computed != dt:  # XLA's rounding; a value it turns into inf or NaN is an error, as on the host
            shard = shard.astype(dt)
            if not bool(jax.numpy.isfinite(shard).all()):
                raise narrow_overflow(row.name, dt)
        arrays.append(shard)
    return jax.make_array_from_single_device_arrays(leaf.shape, sharding, arrays)


def _shards(row: Row, leaf: _Leaf, sharding: Any) -> dict[tuple, np.ndarray]:
    """This process's distinct shards of the leaf (replicas share one), by index key.

    Each comes from its own region (an addressable initializer computes only the region's values, column shards
    included) unless the regions together overlap more stream blocks than the whole tensor has (column shards of
    a block-wise initializer: every shard touches every block), or the initializer computes whole tensors: then
    the whole is computed once and sliced.
    """
    indices: dict[tuple, Any] = {}
    for index in sharding.addressable_devices_indices_map(leaf.shape).values():
        indices.setdefault(_index_key(index), () if index is None else index)
    mode = region_mode(row.initializer)
    once = mode == "whole" or (mode == "blocks" and len(indices) > 1 and not addressable(row.initializer) and sum(
        _region_blocks(leaf.shape, ix) for ix in indices.values()) > _region_blocks(leaf.shape, ()))
    if not once:
        return {key: leaf_values(row, leaf.dtype, index=ix) for key, ix in indices.items()}
    whole = leaf_values(row, leaf.dtype)
    parts = {}
    for key, ix in indices.items():
        part = whole[ix]
        parts[key] = aligned_empty(part.shape, part.dtype)
        parts[key][...] = part
    return parts


def _build(row: Row, leaf: _Leaf, sharding: Any) -> jax.Array:
    """The leaf's jax.Array: whole on the default device, or shard by shard over ``sharding``."""
    on_gpus = _build_on_gpus(row, leaf, sharding)
    if on_gpus is not None:
        return on_gpus
    if sharding is None:  # an aligned host buffer: XLA's CPU client adopts it instead of copying
        return jax.device_put(leaf_values(row, leaf.dtype))
    parts = _shards(row, leaf, sharding)

    def shard(index: Any) -> np.ndarray:
        key = _index_key(index)
        if key not in parts:  # not in this process's map: computed on its own
            parts[key] = leaf_values(row, leaf.dtype, index=() if index is None else index)
        return parts[key]

    return jax.make_array_from_callback(leaf.shape, sharding, shard, dtype=leaf.dtype)
