"""v4's own elementary functions are accurate, and its distributions cannot be told from the real ones.

- log and sin/cos(2π·t), computed in float64 and rounded to float32, are correctly rounded float32 on every
  input of a large sample (libm in float64 as the oracle, mpmath deciding every case near a float32 midpoint);
- their float64 results are within 1 ulp (log) and 1.5 ulp (sin, cos) of the exact value (mpmath), and the
  normal CDF pieces within a few 1e-16 relative;
- KS tests at 10^6 samples: normal and uniform (float32 and float64 paths) and truncated normals from [-2, 2]
  to [38, 39] (log space) and narrow intervals, against scipy.stats, p > 1e-4.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from initreg.core import v4_backend, v4_reference

mpmath = pytest.importorskip("mpmath")
stats = pytest.importorskip("scipy.stats")

RNG = np.random.default_rng(20240917)


def _kernel():
    return __import__("initreg.core._v4kernel", fromlist=["x"]) if v4_backend.backend() == "compiled" else None


def elementary(name: str, x: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """v4's function on x: the compiled one (checked equal to the reference) where built, else the reference."""
    ref = getattr(v4_reference, name)(x)
    k = _kernel()
    if k is not None:
        if name == "sincos2pi":
            s, c = np.empty(x.size), np.empty(x.size)
            k.elementary(name, np.ascontiguousarray(x, np.uint64), s, c)
            assert s.tobytes() == ref[0].tobytes() and c.tobytes() == ref[1].tobytes()
            return s, c
        out = np.empty(x.size)
        k.elementary(name, np.ascontiguousarray(x, np.float64), out)
        assert out.tobytes() == ref.tobytes(), name
        return out
    return ref


def _exact32(fn, xs) -> np.ndarray:
    """float32(fn(x)) correctly rounded, from mpmath at 100 bits."""
    with mpmath.workprec(100):
        return np.array([float(np.float32(float(fn(mpmath.mpf(x) if not isinstance(x, mpmath.mpf) else x))))
                         for x in xs], dtype=np.float32)


def assert_correctly_rounded_f32(mine: np.ndarray, oracle: np.ndarray, exact_fn, args: list) -> int:
    """mine (float64) rounded to float32 is the correctly rounded float32, given an oracle within 4 ulp (float64)."""
    o32 = oracle.astype(np.float32)
    lo = np.nextafter(o32, np.float32(-np.inf)).astype(np.float64)
    hi = np.nextafter(o32, np.float32(np.inf)).astype(np.float64)
    mid_lo, mid_hi = (lo + o32) / 2, (hi + o32) / 2
    slack = 4 * np.spacing(np.abs(oracle))
    near = (np.abs(oracle - mid_lo) <= slack) | (np.abs(oracle - mid_hi) <= slack)
    m32 = mine.astype(np.float32)
    far_bad = ~near & (m32 != o32)
    assert not far_bad.any(), f"{far_bad.sum()} values not correctly rounded, e.g. at {np.flatnonzero(far_bad)[:5]}"
    idx = np.flatnonzero(near)
    if idx.size:
        exact = _exact32(exact_fn, [args[i] for i in idx])
        bad = m32[idx] != exact
        assert not bad.any(), f"{bad.sum()} near-midpoint values not correctly rounded"
    return int(idx.size)


def test_log_is_correctly_rounded_for_float32() -> None:
    n = 400_000
    w = RNG.integers(0, 1 << 32, n, dtype=np.uint64)
    radius_inputs = (w.astype(np.float64) + 0.5) * 2.0 ** -32           # the Box-Muller radius uniforms
    spread = np.ldexp(RNG.random(n) + 1.0, RNG.integers(-1021, 1023, n))  # every binade
    near_one = 1.0 + RNG.integers(-2 ** 20, 2 ** 20, 50_000) * 2.0 ** -40
    x = np.concatenate([radius_inputs, spread, near_one, [2.0 ** -33, 1 - 2.0 ** -33, 2.0 ** -1022, 0.5, 2.0]])
    x = x[x != 1.0]
    mine = elementary("log", x)
    assert_correctly_rounded_f32(mine, np.log(x), mpmath.log, [float(v) for v in x])


