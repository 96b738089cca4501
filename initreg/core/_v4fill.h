/* initreg bits v4: the host fill loops over a range of elements, shared by the CPython extension
 * (_v4kernel.c) and the standalone test harnesses.  The values are v4.h's; this file only walks the
 * Philox calls of a range in chunks and stores the values in the output's type.
 *
 * v4_fill(op, key, start, n, out, kind, params) writes elements [start, start + n) of the stream with key
 * words key[0..3] into the contiguous buffer out (n elements of `kind`).  Plain C, no Python.
 *
 * On x86-64 with GCC the entry point is compiled for x86-64-v4, -v3, -v2 and the baseline and picked at load
 * time (target_clones); -ffp-contract=off and the absence of -ffast-math make every clone give the same bits
 * (each SIMD lane rounds every operation correctly).  Define V4_NO_CLONES to build one version only.
 */
#ifndef INITREG_V4FILL_H
#define INITREG_V4FILL_H

#include "v4.h"
#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(V4_NO_CLONES) && defined(__linux__) && defined(__GLIBC__)
#define V4_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "arch=x86-64-v2", "default")))
#else
#define V4_CLONES
#endif
#if defined(__GNUC__)
#define V4_INLINE static inline __attribute__((always_inline))
#else
#define V4_INLINE static inline
#endif

/* operations */
#define V4_OP_UNIFORM 0
#define V4_OP_NORMAL 1
#define V4_OP_TRUNCNORM 2
#define V4_OP_INTEGERS 3
#define V4_OP_BERNOULLI 4

/* output kinds beyond v4.h's V4_F64, V4_F32, V4_F16, V4_BF16 */
#define V4_I8 4
#define V4_I16 5
#define V4_I32 6
#define V4_I64 7
#define V4_U8 8
#define V4_U16 9
#define V4_U32 10
#define V4_U64 11
#define V4_BOOL 12

static const int v4_kind_size[13] = {8, 4, 2, 2, 1, 2, 4, 8, 1, 2, 4, 8, 1};

/* everything a fill needs besides the range */
typedef struct {
    int op;
    int kind;
    v4_u32 k[4];
    double a, b;          /* uniform: low, width; normal / truncated normal: loc, scale */
    double clamp;         /* uniform: v4_uniform_clamp(low, high, kind); else +inf */
    double tn[10];        /* truncated normal: v4_truncnorm_setup */
    int tn_near;          /* truncated normal: v4_tn_tail_near(tn) */
    v4_u64 ilow, ispan_m1, threshold; /* integers; bernoulli */
} v4_params;

#define V4_M 128          /* Philox calls per chunk (a multiple of 8) */

/* ---- Philox words of calls j .. j+m-1, structure of arrays: x[0][i], x[1][i], x[2][i], x[3][i] ----------- *
 * Integer arithmetic only, so every implementation gives the same words; the SIMD ones keep each call's four
 * 32-bit words in 64-bit lanes (the high halves are don't-care: _mul_epu32 reads only the low halves). */

typedef void (*v4_philox_batch_fn)(v4_u64 j, int m, const v4_u32* k, v4_u32 (*x)[V4_M]);

