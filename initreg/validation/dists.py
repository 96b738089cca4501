"""Expected distributions taken apart: point masses, the continuous part, moments and support."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from ..errors import ValidationError
from ..core.expected import Atom, Exact, Mixture

_MAX_DISCRETE_SUPPORT = 10_000


def is_frozen(obj: Any) -> bool:
    """Whether ``obj`` is a scipy frozen distribution (``stats.norm(0, 1)`` and the like)."""
    return hasattr(obj, "dist") and hasattr(obj, "cdf") and hasattr(obj, "ppf") and hasattr(obj, "support")


def is_distribution(obj: Any) -> bool:
    """Whether ``obj`` promises values drawn at random (a scipy distribution, an Atom or a Mixture)."""
    return is_frozen(obj) or isinstance(obj, (Atom, Mixture))


@dataclass
class Parts:
    """A distribution as point masses and continuous components, each with its probability."""

    atoms: list = field(default_factory=list)       # [(weight, value)], values distinct
    continuous: list = field(default_factory=list)  # [(weight, scipy frozen continuous distribution)]

    @property
    def continuous_weight(self) -> float:
        """Total probability of the continuous components."""
        return float(sum(w for w, _ in self.continuous))

    def is_normal(self) -> bool:
        """Whether this is one normal distribution (its sample variance then has an exact χ² law)."""
        return not self.atoms and len(self.continuous) == 1 and self.continuous[0][1].dist.name == "norm"


def parts(expected: Any, owner: str = "expected()") -> Parts:
    """Split a scipy distribution, Atom or Mixture (nested ones flattened) into atoms and continuous parts."""
    out = Parts()
    _collect(expected, 1.0, out, owner)
    merged: dict[float, float] = {}
    for w, v in out.atoms:
        merged[v] = merged.get(v, 0.0) + w
    out.atoms = [(w, v) for v, w in merged.items() if w > 0]
    out.continuous = [(w, d) for w, d in out.continuous if w > 0]
    total = sum(w for w, _ in out.atoms) + out.continuous_weight
    if not math.isclose(total, 1.0, rel_tol=0, abs_tol=1e-9):
        raise ValidationError(f"{owner}: mixture weights sum to {total!r}, not 1; make the weights sum to 1")
    return out


def _collect(obj: Any, weight: float, out: Parts, owner: str) -> None:
    if isinstance(obj, Mixture):
        for w, comp in obj.components:
            if not (isinstance(w, (int, float, np.floating)) and w >= 0):
                raise ValidationError(f"{owner}: mixture weight {w!r} is not a non-negative number")
            _collect(comp, weight * float(w), out, owner)
    elif isinstance(obj, Atom):
        out.atoms.append((weight, float(obj.value)))
    elif isinstance(obj, Exact):  # a constant initializer used as a mixture component is a point mass
        values = np.asarray(obj.values)
        if values.size == 0 or not np.all(values == values.flat[0]):
            raise ValidationError(f"{owner}: an Exact component of a Mixture must be one constant value; use Atom(value)")
        out.atoms.append((weight, float(values.flat[0])))
    elif is_frozen(obj):
        if _is_discrete(obj):
            lo, hi = obj.support()
            if not (math.isfinite(lo) and math.isfinite(hi) and hi - lo <= _MAX_DISCRETE_SUPPORT):
                raise ValidationError(f"{owner}: discrete distribution {obj.dist.name} has support [{lo}, {hi}]; "
                                      f"only finite supports of at most {_MAX_DISCRETE_SUPPORT} points are checked")
            ks = np.arange(lo, hi + 1)
            for k, pk in zip(ks, obj.pmf(ks)):
                out.atoms.append((weight * float(pk), float(k)))
        elif _invalid(obj):
            raise ValidationError(f"{owner}: {_shown(obj)} is an invalid distribution (scipy gives NaN for its support "
                                  f"or median: a scale ≤ 0 or NaN, or shape parameters out of range); fix its "
                                  f"parameters")
        elif float(obj.std()) == 0:  # degenerate: a point mass (NaN std, as Cauchy's, is a heavy tail, not one)
            out.atoms.append((weight, float(obj.mean())))
        else:
            out.continuous.append((weight, obj))
    else:
        raise ValidationError(f"{owner} returned {obj!r} ({type(obj).__name__}); return a scipy frozen distribution, "
                              f"an initreg.validation.expected type (Exact, Atom, Mixture, Orthogonal, Sparse, "
                              f"Embedded) or None")


def _invalid(frozen: Any) -> bool:
    """Whether scipy rejects the frozen distribution's parameters (it then answers NaN for support and median)."""
    with np.errstate(all="ignore"):
        lo, hi = (float(b) for b in frozen.support())
        median = float(frozen.median())
    return math.isnan(lo) or math.isnan(hi) or not math.isfinite(median)


def _shown(frozen: Any) -> str:
    """``norm(0, -1)``: the family's name with the arguments it was frozen with."""
    args = [repr(a) for a in frozen.args] + [f"{k}={v!r}" for k, v in frozen.kwds.items()]
    return f"{frozen.dist.name}({', '.join(args)})"


def _is_discrete(frozen: Any) -> bool:
    from scipy import stats

    return isinstance(frozen.dist, stats.rv_discrete)


