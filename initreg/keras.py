"""Keras 3: every variable of a built model filled by its path with name rules, and an initreg initializer Keras can use and save.

``initialize(model, rules, seed=...)`` plans over ``variable.path`` (``sequential/dense/kernel``), each
variable's *declared* initializer being the one its layer holds (``kernel_initializer`` and the like,
Keras's own defaults included, translated to initreg's equivalent), and assigns every variable
``initreg.values(row.initializer, shape, name=path, seed=seed, dtype=dtype, layout="IO")`` (``name=row.key_name``
under ``name_map=``; a variable outside ``only=`` is not assigned). Any backend
works; the tests use JAX (``KERAS_BACKEND=jax``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Iterator

import keras
import numpy as np

from .errors import DTypeError, InitializerTypeError, ParameterValueError, TreeError
from .planning.explanation import Explanation
from .core.initializer import Initializer as InitregInitializer
from .core.shapes import compute_dtype, narrowed
from .planning.leaves import (KEEP, check_names, is_keep, leaf_values, plan_leaves, uncovered_error,
                              with_default)
from .planning.precedence import Entry
from .core.stream import check_seed, choose_seed
from .planning.regions import values
from .plugins.specs import create

__all__ = ["Initializer", "initialize", "plan", "declared_initializer"]

#: a variable name whose layer attribute is not ``<name>_initializer``
_ATTRIBUTE = {"recurrent_kernel": "recurrent_initializer"}
#: (layer classes, variable name) → the attribute their build draws it with, where the name does not say it
_LAYER_ATTRIBUTE = ((("DepthwiseConv1D", "DepthwiseConv2D"), "kernel", "depthwise_initializer"),
                    (("SeparableConv1D", "SeparableConv2D"), "depthwise_kernel", "depthwise_initializer"),
                    (("SeparableConv1D", "SeparableConv2D"), "pointwise_kernel", "pointwise_initializer"))
#: (layer class, variable name) → the Keras initializer its build draws it with and does not keep on the layer
#: (AdditiveAttention before Attention, its base class)
_FIXED = ((("AdditiveAttention",), "scale", "glorot_uniform"), (("Attention",), "scale", "ones"),
          (("Attention",), "concat_score_weight", "ones"), (("RMSNormalization",), "scale", "ones"),
          (("Normalization",), "mean", "zeros"), (("Normalization",), "variance", "ones"),
          (("SpectralNormalization",), "vector_u", {"class_name": "TruncatedNormal", "config": {"stddev": 0.02}}))
#: Keras initializers by class name → initreg spec (the VarianceScaling family is read from its attributes)
_NAMED = {"GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal", "HeUniform": "he_uniform",
          "HeNormal": "he_normal", "LecunUniform": "lecun_uniform", "LecunNormal": "lecun_normal"}


@keras.saving.register_keras_serializable(package="initreg")
class Initializer(keras.initializers.Initializer):
    """An initreg initializer as a Keras initializer (``kernel_initializer=``), saved through initreg's ``dumps()``."""

    def __init__(self, spec: Any, *, seed: int | None = None, name: str = "keras"):
        self.initializer = create(spec)
        self.seed = None if seed is None else check_seed(seed)  # refused here, not when a layer is built
        if not isinstance(name, str) or not name:
            raise ParameterValueError(f"initreg.keras.Initializer: name must be a non-empty string (the stream's "
                                      f"name), got {name!r}")
        self.name = name

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        """Values of ``shape`` from the stream (seed, name), in layout "IO" (fresh entropy each call without a seed)."""
        try:
            standard = keras.backend.standardize_dtype(dtype or keras.config.floatx())
        except ValueError:
            raise DTypeError(f"parameter {self.name!r}: {dtype!r} is not a Keras dtype; use e.g. 'float32'") from None
        dt = _numpy_dtype(standard, self.name)
        computed = compute_dtype(dt, f"parameter {self.name!r}")
        out = values(self.initializer, tuple(shape), name=self.name, seed=_seed(self.seed), dtype=computed,
                     layout="IO")
        return keras.ops.convert_to_tensor(out if computed == dt else narrowed(out, dt, self.name), dtype=str(dt))

    def get_config(self) -> dict[str, Any]:
        """{"spec": the initializer's dumps(), "seed", "name"}: ``Initializer.from_config`` rebuilds an equal one."""
        return {"spec": self.initializer.dumps(), "seed": self.seed, "name": self.name}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Initializer):
            return NotImplemented
        return (self.initializer, self.seed, self.name) == (other.initializer, other.seed, other.name)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"initreg.keras.Initializer({self.initializer!r}, seed={self.seed!r}, name={self.name!r})"