static void v4_philox_batch_c(v4_u64 j, int m, const v4_u32* k, v4_u32 (*x)[V4_M]) {
    int i;
    for (i = 0; i < m; ++i) {
        v4_u32 w[4];
        v4_philox(j + (v4_u64)i, k[0], k[1], k[2], k[3], w);
        x[0][i] = w[0]; x[1][i] = w[1]; x[2][i] = w[2]; x[3][i] = w[3];
    }
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(V4_PHILOX_GENERIC)
#include <immintrin.h>
#define V4_HAVE_PHILOX_SIMD 1

/* calls i..m-1 of a batch in plain C (the part a SIMD loop of its width leaves) */
static void v4_philox_batch_rest(v4_u64 j, int i, int m, const v4_u32* k, v4_u32 (*x)[V4_M]) {
    int r;
    if (i < m) {
        v4_u32 t[4][V4_M];
        v4_philox_batch_c(j + (v4_u64)i, m - i, k, t);
        for (r = 0; r < 4; ++r) memcpy(x[r] + i, t[r], (size_t)(m - i) * 4);
    }
}

/* Philox's ten round keys (k0, k1 bumped by the Weyl constants) */
static void v4_round_keys(const v4_u32* k, v4_u32* ka, v4_u32* kb) {
    v4_u32 a = k[0], b = k[1];
    int r;
    for (r = 0; r < 10; ++r) { ka[r] = a; kb[r] = b; a += V4_PHILOX_W0; b += V4_PHILOX_W1; }
}

/* the body of a SIMD batch: W calls a step, each call's four words in 64-bit lanes of VEC (the low halves count);
 * LANES is (0, 1, ..., W-1), XOR3(a, b, c) is a ^ b ^ c and STORE(dst, c) writes the low halves of c's lanes.
 * U independent steps run interleaved (a round's multiply, shift and xor form a chain U steps can overlap), then
 * single steps, then plain C for the calls left. */
#define V4_PHILOX_SIMD(VEC, W, U, SET1, LANES, ADD, SRLI, MUL, XOR3, STORE) do {                                    \
    const VEC m0 = SET1(V4_PHILOX_M0), m1 = SET1(V4_PHILOX_M1), lanes = LANES;                                      \
    VEC kk0[10], kk1[10];                                                                                           \
    v4_u32 ka[10], kb[10];                                                                                          \
    int r, i, u;                                                                                                    \
    v4_round_keys(k, ka, kb);                                                                                       \
    for (r = 0; r < 10; ++r) { kk0[r] = SET1(ka[r]); kk1[r] = SET1(kb[r]); }                                        \
    for (i = 0; i + (U) * (W) <= m; i += (U) * (W)) {                                                               \
        VEC c0[U], c1[U], c2[U], c3[U];                                                                             \
        for (u = 0; u < (U); ++u) {                                                                                 \
            VEC jj = ADD(SET1((long long)(j + (v4_u64)(i + u * (W)))), lanes);                                      \
            c0[u] = jj; c1[u] = SRLI(jj, 32); c2[u] = SET1(k[2]); c3[u] = SET1(k[3]);                               \
        }                                                                                                           \
        for (r = 0; r < 10; ++r) {                                                                                  \
            for (u = 0; u < (U); ++u) {                                                                             \
                VEC p0 = MUL(c0[u], m0), p1 = MUL(c2[u], m1);                                                       \
                c0[u] = XOR3(SRLI(p1, 32), c1[u], kk0[r]);                                                          \
                c2[u] = XOR3(SRLI(p0, 32), c3[u], kk1[r]);                                                          \
                c1[u] = p1; c3[u] = p0;                                                                             \
            }                                                                                                       \
        }                                                                                                           \
        for (u = 0; u < (U); ++u) {                                                                                 \
            STORE(x[0] + i + u * (W), c0[u]); STORE(x[1] + i + u * (W), c1[u]);                                    \
            STORE(x[2] + i + u * (W), c2[u]); STORE(x[3] + i + u * (W), c3[u]);                                    \
        }                                                                                                           \
    }                                                                                                               \
    for (; i + (W) <= m; i += (W)) {                                                                                \
        VEC jj = ADD(SET1((long long)(j + (v4_u64)i)), lanes);                                                      \
        VEC c0 = jj, c1 = SRLI(jj, 32);                                                                             \
        VEC c2 = SET1(k[2]), c3 = SET1(k[3]);                                                                       \
        for (r = 0; r < 10; ++r) {                                                                                  \
            VEC p0 = MUL(c0, m0), p1 = MUL(c2, m1);                                                                 \
            c0 = XOR3(SRLI(p1, 32), c1, kk0[r]);                                                                    \
            c2 = XOR3(SRLI(p0, 32), c3, kk1[r]);                                                                    \
            c1 = p1; c3 = p0;                                                                                       \
        }                                                                                                           \
        STORE(x[0] + i, c0); STORE(x[1] + i, c1); STORE(x[2] + i, c2); STORE(x[3] + i, c3);                         \
    }                                                                                                               \
    v4_philox_batch_rest(j, i, m, k, x);                                                                            \
} while (0)

