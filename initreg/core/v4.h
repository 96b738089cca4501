/* initreg bits v4 ("initreg-philox-v4"): the math that defines every value.
 *
 * Plain C, compiled unchanged by the host C compiler (the CPython extension _v4kernel.c and the test
 * harnesses) and by NVRTC (initreg/core/v4_gpu.py).  Every value is defined by integer operations and
 * correctly rounded IEEE-754 binary64 operations (+ - * / sqrt, exact conversions, round-to-nearest-even)
 * evaluated in the order written here, with no fused multiply-add: build with -ffp-contract=off and without
 * -ffast-math (NVRTC: --fmad=false).  The executable specification is initreg/core/v4_reference.py, which
 * computes the same bits with one NumPy ufunc per operation; the tests compare the two bit for bit.
 *
 * Constants are written as C99 hexadecimal literals so that no decimal conversion can differ; the coefficients
 * are fdlibm's (log, exp, erfc, and the sin/cos kernels rescaled to sin/cos(2*pi*f)) and Wichura's AS241.
 */
#ifndef INITREG_V4_H
#define INITREG_V4_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define V4_FN static __device__ __forceinline__
#define V4_CUDA 1
#else
#if defined(__GNUC__)
#define V4_FN static inline __attribute__((always_inline))
#else
#define V4_FN static inline
#endif
#include <string.h>
#include <float.h>
#include <math.h>
/* double operations must round to double (1, 2: wider evaluation as on x87; -1: unknown). 0 is the usual value;
 * 16 (GCC with AVX512-FP16) only concerns _Float16. */
#if defined(FLT_EVAL_METHOD) && (FLT_EVAL_METHOD == 1 || FLT_EVAL_METHOD == 2 || FLT_EVAL_METHOD < 0)
#error "initreg v4 needs double operations evaluated in double (SSE2 or better, no x87 excess precision)"
#endif
#endif

typedef unsigned int v4_u32;
typedef unsigned long long v4_u64;
typedef long long v4_i64;
typedef unsigned short v4_u16;

#define V4_INF (v4_dbl(0x7ff0000000000000ULL))

/* ---- bit casts ------------------------------------------------------------------------------------- */

/* one correctly typed reinterpretation each: CUDA's intrinsics on the device, memcpy on the host */
#ifdef V4_CUDA
#define V4_BITCAST(name, from, to, intrinsic) V4_FN to name(from x) { return (to)intrinsic(x); }
#else
#define V4_BITCAST(name, from, to, intrinsic) V4_FN to name(from x) { to y; memcpy(&y, &x, sizeof y); return y; }
#endif
V4_BITCAST(v4_bits, double, v4_u64, __double_as_longlong)
V4_BITCAST(v4_dbl, v4_u64, double, __longlong_as_double)
V4_BITCAST(v4_fbits, float, v4_u32, __float_as_uint)
V4_BITCAST(v4_flt, v4_u32, float, __uint_as_float)

/* c ? a : b with both a and b computed: a select on the bits (so compilers keep it branch-free); the condition
 * is a 64-bit integer (nonzero = true) so that vectorized code stays in 64-bit lanes */
V4_FN double v4_sel(v4_u64 c, double a, double b) {
    v4_u64 m = (v4_u64)0 - (v4_u64)(c != 0);
    return v4_dbl((v4_bits(a) & m) | (v4_bits(b) & ~m));
}
V4_FN v4_u64 v4_sel64(v4_u64 c, v4_u64 a, v4_u64 b) {
    v4_u64 m = (v4_u64)0 - (v4_u64)(c != 0);
    return (a & m) | (b & ~m);
}
V4_FN v4_u32 v4_selu(v4_u32 c, v4_u32 a, v4_u32 b) {
    v4_u32 m = 0u - (v4_u32)(c != 0);
    return (a & m) | (b & ~m);
}

/* an integer 0 <= v < 2^52 as a double, exactly (the same value as (double)v, written so it vectorizes) */
V4_FN double v4_u52(v4_u64 v) { return v4_dbl(0x4330000000000000ULL | v) - 0x1p52; }

/* ---- Philox4x32-10 (Salmon et al. 2011; as cuRAND, PyTorch's CUDA generator, JAX) ------------------- */

#define V4_PHILOX_M0 0xD2511F53u
#define V4_PHILOX_M1 0xCD9E8D57u
#define V4_PHILOX_W0 0x9E3779B9u
#define V4_PHILOX_W1 0xBB67AE85u

/* The four words of call j of the stream with key words k[0..3]: counter (j mod 2^32, j >> 32, k[2], k[3]),
 * key (k[0], k[1]). */
V4_FN void v4_philox(v4_u64 j, v4_u32 k0, v4_u32 k1, v4_u32 k2, v4_u32 k3, v4_u32* x) {
    v4_u32 c0 = (v4_u32)j, c1 = (v4_u32)(j >> 32), c2 = k2, c3 = k3;
    v4_u64 p0, p1;
    /* one round, then the key bump (the bump after the last round is unused) */
#define V4_PHILOX_ROUND                                                        \
    p0 = (v4_u64)V4_PHILOX_M0 * c0;                                            \
    p1 = (v4_u64)V4_PHILOX_M1 * c2;                                            \
    c0 = (v4_u32)(p1 >> 32) ^ c1 ^ k0;                                         \
    c2 = (v4_u32)(p0 >> 32) ^ c3 ^ k1;                                         \
    c1 = (v4_u32)p1;                                                           \
    c3 = (v4_u32)p0;                                                           \
    k0 += V4_PHILOX_W0; k1 += V4_PHILOX_W1;
    V4_PHILOX_ROUND V4_PHILOX_ROUND V4_PHILOX_ROUND V4_PHILOX_ROUND V4_PHILOX_ROUND
    V4_PHILOX_ROUND V4_PHILOX_ROUND V4_PHILOX_ROUND V4_PHILOX_ROUND V4_PHILOX_ROUND
#undef V4_PHILOX_ROUND
    x[0] = c0; x[1] = c1; x[2] = c2; x[3] = c3;
}

