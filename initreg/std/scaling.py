"""Fan-scaled initializers: Xavier and MSRAPrelu (MXNet), VarianceScaling and its named forms (Keras/JAX), gain()."""

from __future__ import annotations

import math
from typing import Any

from ..errors import InitializerArgumentError
from ..core.initializer import Desc, Initializer, check_choice, check_number
from ..core.stream import NORMAL_MAX
from ._common import check_uniform, fans_of

#: std of N(0, 1) truncated to [-2, 2]: dividing by it gives a truncated normal the intended std
TRUNCATION_STD = 0.87962566103423978

_GAINS = {"linear": 1.0, "identity": 1.0, "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0,
          "conv_transpose1d": 1.0, "conv_transpose2d": 1.0, "conv_transpose3d": 1.0, "sigmoid": 1.0,
          "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "leaky_relu": None, "selu": 0.75}


def gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (as in PyTorch's calculate_gain)."""
    key = str(nonlinearity).lower()
    if key not in _GAINS:
        raise InitializerArgumentError(f"gain: unknown nonlinearity {nonlinearity!r}; use one of "
                                       f"{', '.join(sorted(_GAINS))}")
    if key == "leaky_relu":
        slope = 0.01 if param is None else check_number("gain", "param (negative slope of leaky_relu)", param)
        return math.sqrt(2.0 / (1.0 + slope * slope))  # a float product overflows to inf, never raises
    if param is not None:
        raise InitializerArgumentError(f"gain: {key!r} takes no param, got param={param!r}; only 'leaky_relu' takes one")
    return float(_GAINS[key])  # type: ignore[arg-type]


class Xavier(Initializer):
    """Glorot/Xavier scaling as in MXNet: scale = sqrt(magnitude / factor), factor from the fans.

    Formula: factor = (fan_in + fan_out) / 2 ("avg"), fan_in ("in") or fan_out ("out");
    scale = sqrt(magnitude / factor); w ~ U(-scale, scale) ("uniform") or N(0, scale²) ("gaussian").
    Fans multiply in the receptive field; they follow the parameter's layout ("OI…" or "…IO").
    """

    aliases = ("glorot",)
    elementwise = True
    regions = "blocks"
    addressable = True

    def __init__(self, rnd_type: str = "uniform", factor_type: str = "avg", magnitude: float = 3.0):
        owner = type(self).__name__
        self.rnd_type = check_choice(owner, "rnd_type", rnd_type, ("uniform", "gaussian"))
        self.factor_type = check_choice(owner, "factor_type", factor_type, ("avg", "in", "out"))
        self.magnitude = check_number(owner, "magnitude", magnitude, positive=True)

    def scale(self, desc: Desc) -> float:
        """The bound (uniform) or standard deviation (gaussian) for the parameter ``desc``."""
        fan_in, fan_out = fans_of(desc)
        factor = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}[self.factor_type]
        return math.sqrt(self.magnitude / factor) if factor else 0.0  # factor 0 only for an empty array

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        scale = self.scale(desc)
        if self.rnd_type == "uniform":
            check_uniform(type(self).__name__, -scale, scale, desc, from_fans=True)
            rng.uniform(-scale, scale, out=out)
        else:
            rng.normal(0.0, scale, out=out)

    def max_abs(self, desc: Desc) -> float:
        return self.scale(desc) * (1.0 if self.rnd_type == "uniform" else NORMAL_MAX)

    def expected(self, desc: Desc) -> Any:
        from scipy import stats

        scale = self.scale(desc)
        if self.rnd_type == "uniform":
            return stats.uniform(loc=-scale, scale=2 * scale)
        return stats.norm(loc=0.0, scale=scale)


class MSRAPrelu(Xavier):
    """He/Kaiming scaling for PReLU units as in MXNet: gaussian Xavier with magnitude 2 / (1 + slope²).

    Formula: factor as in Xavier; w ~ N(0, (2 / (1 + slope²)) / factor).
    """

    aliases = ("msra", "he", "kaiming")

    def __init__(self, factor_type: str = "avg", slope: float = 0.25):
        self.slope = check_number("MSRAPrelu", "slope", slope)
        magnitude = 2.0 / (1.0 + self.slope * self.slope)  # a float product overflows to inf, never raises
        if magnitude == 0.0:
            raise InitializerArgumentError(f"MSRAPrelu: slope={slope!r} is too large: the variance 2 / (1 + slope²) "
                                           f"is 0 in floating point; use |slope| below 1e150")
        super().__init__("gaussian", factor_type, magnitude)


class VarianceScaling(Initializer):
    """Variance scaling as in Keras and JAX: variance scale / n, n the chosen fan.

    Formula: n = max(1, fan_in | fan_out | (fan_in + fan_out) / 2); v = scale / n.
    "truncated_normal": N(0, s²) truncated to ±2·s with s = sqrt(v) / 0.87962566103423978 (so the std is sqrt(v));
    "untruncated_normal": N(0, v); "uniform": U(-sqrt(3·v), sqrt(3·v)).
    """

    aliases = ("variance_scaling",)
    elementwise = True
    regions = "blocks"
    addressable = True

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal"):
        owner = type(self).__name__
        self.scale = check_number(owner, "scale", scale, positive=True)
        self.mode = check_choice(owner, "mode", mode, ("fan_in", "fan_out", "fan_avg"))
        self.distribution = check_choice(owner, "distribution", distribution,
                                         ("truncated_normal", "untruncated_normal", "uniform"))

    def variance(self, desc: Desc) -> float:
        """The target variance scale / n for the parameter ``desc``."""
        fan_in, fan_out = fans_of(desc)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        v = self.variance(desc)
        if self.distribution == "truncated_normal":
            rng.truncated_normal(0.0, math.sqrt(v) / TRUNCATION_STD, -2.0, 2.0, out=out)
        elif self.distribution == "untruncated_normal":
            rng.normal(0.0, math.sqrt(v), out=out)
        else:
            limit = math.sqrt(3.0 * v)
            check_uniform(type(self).__name__, -limit, limit, desc, from_fans=True)
            rng.uniform(-limit, limit, out=out)

    def max_abs(self, desc: Desc) -> float:
        s = math.sqrt(self.variance(desc))
        if self.distribution == "truncated_normal":
            return 2.0 * (s / TRUNCATION_STD)
        return s * (NORMAL_MAX if self.distribution == "untruncated_normal" else math.sqrt(3.0))

    def expected(self, desc: Desc) -> Any:
        from scipy import stats

        v = self.variance(desc)
        if self.distribution == "truncated_normal":
            return stats.truncnorm(-2.0, 2.0, loc=0.0, scale=math.sqrt(v) / TRUNCATION_STD)
        if self.distribution == "untruncated_normal":
            return stats.norm(loc=0.0, scale=math.sqrt(v))
        limit = math.sqrt(3.0 * v)
        return stats.uniform(loc=-limit, scale=2 * limit)


class _Preset(VarianceScaling):
    """A VarianceScaling with fixed arguments (Keras's named initializers): subclasses set ``PRESET``."""

    PRESET: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self) -> None:
        super().__init__(*self.PRESET)