/* steps interleaved per implementation: the most whose state stays in registers (32 zmm, 16 ymm), measured best */
#ifndef V4_UNROLL_AVX512
#define V4_UNROLL_AVX512 4
#endif
#ifndef V4_UNROLL_AVX2
#define V4_UNROLL_AVX2 2
#endif
#define V4_XOR3_256(a, b, c) _mm256_xor_si256(_mm256_xor_si256(a, b), c)
#define V4_STORE_256(dst, c) \
    _mm_storeu_si128((__m128i*)(dst), _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c, pick)))
#define V4_XOR3_512(a, b, c) _mm512_ternarylogic_epi64(a, b, c, 0x96)
#define V4_STORE_512(dst, c) _mm256_storeu_si256((__m256i*)(dst), _mm512_cvtepi64_epi32(c))

__attribute__((target("avx2")))
static void v4_philox_batch_avx2(v4_u64 j, int m, const v4_u32* k, v4_u32 (*x)[V4_M]) {
    const __m256i pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);  /* V4_STORE_256: lanes' low halves first */
    V4_PHILOX_SIMD(__m256i, 4, V4_UNROLL_AVX2, _mm256_set1_epi64x, _mm256_setr_epi64x(0, 1, 2, 3), _mm256_add_epi64,
                   _mm256_srli_epi64, _mm256_mul_epu32, V4_XOR3_256, V4_STORE_256);
}

__attribute__((target("avx512f")))
static void v4_philox_batch_avx512(v4_u64 j, int m, const v4_u32* k, v4_u32 (*x)[V4_M]) {
    V4_PHILOX_SIMD(__m512i, 8, V4_UNROLL_AVX512, _mm512_set1_epi64, _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7),
                   _mm512_add_epi64, _mm512_srli_epi64, _mm512_mul_epu32, V4_XOR3_512, V4_STORE_512);
}
#endif

/* the implementations this CPU can run, best first: "avx512", "avx2", "c" */
static v4_philox_batch_fn v4_philox_impl(const char* name) {
#ifdef V4_HAVE_PHILOX_SIMD
    __builtin_cpu_init();
    if ((name == NULL || !strcmp(name, "avx512")) && __builtin_cpu_supports("avx512f")) return v4_philox_batch_avx512;
    if ((name == NULL || !strcmp(name, "avx2")) && __builtin_cpu_supports("avx2")) return v4_philox_batch_avx2;
#endif
    if (name == NULL || !strcmp(name, "c")) return v4_philox_batch_c;
    return NULL;
}

static v4_philox_batch_fn v4_philox_batch = NULL;   /* set by v4_init() */

/* ---- which of n values t need Phi^-1's tail: their positions offset + i, in order, into idx (which has room for
 * 8 more); returns how many. Bookkeeping only (the values are v4_ndtri_low's either way). */

typedef int (*v4_tails_fn)(const double* t, int n, int offset, int* idx);

static int v4_tails_c(const double* t, int n, int offset, int* idx) {
    int i, k = 0;
    for (i = 0; i < n; ++i) { idx[k] = offset + i; k += !v4_ndtri_is_central(t[i]); }
    return k;
}

