"""Declared initializers for PyTorch's standard modules: the distributions their ``reset_parameters`` give.

Nothing here imports torch: modules are recognised by class name along their MRO (so a plan of a
meta model, or the registry listing these initializers, never loads PyTorch). A module whose
``reset_parameters`` is overridden outside ``torch`` declares nothing (its author's init is unknown).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..errors import InitializerArgumentError, ShapeError
from ..core.initializer import Desc, Initializer, check_number
from ..core.stream import NORMAL_MAX, Shard
from ..std.basic import Constant, Normal, One, Zero
from ..std._common import check_uniform
from ..std.scaling import VarianceScaling


class InvSqrtUniform(Initializer):
    """U(-1/√n, 1/√n): PyTorch's default for Linear/Conv weights (kaiming_uniform a=√5), biases and RNNs.

    Formula: w ~ U(-b, b) with b = 1/√n, n given or the weight's fan-in (``size(1)`` times the receptive
    field, as torch.nn.init computes it); b = 0 when n = 0.
    """

    name = "inv_sqrt_uniform"
    elementwise = True
    regions = "blocks"

    def __init__(self, n: int | None = None):
        if n is not None:
            n = int(check_number("InvSqrtUniform", "n", n, nonneg=True))
        self.n = n

    def bound(self, desc: Desc) -> float:
        """The bound b = 1/√n for the parameter ``desc``."""
        n = self.n if self.n is not None else desc.fan_in
        if n is None:
            raise ShapeError(f"InvSqrtUniform: parameter {desc.name!r} of shape {desc.shape} has no fan-in (it needs "
                             f"2 or more dimensions); give n=, e.g. inv_sqrt_uniform(n=in_features) for a bias")
        return 1.0 / math.sqrt(n) if n > 0 else 0.0

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        b = self.bound(desc)
        if b == 0.0:
            out.fill(0.0)
        else:
            check_uniform("InvSqrtUniform", -b, b, desc, from_fans=self.n is None)
            rng.uniform(-b, b, out=out)

    def max_abs(self, desc: Desc) -> float:
        return self.bound(desc)

    def expected(self, desc: Desc) -> Any:
        from scipy import stats

        from ..core.expected import Exact

        b = self.bound(desc)
        return Exact(np.zeros((), dtype=desc.dtype)) if b == 0.0 else stats.uniform(loc=-b, scale=2 * b)


class PaddedNormal(Initializer):
    """N(0, sigma²) with row ``padding_idx`` zero: PyTorch's Embedding and EmbeddingBag default.

    Formula: w[i, j] ~ N(0, sigma²) for i ≠ padding_idx, w[padding_idx, j] = 0 (negative indices count from
    the end). The drawn values are those of ``normal(sigma)``; the padding row is then zeroed.
    """

    name = "padded_normal"
    elementwise = False
    regions = "blocks"

    def __init__(self, padding_idx: int | None = None, sigma: float = 1.0):
        if padding_idx is not None and (isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer))):
            raise InitializerArgumentError(f"PaddedNormal: padding_idx must be an int or None, got {padding_idx!r}")
        self.padding_idx = None if padding_idx is None else int(padding_idx)
        self.sigma = check_number("PaddedNormal", "sigma", sigma, nonneg=True)

    def _row(self, desc: Desc) -> int | None:
        if self.padding_idx is None:
            return None
        if not desc.shape:
            raise ShapeError(f"PaddedNormal: padding_idx={self.padding_idx} zeroes a row, but parameter {desc.name!r} is "
                             f"a scalar; use it for an embedding table (rows first), or leave padding_idx out")
        rows = desc.shape[0]
        row = self.padding_idx + rows if self.padding_idx < 0 else self.padding_idx
        if not 0 <= row < rows:
            raise ShapeError(f"PaddedNormal: padding_idx={self.padding_idx} is outside the {rows} rows of parameter "
                             f"{desc.name!r}; give an index in [-{rows}, {rows})")
        return row

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        rng.normal(0.0, self.sigma, out=out)
        row = self._row(desc)
        if row is None:
            return
        width = desc.size // desc.shape[0]
        start = rng.start if isinstance(rng, Shard) else 0  # a block of the stream: positions from its start
        lo, hi = max(row * width - start, 0), min((row + 1) * width - start, out.size)
        if lo < hi:
            out.reshape(-1)[lo:hi] = 0

    def max_abs(self, desc: Desc) -> float:
        return self.sigma * NORMAL_MAX

    def expected(self, desc: Desc) -> Any:
        from scipy import stats

        from ..core.expected import Embedded

        row = self._row(desc)
        normal = stats.norm(loc=0.0, scale=self.sigma)
        if row is None:
            return normal
        # the padding row is zeros, every other row normal: not an i.i.d. mixture, which homogeneity would refuse
        return Embedded((np.delete(np.arange(desc.shape[0]), row),), normal, rest=0.0)


class XavierNormal(VarianceScaling):
    """PyTorch's xavier_normal_ (gain 1): N(0, 2 / (fan_in + fan_out)), untruncated."""

    name = "xavier_normal"

    def __init__(self) -> None:
        super().__init__(1.0, "fan_avg", "untruncated_normal")