/* ---- elementary functions ------------------------------------------------------------------------- */

#define V4_LN2_HI 0x1.62e42fee00000p-1
#define V4_LN2_LO 0x1.a39ef35793c76p-33
#define V4_LG1 0x1.5555555555593p-1
#define V4_LG2 0x1.999999997fa04p-2
#define V4_LG3 0x1.2492494229359p-2
#define V4_LG4 0x1.c71c51d8e78afp-3
#define V4_LG5 0x1.7466496cb03dep-3
#define V4_LG6 0x1.39a09d078c69fp-3
#define V4_LG7 0x1.2f112df3e5244p-3

/* log(x) for finite x >= 2^-1022 (every caller keeps its argument there): fdlibm's method, one formula for
 * every x.  x = 2^k (1+f) with sqrt(2)/2 <= 1+f < sqrt(2) (integer operations on the bits); s = f/(2+f),
 * z = s*s, w = z*z, R = z*(LG1+w*(LG3+w*(LG5+w*LG7))) + w*(LG2+w*(LG4+w*LG6)), hfsq = (0.5*f)*f;
 * log x = k*LN2_HI - ((hfsq - (s*(hfsq+R) + k*LN2_LO)) - f). */
V4_FN double v4_log(double x) {
    v4_u64 b = v4_bits(x);
    v4_u64 m = b & 0x000fffffffffffffULL;
    v4_u64 i = ((m >> 32) + 0x95f64ULL) & 0x100000ULL;
    double y = v4_dbl(m | ((i ^ 0x3ff00000ULL) << 32));
    double dk = v4_u52((b >> 52) + (i >> 20)) - 1023.0;
    double f = y - 1.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double w = z * z;
    double t1 = w * (V4_LG2 + w * (V4_LG4 + w * V4_LG6));
    double t2 = z * (V4_LG1 + w * (V4_LG3 + w * (V4_LG5 + w * V4_LG7)));
    double R = t2 + t1;
    double hfsq = 0.5 * f * f;
    return dk * V4_LN2_HI - ((hfsq - (s * (hfsq + R) + dk * V4_LN2_LO)) - f);
}

#define V4_INVLN2 0x1.71547652b82fep+0
#define V4_EP1 0x1.555555555553ep-3
#define V4_EP2 -0x1.6c16c16bebd93p-9
#define V4_EP3 0x1.1566aaf25de2cp-14
#define V4_EP4 -0x1.bbd41c5d26bf1p-20
#define V4_EP5 0x1.6376972bea4d0p-25

/* exp(x) for x <= 709 (x below -760 is taken as -760, giving 0): fdlibm's method.
 * x is clamped to [-760, 709]; k = trunc(INVLN2*x + (x < 0 ? -0.5 : 0.5)); hi = x - k*LN2_HI (exact);
 * lo = k*LN2_LO; r = hi - lo; t = r*r; c = r - t*(EP1+t*(EP2+t*(EP3+t*(EP4+t*EP5))));
 * y = 1 - ((lo - (r*c)/(2-c)) - hi); the result is y*2^k: k added to y's exponent bits when k >= -1021,
 * else (y with k+1000 added to its exponent bits) * 2^-1000, one rounding into the subnormals. */
V4_FN double v4_exp(double x) {
    x = x < -760.0 ? -760.0 : x;
    x = x > 709.0 ? 709.0 : x;
    double kd = V4_INVLN2 * x + (x < 0.0 ? -0.5 : 0.5);
    double t = (double)(v4_i64)kd;                            /* truncation toward zero, exact */
    double hi = x - t * V4_LN2_HI;
    double lo = t * V4_LN2_LO;
    double r = hi - lo;
    double tt = r * r;
    double c = r - tt * (V4_EP1 + tt * (V4_EP2 + tt * (V4_EP3 + tt * (V4_EP4 + tt * V4_EP5))));
    double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    v4_i64 k = (v4_i64)t;
    int small = k < -1021;
    v4_i64 ke = small ? k + 1000 : k;
    double scaled = v4_dbl(v4_bits(y) + ((v4_u64)ke << 52));
    return small ? scaled * 0x1p-1000 : scaled;
}

/* sin(2*pi*f) and cos(2*pi*f) on f in [0, 1/8]: fdlibm's kernel polynomials with x = 2*pi*f folded in
 * (T_k = S_k*(2pi)^(2k+1), U_k = C_k*(2pi)^(2k+2), each rounded once; 2pi = SH + SL with SH of 23 bits).
 * z = f*f; sin = f*SH + (f*SL + (f*z)*(T1+z*(T2+z*(T3+z*(T4+z*(T5+z*T6))))));
 * cos = 1 - (z*K2 - (z*z)*(U1+z*(U2+z*(U3+z*(U4+z*(U5+z*U6)))))). */
#define V4_SH 0x1.921fb40000000p+2
#define V4_SL 0x1.4442d18469899p-22
#define V4_T1 -0x1.4abbce625be47p+5
#define V4_T2 0x1.466bc67758db1p+6
#define V4_T3 -0x1.32d2cce335e6fp+6
#define V4_T4 0x1.5078301dcf6b6p+5
#define V4_T5 -0x1.e300a85fc9574p+3
#define V4_T6 0x1.e404742f3e351p+1
#define V4_K2 0x1.3bd3cc9be45dep+4
#define V4_U1 0x1.03c1f081b5abdp+6
#define V4_U2 -0x1.55d3c7e3ca6fbp+6
#define V4_U3 0x1.e1f5068528e5ep+5
#define V4_U4 -0x1.a6d1edbbb9b9cp+4
#define V4_U5 0x1.f9cd20b415c65p+2
#define V4_U6 -0x1.b2a21ec94163bp+0