#ifdef V4_HAVE_PHILOX_SIMD
__attribute__((target("avx512f,avx512vl")))
static int v4_tails_avx512(const double* t, int n, int offset, int* idx) {
    const __m512d half = _mm512_set1_pd(0.5), low = _mm512_set1_pd(-0.425);
    const __m256i eight = _mm256_set1_epi32(8);
    __m256i pos = _mm256_add_epi32(_mm256_set1_epi32(offset), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    int i, k = 0;
    for (i = 0; i + 8 <= n; i += 8) {  /* not (t - 0.5 >= -0.425), NaN included: the tail */
        __mmask8 tail = _mm512_cmp_pd_mask(_mm512_sub_pd(_mm512_loadu_pd(t + i), half), low, _CMP_NGE_UQ);
        _mm256_storeu_si256((__m256i*)(idx + k), _mm256_maskz_compress_epi32(tail, pos));
        k += __builtin_popcount((unsigned)tail);
        pos = _mm256_add_epi32(pos, eight);
    }
    return k + v4_tails_c(t + i, n - i, offset + i, idx + k);
}
#endif

static v4_tails_fn v4_tails = NULL;   /* set by v4_init() */

static void v4_init(void) {
    if (v4_philox_batch == NULL) v4_philox_batch = v4_philox_impl(NULL);
    if (v4_tails == NULL) {
        v4_tails = v4_tails_c;
#ifdef V4_HAVE_PHILOX_SIMD
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) v4_tails = v4_tails_avx512;
#endif
    }
}

/* ---- values of calls j .. j+m-1 (m <= V4_M) into v (4 or 2 per call) ---------------------------------- *
 * Given f (a float32 output that the whole chunk fills), v4_chunk_f may store there instead, straight from the
 * loop that computes the values and clamped as v4_store_f would; it returns 1 when it did. */

#define V4_WORDS(x, i) v4_u32 w[4]; w[0] = x[0][i]; w[1] = x[1][i]; w[2] = x[2][i]; w[3] = x[3][i]

V4_INLINE int v4_chunk_f(const v4_params* P, v4_u32 (*x)[V4_M], int m, double* v, float* f) {
    const double a = P->a, b = P->b;
    int i, h;
    if (P->op == V4_OP_UNIFORM && f != NULL) {  /* float32 straight into the output, clamped as v4_store_f does */
        const float c = (float)P->clamp;
        for (i = 0; i < m; ++i) {
            double t[4];
            int l;
            V4_WORDS(x, i);
            v4_call_uniform_f(w, a, b, t);
            for (l = 0; l < 4; ++l) { float y = (float)t[l]; f[4 * i + l] = y < c ? y : c; }
        }
        return 1;
    } else if (P->op == V4_OP_UNIFORM) {
        for (i = 0; i < m; ++i) { V4_WORDS(x, i); v4_call_uniform_f(w, a, b, v + 4 * i); }
    } else {  /* normal: radii, then angles, then the values, each its own simple loop */
        double r[2][V4_M], sn[2][V4_M], cs[2][V4_M];
        for (h = 0; h < 2; ++h)
            for (i = 0; i < m; ++i) r[h][i] = v4_bm_radius_f(x[2 * h][i]);
        for (h = 0; h < 2; ++h)
            for (i = 0; i < m; ++i) v4_bm_angle_f(x[2 * h + 1][i], &sn[h][i], &cs[h][i]);
        if (f != NULL) {  /* float32 straight into the output (a normal's clamp is +inf) */
            for (i = 0; i < m; ++i) {
                f[4 * i] = (float)(a + b * (r[0][i] * cs[0][i]));
                f[4 * i + 1] = (float)(a + b * (r[0][i] * sn[0][i]));
                f[4 * i + 2] = (float)(a + b * (r[1][i] * cs[1][i]));
                f[4 * i + 3] = (float)(a + b * (r[1][i] * sn[1][i]));
            }
            return 1;
        }
        for (i = 0; i < m; ++i) {
            v[4 * i] = a + b * (r[0][i] * cs[0][i]);
            v[4 * i + 1] = a + b * (r[0][i] * sn[0][i]);
            v[4 * i + 2] = a + b * (r[1][i] * cs[1][i]);
            v[4 * i + 3] = a + b * (r[1][i] * sn[1][i]);
        }
    }
    return 0;
}