def moments(p: Parts) -> tuple[float, float, float]:
    """(mean, variance, fourth central moment) of the whole distribution."""
    pieces = [(w, float(v), 0.0, 0.0, 0.0) for w, v in p.atoms]  # (weight, mean, variance, mu3, mu4)
    for w, d in p.continuous:
        m, var, skew, kurt = (float(t) for t in d.stats(moments="mvsk"))
        pieces.append((w, m, var, skew * var ** 1.5, (kurt + 3.0) * var * var))
    mean = sum(w * m for w, m, *_ in pieces)
    # each piece's moments shifted to the whole's mean: no cancellation when the mean is far from 0
    var = mu4 = 0.0
    for w, m, v, mu3, m4 in pieces:
        d = m - mean
        var += w * (v + d * d)
        mu4 += w * (m4 + 4 * d * mu3 + 6 * d * d * v + d ** 4) if d else w * m4
    if not math.isfinite(var) or (not math.isfinite(mu4) and all(math.isfinite(c4) for *_, c4 in pieces)):
        raise OverflowError(f"the promised variance {var!r} or 4th moment {mu4!r} overflows float64")
    return float(mean), float(max(var, 0.0)), float(max(mu4, 0.0))


class Continuous:
    """The continuous part of a distribution, renormalized: a weighted mixture of scipy distributions."""

    def __init__(self, components: list):
        total = sum(w for w, _ in components)
        self.weights = np.array([w / total for w, _ in components])
        self.dists = [d for _, d in components]

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(X ≤ x)."""
        return sum(w * _fast(d)[0](x) for w, d in zip(self.weights, self.dists))

    def logcdf(self, x: np.ndarray) -> np.ndarray:
        """log P(X ≤ x), accurate in the far left tail."""
        if len(self.dists) == 1:
            return _fast(self.dists[0])[1](x)
        with np.errstate(divide="ignore"):
            return special.logsumexp([_fast(d)[1](x) for d in self.dists], axis=0, b=self.weights[:, None])

    def logsf(self, x: np.ndarray) -> np.ndarray:
        """log P(X > x), accurate in the far right tail."""
        if len(self.dists) == 1:
            return _fast(self.dists[0])[2](x)
        with np.errstate(divide="ignore"):
            return special.logsumexp([_fast(d)[2](x) for d in self.dists], axis=0, b=self.weights[:, None])

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density."""
        return sum(w * d.pdf(x) for w, d in zip(self.weights, self.dists))

    def ppf(self, q: np.ndarray) -> np.ndarray:
        """Quantiles (bisection for a mixture)."""
        q = np.asarray(q, dtype=np.float64)
        if len(self.dists) == 1:
            return self.dists[0].ppf(q)
        lo = np.full(q.shape, min(float(d.ppf(1e-12)) for d in self.dists))
        hi = np.full(q.shape, max(float(d.ppf(1 - 1e-12)) for d in self.dists))
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid) < q
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
        return 0.5 * (lo + hi)

    def intervals(self) -> list[tuple[float, float]]:
        """The support of each component."""
        return [tuple(float(b) for b in d.support()) for d in self.dists]


def _fast(d: Any) -> tuple:
    """(cdf, logcdf, logsf) of a frozen distribution: closed forms for the common families, else scipy's."""
    name = d.dist.name
    shapes, loc, scale = d.dist._parse_args(*d.args, **d.kwds)
    loc, scale = float(loc), float(scale)
    if name == "norm":
        return (lambda x: special.ndtr((x - loc) / scale), lambda x: special.log_ndtr((x - loc) / scale),
                lambda x: special.log_ndtr((loc - x) / scale))
    if name == "uniform":
        def cdf(x: np.ndarray) -> np.ndarray:
            return np.clip((x - loc) / scale, 0.0, 1.0)

        def sf(x: np.ndarray) -> np.ndarray:
            return np.clip((loc + scale - x) / scale, 0.0, 1.0)
        return cdf, lambda x: _log(cdf(x)), lambda x: _log(sf(x))
    if name == "truncnorm":
        a, b = float(shapes[0]), float(shapes[1])
        pa, qa, qb = special.ndtr(a), special.ndtr(-a), special.ndtr(-b)
        mass = qa - qb
        # With ≥ 0.1 % of the normal kept, differences of Φ have absolute error ~1e-13 after normalizing;
        # the left side is measured from Φ(a) and the right from Φ(−b), so neither tail loses its digits.
        if mass >= 1e-3:
            def tcdf(x: np.ndarray) -> np.ndarray:
                return np.clip(special.ndtr(np.clip((x - loc) / scale, a, b)) - pa, 0.0, mass) / mass

            def tsf(x: np.ndarray) -> np.ndarray:
                return np.clip(special.ndtr(-np.clip((x - loc) / scale, a, b)) - qb, 0.0, mass) / mass
            return tcdf, lambda x: _log(tcdf(x)), lambda x: _log(tsf(x))
    return d.cdf, d.logcdf, d.logsf


def _log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


def clusters(intervals: list[tuple[float, float]]) -> list[list[int]]:
    """Groups of component indices whose supports overlap (their weights cannot be told apart by counting)."""
    order = sorted(range(len(intervals)), key=lambda k: intervals[k][0])
    groups: list[list[int]] = []
    right = -math.inf
    for k in order:
        lo, hi = intervals[k]
        if groups and lo < right:
            groups[-1].append(k)
            right = max(right, hi)
        else:
            groups.append([k])
            right = hi
    return groups