def _seed(seed: int | None) -> int:
    """``seed``, else initreg's global seed, else one drawn from Keras's global generator (keras.utils.set_random_seed)."""
    chosen = choose_seed(seed, fresh=False)
    if chosen is not None:
        return chosen
    return int(keras.random.randint((), 0, 2**31 - 1, dtype="int32"))  # unseeded: Keras's own global generator


def declared_initializer(keras_init: Any, shape: tuple | None = None) -> InitregInitializer | None:
    """initreg's equivalent of a Keras initializer (same distribution, fans of layout "IO"), or None if there is none.

    ``shape``, when known, rules out translations that hold only for some shapes (orthogonal: 2-D kernels)."""
    if isinstance(keras_init, Initializer):
        return keras_init.initializer
    from . import std

    kind = type(keras_init).__name__
    if isinstance(keras_init, keras.initializers.VarianceScaling):
        inputs, outputs = getattr(keras_init, "input_axes", None), getattr(keras_init, "output_axes", None)
        if inputs is not None or outputs is not None:  # fans over chosen axes: not the layout's fans
            return _over_axes(keras_init, inputs, outputs, shape)
        if shape is not None and len(shape) < 2:  # no fan layout: Keras takes fan_in = fan_out = size (1 for a scalar)
            return _scaled(keras_init, shape[0] if shape else 1)
        if kind in _NAMED:
            return create(_NAMED[kind])
        return std.VarianceScaling(keras_init.scale, keras_init.mode, keras_init.distribution)
    config = keras_init.get_config() if hasattr(keras_init, "get_config") else {}
    if kind == "Zeros":
        return std.Zero()
    if kind == "Ones":
        return std.One()
    if kind == "Constant":
        value = np.asarray(getattr(keras_init, "value", config.get("value")))
        return std.Constant(float(value) if value.ndim == 0 else value)  # an array constant is broadcast, as in Keras
    if kind == "RandomUniform":
        return std.Uniform(low=config["minval"], high=config["maxval"])
    if kind == "RandomNormal":
        return std.Normal(sigma=config["stddev"], mean=config["mean"])
    if kind == "TruncatedNormal":  # Keras redraws values beyond two standard deviations
        return std.TruncatedNormal(mean=config["mean"], sigma=config["stddev"], a=-2.0, b=2.0)
    if kind in ("Orthogonal", "OrthogonalInitializer") and (shape is None or len(shape) == 2):
        # Keras: gain 1 (not MXNet's 1.414), Q of a normal matrix; a 2-D kernel is orthogonal over the same axes
        return std.Orthogonal(scale=float(config.get("gain", 1.0)), rand_type="normal")
    return None


def _scaled(keras_init: Any, fan: int) -> InitregInitializer:
    """A VarianceScaling drawn as Keras draws it where fan_in = fan_out = ``fan``: a fixed-width distribution."""
    from . import std

    variance = float(keras_init.scale) / max(1.0, fan)
    if keras_init.distribution == "truncated_normal":  # Keras's std of N(0, 1) truncated to ±2
        return std.TruncatedNormal(mean=0.0, sigma=math.sqrt(variance) / 0.87962566103423978, a=-2.0, b=2.0)
    if keras_init.distribution == "untruncated_normal":
        return std.Normal(sigma=math.sqrt(variance))
    limit = math.sqrt(3.0 * variance)
    return std.Uniform(low=-limit, high=limit)


def _over_axes(keras_init: Any, inputs: Any, outputs: Any, shape: tuple | None) -> InitregInitializer | None:
    """A VarianceScaling over chosen axes as axes_variance_scaling, when the input axes lead (else None: needs a rule)."""
    if shape is None or inputs is None or outputs is None:
        return None
    ndim = len(shape)
    inputs, outputs = sorted(a % ndim for a in inputs), sorted(a % ndim for a in outputs)
    k = len(inputs)
    if not 0 < k < ndim or inputs != list(range(k)) or outputs != list(range(k, ndim)):
        return None
    return create(["axes_variance_scaling", {"scale": float(keras_init.scale), "mode": keras_init.mode,
                                                     "distribution": keras_init.distribution, "in_axes": k}])