/* sin and cos of 2*pi*T/2^64 for a 64-bit T whose low 11 bits are zero.  The reduction is exact, in integers:
 * octant o = T >> 61, rem = T mod 2^61, rr = rem (o even) or 2^61 - rem (o odd), f = (rr >> 11) * 2^-53 in
 * [0, 1/8]; (sq, cq) = (sin, cos)(2pi f) for o even, (cos, sin)(2pi f) for o odd; quadrant q = o >> 1 rotates:
 * sin = (sq, cq, -sq, -cq)[q], cos = (cq, -sq, -cq, sq)[q]. */
V4_FN void v4_sincos2pi(v4_u64 T, double* sn, double* cs) {
    v4_u64 odd = (T >> 61) & 1u;
    v4_u64 rem = T & 0x1fffffffffffffffULL;
    v4_u64 rr = v4_sel64(odd, 0x2000000000000000ULL - rem, rem);
    double f = v4_u52(rr >> 11) * 0x1p-53;
    double z = f * f;
    double sp = f * V4_SH + (f * V4_SL + (f * z) * (V4_T1 + z * (V4_T2 + z * (V4_T3 + z * (V4_T4 + z * (V4_T5 + z * V4_T6))))));
    double cp = 1.0 - (z * V4_K2 - (z * z) * (V4_U1 + z * (V4_U2 + z * (V4_U3 + z * (V4_U4 + z * (V4_U5 + z * V4_U6))))));
    double sq = v4_sel(odd, cp, sp);
    double cq = v4_sel(odd, sp, cp);
    v4_u64 q1 = (T >> 62) & 1u;                                         /* quadrant q = T >> 62 */
    double s = v4_sel(q1, cq, sq);
    double c = v4_sel(q1, sq, cq);
    /* negation = flipping the sign bit: sin for q in {2, 3} (bit 63), cos for q in {1, 2} (bit 63 xor bit 62) */
    *sn = v4_dbl(v4_bits(s) ^ (T & 0x8000000000000000ULL));
    *cs = v4_dbl(v4_bits(c) ^ ((T ^ (T << 1)) & 0x8000000000000000ULL));
}

/* ---- the normal CDF and its inverse --------------------------------------------------------------- */

#define V4_SQRT1_2 0x1.6a09e667f3bcdp-1
#define V4_LN_SQRT_2PI 0x1.d67f1c864beb5p-1
#define V4_FOURPI 0x1.921fb54442d18p+3
#define V4_ERX 0x1.b0ac160000000p-1
#define V4_PP0 0x1.06eba8214db68p-3
#define V4_PP1 -0x1.4cd7d691cb913p-2
#define V4_PP2 -0x1.d2a51dbd7194fp-6
#define V4_PP3 -0x1.7a291236668e4p-8
#define V4_PP4 -0x1.8ead6120016acp-16
#define V4_QQ1 0x1.97779cddadc09p-2
#define V4_QQ2 0x1.0a54c5536cebap-4
#define V4_QQ3 0x1.4d022c4d36b0fp-8
#define V4_QQ4 0x1.15dc9221c1a10p-13
#define V4_QQ5 -0x1.09c4342a26120p-18
#define V4_PA0 -0x1.359b8bef77538p-9
#define V4_PA1 0x1.a8d00ad92b34dp-2
#define V4_PA2 -0x1.7d240fbb8c3f1p-2
#define V4_PA3 0x1.45fca805120e4p-2
#define V4_PA4 -0x1.c63983d3e28ecp-4
#define V4_PA5 0x1.22a36599795ebp-5
#define V4_PA6 -0x1.1bf380a96073fp-9
#define V4_QA1 0x1.b3e6618eee323p-4
#define V4_QA2 0x1.14af092eb6f33p-1
#define V4_QA3 0x1.2635cd99fe9a7p-4
#define V4_QA4 0x1.02660e763351fp-3
#define V4_QA5 0x1.bedc26b51dd1cp-7
#define V4_QA6 0x1.88b545735151dp-7
#define V4_RA0 -0x1.43412600d6435p-7
#define V4_RA1 -0x1.63416e4ba7360p-1
#define V4_RA2 -0x1.51e0441b0e726p+3
#define V4_RA3 -0x1.f300ae4cba38dp+5
#define V4_RA4 -0x1.44cb184282266p+7
#define V4_RA5 -0x1.7135cebccabb2p+7
#define V4_RA6 -0x1.4526557e4d2f2p+6
#define V4_RA7 -0x1.3a0efc69ac25cp+3
#define V4_SA1 0x1.3a6b9bd707687p+4
#define V4_SA2 0x1.1350c526ae721p+7
#define V4_SA3 0x1.b290dd58a1a71p+8
#define V4_SA4 0x1.42b1921ec2868p+9
#define V4_SA5 0x1.ad02157700314p+8
#define V4_SA6 0x1.b28a3ee48ae2cp+6
#define V4_SA7 0x1.a47ef8e484a93p+2
#define V4_SA8 -0x1.eeff2ee749a62p-5
#define V4_RB0 -0x1.4341239e86f4ap-7
#define V4_RB1 -0x1.993ba70c285dep-1
#define V4_RB2 -0x1.1c209555f995ap+4
#define V4_RB3 -0x1.4145d43c5ed98p+7
#define V4_RB4 -0x1.3ec881375f228p+9
#define V4_RB5 -0x1.004616a2e5992p+10
#define V4_RB6 -0x1.e384e9bdc383fp+8
#define V4_SB1 0x1.e568b261d5190p+4
#define V4_SB2 0x1.45cae221b9f0ap+8
#define V4_SB3 0x1.802eb189d5118p+10
#define V4_SB4 0x1.8ffb7688c246ap+11
#define V4_SB5 0x1.3f219cedf3be6p+11
#define V4_SB6 0x1.da874e79fe763p+8
#define V4_SB7 -0x1.670e242712d62p+4

