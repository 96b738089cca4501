"""``torch.nn.init``-style in-place functions over initreg's registry and bits: ``normal_(tensor, std=0.02, name=..., seed=...)``.

Each takes PyTorch's own parameters with PyTorch's meaning (``trunc_normal_``'s bounds ``a``, ``b`` are absolute
values, ``orthogonal_``'s gain is 1, fans are torch.nn.init's), translated to the initreg initializer of the same
distribution, and fills ``tensor`` with ``initreg.values(that, tensor.shape, name=name, seed=seed, layout="OI")``
(bfloat16: float32 rounded to nearest even). ``name`` is required: the values are keyed by it, so two tensors
need two names. The seed is ``seed``, else the global seed, else fresh entropy. Each returns ``tensor``.
"""

from __future__ import annotations

import math
from typing import Any

from ..core.initializer import check_number
from ..errors import FillTypeError, InitializerArgumentError, ParameterValueError
from ..planning.leaves import adapter_seed
from ..plugins.specs import create
from ..std import Constant, Normal, One, Orthogonal, TruncatedNormal, Uniform, VarianceScaling, Zero
from ..std.scaling import gain

__all__ = ["calculate_gain", "constant_", "fill_", "kaiming_normal_", "kaiming_uniform_", "normal_", "ones_",
           "orthogonal_", "trunc_normal_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_"]


def fill_(tensor: Any, init: Any, *, name: str, seed: int | None = None) -> Any:
    """Fill ``tensor`` in place with any initreg initializer (a name, spec or Initializer) keyed by ``name``."""
    from .placement import compute_dtype, dtype_name, fill, kept_on_error
    from .storage import check_internal

    if not isinstance(name, str) or not name:
        raise ParameterValueError(f"name must be a non-empty str (the values are keyed by it), got {name!r}; pass "
                                  f"the parameter's full name, e.g. name='encoder.layers.0.weight'")
    import torch

    if not isinstance(tensor, torch.Tensor):
        raise FillTypeError(f"{name!r}: initreg.torch.init fills a torch.Tensor in place, got a "
                            f"{type(tensor).__name__}; for a NumPy array use initreg.values(..., out=array)")
    compute_dtype(dtype_name(tensor), f"tensor {name!r}")
    check_internal(tensor, name)
    initializer, fixed = create(init), adapter_seed(seed, None)
    kept_on_error(tensor, lambda: fill(tensor, initializer, name, fixed))
    return tensor


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """torch.nn.init.calculate_gain: the recommended gain for a nonlinearity."""
    return gain(nonlinearity, param)


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0, *, name: str, seed: int | None = None) -> Any:
    """U(a, b), as torch.nn.init.uniform_."""
    return fill_(tensor, Uniform(low=a, high=b), name=name, seed=seed)


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, *, name: str, seed: int | None = None) -> Any:
    """N(mean, std²), as torch.nn.init.normal_."""
    return fill_(tensor, Normal(sigma=std, mean=mean), name=name, seed=seed)


def trunc_normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, *, name: str,
                  seed: int | None = None) -> Any:
    """N(mean, std²) truncated to [a, b] with ``a``, ``b`` absolute values, as torch.nn.init.trunc_normal_ (and timm)."""
    std = check_number("trunc_normal_", "std", std, positive=True)
    mean, a, b = (check_number("trunc_normal_", k, v) for k, v in (("mean", mean), ("a", a), ("b", b)))
    # initreg's TruncatedNormal takes its bounds in units of sigma around the mean
    return fill_(tensor, TruncatedNormal(mean=mean, sigma=std, a=(a - mean) / std, b=(b - mean) / std), name=name,
                 seed=seed)


def constant_(tensor: Any, val: float, *, name: str, seed: int | None = None) -> Any:
    """Every element ``val``, as torch.nn.init.constant_."""
    return fill_(tensor, Constant(check_number("constant_", "val", val)), name=name, seed=seed)


def zeros_(tensor: Any, *, name: str, seed: int | None = None) -> Any:
    """Zeros, as torch.nn.init.zeros_."""
    return fill_(tensor, Zero(), name=name, seed=seed)


def ones_(tensor: Any, *, name: str, seed: int | None = None) -> Any:
    """Ones, as torch.nn.init.ones_."""
    return fill_(tensor, One(), name=name, seed=seed)


def xavier_uniform_(tensor: Any, gain: float = 1.0, *, name: str, seed: int | None = None) -> Any:
    """U(±gain·√(6 / (fan_in + fan_out))), as torch.nn.init.xavier_uniform_."""
    return fill_(tensor, VarianceScaling(_square(gain), "fan_avg", "uniform"), name=name, seed=seed)


def xavier_normal_(tensor: Any, gain: float = 1.0, *, name: str, seed: int | None = None) -> Any:
    """N(0, gain²·2 / (fan_in + fan_out)), as torch.nn.init.xavier_normal_."""
    return fill_(tensor, VarianceScaling(_square(gain), "fan_avg", "untruncated_normal"), name=name, seed=seed)


def kaiming_uniform_(tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", *,
                     name: str, seed: int | None = None) -> Any:
    """U(±gain·√(3 / fan)), as torch.nn.init.kaiming_uniform_."""
    scale = _square(calculate_gain(nonlinearity, a if nonlinearity == "leaky_relu" else None))
    return fill_(tensor, VarianceScaling(scale, _mode(mode), "uniform"), name=name, seed=seed)


def kaiming_normal_(tensor: Any, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", *,
                    name: str, seed: int | None = None) -> Any:
    """N(0, gain² / fan), as torch.nn.init.kaiming_normal_."""
    scale = _square(calculate_gain(nonlinearity, a if nonlinearity == "leaky_relu" else None))
    return fill_(tensor, VarianceScaling(scale, _mode(mode), "untruncated_normal"), name=name, seed=seed)


def orthogonal_(tensor: Any, gain: float = 1.0, *, name: str, seed: int | None = None) -> Any:
    """A (semi-)orthogonal matrix times ``gain`` (PyTorch's default 1, not MXNet's 1.414), from normal draws."""
    return fill_(tensor, Orthogonal(scale=gain, rand_type="normal"), name=name, seed=seed)


def _square(g: float) -> float:
    if not (isinstance(g, (int, float)) and math.isfinite(g) and g > 0):
        raise InitializerArgumentError(f"gain must be a positive finite number, got {g!r}")
    return float(g) ** 2


def _mode(mode: str) -> str:
    if mode not in ("fan_in", "fan_out"):
        raise InitializerArgumentError(f"mode must be 'fan_in' or 'fan_out' (as torch.nn.init), got {mode!r}")
    return mode