def _forget_bias(declared: InitregInitializer | None) -> InitregInitializer | None:
    """An LSTM bias under unit_forget_bias (Keras: the bias initializer, ones for the forget gate's quarter) when the
    bias initializer is zeros, else None (no initreg equivalent: needs a rule)."""
    from . import std

    if isinstance(declared, std.Constant) and np.ndim(declared.value) == 0 and declared.value == 0:
        return std.LSTMBias(forget_bias=1.0)
    return None


def _einsum_axes(layer: Any) -> tuple[list[int], list[int]] | None:
    """(input axes, output axes) of an EinsumDense kernel from its equation, as Keras's build computes them."""
    equation = getattr(layer, "equation", None)
    if not isinstance(equation, str) or "->" not in equation or "," not in equation:
        return None
    operands, output = equation.replace(" ", "").split("->")
    weights = operands.split(",")[1]
    inputs = [i for i, d in enumerate(weights) if d not in output]
    outputs = [i for i, d in enumerate(weights) if d in output]
    return inputs, outputs


# --- the model ----------------------------------------------------------------------------------------

def _sublayers(layer: Any) -> Iterator[Any]:
    """The layers directly inside ``layer``: ``layer.layers`` and attributes holding layers (private ones too:
    MultiHeadAttention keeps its dense sublayers in ``_query_dense`` and the like)."""
    seen: list[Any] = list(getattr(layer, "layers", None) or ())
    for attr, value in vars(layer).items():
        if attr in ("_inbound_nodes", "_outbound_nodes"):  # graph bookkeeping, never sublayers of this layer
            continue
        items = value if isinstance(value, (list, tuple)) else value.values() if isinstance(value, dict) else (value,)
        seen.extend(v for v in items if isinstance(v, keras.layers.Layer))
    done: set[int] = set()
    for sub in seen:
        if id(sub) not in done and sub is not layer:
            done.add(id(sub))
            yield sub


def _classes(names: tuple[str, ...]) -> tuple[type, ...]:
    """The keras.layers classes of ``names`` that this Keras has (an older Keras lacks RMSNormalization)."""
    return tuple(c for c in (getattr(keras.layers, n, None) for n in names) if c is not None)


def _keras_initializer(layer: Any, name: str) -> Any:
    """The Keras initializer ``layer``'s build draws its variable ``name`` with, or None when it keeps none."""
    for classes, variable, attribute in _LAYER_ATTRIBUTE:
        if name == variable and isinstance(layer, _classes(classes)):
            return getattr(layer, attribute, None)
    for classes, variable, fixed in _FIXED:
        if name == variable and isinstance(layer, _classes(classes)):
            return keras.initializers.get(fixed)
    return getattr(layer, _ATTRIBUTE.get(name, f"{name}_initializer"), None)


def _owners(model: Any) -> dict[int, Any]:
    """id(variable) → the layer holding it that declares its initializer (else the innermost one found)."""
    owners: dict[int, Any] = {}
    stack, visited = [model], set()
    while stack:  # parents before children, so the innermost layer is recorded last
        layer = stack.pop(0)
        if id(layer) in visited:
            continue
        visited.add(id(layer))
        for v in layer.weights:
            # a wrapper (Sequential's inner Functional) also lists its layers' weights: the declaring layer wins
            if id(v) not in owners or _keras_initializer(layer, v.name) is not None:
                owners[id(v)] = layer
        stack.extend(_sublayers(layer))
    return owners


def _numpy_dtype(dtype: str, name: str) -> np.dtype:
    try:
        return np.dtype(dtype)
    except TypeError:
        import ml_dtypes  # a Keras dependency: bfloat16 and the float8 kinds

        found = getattr(ml_dtypes, dtype, None)
        if found is None:
            raise TreeError(f"variable {name!r} has dtype {dtype!r}, which initreg cannot fill") from None
        return np.dtype(found)


def _variables(model: Any) -> list[Any]:
    """The model's floating-point variables (seed-generator states and integer counters are not parameters)."""
    if not isinstance(model, keras.layers.Layer):
        raise TreeError(f"initreg.keras: model must be a Keras layer or model, got {type(model).__name__}")
    found = [v for v in model.variables if keras.backend.is_float_dtype(v.dtype)]
    if not found and not model.built:
        raise ParameterValueError(f"initreg.keras: model {model.name!r} is not built and has no variables; call "
                                  f"model.build(input_shape) or run it on a batch first")
    return found