class XavierUniform(VarianceScaling):
    """PyTorch's xavier_uniform_ (gain 1): U(±√(6 / (fan_in + fan_out)))."""

    name = "xavier_uniform"

    def __init__(self) -> None:
        super().__init__(1.0, "fan_avg", "uniform")


class AxesVarianceScaling(VarianceScaling):
    """VarianceScaling whose fans follow the kernel's axes, as Flax's DenseGeneral/LinearGeneral and attention kernels.

    Formula: fan_in = prod(shape[:in_axes]), fan_out = prod(shape[in_axes:]) (``in_axes`` < 0 counts from the end),
    then as VarianceScaling: what Flax's ``variance_scaling`` gives the kernel flattened to (inputs, features).
    """

    name = "axes_variance_scaling"

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 in_axes: int = 1):
        super().__init__(scale, mode, distribution)
        if isinstance(in_axes, bool) or not isinstance(in_axes, (int, np.integer)) or in_axes == 0:
            raise InitializerArgumentError(f"AxesVarianceScaling: in_axes must be a non-zero int (how many leading "
                                           f"axes are inputs; negative: all but that many trailing), got {in_axes!r}")
        self.in_axes = int(in_axes)

    def variance(self, desc: Desc) -> float:
        """scale / n with the fans of the input and feature axes."""
        shape = tuple(desc.shape)
        if len(shape) < 2 or abs(self.in_axes) >= len(shape):
            raise ShapeError(f"AxesVarianceScaling: parameter {desc.name!r} of shape {shape} has no {self.in_axes} "
                             f"input axes with features after them; give in_axes between {-(len(shape) - 1)} and "
                             f"{len(shape) - 1}, or use variance_scaling")
        fan_in, fan_out = math.prod(shape[:self.in_axes]), math.prod(shape[self.in_axes:])
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)


#: the initializers this module adds to the registry (initreg.torch.plugin; AxesVarianceScaling serves initreg.jax)
INITIALIZERS = (InvSqrtUniform, PaddedNormal, XavierNormal, XavierUniform, AxesVarianceScaling)


# --- which module declares what --------------------------------------------------------------------

Declared = dict  # local parameter name → Initializer


def _attr(module: Any, name: str) -> Any:
    return getattr(module, name, None)


def _linear(m: Any) -> Declared:
    return {"weight": InvSqrtUniform(), "bias": InvSqrtUniform(_fan_in_of(m))}


def _fan_in_of(m: Any) -> int | None:
    """The weight's fan-in as torch.nn.init computes it (None while the weight's shape is unknown)."""
    shape = _shape(_attr(m, "weight"))
    if shape is None or len(shape) < 2:
        return None
    return int(shape[1]) * math.prod(int(d) for d in shape[2:])


def _shape(tensor: Any) -> tuple | None:
    if tensor is None or _is_uninitialized(tensor):
        return None
    return tuple(tensor.shape)