def test_sin_cos_of_two_pi_t_are_correctly_rounded_for_float32() -> None:
    n = 400_000
    w32 = RNG.integers(0, 1 << 32, n, dtype=np.uint64)
    t_f32 = ((w32 << np.uint64(1)) | np.uint64(1)) << np.uint64(31)              # the float32 path's angles
    k53 = RNG.integers(0, 1 << 53, n, dtype=np.uint64) | np.uint64(1)
    t_f64 = k53 << np.uint64(11)                                                  # the float64 path's angles
    T = np.concatenate([t_f32, t_f64])
    s, c = elementary("sincos2pi", T)
    # the oracle: libm on 2*pi*t reduced exactly to [-1/2, 1/2) turns (t in float64 loses nothing below 2^-64*2^11)
    t = (T.astype(np.float64) * 2.0 ** -64)
    t = np.where(t >= 0.5, t - 1.0, t)
    arg = [mpmath.mpf(int(v)) / mpmath.mpf(2) ** 64 for v in T]

    def exact_sin(a):
        return mpmath.sin(2 * mpmath.pi * a)

    def exact_cos(a):
        return mpmath.cos(2 * mpmath.pi * a)

    assert_correctly_rounded_f32(s, np.sin(2 * np.pi * t), exact_sin, arg)
    assert_correctly_rounded_f32(c, np.cos(2 * np.pi * t), exact_cos, arg)


def _ulps(got: float, exact) -> float:
    e = float(exact)
    return abs(float(mpmath.mpf(got) - exact)) / math.ulp(e)


