"""initreg bits v4 ("initreg-philox-v4"): the executable specification, in NumPy.

Every value below is defined by integer operations and correctly rounded IEEE-754 binary64 operations
(``+ − × ÷ √``, exact conversions, round-to-nearest-even), evaluated in the order written, never fused.
This module computes them with one NumPy ufunc per operation (``np.add``, ``np.subtract``, ``np.multiply``,
``np.divide``, ``np.sqrt`` on float64 arrays; shifts, masks and wrapping ``+ − ×`` on uint32/uint64 arrays;
``astype`` only for exact conversions and for the single final rounding) — never ``np.log``/``np.sin``/
``np.cos``/``np.exp``/``np.power``, SciPy, ``math.erfc`` or a BLAS — so its bits cannot depend on the CPU, the
OS, the C library, NumPy's SIMD level or the BLAS. The compiled kernel (``initreg/core/v4.h``, built into
``initreg.core._v4kernel``) and the GPU kernel (the same header through NVRTC) compute the same bits; the tests
compare them with this module bit for bit.

The bit contract
================

Keys and words. A stream ``(seed, name, *tags)`` has the key words ``k0..k3 = SeedSequence(seed,
spawn_key=(h(name), *map(h, tags))).generate_state(4, uint32)``, ``h`` the 64-bit little-endian BLAKE2b of the
UTF-8 text (``v4_backend.key_words``). Call ``j`` (``0 <= j < 2**64``) of the stream is
``x0..x3 = Philox4x32-10(counter=(j mod 2**32, j >> 32, k2, k3), key=(k0, k1))``. Element ``i`` of a fill
depends only on (key, i, output dtype, parameters): float32, float16 and bfloat16 uniforms and normals take
4 elements per call (element ``i`` from call ``i // 4``), everything else 2 (call ``i // 2``), so any region of
any layout costs only the region.

Elementary functions (each one formula, no branches on the value except the region selections stated):
``log`` (fdlibm's reduction ``x = 2**k (1+f)``, ``s = f/(2+f)``, its degree-14 polynomial and the
``hfsq`` formula for every x), ``exp`` (fdlibm), ``sincos2pi(T)`` = (sin, cos)(2π·T·2⁻⁶⁴) with the argument
reduced exactly in integers to an octant and ``f`` in [0, 1/8] (fdlibm's kernel polynomials rescaled to
``f``), ``Φ`` for x ≤ 0 (``0.5·erfc(−x/√2)`` by fdlibm's erfc with the exponent ``−x²/2`` split exactly),
``log Φ`` for x ≤ −36 (asymptotic series), ``Φ⁻¹`` on (0, ½] (Wichura's AS241, its three regions through one
rational formula with selected coefficients) and ``Φ⁻¹(exp(·))`` below ``log Φ(−36)`` (Newton on the
asymptotic ``log Φ``). Their exact operation sequences are the functions below (and v4.h's comments).

Per-element formulas (``w53(a, b) = (a << 21) | (b >> 11)``; values computed in binary64):

- uniform(low, high), ``width = high − low``:
  float32/float16/bfloat16: element ``4j+l`` is ``low + width·((x_l >> 8)·2⁻²⁴)``;
  float64: element ``2j+h`` is ``low + width·(w53(x_2h, x_2h+1)·2⁻⁵³)``;
  then rounded once to float32 (float64: kept) and clamped: ``min(v, C)`` with ``C = uniform_clamp(low, high,
  dtype)``, so that no value reaches ``high`` in the output dtype (a value that would becomes the one below).
- normal(loc, scale), Box–Muller:
  float32 family: pair ``h`` of call ``j`` (elements ``4j+2h``, ``4j+2h+1``): ``u = (x_2h + 0.5)·2⁻³²``,
  ``r = √(log(u)·(−2))``, ``(s, c) = sincos2pi(((2·x_2h+1 + 1) << 31))`` — i.e. angle ``2π(x_2h+1 + ½)·2⁻³²`` —
  values ``loc + scale·(r·c)``, ``loc + scale·(r·s)``. u is never 0 (tails to 6.77σ), no value is exactly 0.
  float64: call ``j`` gives elements ``2j`` (cos) and ``2j+1`` (sin) from the odd words
  ``Kr = w53(x0, x1) | 1``, ``Ka = w53(x2, x3) | 1``: ``u = Kr·2⁻⁵³``, ``r = √(log(u)·(−2))``,
  ``(s, c) = sincos2pi(Ka << 11)`` (tails to 8.57σ).
- truncated_normal(loc, scale, a, b) — N(loc, scale²) on [loc + a·scale, loc + b·scale], every dtype 2 per call:
  ``u = (w53(x_2h, x_2h+1) | 1)·2⁻⁵³`` in (0, 1); with ``p = truncnorm_setup(a, b)`` (the interval mirrored to
  the side of zero nearer it: (lo, hi, sgn) = (−b, −a, −1) if a ≥ 0 else (a, b, 1)):
  linear (hi ≥ −36): ``P = PL + u·D``, ``Q = PH + (1 − u)·D``, ``t = max(min(P, Q), 2⁻¹⁰²²)``,
  ``x = ±Φ⁻¹(t)`` (− when Q < P); log space (hi < −36): ``x = Φ⁻¹(exp(LH + log(d + u·OM)))``;
  ``z = sgn·min(max(x, lo), hi)``; value ``loc + scale·z`` (then rounded once to the output dtype).
  No rejection: every element costs the same and stays addressable. float32 values are the float64 values
  rounded once.
- integers(low, high): element ``2j+h`` is ``low + floor(W·span / 2⁶⁴)`` mod 2⁶⁴, ``W = (x_2h << 32) | x_2h+1``,
  ``span = high − low`` in [1, 2⁶⁴], stored in the output integer type by two's-complement truncation (float
  outputs: ``(double)(int64)``, float32 from that).
- bernoulli(p): element ``2j+h`` is 1 if ``w53(x_2h, x_2h+1) < ceil(p·2⁵³)`` (clipped to [0, 2⁵³]) else 0,
  in the output dtype (1.0/0.0 for floats).

float16 and bfloat16 are the float32 value rounded to nearest even on the bits (``f32_to_f16``,
``f32_to_bf16``); bfloat16 arrays are stored as uint16.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

ALGORITHM = "initreg-philox-v4"

# ---- kinds and operations (the codes the compiled kernel uses) ---------------------------------------------

KINDS: dict[str, int] = {"float64": 0, "float32": 1, "float16": 2, "bfloat16": 3, "int8": 4, "int16": 5,
                         "int32": 6, "int64": 7, "uint8": 8, "uint16": 9, "uint32": 10, "uint64": 11, "bool": 12}
OPS: dict[str, int] = {"uniform": 0, "normal": 1, "truncated_normal": 2, "integers": 3, "bernoulli": 4}
#: the NumPy dtype each kind is stored in (bfloat16 as its 16 bits)
STORAGE: dict[str, np.dtype] = {k: np.dtype("uint16" if k == "bfloat16" else k) for k in KINDS}
FLOAT_KINDS = ("float64", "float32", "float16", "bfloat16")

_U64 = np.uint64
_U32 = np.uint32
_h = float.fromhex

# ---- constants (the same hexadecimal literals as v4.h; tests/core/test_v4_constants.py compares them) ------

PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85

LN2_HI, LN2_LO = _h("0x1.62e42fee00000p-1"), _h("0x1.a39ef35793c76p-33")
LG1, LG2, LG3, LG4 = _h("0x1.5555555555593p-1"), _h("0x1.999999997fa04p-2"), _h("0x1.2492494229359p-2"), _h("0x1.c71c51d8e78afp-3")
LG5, LG6, LG7 = _h("0x1.7466496cb03dep-3"), _h("0x1.39a09d078c69fp-3"), _h("0x1.2f112df3e5244p-3")
INVLN2 = _h("0x1.71547652b82fep+0")
EP1, EP2, EP3 = _h("0x1.555555555553ep-3"), _h("-0x1.6c16c16bebd93p-9"), _h("0x1.1566aaf25de2cp-14")
EP4, EP5 = _h("-0x1.bbd41c5d26bf1p-20"), _h("0x1.6376972bea4d0p-25")
SH, SL = _h("0x1.921fb40000000p+2"), _h("0x1.4442d18469899p-22")
T1, T2, T3 = _h("-0x1.4abbce625be47p+5"), _h("0x1.466bc67758db1p+6"), _h("-0x1.32d2cce335e6fp+6")
T4, T5, T6 = _h("0x1.5078301dcf6b6p+5"), _h("-0x1.e300a85fc9574p+3"), _h("0x1.e404742f3e351p+1")
K2 = _h("0x1.3bd3cc9be45dep+4")
U1, U2, U3 = _h("0x1.03c1f081b5abdp+6"), _h("-0x1.55d3c7e3ca6fbp+6"), _h("0x1.e1f5068528e5ep+5")
U4, U5, U6 = _h("-0x1.a6d1edbbb9b9cp+4"), _h("0x1.f9cd20b415c65p+2"), _h("-0x1.b2a21ec94163bp+0")
SQRT1_2 = _h("0x1.6a09e667f3bcdp-1")
LN_SQRT_2PI = _h("0x1.d67f1c864beb5p-1")
FOURPI = _h("0x1.921fb54442d18p+3")
ERX = _h("0x1.b0ac160000000p-1")
PP = [_h(v) for v in ("0x1.06eba8214db68p-3", "-0x1.4cd7d691cb913p-2", "-0x1.d2a51dbd7194fp-6",
                      "-0x1.7a291236668e4p-8", "-0x1.8ead6120016acp-16")]
QQ = [_h(v) for v in ("0x1.97779cddadc09p-2", "0x1.0a54c5536cebap-4", "0x1.4d022c4d36b0fp-8",
                      "0x1.15dc9221c1a10p-13", "-0x1.09c4342a26120p-18")]
PA = [_h(v) for v in ("-0x1.359b8bef77538p-9", "0x1.a8d00ad92b34dp-2", "-0x1.7d240fbb8c3f1p-2", "0x1.45fca805120e4p-2",
                      "-0x1.c63983d3e28ecp-4", "0x1.22a36599795ebp-5", "-0x1.1bf380a96073fp-9")]
QA = [_h(v) for v in ("0x1.b3e6618eee323p-4", "0x1.14af092eb6f33p-1", "0x1.2635cd99fe9a7p-4", "0x1.02660e763351fp-3",
                      "0x1.bedc26b51dd1cp-7", "0x1.88b545735151dp-7")]
RA = [_h(v) for v in ("-0x1.43412600d6435p-7", "-0x1.63416e4ba7360p-1", "-0x1.51e0441b0e726p+3", "-0x1.f300ae4cba38dp+5",
                      "-0x1.44cb184282266p+7", "-0x1.7135cebccabb2p+7", "-0x1.4526557e4d2f2p+6", "-0x1.3a0efc69ac25cp+3")]
SA = [_h(v) for v in ("0x1.3a6b9bd707687p+4", "0x1.1350c526ae721p+7", "0x1.b290dd58a1a71p+8", "0x1.42b1921ec2868p+9",
                      "0x1.ad02157700314p+8", "0x1.b28a3ee48ae2cp+6", "0x1.a47ef8e484a93p+2", "-0x1.eeff2ee749a62p-5")]
RB = [_h(v) for v in ("-0x1.4341239e86f4ap-7", "-0x1.993ba70c285dep-1", "-0x1.1c209555f995ap+4", "-0x1.4145d43c5ed98p+7",
                      "-0x1.3ec881375f228p+9", "-0x1.004616a2e5992p+10", "-0x1.e384e9bdc383fp+8")]
SB = [_h(v) for v in ("0x1.e568b261d5190p+4", "0x1.45cae221b9f0ap+8", "0x1.802eb189d5118p+10", "0x1.8ffb7688c246ap+11",
                      "0x1.3f219cedf3be6p+11", "0x1.da874e79fe763p+8", "-0x1.670e242712d62p+4")]
ERFC_SPLIT = _h("0x1.6db6db6db6db7p+1")  # 1/0.35
# AS241: numerator N0..N7 and denominator M1..M7 (M0 = 1) of the central (A, B), mid (C, D) and far (E, F) regions
AS_A = [_h(v) for v in ("0x1.b18d91e9eef75p+1", "0x1.0a4888b1a436ep+7", "0x1.ece5d2213c0ccp+10", "0x1.ad1d8cd4ee71dp+13",
                        "0x1.66c3e869b752ap+15", "0x1.06c1c55b78f20p+16", "0x1.052d26b2e45e4p+15", "0x1.39a296f7d925ep+11")]
AS_B = [1.0] + [_h(v) for v in ("0x1.5281b386e1ab5p+5", "0x1.5797efdc8b3f7p+9", "0x1.512322e75c89fp+12", "0x1.4b772d5d65266p+14",
                                "0x1.3317caa64f4bep+15", "0x1.c0e457cb1ae76p+14", "0x1.46a7eca984b69p+12")]
AS_C = [_h(v) for v in ("0x1.6c665fde9526ap+0", "0x1.2857748cab19bp+2", "0x1.713f71462256ap+2", "0x1.d2ecb1a3d02c4p+1",
                        "0x1.453cc085375b2p+0", "0x1.ef2abb9b85c37p-3", "0x1.744eb6c45ec67p-6", "0x1.9615ac0b7ace9p-11")]
AS_D = [1.0] + [_h(v) for v in ("0x1.06cefbb46a449p+1", "0x1.ad278e6526633p+0", "0x1.61292f23385c9p-1", "0x1.2f5123394f040p-3",
                                "0x1.f207a7eab17bfp-7", "0x1.1f18cbfdf2728p-11", "0x1.20d3f686439e4p-30")]
AS_E = [_h(v) for v in ("0x1.aa1b1c13ee526p+2", "0x1.5daea6e875003p+2", "0x1.c8ea6461fa445p+0", "0x1.2fad9315255cfp-2",
                        "0x1.b2b41193b4ee7p-6", "0x1.45c1908425345p-10", "0x1.c6ec6cc59e02ap-16", "0x1.afb74d693bf93p-23")]
AS_F = [1.0] + [_h(v) for v in ("0x1.331d34fc7d77fp-1", "0x1.186eb183443fbp-3", "0x1.e76f93215462ap-7", "0x1.9c8bc979dc5d7p-11",
                                "0x1.35c2c496374bfp-16", "0x1.31446f740b9e0p-23", "0x1.269bff1f8c190p-49")]

TWO52 = 2.0 ** 52
INF = float("inf")


def _f64(x: Any) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _u52(v: np.ndarray) -> np.ndarray:
    """An integer array 0 <= v < 2**52 (uint64) as float64, exactly."""
    return v.astype(np.float64)


def _w53(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """(hi << 21) | (lo >> 11) of 32-bit words (in uint64 arrays) as float64, exactly: (hi >> 1)·2²² + rest."""
    return _u52(hi >> _U64(1)) * 4194304.0 + _u52(((hi & _U64(1)) << _U64(21)) | (lo >> _U64(11)))


# ---- Philox4x32-10 --------------------------------------------------------------------------------------------

_M32 = _U64(0xFFFFFFFF)


def philox(j: np.ndarray, key: Sequence[int]) -> list[np.ndarray]:
    """The words (x0, x1, x2, x3) of calls ``j`` (uint64 array) of the stream with key words ``key``, as uint64
    arrays holding 32-bit values: counter (j mod 2³², j >> 32, k2, k3), key (k0, k1), ten rounds."""
    j = np.asarray(j, dtype=_U64)
    k0, k1, k2, k3 = (int(k) & 0xFFFFFFFF for k in key)
    c0, c1 = j & _M32, j >> _U64(32)
    c2, c3 = np.full(j.shape, k2, dtype=_U64), np.full(j.shape, k3, dtype=_U64)
    m0, m1 = _U64(PHILOX_M0), _U64(PHILOX_M1)
    for _ in range(10):
        p0 = c0 * m0
        p1 = c2 * m1
        n0 = (p1 >> _U64(32)) ^ c1 ^ _U64(k0)
        n2 = (p0 >> _U64(32)) ^ c3 ^ _U64(k1)
        c0, c1, c2, c3 = n0, p1 & _M32, n2, p0 & _M32
        k0 = (k0 + PHILOX_W0) & 0xFFFFFFFF
        k1 = (k1 + PHILOX_W1) & 0xFFFFFFFF
    return [c0, c1, c2, c3]


# ---- elementary functions -------------------------------------------------------------------------------------

def log(x: Any) -> np.ndarray:
    """log(x) for finite x >= 2⁻¹⁰²² (v4.h's v4_log)."""
    b = _f64(x).view(_U64)
    m = b & _U64(0x000FFFFFFFFFFFFF)
    i = ((m >> _U64(32)) + _U64(0x95F64)) & _U64(0x100000)
    y = (m | ((i ^ _U64(0x3FF00000)) << _U64(32))).view(np.float64)
    dk = _u52((b >> _U64(52)) + (i >> _U64(20))) - 1023.0
    f = y - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    r = t2 + t1
    hfsq = 0.5 * f * f
    return dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)