def _is_uninitialized(tensor: Any) -> bool:
    return any(c.__name__ == "UninitializedTensorMixin" for c in type(tensor).__mro__)


def _bilinear(m: Any) -> Declared:
    n = int(m.weight.shape[1])
    return {"weight": InvSqrtUniform(n), "bias": InvSqrtUniform(n)}


def _embedding(m: Any) -> Declared:
    return {"weight": PaddedNormal(m.padding_idx) if m.padding_idx is not None else Normal(1.0)}


def _affine(m: Any) -> Declared:
    return {"weight": One(), "bias": Zero()}


def _rnn(m: Any) -> Declared:
    init = InvSqrtUniform(int(m.hidden_size))
    return {name: init for name, _ in m.named_parameters(recurse=False)}


def _mha(m: Any) -> Declared:
    out: Declared = {"in_proj_weight": XavierUniform(), "q_proj_weight": XavierUniform(),
                     "k_proj_weight": XavierUniform(), "v_proj_weight": XavierUniform(),
                     "bias_k": XavierNormal(), "bias_v": XavierNormal()}
    if _attr(m, "in_proj_bias") is not None:
        out.update({"in_proj_bias": Zero(), "out_proj.bias": Zero()})  # MHA zeroes its out_proj's bias too
    return out


def _prelu(m: Any) -> Declared:
    return {"weight": Constant(float(m.init))}


def _transformer(m: Any) -> Declared:
    # nn.Transformer re-initializes every parameter of 2 or more dimensions with xavier_uniform_
    return {name: XavierUniform() for name, p in m.named_parameters() if p.dim() > 1}


# class name along the MRO → (the method that resets parameters, what it declares)
_BY_CLASS: dict[str, tuple[str, Callable[[Any], Declared]]] = {
    "Linear": ("reset_parameters", _linear),
    "Bilinear": ("reset_parameters", _bilinear),
    "_ConvNd": ("reset_parameters", _linear),
    "Embedding": ("reset_parameters", _embedding),
    "EmbeddingBag": ("reset_parameters", _embedding),
    "LayerNorm": ("reset_parameters", _affine),
    "RMSNorm": ("reset_parameters", _affine),
    "GroupNorm": ("reset_parameters", _affine),
    "_NormBase": ("reset_parameters", _affine),
    "RNNBase": ("reset_parameters", _rnn),
    "RNNCellBase": ("reset_parameters", _rnn),
    "MultiheadAttention": ("_reset_parameters", _mha),
    "PReLU": ("reset_parameters", _prelu),
    "Transformer": ("_reset_parameters", _transformer),
}

#: buffers of standard modules on the meta device get PyTorch's values: class name → {buffer: value}
_BUFFERS = {"_NormBase": {"running_mean": 0.0, "running_var": 1.0, "num_batches_tracked": 0}}


def _torch_class(module: Any) -> str | None:
    """The name of the first standard torch.nn class along the MRO that this module's init comes from."""
    for cls in type(module).__mro__:
        entry = _BY_CLASS.get(cls.__name__)
        if entry is None or not cls.__module__.startswith("torch.nn."):
            continue
        method = getattr(type(module), entry[0], None)
        owner = getattr(method, "__module__", "") or ""
        return cls.__name__ if owner.startswith("torch.") else None  # overridden outside torch: unknown init
    return None


def declared(module: Any) -> Declared:
    """{name relative to ``module``: Initializer} for what PyTorch's own init gives ``module``'s parameters."""
    cls = _torch_class(module)
    return _BY_CLASS[cls][1](module) if cls is not None else {}


def standard_buffers(module: Any) -> dict[str, float]:
    """{buffer name: value} that PyTorch's own init gives this standard module's buffers (BatchNorm statistics)."""
    for cls in type(module).__mro__:
        if cls.__name__ in _BUFFERS and cls.__module__.startswith("torch.nn."):
            return dict(_BUFFERS[cls.__name__])
    return {}