/* Phi(x) = P(N(0,1) <= x) for x <= 0 (-inf allowed), as 0.5*erfc(z), z = (-x)*SQRT1_2, with fdlibm's erfc
 * regions and coefficients:
 *   z < 0.84375: zz = z*z, y = (PP0+zz*(PP1+zz*(PP2+zz*(PP3+zz*PP4)))) / (1+zz*(QQ1+zz*(QQ2+zz*(QQ3+zz*(QQ4+zz*QQ5)))));
 *                e = 1 - (z + z*y) if z < 0.25, else e = 0.5 - (z*y + (z - 0.5));
 *   z < 1.25:    s = z - 1; e = (1 - ERX) - P(s)/Q(s) (PA, QA, degree 6 each, Horner, Q's constant 1);
 *   z < 28:      s = 1/(z*z); R/S from (RA, SA) if z < 1/0.35 (0x1.6db6db6db6db7p+1) else (RB, SB);
 *                with xh = x with its low 32 bits cleared and xl = x - xh (so -x^2/2 = -xh^2/2 - xl(x+xh)/2,
 *                the first part exact): e = exp(-0.5*(xh*xh) - 0.5625) * exp(R/S - 0.5*(xl*(x + xh))) / z;
 *   else:        e = 0;
 * Phi(x) = 0.5 * e.  Used per fill (the truncated normal's interval), never per element. */
V4_FN double v4_phi_neg(double x) {
    double z = (-x) * V4_SQRT1_2;
    double e;
    if (z < 0.84375) {
        double zz = z * z;
        double r = V4_PP0 + zz * (V4_PP1 + zz * (V4_PP2 + zz * (V4_PP3 + zz * V4_PP4)));
        double s = 1.0 + zz * (V4_QQ1 + zz * (V4_QQ2 + zz * (V4_QQ3 + zz * (V4_QQ4 + zz * V4_QQ5))));
        double y = r / s;
        if (z < 0.25) e = 1.0 - (z + z * y);
        else e = 0.5 - (z * y + (z - 0.5));
    } else if (z < 1.25) {
        double s = z - 1.0;
        double P = V4_PA0 + s * (V4_PA1 + s * (V4_PA2 + s * (V4_PA3 + s * (V4_PA4 + s * (V4_PA5 + s * V4_PA6)))));
        double Q = 1.0 + s * (V4_QA1 + s * (V4_QA2 + s * (V4_QA3 + s * (V4_QA4 + s * (V4_QA5 + s * V4_QA6)))));
        e = (1.0 - V4_ERX) - P / Q;
    } else if (z < 28.0) {
        double s = 1.0 / (z * z);
        double R, S;
        if (z < 0x1.6db6db6db6db7p+1) {
            R = V4_RA0 + s * (V4_RA1 + s * (V4_RA2 + s * (V4_RA3 + s * (V4_RA4 + s * (V4_RA5 + s * (V4_RA6 + s * V4_RA7))))));
            S = 1.0 + s * (V4_SA1 + s * (V4_SA2 + s * (V4_SA3 + s * (V4_SA4 + s * (V4_SA5 + s * (V4_SA6 + s * (V4_SA7 + s * V4_SA8)))))));
        } else {
            R = V4_RB0 + s * (V4_RB1 + s * (V4_RB2 + s * (V4_RB3 + s * (V4_RB4 + s * (V4_RB5 + s * V4_RB6)))));
            S = 1.0 + s * (V4_SB1 + s * (V4_SB2 + s * (V4_SB3 + s * (V4_SB4 + s * (V4_SB5 + s * (V4_SB6 + s * V4_SB7))))));
        }
        double xh = v4_dbl(v4_bits(x) & 0xffffffff00000000ULL);
        double xl = x - xh;
        e = v4_exp(-0.5 * (xh * xh) - 0.5625) * v4_exp(R / S - 0.5 * (xl * (x + xh))) / z;
    } else {
        e = 0.0;
    }
    return 0.5 * e;
}

/* log Phi(x) for finite x <= -36 by the asymptotic series (error below 3e-17 relative in Phi there):
 * xh, xl as in v4_phi_neg; h = -0.5*(xh*xh) - 0.5*(xl*(x + xh)); w = 1/(x*x);
 * S = 1 + w*(-1 + w*(3 + w*(-15 + w*(105 + w*(-945 + w*10395)))));
 * log Phi(x) = ((h - log(-x)) - LN_SQRT_2PI) + log(S). */
V4_FN double v4_log_phi_far(double x) {
    double xh = v4_dbl(v4_bits(x) & 0xffffffff00000000ULL);
    double xl = x - xh;
    double h = -0.5 * (xh * xh) - 0.5 * (xl * (x + xh));
    double w = 1.0 / (x * x);
    double S = 1.0 + w * (-1.0 + w * (3.0 + w * (-15.0 + w * (105.0 + w * (-945.0 + w * 10395.0)))));
    return ((h - v4_log(-x)) - V4_LN_SQRT_2PI) + v4_log(S);
}

