"""Deliberately wrong initializers: each fills one way and promises another (or breaks a stream contract)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import initreg
from initreg.random import Stream
from initreg.std import Constant, Mixture, Normal, Uniform, VarianceScaling, Xavier, Zero
from initreg.std.scaling import TRUNCATION_STD


class Claims(initreg.Initializer):
    """Fills like ``actual`` but promises what ``promised`` promises: a bug the validator must see."""

    name = "claims"

    def __init__(self, promised: initreg.Initializer, actual: initreg.Initializer):
        self.promised, self.actual = promised, actual

    def fill(self, desc: Any, out: Any, rng: Any) -> None:
        self.actual.fill(desc, out, rng)

    def expected(self, desc: Any) -> Any:
        return self.promised.expected(desc)


class SwappedFans(initreg.Initializer):
    """Runs ``inner`` on a Desc whose fan_in and fan_out are exchanged."""

    name = "swappedfans"

    def __init__(self, inner: initreg.Initializer):
        self.inner = inner

    def fill(self, desc: Any, out: Any, rng: Any) -> None:
        self.inner.fill(desc.replace(fan_in=desc.fan_out, fan_out=desc.fan_in), out, rng)


class UncorrectedTruncation(initreg.Initializer):
    """Variance scaling with a ±2σ truncated normal but without dividing σ by 0.8796: the std is 12 % low."""

    name = "uncorrectedtruncation"

    def fill(self, desc: Any, out: Any, rng: Any) -> None:
        v = VarianceScaling().variance(desc)
        rng.truncated_normal(0.0, math.sqrt(v), -2.0, 2.0, out=out)


class OneStream(initreg.Initializer):
    """A Normal that ignores the parameter's name: every parameter gets the values of one shared stream."""

    name = "onestream"

    def __init__(self, sigma: float = 0.01):
        self.sigma = sigma

    def fill(self, desc: Any, out: Any, rng: Any) -> None:
        Stream(rng.seed, "shared").normal(0.0, self.sigma, out=out)

    def expected(self, desc: Any) -> Any:
        from scipy import stats

        return stats.norm(0.0, self.sigma)


class NextUlp(initreg.Initializer):
    """Writes the float one unit in the last place above ``value``."""

    name = "nextulp"

    def __init__(self, value: float = 0.1):
        self.value = value

    def fill(self, desc: Any, out: Any, rng: Any) -> None:
        out.fill(np.nextafter(desc.dtype.type(self.value), desc.dtype.type(np.inf)))


def tutorial_mixture(weights=(0.25, 0.5, 0.25)) -> Mixture:
    """U[5, 10], 0 and U[-10, -5] with the given probabilities (the reference tutorial's are ¼, ½, ¼)."""
    return Mixture([(weights[0], Uniform(low=5.0, high=10.0)), (weights[1], Zero()),
                    (weights[2], Uniform(low=-10.0, high=-5.0))])


def std_off(factor: float, sigma: float = 0.01) -> Claims:
    """A Normal(sigma) whose values have std factor·sigma."""
    return Claims(Normal(sigma), Normal(sigma * factor))


def swapped_xavier(**kwargs: Any) -> Claims:
    """Xavier with fan_in and fan_out exchanged."""
    return Claims(Xavier(**kwargs), SwappedFans(Xavier(**kwargs)))


def uncorrected_truncation() -> Claims:
    """VarianceScaling's truncated normal without the 1/0.8796 correction."""
    assert math.isclose(TRUNCATION_STD, 0.87962566103423978)
    return Claims(VarianceScaling(), UncorrectedTruncation())


def uniform_bound_off(factor: float, scale: float = 0.07) -> Claims:
    """U(±scale) promised, U(±factor·scale) drawn."""
    return Claims(Uniform(scale), Uniform(scale * factor))


def mixture_weights(weights: tuple) -> Claims:
    """The tutorial mixture promised, drawn with other weights."""
    return Claims(tutorial_mixture(), tutorial_mixture(weights))


def constant_one_ulp(value: float = 0.1) -> Claims:
    """Constant(value) promised, the next float up written."""
    return Claims(Constant(value), NextUlp(value))