def _preset(name: str, alias: str, preset: tuple[float, str, str], formula: str) -> type:
    """A ``_Preset`` subclass named ``name`` (registered under its lower-cased name and ``alias``)."""
    doc = f"{name} (Keras): VarianceScaling{preset}.  Formula: {formula}."
    return type(name, (_Preset,), {"__doc__": doc, "__module__": __name__, "aliases": (alias,), "PRESET": preset})


# Keras's named presets: class, alias, (scale, mode, distribution), formula
GlorotUniform = _preset("GlorotUniform", "glorot_uniform", (1.0, "fan_avg", "uniform"), "U(±sqrt(6 / (fan_in + fan_out)))")
GlorotNormal = _preset("GlorotNormal", "glorot_normal", (1.0, "fan_avg", "truncated_normal"), "std sqrt(2 / (fan_in + fan_out))")
HeUniform = _preset("HeUniform", "he_uniform", (2.0, "fan_in", "uniform"), "U(±sqrt(6 / fan_in))")
HeNormal = _preset("HeNormal", "he_normal", (2.0, "fan_in", "truncated_normal"), "std sqrt(2 / fan_in)")
LecunUniform = _preset("LecunUniform", "lecun_uniform", (1.0, "fan_in", "uniform"), "U(±sqrt(3 / fan_in))")
LecunNormal = _preset("LecunNormal", "lecun_normal", (1.0, "fan_in", "truncated_normal"), "std sqrt(1 / fan_in)")