def test_float64_errors_in_ulp(capsys: pytest.CaptureFixture) -> None:
    n = 6000
    mpmath.mp.prec = 120
    x = np.concatenate([(RNG.integers(0, 1 << 32, n).astype(np.float64) + 0.5) * 2.0 ** -32,
                        np.ldexp(RNG.random(n) + 1.0, RNG.integers(-1021, 1023, n))])
    lg = elementary("log", x)
    log_err = max(_ulps(g, mpmath.log(mpmath.mpf(float(v)))) for g, v in zip(lg, x))
    T = np.concatenate([((RNG.integers(0, 1 << 32, n, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)) << np.uint64(31),
                        (RNG.integers(0, 1 << 53, n, dtype=np.uint64) | np.uint64(1)) << np.uint64(11)])
    s, c = elementary("sincos2pi", T)
    ang = [2 * mpmath.pi * mpmath.mpf(int(v)) / mpmath.mpf(2) ** 64 for v in T]
    sin_err = max(_ulps(g, mpmath.sin(a)) for g, a in zip(s, ang))
    cos_err = max(_ulps(g, mpmath.cos(a)) for g, a in zip(c, ang))
    xe = RNG.uniform(-700, 700, n)
    ex = elementary("exp", xe)
    exp_err = max(_ulps(g, mpmath.exp(mpmath.mpf(float(v)))) for g, v in zip(ex, xe))
    with capsys.disabled():
        print(f"\nv4 float64 max error (ulp): log {log_err:.3f}, sin(2pi t) {sin_err:.3f}, cos(2pi t) {cos_err:.3f}, "
              f"exp {exp_err:.3f}")
    assert log_err < 1.0 and exp_err < 1.0
    assert sin_err < 1.5 and cos_err < 1.5


def test_normal_cdf_pieces_are_accurate(capsys: pytest.CaptureFixture) -> None:
    mpmath.mp.prec = 120
    x = np.concatenate([-RNG.random(3000) * 36, -RNG.random(1000) * 3, [-0.0, -1e-300, -36.0]])
    phi = elementary("phi_neg", x)
    phi_err = max(abs(float((mpmath.mpf(g) - mpmath.ncdf(mpmath.mpf(float(v)))) / mpmath.ncdf(mpmath.mpf(float(v)))))
                  for g, v in zip(phi, x))
    far = -36 - RNG.random(1000) * 1e4
    lf = elementary("log_phi_far", far)
    lphi_err = max(abs(float((mpmath.mpf(g) - mpmath.log(mpmath.ncdf(mpmath.mpf(float(v))))) / g)) for g, v in zip(lf, far))
    t = np.concatenate([RNG.random(2000) * 0.5, np.exp(-RNG.random(2000) * 700), [0.5, 0.075, 2.0 ** -1022]])
    nd = elementary("ndtri_low", t)
    nd_err = 0.0
    for g, p in zip(nd, t):
        if p == 0.5:
            assert g == 0.0
            continue
        with mpmath.workprec(120):
            lp = mpmath.log(mpmath.mpf(float(p)))
            exact = mpmath.findroot(lambda z: mpmath.log(mpmath.ncdf(z)) - lp, mpmath.mpf(float(g)))
        nd_err = max(nd_err, abs(float((mpmath.mpf(g) - exact) / exact)))
    with capsys.disabled():
        print(f"\nv4 max relative error: Phi {phi_err:.2e}, log Phi (far) {lphi_err:.2e}, Phi^-1 {nd_err:.2e}")
    assert phi_err < 2e-15 and lphi_err < 1e-15 and nd_err < 2e-15


# --- distributions --------------------------------------------------------------------------------------------------

N = 1_000_000
KEY = v4_backend.key_words(7, "ks.weight")


def sample(op: str, dtype: str, *params) -> np.ndarray:
    out = np.empty(N, dtype=dtype)
    return v4_backend.fill(op, KEY, 12345, out, *params).astype(np.float64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_passes_ks(dtype: str) -> None:
    x = sample("normal", dtype, 0.0, 1.0)
    assert stats.kstest(x, "norm").pvalue > 1e-4
    assert not (x == 0).any()
    pairs = x[: N // 4 * 4].reshape(-1, 4)
    for a, b in ((0, 1), (0, 2), (1, 3)):
        assert abs(np.corrcoef(pairs[:, a], pairs[:, b])[0, 1]) < 5e-3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_passes_ks_and_never_reaches_high(dtype: str) -> None:
    x = sample("uniform", dtype, -1.0, 3.0)
    assert stats.kstest(x, "uniform", args=(-1.0, 4.0)).pvalue > 1e-4
    assert x.min() >= -1.0 and x.max() < 3.0


INTERVALS = [(-2.0, 2.0), (6.0, 7.0), (-7.0, -6.0), (0.5, 0.51), (-0.01, 0.01), (-np.inf, -1.0), (2.0, np.inf),
             (-0.5, 3.0), (10.0, 11.0), (38.0, 39.0), (-3.0, -2.999)]


@pytest.mark.parametrize("a,b", INTERVALS)
def test_truncated_normal_passes_ks(a: float, b: float) -> None:
    x = sample("truncated_normal", "float64", 0.0, 1.0, a, b)
    assert x.min() >= a and x.max() <= b
    ref = stats.truncnorm(a, b)
    p = stats.kstest(x, ref.cdf).pvalue
    assert p > 1e-4, (a, b, p)


def test_truncated_normal_float32_is_float64_rounded() -> None:
    x64 = np.empty(100_000)
    x32 = np.empty(100_000, dtype=np.float32)
    v4_backend.fill("truncated_normal", KEY, 3, x64, 0.0, 0.02, -2.0, 2.0)
    v4_backend.fill("truncated_normal", KEY, 3, x32, 0.0, 0.02, -2.0, 2.0)
    assert x32.tobytes() == x64.astype(np.float32).tobytes()