#define V4_A0 0x1.b18d91e9eef75p+1
#define V4_A1 0x1.0a4888b1a436ep+7
#define V4_A2 0x1.ece5d2213c0ccp+10
#define V4_A3 0x1.ad1d8cd4ee71dp+13
#define V4_A4 0x1.66c3e869b752ap+15
#define V4_A5 0x1.06c1c55b78f20p+16
#define V4_A6 0x1.052d26b2e45e4p+15
#define V4_A7 0x1.39a296f7d925ep+11
#define V4_B1 0x1.5281b386e1ab5p+5
#define V4_B2 0x1.5797efdc8b3f7p+9
#define V4_B3 0x1.512322e75c89fp+12
#define V4_B4 0x1.4b772d5d65266p+14
#define V4_B5 0x1.3317caa64f4bep+15
#define V4_B6 0x1.c0e457cb1ae76p+14
#define V4_B7 0x1.46a7eca984b69p+12
#define V4_C0 0x1.6c665fde9526ap+0
#define V4_C1 0x1.2857748cab19bp+2
#define V4_C2 0x1.713f71462256ap+2
#define V4_C3 0x1.d2ecb1a3d02c4p+1
#define V4_C4 0x1.453cc085375b2p+0
#define V4_C5 0x1.ef2abb9b85c37p-3
#define V4_C6 0x1.744eb6c45ec67p-6
#define V4_C7 0x1.9615ac0b7ace9p-11
#define V4_D1 0x1.06cefbb46a449p+1
#define V4_D2 0x1.ad278e6526633p+0
#define V4_D3 0x1.61292f23385c9p-1
#define V4_D4 0x1.2f5123394f040p-3
#define V4_D5 0x1.f207a7eab17bfp-7
#define V4_D6 0x1.1f18cbfdf2728p-11
#define V4_D7 0x1.20d3f686439e4p-30
#define V4_E0 0x1.aa1b1c13ee526p+2
#define V4_E1 0x1.5daea6e875003p+2
#define V4_E2 0x1.c8ea6461fa445p+0
#define V4_E3 0x1.2fad9315255cfp-2
#define V4_E4 0x1.b2b41193b4ee7p-6
#define V4_E5 0x1.45c1908425345p-10
#define V4_E6 0x1.c6ec6cc59e02ap-16
#define V4_E7 0x1.afb74d693bf93p-23
#define V4_F1 0x1.331d34fc7d77fp-1
#define V4_F2 0x1.186eb183443fbp-3
#define V4_F3 0x1.e76f93215462ap-7
#define V4_F4 0x1.9c8bc979dc5d7p-11
#define V4_F5 0x1.35c2c496374bfp-16
#define V4_F6 0x1.31446f740b9e0p-23
#define V4_F7 0x1.269bff1f8c190p-49

/* Phi^-1(t) for t in [2^-1022, 0.5 + 2^-53]: Wichura's AS241 (PPND16), its three regions in one formula.
 * q = t - 0.5; region central if q >= -0.425, else (s = sqrt(-log t)) far if s > 5, else mid;
 * r = 0.180625 - q*q (central), s - 5 (far), s - 1.6 (mid); with (N, M) = (A, B), (E, F), (C, D):
 * num = ((((((N7*r+N6)*r+N5)*r+N4)*r+N3)*r+N2)*r+N1)*r+N0, den = ((((((M7*r+M6)*r+M5)*r+M4)*r+M3)*r+M2)*r+M1)*r+1;
 * Phi^-1(t) = (g*num)/den with g = q (central) or -1 (otherwise).
 * v4_ndtri_central and v4_ndtri_tail are its two halves: v4_ndtri_low(t) is the first where q >= -0.425, else the
 * second, so a fill may compute only the half each element needs. */
/* num and den of one region's coefficients (N, M) at r, in the Horner order above */
#define V4_RATIONAL7(N, M, r, num, den) do {                                                                \
    num = N##7; num = num * r + N##6; num = num * r + N##5; num = num * r + N##4; num = num * r + N##3;     \
    num = num * r + N##2; num = num * r + N##1; num = num * r + N##0;                                     \
    den = M##7; den = den * r + M##6; den = den * r + M##5; den = den * r + M##4; den = den * r + M##3;     \
    den = den * r + M##2; den = den * r + M##1; den = den * r + 1.0;                                      \
} while (0)
V4_FN double v4_ndtri_central(double t) {
    double q = t - 0.5;
    double r = 0.180625 - q * q, num, den;
    V4_RATIONAL7(V4_A, V4_B, r, num, den);
    return (q * num) / den;
}
/* one Horner step whose coefficient is chosen by f (far tail E/F, else C/D): acc·r + coefficient, in that order */
#define V4_HORNER_SEL(acc, far, near) acc = acc * r + v4_sel(f, far, near)
V4_FN double v4_ndtri_tail(double t) {
    double s = sqrt(-v4_log(t));
    v4_u64 f = s > 5.0;
    double r = v4_sel(f, s - 5.0, s - 1.6);
    double num = v4_sel(f, V4_E7, V4_C7);
    V4_HORNER_SEL(num, V4_E6, V4_C6); V4_HORNER_SEL(num, V4_E5, V4_C5); V4_HORNER_SEL(num, V4_E4, V4_C4);
    V4_HORNER_SEL(num, V4_E3, V4_C3); V4_HORNER_SEL(num, V4_E2, V4_C2); V4_HORNER_SEL(num, V4_E1, V4_C1);
    V4_HORNER_SEL(num, V4_E0, V4_C0);
    double den = v4_sel(f, V4_F7, V4_D7);
    V4_HORNER_SEL(den, V4_F6, V4_D6); V4_HORNER_SEL(den, V4_F5, V4_D5); V4_HORNER_SEL(den, V4_F4, V4_D4);
    V4_HORNER_SEL(den, V4_F3, V4_D3); V4_HORNER_SEL(den, V4_F2, V4_D2); V4_HORNER_SEL(den, V4_F1, V4_D1);
    den = den * r + 1.0;
    return (-1.0 * num) / den;
}
/* v4_ndtri_tail for a t with -log(t) <= 25 (s <= 5: the C/D coefficients), without the selects: the same operations,
 * so the same value.  A fill takes it when every t of its interval qualifies (v4_tn_tail_near). */
