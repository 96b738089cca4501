"""Deliberately wrong initializers: each fills one way and promises another (or breaks a stream contract)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import initreg
from initreg.core.stream import Stream
from initreg.std import Constant, Mixture, Normal, Orthogonal, Uniform, VarianceScaling, Xavier, Zero
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


# --- subtle defects of issue 15: each passes the distribution tests of the first round -----------------------

class Promises(initreg.Initializer):
    """Promises N(0, sigma²); ``draw(desc, out, rng)`` makes the values."""

    name = "promises"

    def __init__(self, draw: Any, sigma: float = 0.01):
        self.draw, self.sigma = draw, sigma

    def fill(self, desc: Any, out: Any, rng: Any) -> None:
        self.draw(desc, out, rng, self.sigma)

    def expected(self, desc: Any) -> Any:
        from scipy import stats

        return stats.norm(0.0, self.sigma)


def _student(df: float):
    def draw(desc, out, rng, sigma):
        from scipy import stats

        u = np.empty(out.shape, np.float64)
        rng.random(out=u)
        out[...] = stats.t.ppf(np.clip(u, 1e-300, None), df) * sigma * math.sqrt((df - 2) / df)
    return draw


def _scale_mixture(low: float, high: float):
    def draw(desc, out, rng, sigma):
        z = np.empty(out.shape, np.float64)
        rng.normal(out=z)
        pick = np.empty(out.shape, np.float64)
        rng.child("pick").random(out=pick)
        s = np.where(pick < 0.5, low, high) / math.sqrt((low ** 2 + high ** 2) / 2)
        out[...] = z * s * sigma
    return draw


def tails_student(df: float = 60.0) -> Promises:
    """Student-t(df) values scaled to the promised variance: the right std, tails too heavy."""
    return Promises(_student(df))


def tails_scale_mixture(low: float = 0.92, high: float = 1.08) -> Promises:
    """Half N(0, low²), half N(0, high²), rescaled to the promised variance: right std, wrong kurtosis."""
    return Promises(_scale_mixture(low, high))


def repeated_block(length: int = 2000, at: int = 100_000) -> Promises:
    """Correct normals, except that the first ``length`` values are copied again at position ``at``."""
    def draw(desc, out, rng, sigma):
        rng.normal(0.0, sigma, out=out)
        flat = out.reshape(-1)
        flat[at:at + length] = flat[:length]
    return Promises(draw)


def low_precision() -> Promises:
    """Normals drawn in float32 and written into the (float64) parameter."""
    def draw(desc, out, rng, sigma):
        tmp = np.empty(out.shape, np.float32)
        rng.normal(0.0, sigma, out=tmp)
        out[...] = tmp
    return Promises(draw)


def bfloat16_precision() -> Promises:
    """Normals rounded to bfloat16's 8 significant bits, written into a float32 parameter."""
    def draw(desc, out, rng, sigma):
        tmp = np.empty(out.shape, np.float32)
        rng.normal(0.0, sigma, out=tmp)
        bits = tmp.view(np.uint32)
        bits += np.uint32(0x8000)
        bits &= np.uint32(0xFFFF0000)
        out[...] = tmp
    return Promises(draw)


def quantized(levels: int = 400) -> Promises:
    """Normals rounded to ``levels`` levels across ±6σ."""
    def draw(desc, out, rng, sigma):
        rng.normal(0.0, sigma, out=out)
        step = 12.0 * sigma / levels
        np.round(out / step, out=out)
        out *= step
    return Promises(draw)


def keyed_by(part: Any) -> Promises:
    """Normals from a stream keyed by ``part(desc.name, seed)`` -> (seed, name) instead of (seed, name)."""
    def draw(desc, out, rng, sigma):
        seed, name = part(desc.name, rng.seed)
        Stream(seed, name).normal(0.0, sigma, out=out)
    return Promises(draw)


def last_part_only() -> Promises:
    """A stream keyed by the name's last dotted part only ("weight")."""
    return keyed_by(lambda name, seed: (seed, name.rsplit(".", 1)[-1]))


def first_parts_only() -> Promises:
    """A stream keyed by all dotted parts but the last."""
    return keyed_by(lambda name, seed: (seed, name.rsplit(".", 1)[0]))


def seed_ignored() -> Promises:
    """A stream keyed by the name only: every seed gives the same values."""
    return keyed_by(lambda name, seed: (0, name))


