"""The truncated normal initializer, bounds in units of sigma."""

from __future__ import annotations

import math
from typing import Any

from ..errors import InitializerArgumentError
from ..core.initializer import Desc, Initializer, check_number
from ..core.stream import truncation_beyond


class TruncatedNormal(Initializer):
    """Values from N(mean, sigma²) restricted to [mean + a·sigma, mean + b·sigma].

    Formula: w[i] ~ N(mean, sigma²) conditioned on a ≤ (w[i] - mean) / sigma ≤ b; sigma is the
    scale of the untruncated normal, so the values' std is smaller (≈ 0.88·sigma for a = -2, b = 2).
    """

    aliases = ("truncated_normal", "truncnorm")
    elementwise = True
    regions = "blocks"
    addressable = True

    def __init__(self, mean: float = 0.0, sigma: float = 1.0, a: float = -2.0, b: float = 2.0):
        self.mean = check_number("TruncatedNormal", "mean", mean)
        self.sigma = check_number("TruncatedNormal", "sigma", sigma, positive=True)
        self.a = check_number("TruncatedNormal", "a", a, finite=False)
        self.b = check_number("TruncatedNormal", "b", b, finite=False)
        if not self.a < self.b:
            raise InitializerArgumentError(f"TruncatedNormal: need a < b (bounds in units of sigma), got a={a!r}, b={b!r}")
        beyond = truncation_beyond(self.a, self.b)
        if beyond:
            raise InitializerArgumentError(
                f"TruncatedNormal: {beyond}: use Constant(mean + {beyond[0]} * sigma)")

    def fill(self, desc: Desc, out: Any, rng: Any) -> None:
        rng.truncated_normal(self.mean, self.sigma, self.a, self.b, out=out)

    def max_abs(self, desc: Desc) -> float:
        return abs(self.mean) + self.sigma * max(abs(self.a), abs(self.b))  # inf for an open side

    def expected(self, desc: Desc) -> Any:
        from .truncnorm_law import law

        return law(self.a, self.b, self.mean, self.sigma)