V4_FN double v4_ndtri_tail_near(double t) {
    double s = sqrt(-v4_log(t));
    double r = s - 1.6, num, den;
    V4_RATIONAL7(V4_C, V4_D, r, num, den);
    return (-1.0 * num) / den;
}
V4_FN v4_u64 v4_ndtri_is_central(double t) { return (t - 0.5) >= -0.425; }
V4_FN double v4_ndtri_low(double t) {
    return v4_sel(v4_ndtri_is_central(t), v4_ndtri_central(t), v4_ndtri_tail(t));
}

/* Phi^-1(exp(lp)) for lp <= log Phi(-36): Newton's method on the asymptotic log Phi from
 * x = -sqrt((L + L) - log(FOURPI*L)), L = -lp; four steps x <- x - (logPhi(x) - lp)/(-x - 1/x). */
V4_FN double v4_ndtri_log_far(double lp) {
    double L = -lp;
    double x = -sqrt((L + L) - v4_log(V4_FOURPI * L));
    int it;
    for (it = 0; it < 4; ++it) {
        double g = -x - 1.0 / x;
        x = x - (v4_log_phi_far(x) - lp) / g;
    }
    return x;
}

/* ---- float32 to float16 / bfloat16, round to nearest even, on the bits ------------------------------ */

V4_FN v4_u16 v4_f32_to_f16(float v) {
    v4_u32 u = v4_fbits(v);
    v4_u32 sign = (u >> 16) & 0x8000u;
    v4_u32 a = u & 0x7fffffffu;
    /* normal range: rebias the exponent, round the 13 dropped bits to nearest even (a carry may reach inf) */
    v4_u32 n = a - 0x38000000u;
    n = (n + 0xfffu + ((n >> 13) & 1u)) >> 13;
    /* below 2^-14: the subnormal units of 2^-24, m * 2^(e - 126) rounded to nearest even */
    v4_u32 e = a >> 23;
    v4_u32 m = (a & 0x7fffffu) | 0x800000u;
    v4_u32 sh = e <= 112u ? 126u - e : 31u;                          /* 14 .. 126, or 31 where unused */
    sh = sh > 31u ? 31u : sh;
    v4_u32 q = (m + ((1u << (sh - 1u)) - 1u) + ((m >> sh) & 1u)) >> sh;
    v4_u32 h = v4_selu(a < 0x38800000u, q, n);
    h = a >= 0x477ff000u ? 0x7c00u : h;                               /* rounds to infinity */
    h = a > 0x7f800000u ? (0x7e00u | ((a >> 13) & 0x3ffu)) : h;       /* NaN stays NaN (quiet) */
    return (v4_u16)(sign | h);
}

V4_FN v4_u16 v4_f32_to_bf16(float v) {
    v4_u32 u = v4_fbits(v);
    v4_u32 r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    r = (u & 0x7fffffffu) > 0x7f800000u ? ((u >> 16) | 0x40u) : r;    /* NaN stays NaN (quiet) */
    return (v4_u16)r;
}

V4_FN float v4_f16_to_f32(v4_u16 h) {
    v4_u32 sign = ((v4_u32)h & 0x8000u) << 16;
    v4_u32 e = ((v4_u32)h >> 10) & 0x1fu;
    v4_u32 m = (v4_u32)h & 0x3ffu;
    float mag;
    if (e == 0) mag = (float)m * 0x1p-24f;                      /* exact */
    else if (e == 31) mag = v4_flt(0x7f800000u | (m << 13));
    else mag = v4_flt(((e + 112u) << 23) | (m << 13));
    return v4_flt(v4_fbits(mag) | sign);
}

V4_FN float v4_bf16_to_f32(v4_u16 h) { return v4_flt((v4_u32)h << 16); }

/* ---- per-fill parameters --------------------------------------------------------------------------- */

/* output kinds */
#define V4_F64 0
#define V4_F32 1
#define V4_F16 2
#define V4_BF16 3

V4_FN double v4_next_below(double h) {
    v4_u64 b = v4_bits(h);
    if (h != h || h == -V4_INF) return h;
    if (h == V4_INF) return h;           /* no clamp needed: values stay finite */
    if (h == 0.0) return -0x1p-1074;
    return v4_dbl(h > 0.0 ? b - 1 : b + 1);
}

V4_FN float v4_next_below_f(float h) {
    v4_u32 b = v4_fbits(h);
    if (h != h || h == -(float)V4_INF || h == (float)V4_INF) return h;
    if (h == 0.0f) return -0x1p-149f;
    return v4_flt(h > 0.0f ? b - 1 : b + 1);
}

V4_FN v4_u16 v4_to_half(float v, int kind) { return kind == V4_F16 ? v4_f32_to_f16(v) : v4_f32_to_bf16(v); }
V4_FN float v4_from_half(v4_u16 h, int kind) { return kind == V4_F16 ? v4_f16_to_f32(h) : v4_bf16_to_f32(h); }

/* The uniform's clamp: the largest value, in the compute type (binary64 for float64, binary32 otherwise), that
 * the final value may take before its last rounding so that it stays below `high` in the output type:
 * float64: next_below(high); float32: next_below((float)high); float16/bfloat16: with H = half((float)high) and
 * B = the half value just below H (B = H - 1 ulp, on the bits), m = (B + H)/2 (exact in binary32):
 * m if half(m) == B else next_below(m).  (+inf when high is +inf, and when !(high > low): no clamp.) */
V4_FN double v4_uniform_clamp(double low, double high, int kind) {
    if (!(high > low)) return V4_INF;
    if (kind == V4_F64) return v4_next_below(high);
    float hf = (float)high;
    if (kind == V4_F32) return (double)v4_next_below_f(hf);
    if (hf != hf || hf == (float)V4_INF) return (double)hf;
    v4_u16 H = v4_to_half(hf, kind);
    float Hv = v4_from_half(H, kind);
    if (Hv == (float)V4_INF) return V4_INF;
    v4_u16 B;
    if (Hv == 0.0f) B = 0x8001u;
    else if (Hv > 0.0f) B = (v4_u16)(H - 1u);
    else B = (v4_u16)(H + 1u);
    float m = (float)(((double)v4_from_half(B, kind) + (double)Hv) * 0.5);
    return (double)(v4_to_half(m, kind) == B ? m : v4_next_below_f(m));
}