V4_INLINE void v4_chunk_d(const v4_params* P, v4_u32 (*x)[V4_M], int m, double* v) {
    const double a = P->a, b = P->b;
    int i, h;
    if (P->op == V4_OP_UNIFORM) {
        for (i = 0; i < m; ++i) { V4_WORDS(x, i); v4_call_uniform_d(w, a, b, v + 2 * i); }
    } else if (P->op == V4_OP_NORMAL) {
        double r[V4_M], sn[V4_M], cs[V4_M];
        for (i = 0; i < m; ++i) r[i] = v4_bm_radius_d(x[0][i], x[1][i]);
        for (i = 0; i < m; ++i) v4_bm_angle_d(x[2][i], x[3][i], &sn[i], &cs[i]);
        for (i = 0; i < m; ++i) {
            v[2 * i] = a + b * (r[i] * cs[i]);
            v[2 * i + 1] = a + b * (r[i] * sn[i]);
        }
    } else if (P->op == V4_OP_TRUNCNORM) {
        double tn[10], z[2][V4_M];
        int t;
        for (t = 0; t < 10; ++t) tn[t] = P->tn[t];
        if (tn[0] == 0.0) {
            /* Phi^-1 in two passes: the central region for every element, then the tails (log, sqrt) only for
             * the elements that need them, gathered; the values are v4_truncnorm_linear's */
            double tt[2][V4_M], tg[2 * V4_M + 8], xt[2 * V4_M + 8];
            v4_u64 take[2][V4_M];
            int idx[2 * V4_M + 8], nt = 0, e, l;
            for (h = 0; h < 2; ++h)
                for (i = 0; i < m; ++i) tt[h][i] = v4_tn_t(v4_u53_odd(x[2 * h][i], x[2 * h + 1][i]), tn, &take[h][i]);
            for (h = 0; h < 2; ++h)
                for (i = 0; i < m; ++i) z[h][i] = v4_ndtri_central(tt[h][i]);
            for (h = 0; h < 2; ++h) nt += v4_tails(tt[h], m, h * V4_M, idx + nt);
            /* the tails gathered and padded to whole groups of 8 (t = 0.25: any t gives a finite value), so the
             * loops below are SIMD only, with no scalar remainder (9 % of a fill's samples in perf) */
            for (e = 0; e < nt; ++e) tg[e] = (&tt[0][0])[idx[e]];
            for (; e % 8; ++e) tg[e] = 0.25;
            if (P->tn_near)
                for (e = 0; e < nt; e += 8)
                    for (l = 0; l < 8; ++l) xt[e + l] = v4_ndtri_tail_near(tg[e + l]);
            else
                for (e = 0; e < nt; e += 8)
                    for (l = 0; l < 8; ++l) xt[e + l] = v4_ndtri_tail(tg[e + l]);
            for (e = 0; e < nt; ++e) (&z[0][0])[idx[e]] = xt[e];
            for (h = 0; h < 2; ++h)
                for (i = 0; i < m; ++i) z[h][i] = v4_tn_finish(z[h][i], take[h][i], tn);
        } else {
            for (h = 0; h < 2; ++h)
                for (i = 0; i < m; ++i) z[h][i] = v4_truncnorm_log(v4_u53_odd(x[2 * h][i], x[2 * h + 1][i]), tn);
        }
        for (i = 0; i < m; ++i) {
            v[2 * i] = a + b * z[0][i];
            v[2 * i + 1] = a + b * z[1][i];
        }
    } else {  /* bernoulli */
        const v4_u64 th = P->threshold;
        for (i = 0; i < m; ++i) {
            v[2 * i] = (double)v4_bernoulli(x[0][i], x[1][i], th);
            v[2 * i + 1] = (double)v4_bernoulli(x[2][i], x[3][i], th);
        }
    }
}