def _entries(model: Any, variables: list[Any]) -> tuple[list[Entry], list[str]]:
    owners = _owners(model)
    entries, unknown = [], []
    for v in variables:
        owner = owners.get(id(v))
        keras_init = _keras_initializer(owner, v.name) if owner is not None else None
        declared = declared_initializer(keras_init, tuple(v.shape)) if keras_init is not None else None
        axes = _einsum_axes(owner) if type(owner).__name__ == "EinsumDense" and v.name == "kernel" else None
        if axes is not None and isinstance(keras_init, keras.initializers.VarianceScaling) and (
                keras_init.input_axes is None or keras_init.output_axes is None):
            declared = _over_axes(keras_init, *axes, tuple(v.shape))  # what EinsumDense.build draws with
        kind = type(keras_init).__name__
        if v.name == "bias" and getattr(owner, "unit_forget_bias", False) is True and keras_init is not None:
            declared, kind = _forget_bias(declared), f"{kind} with unit_forget_bias=True"
        if keras_init is not None and declared is None:
            unknown.append((v.path, kind))
        elif keras_init is None:  # a custom add_weight: Keras keeps no initializer that could be read
            unknown.append((v.path, None))
        entries.append(Entry(v.path, tuple(int(d) for d in v.shape), keras.backend.standardize_dtype(v.dtype), "IO",
                             declared=declared))
    return entries, unknown


def plan(model: Any, init: Any = None, *, seed: int | None = None, strict: bool = False, default: Any = None,
         vars: Any = None, only: Any = None, name_map: Any = None) -> Explanation:
    """The table of what :func:`initialize` gives each variable, and why (nothing is assigned)."""
    variables = _variables(model)
    entries, unknown = _entries(model, variables)
    check_names([e.name for e in entries], [f"variable {e.name!r}" for e in entries],
                "give the layers distinct names")
    table = plan_leaves(entries, with_default(init, default), seed, strict, vars=vars, only=only, name_map=name_map)
    if is_keep(default):
        table = Explanation([replace(r, source=KEEP, init=KEEP, config={}, args={}, initializer=None)
                             if r.source == "global default" else r for r in table], table.seed, table.diagnostics)
    silent = [table[path] for path, kind in unknown if kind is None and table[path].source == "global default"]
    if silent:
        raise uncovered_error(silent, "Keras keeps no initializer for a custom add_weight variable",
                              ", or keep the initializer on the layer as <name>_initializer", names=[r.name for r in table])
    missing = [(path, kind) for path, kind in unknown
               if kind is not None and table[path].source in ("default", "global default")]
    if missing:
        listed = ", ".join(f"{p!r} ({k})" for p, k in missing)
        raise InitializerTypeError(f"initreg.keras: no initreg equivalent of the Keras initializer of {listed}; add a "
                                   f"rule for these paths (init={{{missing[0][0]!r}: 'normal'}}) or give the layer an "
                                   f"initreg.keras.Initializer. Nothing was assigned")
    return table


def initialize(model: Any, init: Any = None, *, seed: int | None = None, strict: bool = False, default: Any = None,
               vars: Any = None, only: Any = None, name_map: Any = None) -> Explanation:
    """Assign every floating-point variable of a built Keras model initreg's values for its path; return the plan.

    ``vars``, ``only`` and ``name_map`` are initreg.plan's: a variable outside ``only`` is not assigned, and values
    are drawn under the mapped paths."""
    variables = _variables(model)
    table = plan(model, init, seed=seed, strict=strict, default=default, vars=vars, only=only, name_map=name_map)
    work = [(v, row) for v, row in zip(variables, table) if row.initializer is not None]  # "keep" rows stay
    new = [leaf_values(row, _numpy_dtype(row.dtype, row.name)) for _, row in work]  # all computed before any assign
    backups = []
    try:
        for (v, _), value in zip(work, new):
            backups.append((v, np.array(keras.ops.convert_to_numpy(v.value), copy=True)))
            v.assign(value)
    except BaseException:
        for v, old in reversed(backups):  # a failing assign leaves every variable as it was
            v.assign(old)
        raise
    return table