/* The truncated normal's parameters for the standardized interval [a, b], a < b (infinities allowed).
 * Mirrored onto the side of zero nearer the interval: (lo, hi, sgn) = (-b, -a, -1) if a >= 0, else (a, b, 1).
 *   hi > 0 (lo < 0 < hi):   linear; PL = Phi(lo), PH = Phi(-hi), D = (0.5 - PL) + (0.5 - PH);
 *   -36 <= hi <= 0:          linear; PL = Phi(lo), PH = 1, D = Phi(hi) - PL;
 *   hi < -36:                log space; LH = logPhi(hi), LL = logPhi(lo) (-inf for lo = -inf), d = exp(LL - LH),
 *                            OM = 1 - d.
 * p[0..9] = (mode, lo, hi, sgn, PL, PH, D, LH, d, OM), mode 0 linear, 1 log. */
V4_FN void v4_truncnorm_setup(double a, double b, double* p) {
    double lo, hi, sgn;
    if (a >= 0.0) { lo = -b; hi = -a; sgn = -1.0; } else { lo = a; hi = b; sgn = 1.0; }
    int i;
    for (i = 0; i < 10; ++i) p[i] = 0.0;
    p[1] = lo; p[2] = hi; p[3] = sgn;
    if (hi > 0.0) {
        double pl = v4_phi_neg(lo), ph = v4_phi_neg(-hi);
        p[4] = pl; p[5] = ph; p[6] = (0.5 - pl) + (0.5 - ph);
    } else if (hi >= -36.0) {
        double pl = v4_phi_neg(lo);
        p[4] = pl; p[5] = 1.0; p[6] = v4_phi_neg(hi) - pl;
    } else {
        double lh = v4_log_phi_far(hi);
        double ll = lo == -V4_INF ? lo : v4_log_phi_far(lo);
        double d = v4_exp(ll - lh);
        p[0] = 1.0; p[7] = lh; p[8] = d; p[9] = 1.0 - d;
    }
}

/* The Bernoulli threshold: ceil(p * 2^53) clipped to [0, 2^53]; a value is 1 when its 53-bit word is below it. */
V4_FN v4_u64 v4_bernoulli_threshold(double p) {
    double v = p * 0x1p53;
    if (!(v > 0.0)) return 0;
    if (v >= 0x1p53) return 1ULL << 53;
    v4_u64 t = (v4_u64)v;
    return t + ((double)t < v ? 1u : 0u);
}

/* ---- per-call values: call j of a stream gives 4 (float32 family) or 2 values ------------------------ */

/* 53-bit word from two 32-bit words: (hi << 21) | (lo >> 11), as a double in [0, 2^53) */
V4_FN double v4_w53(v4_u32 hi, v4_u32 lo) {
    return v4_u52((v4_u64)hi >> 1) * 0x1p22 + v4_u52(((v4_u64)(hi & 1u) << 21) | (lo >> 11));
}

/* uniform, float32 family: value 4j+l is low + width*u, u = (x_l >> 8) * 2^-24 (in binary64; rounded to float32
 * by the caller, then clamped). float64: value 2j+h is low + width*u, u = ((x_2h << 21) | (x_2h+1 >> 11))*2^-53. */
V4_FN void v4_call_uniform_f(const v4_u32* x, double low, double width, double* v) {
    int l;
    for (l = 0; l < 4; ++l) v[l] = low + width * (v4_u52(x[l] >> 8) * 0x1p-24);
}
V4_FN void v4_call_uniform_d(const v4_u32* x, double low, double width, double* v) {
    v[0] = low + width * (v4_w53(x[0], x[1]) * 0x1p-53);
    v[1] = low + width * (v4_w53(x[2], x[3]) * 0x1p-53);
}

/* Box-Muller, float32 family: pair h in {0, 1} of call j uses the radius word x_2h and the angle word x_2h+1:
 * u = (x_2h + 0.5) * 2^-32, r = sqrt(log(u) * -2), (s, c) = sincos2pi(T = (2 x_2h+1 + 1) << 31);
 * values 4j+2h = loc + scale*(r*c), 4j+2h+1 = loc + scale*(r*s). */
V4_FN double v4_bm_radius_f(v4_u32 rw) { return sqrt(v4_log((v4_u52(rw) + 0.5) * 0x1p-32) * -2.0); }
V4_FN void v4_bm_angle_f(v4_u32 aw, double* s, double* c) { v4_sincos2pi((((v4_u64)aw << 1) | 1u) << 31, s, c); }
V4_FN void v4_call_normal_f(const v4_u32* x, double loc, double scale, double* v) {
    int h;
    for (h = 0; h < 2; ++h) {
        double r = v4_bm_radius_f(x[2 * h]), s, c;
        v4_bm_angle_f(x[2 * h + 1], &s, &c);
        v[2 * h] = loc + scale * (r * c);
        v[2 * h + 1] = loc + scale * (r * s);
    }
}

/* Box-Muller, float64: call j gives the pair 2j (cos), 2j+1 (sin) from the odd 53-bit words
 * K_r = ((x0 << 21) | (x1 >> 11)) | 1 and K_a = ((x2 << 21) | (x3 >> 11)) | 1:
 * u = K_r * 2^-53, r = sqrt(log(u) * -2), (s, c) = sincos2pi(K_a << 11). */