def seed_low_bits() -> Promises:
    """A stream keyed by the low 32 bits of the seed."""
    return keyed_by(lambda name, seed: (seed & 0xFFFFFFFF, name))


class QRWithoutSignFix(initreg.Initializer):
    """Orthogonal matrices from numpy's QR of a Gaussian matrix, without fixing the signs: orthogonal, not Haar."""

    name = "qrnosignfix"

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def fill(self, desc: Any, out: Any, rng: Any) -> None:
        rows, cols = desc.shape[0], int(np.prod(desc.shape[1:]))
        a = np.empty((max(rows, cols), min(rows, cols)), np.float64)
        rng.normal(out=a)
        q, _ = np.linalg.qr(a)
        w = q if rows >= cols else q.T
        out[...] = (self.scale * w).reshape(desc.shape)

    def expected(self, desc: Any) -> Any:
        return Orthogonal(self.scale).expected(desc)


#: the defect classes of issue 15: label -> (make, validate kwargs)
SUBTLE = {
    "tails: Student-t(60) at the right variance": (tails_student, {}),
    "tails: scale mixture 0.92/1.08 at the right variance": (tails_scale_mixture, {}),
    "repeated block: 2000 values copied": (repeated_block, {}),
    "float32 values in float64 parameters": (low_precision, {"dtype": "float64"}),
    "bfloat16 values in float32 parameters": (bfloat16_precision, {}),
    "quantized to 400 levels": (quantized, {}),
    "stream keyed by the last name part": (last_part_only, {}),
    "stream keyed by the first name parts": (first_parts_only, {}),
    "stream ignores the seed": (seed_ignored, {}),
    "stream keyed by the seed's low 32 bits": (seed_low_bits, {}),
    "orthogonal: QR without the sign fix": (QRWithoutSignFix, {}),
}


# --- joint defects of issue 27: every value right alone, wrong together ------------------------------------

def _normals(out_shape: tuple, rng: Any, child: str | None = None) -> np.ndarray:
    z = np.empty(out_shape, np.float64)
    (rng.child(child) if child else rng).normal(out=z)
    return z


def blocks_correlated(rho: float = 0.05, block: int = 1 << 16) -> Promises:
    """Block b+1 = ρ·block b + √(1−ρ²)·fresh normals: each value N(0, σ²), neighbouring blocks correlated at ρ."""
    def draw(desc, out, rng, sigma):
        z = _normals((out.size,), rng)
        for start in range(block, z.size, block):
            end = min(start + block, z.size)
            z[start:end] = rho * z[start - block:end - block] + math.sqrt(1 - rho * rho) * z[start:end]
        out[...] = (sigma * z).reshape(out.shape)
    return Promises(draw)