def exp(x: Any) -> np.ndarray:
    """exp(x) for x <= 709, x below -760 taken as -760 (v4.h's v4_exp)."""
    x = _f64(x)
    x = np.where(x < -760.0, -760.0, x)
    x = np.where(x > 709.0, 709.0, x)
    kd = INVLN2 * x + np.where(x < 0.0, -0.5, 0.5)
    t = np.trunc(kd)
    hi = x - t * LN2_HI
    lo = t * LN2_LO
    r = hi - lo
    tt = r * r
    c = r - tt * (EP1 + tt * (EP2 + tt * (EP3 + tt * (EP4 + tt * EP5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    k = t.astype(np.int64)
    small = k < -1021
    ke = np.where(small, k + 1000, k)
    scaled = (y.view(_U64) + (ke.astype(_U64) << _U64(52))).view(np.float64)
    return np.where(small, scaled * (2.0 ** -1000), scaled)


def sincos2pi(T: Any) -> tuple[np.ndarray, np.ndarray]:
    """(sin, cos) of 2π·T·2⁻⁶⁴ for uint64 T with its low 11 bits zero (v4.h's v4_sincos2pi)."""
    T = np.ascontiguousarray(T, dtype=_U64)
    o = T >> _U64(61)
    odd = (o & _U64(1)) != 0
    rem = T & _U64(0x1FFFFFFFFFFFFFFF)
    rr = np.where(odd, _U64(0x2000000000000000) - rem, rem)
    f = _u52(rr >> _U64(11)) * (2.0 ** -53)
    z = f * f
    sp = f * SH + (f * SL + (f * z) * (T1 + z * (T2 + z * (T3 + z * (T4 + z * (T5 + z * T6))))))
    cp = 1.0 - (z * K2 - (z * z) * (U1 + z * (U2 + z * (U3 + z * (U4 + z * (U5 + z * U6))))))
    sq = np.where(odd, cp, sp)
    cq = np.where(odd, sp, cp)
    q = o >> _U64(1)
    q1 = (q & _U64(1)) != 0
    s = np.where(q1, cq, sq)
    c = np.where(q1, sq, cq)
    s = np.where((q & _U64(2)) != 0, np.negative(s), s)
    c = np.where(((q + _U64(1)) & _U64(2)) != 0, np.negative(c), c)
    return s, c


def _horner(x: np.ndarray, coeffs: Sequence[float]) -> np.ndarray:
    """c0 + x*(c1 + x*(c2 + ...)) evaluated from the innermost term outwards."""
    acc = np.full(x.shape, coeffs[-1], dtype=np.float64)
    for c in reversed(coeffs[:-1]):
        acc = c + x * acc
    return acc


def phi_neg(x: Any) -> np.ndarray:
    """Φ(x) for x <= 0 (v4.h's v4_phi_neg): fdlibm's erfc regions, every region computed, the right one kept."""
    x = _f64(x)
    with np.errstate(all="ignore"):
        z = np.negative(x) * SQRT1_2
        zz = z * z
        r = _horner(zz, PP)
        s = _horner(zz, [1.0] + QQ)
        y = r / s
        e_a = 1.0 - (z + z * y)
        e_b = 0.5 - (z * y + (z - 0.5))
        sm = z - 1.0
        e_c = (1.0 - ERX) - _horner(sm, PA) / _horner(sm, [1.0] + QA)
        s2 = 1.0 / (z * z)
        near = z < ERFC_SPLIT
        R = np.where(near, _horner(s2, RA), _horner(s2, RB))
        S = np.where(near, _horner(s2, [1.0] + SA), _horner(s2, [1.0] + SB))
        xh = (x.view(_U64) & _U64(0xFFFFFFFF00000000)).view(np.float64)
        xl = x - xh
        e_d = exp(-0.5 * (xh * xh) - 0.5625) * exp(R / S - 0.5 * (xl * (x + xh))) / z
        e = np.where(z < 0.84375, np.where(z < 0.25, e_a, e_b),
                     np.where(z < 1.25, e_c, np.where(z < 28.0, e_d, 0.0)))
    return 0.5 * e


def log_phi_far(x: Any) -> np.ndarray:
    """log Φ(x) for finite x <= -36 (v4.h's v4_log_phi_far): the asymptotic series."""
    x = _f64(x)
    xh = (x.view(_U64) & _U64(0xFFFFFFFF00000000)).view(np.float64)
    xl = x - xh
    h = -0.5 * (xh * xh) - 0.5 * (xl * (x + xh))
    w = 1.0 / (x * x)
    s = 1.0 + w * (-1.0 + w * (3.0 + w * (-15.0 + w * (105.0 + w * (-945.0 + w * 10395.0)))))
    return ((h - log(np.negative(x))) - LN_SQRT_2PI) + log(s)


def ndtri_central(t: Any) -> np.ndarray:
    """AS241's central region, q = t - ½ >= -0.425 (v4.h's v4_ndtri_central)."""
    t = _f64(t)
    q = t - 0.5
    r = 0.180625 - q * q
    num = np.full(t.shape, AS_A[7])
    for k in range(6, -1, -1):
        num = num * r + AS_A[k]
    den = np.full(t.shape, AS_B[7])
    for k in range(6, 0, -1):
        den = den * r + AS_B[k]
    den = den * r + 1.0
    return (q * num) / den


def ndtri_tail(t: Any) -> np.ndarray:
    """AS241's two tail regions, t < 0.075 (v4.h's v4_ndtri_tail)."""
    t = _f64(t)
    s = np.sqrt(np.negative(log(t)))
    f = s > 5.0
    r = np.where(f, s - 5.0, s - 1.6)
    num = np.where(f, AS_E[7], AS_C[7])
    for k in range(6, -1, -1):
        num = num * r + np.where(f, AS_E[k], AS_C[k])
    den = np.where(f, AS_F[7], AS_D[7])
    for k in range(6, 0, -1):
        den = den * r + np.where(f, AS_F[k], AS_D[k])
    den = den * r + 1.0
    return (-1.0 * num) / den


def ndtri_low(t: Any) -> np.ndarray:
    """Φ⁻¹(t) for t in [2⁻¹⁰²², ½ + 2⁻⁵³] (v4.h's v4_ndtri_low): AS241, central where t - ½ >= -0.425."""
    t = _f64(t)
    central = (t - 0.5) >= -0.425
    out = np.empty_like(t)
    out[central] = ndtri_central(t[central])
    out[~central] = ndtri_tail(t[~central])
    return out


def ndtri_log_far(lp: Any) -> np.ndarray:
    """Φ⁻¹(exp(lp)) for lp <= log Φ(-36) (v4.h's v4_ndtri_log_far): four Newton steps on log Φ."""
    lp = _f64(lp)
    L = np.negative(lp)
    x = np.negative(np.sqrt((L + L) - log(FOURPI * L)))
    for _ in range(4):
        g = np.negative(x) - 1.0 / x
        x = x - (log_phi_far(x) - lp) / g
    return x


# ---- float32 -> float16 / bfloat16 on the bits ---------------------------------------------------------------

def f32_to_f16(v: Any) -> np.ndarray:
    """float32 -> float16 bits (uint16), round to nearest even (v4.h's v4_f32_to_f16)."""
    u = np.ascontiguousarray(v, dtype=np.float32).view(_U32)
    sign = (u >> _U32(16)) & _U32(0x8000)
    a = u & _U32(0x7FFFFFFF)
    n = a - _U32(0x38000000)
    n = (n + _U32(0xFFF) + ((n >> _U32(13)) & _U32(1))) >> _U32(13)
    e = a >> _U32(23)
    m = (a & _U32(0x7FFFFF)) | _U32(0x800000)
    sh = np.where(e <= _U32(112), _U32(126) - e, _U32(31))
    sh = np.where(sh > _U32(31), _U32(31), sh).astype(_U32)
    q = (m + ((_U32(1) << (sh - _U32(1))) - _U32(1)) + ((m >> sh) & _U32(1))) >> sh
    h = np.where(a < _U32(0x38800000), q, n)
    h = np.where(a >= _U32(0x477FF000), _U32(0x7C00), h)
    h = np.where(a > _U32(0x7F800000), _U32(0x7E00) | ((a >> _U32(13)) & _U32(0x3FF)), h)
    return (sign | h.astype(_U32)).astype(np.uint16)


def f32_to_bf16(v: Any) -> np.ndarray:
    """float32 -> bfloat16 bits (uint16), round to nearest even (v4.h's v4_f32_to_bf16)."""
    u = np.ascontiguousarray(v, dtype=np.float32).view(_U32)
    r = (u + _U32(0x7FFF) + ((u >> _U32(16)) & _U32(1))) >> _U32(16)
    r = np.where((u & _U32(0x7FFFFFFF)) > _U32(0x7F800000), (u >> _U32(16)) | _U32(0x40), r)
    return r.astype(np.uint16)


def half_to_f32(h: Any, kind: str) -> np.ndarray:
    """float16 or bfloat16 bits -> float32, exactly."""
    h = np.ascontiguousarray(h, dtype=np.uint16)
    if kind == "bfloat16":
        return (h.astype(_U32) << _U32(16)).view(np.float32)
    return h.view(np.float16).astype(np.float32)


def to_half(v: Any, kind: str) -> np.ndarray:
    """The ``kind`` ("float16" or "bfloat16") bits (uint16) of float32 ``v``, rounded to nearest even."""
    return f32_to_f16(v) if kind == "float16" else f32_to_bf16(v)


# ---- per-fill parameters --------------------------------------------------------------------------------------

def _next_below64(h: float) -> float:
    if h != h or h in (INF, -INF):
        return h
    if h == 0.0:
        return -5e-324
    b = np.array([h]).view(_U64)
    b = b - _U64(1) if h > 0 else b + _U64(1)
    return float(b.view(np.float64)[0])


def _next_below32(h: np.float32) -> np.float32:
    if h != h or np.isinf(h):
        return h
    if h == 0:
        return -np.float32(2.0 ** -149)
    b = np.array([h], dtype=np.float32).view(_U32)
    b = b - _U32(1) if h > 0 else b + _U32(1)
    return b.view(np.float32)[0]


def uniform_clamp(low: float, high: float, kind: str) -> float:
    """The uniform's clamp ``C`` (v4.h's v4_uniform_clamp): values are min(v, C) before their last rounding
    (+inf, no clamp, when not high > low)."""
    low, high = float(low), float(high)
    if not high > low:
        return INF
    if kind == "float64":
        return _next_below64(high)
    hf = np.float32(high)
    if kind == "float32":
        return float(_next_below32(hf))
    if hf != hf or hf == np.float32(INF):
        return float(hf)
    H = int(to_half(np.array([hf]), kind)[0])
    hv = half_to_f32(np.array([H], dtype=np.uint16), kind)[0]
    if hv == np.float32(INF):
        return INF
    if hv == 0:
        B = 0x8001
    elif hv > 0:
        B = H - 1
    else:
        B = H + 1
    bv = half_to_f32(np.array([B], dtype=np.uint16), kind)[0]
    m = np.float32((float(bv) + float(hv)) * 0.5)
    return float(m if int(to_half(np.array([m]), kind)[0]) == B else _next_below32(m))


def truncnorm_setup(a: float, b: float) -> tuple[float, ...]:
    """The ten parameters (mode, lo, hi, sgn, PL, PH, D, LH, d, OM) of the standardized interval [a, b]
    (v4.h's v4_truncnorm_setup)."""
    a, b = float(a), float(b)
    if a >= 0.0:
        lo, hi, sgn = -b, -a, -1.0
    else:
        lo, hi, sgn = a, b, 1.0
    p = [0.0] * 10
    p[1], p[2], p[3] = lo, hi, sgn

    def phi(x: float) -> float:
        return float(phi_neg(np.array([x]))[0])

    if hi > 0.0:
        pl, ph = phi(lo), phi(-hi)
        p[4], p[5], p[6] = pl, ph, (0.5 - pl) + (0.5 - ph)
    elif hi >= -36.0:
        pl = phi(lo)
        p[4], p[5], p[6] = pl, 1.0, phi(hi) - pl
    else:
        lh = float(log_phi_far(np.array([hi]))[0])
        ll = lo if lo == -INF else float(log_phi_far(np.array([lo]))[0])
        d = float(exp(np.array([ll - lh]))[0])
        p[0], p[7], p[8], p[9] = 1.0, lh, d, 1.0 - d
    return tuple(p)


def bernoulli_threshold(p: float) -> int:
    """ceil(p·2⁵³) clipped to [0, 2⁵³] (v4.h's v4_bernoulli_threshold)."""
    v = float(p) * 2.0 ** 53
    if not v > 0.0:
        return 0
    if v >= 2.0 ** 53:
        return 1 << 53
    t = int(v)
    return t + (1 if float(t) < v else 0)


# ---- per-call values --------------------------------------------------------------------------------------------

def _truncnorm_values(u: np.ndarray, p: Sequence[float]) -> np.ndarray:
    if p[0] == 0.0:
        P = p[4] + u * p[6]
        Q = p[5] + (1.0 - u) * p[6]
        take = P <= Q
        t = np.where(take, P, Q)
        t = np.where(t < 2.0 ** -1022, 2.0 ** -1022, t)
        x = ndtri_low(t)
        x = np.where(take, x, np.negative(x))
    else:
        x = ndtri_log_far(p[7] + log(p[8] + u * p[9]))
    x = np.where(x < p[1], p[1], x)
    x = np.where(x > p[2], p[2], x)
    return p[3] * x


def per_call(op: str, kind: str) -> int:
    """Elements per Philox call: 4 for float32/float16/bfloat16 uniforms and normals, else 2."""
    return 4 if op in ("uniform", "normal") and kind != "float64" else 2


def _values(op: str, kind: str, x: list[np.ndarray], params: tuple) -> np.ndarray:
    """The values of the calls whose words are x (before the output rounding), shape (calls, per_call)."""
    if op == "uniform":
        low, high = params
        width = high - low
        if kind == "float64":
            cols = [low + width * (_w53(x[0], x[1]) * (2.0 ** -53)), low + width * (_w53(x[2], x[3]) * (2.0 ** -53))]
        else:
            cols = [low + width * (_u52(w >> _U64(8)) * (2.0 ** -24)) for w in x]
        return np.stack(cols, axis=1)
    if op == "normal":
        loc, scale = params
        if kind == "float64":
            kr = ((x[0] << _U64(21)) | (x[1] >> _U64(11))) | _U64(1)
            ka = ((x[2] << _U64(21)) | (x[3] >> _U64(11))) | _U64(1)
            u = (_u52(kr >> _U64(1)) * 2.0 + 1.0) * (2.0 ** -53)
            r = np.sqrt(log(u) * -2.0)
            s, c = sincos2pi(ka << _U64(11))
            cols = [loc + scale * (r * c), loc + scale * (r * s)]
        else:
            cols = []
            for rw, aw in ((x[0], x[1]), (x[2], x[3])):
                u = (_u52(rw) + 0.5) * (2.0 ** -32)
                r = np.sqrt(log(u) * -2.0)
                s, c = sincos2pi(((aw << _U64(1)) | _U64(1)) << _U64(31))
                cols += [loc + scale * (r * c), loc + scale * (r * s)]
        return np.stack(cols, axis=1)
    if op == "truncated_normal":
        loc, scale, a, b = params
        p = truncnorm_setup(a, b)
        cols = []
        for hi, lo in ((x[0], x[1]), (x[2], x[3])):
            u = (_w53(hi, lo & _U64(0xFFFFF000)) + 1.0) * (2.0 ** -53)
            cols.append(loc + scale * _truncnorm_values(u, p))
        return np.stack(cols, axis=1)
    if op == "bernoulli":
        th = _U64(bernoulli_threshold(params[0]))
        cols = [(((hi << _U64(21)) | (lo >> _U64(11))) < th).astype(np.float64) for hi, lo in ((x[0], x[1]), (x[2], x[3]))]
        return np.stack(cols, axis=1)
    if op == "integers":
        low, span_m1 = params
        cols = [_integers(hi, lo, low, span_m1) for hi, lo in ((x[0], x[1]), (x[2], x[3]))]
        return np.stack(cols, axis=1)
    raise ValueError(f"unknown operation {op!r}")


def _integers(hi: np.ndarray, lo: np.ndarray, low: int, span_m1: int) -> np.ndarray:
    w = (hi << _U64(32)) | lo
    m = _U64(0xFFFFFFFF)
    a0, a1 = w & m, w >> _U64(32)
    b0, b1 = _U64(span_m1 & 0xFFFFFFFF), _U64(span_m1 >> 32)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _U64(32)) + (p01 & m) + (p10 & m)
    mhi = p11 + (p01 >> _U64(32)) + (p10 >> _U64(32)) + (mid >> _U64(32))
    mlo = (mid << _U64(32)) | (p00 & m)
    off = mhi + ((mlo + w) < mlo).astype(_U64)
    return off + _U64(low)


def _store(v: np.ndarray, op: str, kind: str, clamp: float) -> np.ndarray:
    """The values v (float64, or uint64 for integers) in the storage dtype of ``kind``."""
    if op == "integers":
        if kind in ("float64", "float32", "float16", "bfloat16"):
            d = v.view(np.int64).astype(np.float64)
            if kind == "float64":
                return d
            f = d.astype(np.float32)
            return f if kind == "float32" else to_half(f, kind)
        if kind == "bool":
            raise ValueError("integers cannot fill bool")
        size = STORAGE[kind].itemsize
        unsigned = v & _U64((1 << (8 * size)) - 1) if size < 8 else v
        return unsigned.astype(np.dtype(f"uint{8 * size}")).view(STORAGE[kind])
    if kind == "float64":
        return np.where(v < clamp, v, clamp)
    if kind in ("float32", "float16", "bfloat16"):
        y = v.astype(np.float32)
        c = np.float32(clamp)
        y = np.where(y < c, y, c).astype(np.float32)
        return y if kind == "float32" else to_half(y, kind)
    return (v != 0.0).astype(STORAGE[kind])


def _check(op: str, kind: str) -> None:
    if op not in OPS:
        raise ValueError(f"unknown operation {op!r}; one of {sorted(OPS)}")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {sorted(KINDS)}")
    if op in ("uniform", "normal", "truncated_normal") and kind not in FLOAT_KINDS:
        raise TypeError(f"{op} values need a floating dtype, got {kind}")
    if op == "integers" and kind == "bool":
        raise TypeError("integers cannot fill bool")


def raw_params(op: str, params: Sequence[Any]) -> tuple:
    """The parameters as the formulas take them: floats, or for integers (low mod 2⁶⁴, span - 1)."""
    if op == "integers":
        low, high = (int(p) for p in params)
        span = high - low
        if not 1 <= span <= 1 << 64 or not -(1 << 63) <= low < 1 << 64:
            raise ValueError(f"integers need 1 <= high - low <= 2**64 and -2**63 <= low < 2**64, got low={low}, high={high}")
        return (low & ((1 << 64) - 1), span - 1)
    want = {"uniform": 2, "normal": 2, "truncated_normal": 4, "bernoulli": 1}[op]
    if len(params) != want:
        raise TypeError(f"{op} takes {want} parameters, got {len(params)}")
    return tuple(float(p) for p in params)


def fill(op: str, key: Sequence[int], start: int, n: int, kind: str, *params: Any) -> np.ndarray:
    """Elements [start, start + n) of the stream with key words ``key``: a new array of ``kind``'s storage dtype."""
    out = np.empty(int(n), dtype=STORAGE[kind])
    return fill_into(op, key, start, out, kind, *params)


def fill_into(op: str, key: Sequence[int], start: int, out: np.ndarray, kind: str, *params: Any,
              chunk: int = 1 << 16) -> np.ndarray:
    """Fill the flat contiguous array ``out`` (storage dtype of ``kind``) with elements [start, start + out.size)."""
    _check(op, kind)
    raw = raw_params(op, params)
    clamp = uniform_clamp(raw[0], raw[1], kind) if op == "uniform" else INF
    per = per_call(op, kind)
    flat = out.reshape(-1)
    if kind == "float16":
        flat = flat.view(np.uint16)  # the values come as their bits
    start, n = int(start), flat.size
    pos = 0
    while pos < n:
        lo = start + pos
        hi = min(start + n, lo + chunk)
        j0, j1 = lo // per, (hi - 1) // per + 1
        j = np.arange(j1 - j0, dtype=_U64) + _U64(j0)
        v = _values(op, kind, philox(j, key), raw).reshape(-1)[lo - j0 * per:hi - j0 * per]
        flat[pos:pos + hi - lo] = _store(v, op, kind, clamp)
        pos += hi - lo
    return out