V4_FN double v4_bm_radius_d(v4_u32 hi, v4_u32 lo) {
    v4_u64 kr = (((v4_u64)hi << 21) | (lo >> 11)) | 1u;
    return sqrt(v4_log((v4_u52(kr >> 1) * 2.0 + 1.0) * 0x1p-53) * -2.0);
}
V4_FN void v4_bm_angle_d(v4_u32 hi, v4_u32 lo, double* s, double* c) {
    v4_u64 ka = (((v4_u64)hi << 21) | (lo >> 11)) | 1u;
    v4_sincos2pi(ka << 11, s, c);
}
V4_FN void v4_call_normal_d(const v4_u32* x, double loc, double scale, double* v) {
    double r = v4_bm_radius_d(x[0], x[1]), s, c;
    v4_bm_angle_d(x[2], x[3], &s, &c);
    v[0] = loc + scale * (r * c);
    v[1] = loc + scale * (r * s);
}

/* Truncated normal (every dtype): value 2j+h from the odd 53-bit word K = ((x_2h << 21) | (x_2h+1 >> 11)) | 1,
 * u = K * 2^-53 in (0, 1), with the setup p = (mode, lo, hi, sgn, PL, PH, D, LH, d, OM):
 *   linear: P = PL + u*D, Q = PH + (1 - u)*D; t = max(min(P, Q), 2^-1022) (never below it, in fact); x = Phi^-1(t) (AS241),
 *           negated when Q < P;
 *   log:    x = Phi^-1(exp(LH + log(d + u*OM))) by v4_ndtri_log_far;
 * z = sgn * min(max(x, lo), hi); value = loc + scale*z. */
/* the linear mode in three steps (a fill may run Phi^-1's halves on separate passes): t and the side of zero
 * from u; then x = Phi^-1(t); then the sign, the clamp to [lo, hi] and the mirror */
V4_FN double v4_tn_t(double u, const double* p, v4_u64* take) {
    double P = p[4] + u * p[6];
    double Q = p[5] + (1.0 - u) * p[6];
    *take = P <= Q;
    double t = v4_sel(*take, P, Q);
    return v4_sel(t < 0x1p-1022, 0x1p-1022, t);
}
V4_FN double v4_tn_finish(double x, v4_u64 take, const double* p) {
    x = v4_sel(take, x, -x);
    x = v4_sel(x < p[1], p[1], x);
    x = v4_sel(x > p[2], p[2], x);
    return p[3] * x;
}
/* whether every t of a linear-mode interval p has -log(t) <= 25 (so v4_ndtri_tail_near gives v4_ndtri_tail's values):
 * t >= min(PL, PH) always, and log's error (under 1 ulp) cannot carry a value of -24 or more below -25 */
V4_FN int v4_tn_tail_near(const double* p) {
    double tmin = p[4] < p[5] ? p[4] : p[5];
    return p[0] == 0.0 && tmin >= 0x1p-1022 && v4_log(tmin) >= -24.0;
}
V4_FN double v4_truncnorm_linear(double u, const double* p) {
    v4_u64 take;
    double t = v4_tn_t(u, p, &take);
    return v4_tn_finish(v4_ndtri_low(t), take, p);
}
V4_FN double v4_truncnorm_log(double u, const double* p) {
    double x = v4_ndtri_log_far(p[7] + v4_log(p[8] + u * p[9]));
    x = x < p[1] ? p[1] : x;
    x = x > p[2] ? p[2] : x;
    return p[3] * x;
}
V4_FN double v4_truncnorm_value(double u, const double* p) {
    return p[0] == 0.0 ? v4_truncnorm_linear(u, p) : v4_truncnorm_log(u, p);
}
V4_FN double v4_u53_odd(v4_u32 hi, v4_u32 lo) {
    return (v4_w53(hi, lo & 0xfffff000u) + 1.0) * 0x1p-53;   /* the 53-bit word with its bit 0 set */
}
V4_FN void v4_call_truncnorm(const v4_u32* x, double loc, double scale, const double* p, double* v) {
    v[0] = loc + scale * v4_truncnorm_value(v4_u53_odd(x[0], x[1]), p);
    v[1] = loc + scale * v4_truncnorm_value(v4_u53_odd(x[2], x[3]), p);
}
V4_FN void v4_call_truncnorm_linear(const v4_u32* x, double loc, double scale, const double* p, double* v) {
    v[0] = loc + scale * v4_truncnorm_linear(v4_u53_odd(x[0], x[1]), p);
    v[1] = loc + scale * v4_truncnorm_linear(v4_u53_odd(x[2], x[3]), p);
}

/* integers on [low, low + span): value 2j+h = low + floor(W * span / 2^64) (mod 2^64), W = (x_2h << 32) | x_2h+1,
 * span = span_m1 + 1 in [1, 2^64]; computed as mulhi(W, span_m1) + carry(mullo(W, span_m1) + W). */
V4_FN v4_u64 v4_integer(v4_u32 hi, v4_u32 lo, v4_u64 low, v4_u64 span_m1) {
    v4_u64 w = ((v4_u64)hi << 32) | lo;
    v4_u64 a0 = w & 0xffffffffULL, a1 = w >> 32, b0 = span_m1 & 0xffffffffULL, b1 = span_m1 >> 32;
    v4_u64 p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    v4_u64 mid = (p00 >> 32) + (p01 & 0xffffffffULL) + (p10 & 0xffffffffULL);
    v4_u64 mhi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    v4_u64 mlo = (mid << 32) | (p00 & 0xffffffffULL);
    v4_u64 off = mhi + ((mlo + w) < mlo ? 1u : 0u);
    return low + off;
}

/* bernoulli: value 2j+h is 1 when ((x_2h << 21) | (x_2h+1 >> 11)) < threshold, else 0 */
V4_FN int v4_bernoulli(v4_u32 hi, v4_u32 lo, v4_u64 threshold) {
    return ((((v4_u64)hi << 21) | (lo >> 11)) < threshold) ? 1 : 0;
}

#endif /* INITREG_V4_H */