V4_INLINE void v4_chunk_i(const v4_params* P, v4_u32 (*x)[V4_M], int m, v4_u64* w) {
    int i;
    for (i = 0; i < m; ++i) {
        w[2 * i] = v4_integer(x[0][i], x[1][i], P->ilow, P->ispan_m1);
        w[2 * i + 1] = v4_integer(x[2][i], x[3][i], P->ilow, P->ispan_m1);
    }
}

/* store cnt values in the output kind: floats are rounded once to the output's type (float16 and bfloat16 from
 * the float32 value) and clamped there (min with P->clamp) */
V4_INLINE void v4_store_f(const double* v, size_t cnt, char* dst, int kind, double clamp) {
    size_t i;
    if (kind == V4_F64) {
        double* d = (double*)dst;
        for (i = 0; i < cnt; ++i) { double y = v[i]; d[i] = y < clamp ? y : clamp; }
    } else if (kind == V4_F32) {
        float* d = (float*)dst; float c = (float)clamp;
        for (i = 0; i < cnt; ++i) { float y = (float)v[i]; d[i] = y < c ? y : c; }
    } else if (kind == V4_F16) {
        v4_u16* d = (v4_u16*)dst; float c = (float)clamp;
        for (i = 0; i < cnt; ++i) { float y = (float)v[i]; d[i] = v4_f32_to_f16(y < c ? y : c); }
    } else if (kind == V4_BF16) {
        v4_u16* d = (v4_u16*)dst; float c = (float)clamp;
        for (i = 0; i < cnt; ++i) { float y = (float)v[i]; d[i] = v4_f32_to_bf16(y < c ? y : c); }
    } else if (kind == V4_I8 || kind == V4_U8 || kind == V4_BOOL) {
        unsigned char* d = (unsigned char*)dst;
        for (i = 0; i < cnt; ++i) d[i] = (unsigned char)(v[i] != 0.0);
    } else if (kind == V4_I16 || kind == V4_U16) {
        v4_u16* d = (v4_u16*)dst;
        for (i = 0; i < cnt; ++i) d[i] = (v4_u16)(v[i] != 0.0);
    } else if (kind == V4_I32 || kind == V4_U32) {
        v4_u32* d = (v4_u32*)dst;
        for (i = 0; i < cnt; ++i) d[i] = (v4_u32)(v[i] != 0.0);
    } else {
        v4_u64* d = (v4_u64*)dst;
        for (i = 0; i < cnt; ++i) d[i] = (v4_u64)(v[i] != 0.0);
    }
}

/* integers: two's complement truncation to integer kinds; float kinds get (double)(int64)w, then float32 */
V4_INLINE void v4_store_i(const v4_u64* w, size_t cnt, char* dst, int kind) {
    size_t i;
    switch (kind) {
    case V4_I8: case V4_U8: for (i = 0; i < cnt; ++i) ((unsigned char*)dst)[i] = (unsigned char)w[i]; break;
    case V4_I16: case V4_U16: for (i = 0; i < cnt; ++i) ((v4_u16*)dst)[i] = (v4_u16)w[i]; break;
    case V4_I32: case V4_U32: for (i = 0; i < cnt; ++i) ((v4_u32*)dst)[i] = (v4_u32)w[i]; break;
    case V4_I64: case V4_U64: for (i = 0; i < cnt; ++i) ((v4_u64*)dst)[i] = w[i]; break;
    case V4_F64: for (i = 0; i < cnt; ++i) ((double*)dst)[i] = (double)(v4_i64)w[i]; break;
    case V4_F32: for (i = 0; i < cnt; ++i) ((float*)dst)[i] = (float)(double)(v4_i64)w[i]; break;
    case V4_F16: for (i = 0; i < cnt; ++i) ((v4_u16*)dst)[i] = v4_f32_to_f16((float)(double)(v4_i64)w[i]); break;
    case V4_BF16: for (i = 0; i < cnt; ++i) ((v4_u16*)dst)[i] = v4_f32_to_bf16((float)(double)(v4_i64)w[i]); break;
    default: for (i = 0; i < cnt; ++i) ((unsigned char*)dst)[i] = (unsigned char)(w[i] != 0); break;
    }
}