def box_muller_shared_radius() -> Promises:
    """Box–Muller where two consecutive pairs share one radius: every value N(0, σ²), squares correlated."""
    def draw(desc, out, rng, sigma):
        groups = -(-out.size // 4)
        u = np.empty((3, groups), np.float64)
        rng.random(out=u)
        r = np.sqrt(-2.0 * np.log1p(-u[0]))
        a, b = 2 * math.pi * u[1], 2 * math.pi * u[2]
        z = np.stack([r * np.cos(a), r * np.sin(a), r * np.cos(b), r * np.sin(b)], axis=1).reshape(-1)
        out[...] = (sigma * z[:out.size]).reshape(out.shape)
    return Promises(draw)


def rank1_spike(strength: float = 0.05) -> Promises:
    """W = σ(√(1−s)·Z + √(s·p·n)·u·vᵀ), u and v random unit vectors: a rank-1 part holding a share s of the energy."""
    def draw(desc, out, rng, sigma):
        w = _normals((out.shape[0], out.size // out.shape[0]), rng)
        u = _normals((w.shape[0],), rng, "u")
        v = _normals((w.shape[1],), rng, "v")
        u /= np.linalg.norm(u)
        v /= np.linalg.norm(v)
        w = math.sqrt(1 - strength) * w + math.sqrt(strength * w.size) * np.outer(u, v)
        out[...] = (sigma * w).reshape(out.shape)
    return Promises(draw)


def row_scales(pattern: str, low: float = 0.95, high: float = 1.05, axis: int = 0) -> Promises:
    """Rows (axis 0) or columns (axis 1) at std σ·low or σ·high, in halves or alternating, mean variance σ²."""
    def draw(desc, out, rng, sigma):
        w = _normals((out.shape[0], out.size // out.shape[0]), rng)
        k = w.shape[axis]
        idx = np.arange(k)
        high_half = idx >= k // 2 if pattern == "halves" else idx % 2 == 1
        s = np.where(high_half, high, low) / math.sqrt((low ** 2 + high ** 2) / 2)
        w *= s[:, None] if axis == 0 else s[None, :]
        out[...] = (sigma * w).reshape(out.shape)
    return Promises(draw)


class KroneckerOrthogonal(initreg.Initializer):
    """A ⊗ B of two sign-corrected QR factors: orthogonal with fair signs, but its entries are products (not Haar)."""

    name = "kroneckerorthogonal"

    def __init__(self, scale: float = 1.0, rand_type: str = "normal"):
        self.scale, self.rand_type = scale, rand_type

    def fill(self, desc: Any, out: Any, rng: Any) -> None:
        from initreg.std.orthogonal import orthogonalize

        rows, cols = desc.shape[0], int(np.prod(desc.shape[1:]))
        r1 = _factor(rows)
        c1 = _factor(cols)
        factors = []
        for name, (r, c) in (("a", (r1, c1)), ("b", (rows // r1, cols // c1))):
            m = np.empty((r, c), np.float64)
            (rng.child(name).normal(out=m) if self.rand_type == "normal" else rng.child(name).uniform(-1, 1, out=m))
            factors.append(orthogonalize(m))
        out[...] = (self.scale * np.kron(*factors)).reshape(desc.shape)

    def expected(self, desc: Any) -> Any:
        return Orthogonal(self.scale, rand_type=self.rand_type).expected(desc)


def _factor(k: int) -> int:
    """The divisor of ``k`` nearest √k (from below)."""
    d = int(math.isqrt(k))
    while k % d:
        d -= 1
    return d


#: the joint defect classes of issue 27: label -> (make, validate kwargs, tests meant to catch it)
JOINT = {
    "neighbouring blocks correlated at ρ = 0.05": (blocks_correlated, {}, {"autocorrelation"}),
    "Box–Muller pairs sharing a radius": (box_muller_shared_radius, {}, {"autocorrelation-squares"}),
    "rank-1 spike holding 5 % of the energy": (rank1_spike, {}, {"spectral-edge"}),
    "rank-1 spike holding 1 % of the energy": (lambda: rank1_spike(0.01), {}, {"spectral-edge"}),
    "rows in halves at std 0.95/1.05": (lambda: row_scales("halves"), {}, {"homogeneity"}),
    "alternating rows at std 0.95/1.05": (lambda: row_scales("alternating"), {}, {"homogeneity"}),
    "alternating columns at std 0.95/1.05": (lambda: row_scales("alternating", axis=1), {}, {"homogeneity"}),
    "orthogonal A ⊗ B of Haar factors (promises Haar)": (KroneckerOrthogonal, {}, {"haar-kurtosis"}),
    "orthogonal A ⊗ B of uniform-QR factors (promises the default)": (lambda: KroneckerOrthogonal(rand_type="uniform"),
                                                                     {}, {"haar-kurtosis"}),
}


# --- key defects of issue 27 ---------------------------------------------------------------------------------

def _short_hash(name: str, bits: int) -> str:
    import hashlib

    return str(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") & ((1 << bits) - 1))


def keyed_by_short_hash(bits: int = 16) -> Promises:
    """A stream keyed by a ``bits``-bit hash of the name: many names share one stream."""
    return keyed_by(lambda name, seed: (seed, _short_hash(name, bits)))


def keyed_by_casefolded() -> Promises:
    """A stream keyed by the name with '_' read as '.' and the case folded."""
    return keyed_by(lambda name, seed: (seed, name.replace("_", ".").casefold()))


def keyed_by_nfkc() -> Promises:
    """A stream keyed by the NFKC-normalized name: composed and decomposed accents share a stream."""
    import unicodedata

    return keyed_by(lambda name, seed: (seed, unicodedata.normalize("NFKC", name)))


#: the key defect classes of issue 27: label -> (make, validate kwargs, tests meant to catch it)
KEYS = {
    "key from a 16-bit hash of the name": (keyed_by_short_hash, {}, {"key-collisions"}),
    "key reads '_' as '.' and ignores case": (keyed_by_casefolded, {}, {"confusable-names"}),
    "key from the NFKC-normalized name": (keyed_by_nfkc, {}, {"confusable-names"}),
}