/* values per Philox call */
static inline int v4_per_call(const v4_params* P) {
    if ((P->op == V4_OP_UNIFORM || P->op == V4_OP_NORMAL) && P->kind != V4_F64) return 4;
    return 2;
}

/* elements [start, start + n) of the stream into out; start + n <= 2^64 - 4; v4_init() must have run */
V4_CLONES static void v4_fill(const v4_params* P, v4_u64 start, v4_u64 n, void* out) {
    double v[4 * V4_M];
    v4_u64 w[2 * V4_M];
    v4_u32 x[4][V4_M];
    const int per = v4_per_call(P);
    const size_t isz = (size_t)v4_kind_size[P->kind];
    const v4_u64 end = start + n;
    const v4_u64 jend = n ? (end - 1) / (v4_u64)per + 1 : 0;
    v4_u64 j = start / (v4_u64)per;
    v4_u64 pos = start;
    char* o = (char*)out;
    while (pos < end) {
        int m = (int)(jend - j < (v4_u64)V4_M ? jend - j : (v4_u64)V4_M);
        v4_u64 first = j * (v4_u64)per;
        v4_u64 stop = first + (v4_u64)(m * per);
        stop = stop < end ? stop : end;
        size_t cnt = (size_t)(stop - pos);
        char* dst = o + (size_t)(pos - start) * isz;
        v4_philox_batch(j, m, P->k, x);
        if (P->op == V4_OP_INTEGERS) {
            v4_chunk_i(P, x, m, w);
            v4_store_i(w + (pos - first), cnt, dst, P->kind);
        } else {
            float* f = P->kind == V4_F32 && pos == first && cnt == (size_t)(per * m) ? (float*)dst : NULL;
            int stored = per == 4 ? v4_chunk_f(P, x, m, v, f) : (v4_chunk_d(P, x, m, v), 0);
            if (!stored) v4_store_f(v + (pos - first), cnt, dst, P->kind, P->clamp);
        }
        pos = stop;
        j += (v4_u64)m;
    }
}

/* set up the parameters of a fill; returns 0, or -1 for an operation/kind pair that is not defined */
static inline int v4_setup(v4_params* P, int op, int kind, const v4_u32* key, double p0, double p1, double p2,
                           double p3, v4_u64 ilow, v4_u64 ispan_m1) {
    int i;
    P->op = op; P->kind = kind;
    for (i = 0; i < 4; ++i) P->k[i] = key[i];
    P->a = 0.0; P->b = 0.0; P->clamp = V4_INF;
    for (i = 0; i < 10; ++i) P->tn[i] = 0.0;
    P->tn_near = 0;
    P->ilow = ilow; P->ispan_m1 = ispan_m1; P->threshold = 0;
    if (kind < 0 || kind > V4_BOOL) return -1;
    switch (op) {
    case V4_OP_UNIFORM:
        if (kind > V4_BF16) return -1;
        P->a = p0; P->b = p1 - p0; P->clamp = v4_uniform_clamp(p0, p1, kind); return 0;
    case V4_OP_NORMAL:
        if (kind > V4_BF16) return -1;
        P->a = p0; P->b = p1; return 0;
    case V4_OP_TRUNCNORM:
        if (kind > V4_BF16) return -1;
        P->a = p0; P->b = p1; v4_truncnorm_setup(p2, p3, P->tn); P->tn_near = v4_tn_tail_near(P->tn); return 0;
    case V4_OP_INTEGERS:
        return kind == V4_BOOL ? -1 : 0;
    case V4_OP_BERNOULLI:
        P->threshold = v4_bernoulli_threshold(p0); return 0;
    }
    return -1;
}

#endif /* INITREG_V4FILL_H */
