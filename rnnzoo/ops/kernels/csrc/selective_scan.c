/* Mamba's selective scan (S6) on CPU, one channel at a time: the loop of mamba_ssm's selective_scan_ref,
 * compiled, with a channel's state h[N] in registers.
 *
 *   h_t = a_t * h_{t-1} + delta_t u_t B_t,   y_t = C_t . h_t,   a_t = exp(delta_t A)  (signed: 2 exp(delta_t A) - 1)
 *
 * Channel c = b * D + d of [B, D] reads u, delta at u[b*su_b + d*su_d + t*su_l] (any strides), A[d, :] ([D, N]
 * row-major), B_t and C_t at bc[b*s_b + (d / group)*s_g + t*s_l + n] (mamba_ssm's [D, N], [B, N, L] and
 * [B, G, N, L] layouts, given as [*, *, L, N] views with stride 0 where a layout has no such axis). Each call
 * handles channels [c0, c1); the Python side (rnnzoo/ops/kernels/selective_scan.py) runs disjoint ranges on
 * its threads and gives each thread its own dA, dB, dC to accumulate into, summed afterwards.
 *
 * The backward pass recomputes a channel's exp(delta A) and states into `work` ([2, L, N] per thread) and runs
 * the adjoint recurrence lambda_t = C_t dy_t + a_{t+1} lambda_{t+1} backwards:
 *   dB_t += lambda_t delta_t u_t,  dC_t += h_t dy_t,  d(delta_t u_t) = lambda_t . B_t,
 *   G_t = lambda_t h_{t-1} da_t/d(delta_t A)  ->  d delta_t += G_t . A,  dA += G_t delta_t,   dh_0 = a_1 lambda_1.
 *
 * Two implementations of the same loops: float32 with N a multiple of 16 (Mamba's d_state) in explicit
 * 16-wide vectors (simd.h) with a vectorised exp, and a plain one with libm's exp for any N and for float64.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "simd.h"

/* ---- the arguments shared by every entry point ---- */
#define FWD_ARGS(T) int64_t D, int64_t L, int64_t N, int64_t signed_,                                             \
    const T *u, const T *dt, int64_t su_b, int64_t su_d, int64_t su_l, const T *A,                                \
    const T *Bm, int64_t sB_b, int64_t sB_g, int64_t sB_l, int64_t groupB,                                        \
    const T *Cm, int64_t sC_b, int64_t sC_g, int64_t sC_l, int64_t groupC,                                        \
    const T *h0, T *y, int64_t sy_b, int64_t sy_d, int64_t sy_l, T *last, T *ckpt, int64_t S,                     \
    int64_t c0, int64_t c1
#define FWD_PASS D, L, N, signed_, u, dt, su_b, su_d, su_l, A, Bm, sB_b, sB_g, sB_l, groupB,                      \
    Cm, sC_b, sC_g, sC_l, groupC, h0, y, sy_b, sy_d, sy_l, last, ckpt, S, c0, c1
#define BWD_ARGS(T) int64_t D, int64_t L, int64_t N, int64_t signed_,                                             \
    const T *u, const T *dt, int64_t su_b, int64_t su_d, int64_t su_l, const T *A,                                \
    const T *Bm, int64_t sB_b, int64_t sB_g, int64_t sB_l, int64_t groupB,                                        \
    const T *Cm, int64_t sC_b, int64_t sC_g, int64_t sC_l, int64_t groupC,                                        \
    const T *h0, const T *dy, int64_t sy_b, int64_t sy_d, int64_t sy_l, const T *dlast,                           \
    T *du, T *ddt, int64_t sg_b, int64_t sg_d, int64_t sg_l, T *dA, T *dB, T *dC, T *dh0, T *work,                \
    T *ckpt, int64_t S, int64_t c0, int64_t c1
#define BWD_PASS D, L, N, signed_, u, dt, su_b, su_d, su_l, A, Bm, sB_b, sB_g, sB_l, groupB,                      \
    Cm, sC_b, sC_g, sC_l, groupC, h0, dy, sy_b, sy_d, sy_l, dlast, du, ddt, sg_b, sg_d, sg_l,                      \
    dA, dB, dC, dh0, work, ckpt, S, c0, c1

/* pointers of channel c: u, delta, A row, B and C rows at t = 0, and the offsets of its B and C group */
#define CHANNEL(T)                                                                                                \
    const int64_t b = c / D, d = c % D;                                                                           \
    const T *uc = u + b * su_b + d * su_d, *dtc = dt + b * su_b + d * su_d, *Ad = A + d * N;                      \
    const int64_t offB = b * sB_b + (d / groupB) * sB_g, offC = b * sC_b + (d / groupC) * sC_g;                   \
    const T *Bc = Bm + offB, *Cc = Cm + offC;

/* ---- plain loops: any N, float32 and float64 ---- */

static inline float exp_f32(float x) { return expf(x); }
static inline double exp_f64(double x) { return exp(x); }

#define DEFINE_PLAIN(T, SUFFIX, EXP)                                                                              \
static void fwd_plain_##SUFFIX(FWD_ARGS(T)) {                                                                     \
    T h[N];                                                                                                       \
    for (int64_t c = c0; c < c1; c++) {                                                                           \
        CHANNEL(T)                                                                                                \
        T *yc = y + b * sy_b + d * sy_d;                                                                          \
        for (int64_t n = 0; n < N; n++) h[n] = h0 ? h0[c * N + n] : (T)0;                                         \
        for (int64_t t = 0; t < L; t++) {                                                                         \
            const T dtt = dtc[t * su_l], x = dtt * uc[t * su_l], *Bt = Bc + t * sB_l, *Ct = Cc + t * sC_l;        \
            T acc = 0;                                                                                            \
            for (int64_t n = 0; n < N; n++) {                                                                     \
                T a = EXP(dtt * Ad[n]);                                                                           \
                h[n] = (signed_ ? 2 * a - 1 : a) * h[n] + x * Bt[n];                                              \
                acc += Ct[n] * h[n];                                                                              \
            }                                                                                                     \
            yc[t * sy_l] = acc;                                                                                   \
        }                                                                                                         \
        for (int64_t n = 0; n < N; n++) last[c * N + n] = h[n];                                                   \
    }                                                                                                             \
}                                                                                                                 \
                                                                                                                  \
static void bwd_plain_##SUFFIX(BWD_ARGS(T)) {                                                                     \
    T lam[N], dAc[N];                                                                                             \
    T *as = work, *hs = work + L * N;                                                                             \
    for (int64_t c = c0; c < c1; c++) {                                                                           \
        CHANNEL(T)                                                                                                \
        const T *dyc = dy + b * sy_b + d * sy_d;                                                                  \
        T *dBc = dB + offB, *dCc = dC + offC, *duc = du + b * sg_b + d * sg_d, *ddtc = ddt + b * sg_b + d * sg_d; \
        for (int64_t t = 0; t < L; t++) { /* recompute transitions and states */                                  \
            const T dtt = dtc[t * su_l], x = dtt * uc[t * su_l], *Bt = Bc + t * sB_l;                             \
            const T *hp = t ? hs + (t - 1) * N : (h0 ? h0 + c * N : NULL);                                        \
            T *at = as + t * N, *ht = hs + t * N;                                                                 \
            for (int64_t n = 0; n < N; n++) {                                                                     \
                at[n] = EXP(dtt * Ad[n]); /* e = exp(delta A), kept: 2e - 1 rounds to -1 and loses it */          \
                ht[n] = (hp ? (signed_ ? 2 * at[n] - 1 : at[n]) * hp[n] : 0) + x * Bt[n];                         \
            }                                                                                                     \
        }                                                                                                         \
        for (int64_t n = 0; n < N; n++) { lam[n] = dlast ? dlast[c * N + n] : (T)0; dAc[n] = 0; }                 \
        for (int64_t t = L - 1; t >= 0; t--) {                                                                    \
            const T dtt = dtc[t * su_l], ut = uc[t * su_l], x = dtt * ut, dyt = dyc[t * sy_l];                    \
            const T *Bt = Bc + t * sB_l, *Ct = Cc + t * sC_l, *at = as + t * N, *ht = hs + t * N;                 \
            const T *hp = t ? hs + (t - 1) * N : (h0 ? h0 + c * N : NULL);                                        \
            T *dBt = dBc + t * sB_l, *dCt = dCc + t * sC_l;                                                       \
            T dx = 0, g = 0;                                                                                      \
            for (int64_t n = 0; n < N; n++) {                                                                     \
                lam[n] += Ct[n] * dyt; /* lam held a_{t+1} lambda_{t+1} */                                        \
                dCt[n] += ht[n] * dyt;                                                                            \
                dBt[n] += lam[n] * x;                                                                             \
                dx += lam[n] * Bt[n];                                                                             \
                if (hp) {                                                                                         \
                    T G = lam[n] * hp[n] * (signed_ ? 2 * at[n] : at[n]);                                         \
                    g += G * Ad[n];                                                                               \
                    dAc[n] += G * dtt;                                                                            \
                }                                                                                                 \
                lam[n] *= signed_ ? 2 * at[n] - 1 : at[n];                                                        \
            }                                                                                                     \
            duc[t * sg_l] = dx * dtt;                                                                             \
            ddtc[t * sg_l] = dx * ut + g;                                                                         \
        }                                                                                                         \
        for (int64_t n = 0; n < N; n++) dA[d * N + n] += dAc[n];                                                  \
        if (dh0) for (int64_t n = 0; n < N; n++) dh0[c * N + n] = lam[n];                                         \
    }                                                                                                             \
}

DEFINE_PLAIN(float, f32, exp_f32)
DEFINE_PLAIN(double, f64, exp_f64)

/* ---- float32, N a multiple of 16: 16-wide vectors ---- */

#define NV_MAX 16 /* d_state up to 256 */

INLINE v16 select(v16i mask, v16 a, v16 b) { return (v16)((mask & (v16i)a) | (~mask & (v16i)b)); }

/* Cephes expf on 16 lanes: 2^k e^r with k = round(x / ln 2), e^r by a degree-7 polynomial (within 2 ulp);
 * below -87.3 it returns 0 where expf gives a subnormal, above 88.3 infinity */
INLINE v16 exp16(v16 x) {
    const float lo = -87.3f, hi = 88.3f, shift = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    v16i below = x < lo, above = x > hi;
    v16 xc = select(below, (v16){} + lo, select(above, (v16){} + hi, x));
    v16 t = xc * 1.44269504088896341f + shift;
    v16 k = t - shift;
    v16 r = xc - k * 0.693359375f + k * 2.12194440e-4f; /* x - k ln 2 in two parts */
    v16 p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    v16i bits = ((v16i)t - 0x4B400000 + 127) << 23; /* 2^k */
    return select(below, (v16){}, select(above, (v16){} + INFINITY, p * (v16)bits));
}

INLINE v16 transition(float dtt, v16 A, int64_t signed_) {
    v16 a = exp16(A * dtt);
    return signed_ ? a * 2.0f - 1.0f : a;
}

/* Cache blocking: a thread runs a bundle of 16 consecutive channels through one segment of S time steps
 * (S a multiple of 16) before the next segment, so the cache lines of u, delta, y (and dy, du, ddelta) that the
 * 16 channels share are fetched once, whether time or channels are contiguous in memory (mamba_ssm's
 * [B, D, L] or the mixer's transposed [B, L, D]). The forward pass saves each channel's state at every
 * segment start in ckpt [c, segment, N]; the backward pass recomputes one segment of one channel from it into
 * `work` ([2, S, N]) and runs the adjoint recurrence back through that segment. */
#define BUNDLE 16

INLINE void fwd_vec_f32(FWD_ARGS(float), const int64_t nv) {
    const int64_t nseg = (L + S - 1) / S;
    v16 h[BUNDLE][NV_MAX], P[16]; /* P: C_t h_t of 16 steps, summed over N together */
    for (int64_t cb = c0; cb < c1; cb += BUNDLE) {
        const int64_t nb = c1 - cb < BUNDLE ? c1 - cb : BUNDLE;
        for (int64_t k = 0; k < nb; k++)
            for (int64_t j = 0; j < nv; j++) h[k][j] = h0 ? ld(h0 + (cb + k) * N + 16 * j) : (v16){};
        for (int64_t seg = 0; seg < nseg; seg++) {
            const int64_t t0 = seg * S, t1 = t0 + S < L ? t0 + S : L;
            for (int64_t k = 0; k < nb; k++) {
                const int64_t c = cb + k;
                CHANNEL(float)
                float *yc = y + b * sy_b + d * sy_d;
                for (int64_t j = 0; j < nv; j++) st(ckpt + (c * nseg + seg) * N + 16 * j, h[k][j]);
                for (int64_t t = t0; t < t1; t++) {
                    const float dtt = dtc[t * su_l], x = dtt * uc[t * su_l];
                    const float *Bt = Bc + t * sB_l, *Ct = Cc + t * sC_l;
                    v16 acc = {};
                    for (int64_t j = 0; j < nv; j++) {
                        h[k][j] = transition(dtt, ld(Ad + 16 * j), signed_) * h[k][j] + ld(Bt + 16 * j) * x;
                        acc += ld(Ct + 16 * j) * h[k][j];
                    }
                    P[t % 16] = acc;
                    if (t % 16 == 15) {
                        v16 ys = hsum16x16(P);
                        for (int s = 0; s < 16; s++) yc[(t - 15 + s) * sy_l] = ys[s];
                    }
                }
                if (t1 == L)
                    for (int64_t t = L - L % 16; t < L; t++) yc[t * sy_l] = hsum(P[t % 16]);
            }
        }
        for (int64_t k = 0; k < nb; k++)
            for (int64_t j = 0; j < nv; j++) st(last + (cb + k) * N + 16 * j, h[k][j]);
    }
}

INLINE void bwd_vec_f32(BWD_ARGS(float), const int64_t nv) {
    const int64_t nseg = (L + S - 1) / S;
    v16 lam[BUNDLE][NV_MAX], dAc[BUNDLE][NV_MAX], DX[16], GA[16];
    float *as = work, *hs = work + S * N;
    for (int64_t cb = c0; cb < c1; cb += BUNDLE) {
        const int64_t nb = c1 - cb < BUNDLE ? c1 - cb : BUNDLE;
        for (int64_t k = 0; k < nb; k++)
            for (int64_t j = 0; j < nv; j++) {
                lam[k][j] = dlast ? ld(dlast + (cb + k) * N + 16 * j) : (v16){};
                dAc[k][j] = (v16){};
            }
        for (int64_t seg = nseg - 1; seg >= 0; seg--) {
            const int64_t t0 = seg * S, t1 = t0 + S < L ? t0 + S : L;
            for (int64_t k = 0; k < nb; k++) {
                const int64_t c = cb + k;
                CHANNEL(float)
                const float *dyc = dy + b * sy_b + d * sy_d, *start = ckpt + (c * nseg + seg) * N;
                float *dBc = dB + offB, *dCc = dC + offC;
                float *duc = du + b * sg_b + d * sg_d, *ddtc = ddt + b * sg_b + d * sg_d;
                for (int64_t t = t0; t < t1; t++) { /* recompute the segment's transitions and states */
                    const float dtt = dtc[t * su_l], x = dtt * uc[t * su_l], *Bt = Bc + t * sB_l;
                    const float *hp = t > t0 ? hs + (t - 1 - t0) * N : start;
                    for (int64_t j = 0; j < nv; j++) {
                        v16 e = exp16(ld(Ad + 16 * j) * dtt); /* kept: 2e - 1 rounds to -1 and loses it */
                        st(as + (t - t0) * N + 16 * j, e);
                        v16 a = signed_ ? e * 2.0f - 1.0f : e;
                        st(hs + (t - t0) * N + 16 * j, a * ld(hp + 16 * j) + ld(Bt + 16 * j) * x);
                    }
                }
                for (int64_t t = t1 - 1; t >= t0; t--) {
                    const float dtt = dtc[t * su_l], ut = uc[t * su_l], x = dtt * ut, dyt = dyc[t * sy_l];
                    const float *Bt = Bc + t * sB_l, *Ct = Cc + t * sC_l;
                    const float *at = as + (t - t0) * N, *ht = hs + (t - t0) * N;
                    const float *hp = t > t0 ? ht - N : start; /* h_{t-1} (zero before a zero h0) */
                    float *dBt = dBc + t * sB_l, *dCt = dCc + t * sC_l;
                    v16 dx = {}, g = {};
                    const int64_t s = (t1 - 1 - t) % 16; /* steps since the last 16-step block */
                    for (int64_t j = 0; j < nv; j++) {
                        const int64_t o = 16 * j;
                        v16 e = ld(at + o), *lk = &lam[k][j];
                        *lk += ld(Ct + o) * dyt; /* lam held a_{t+1} lambda_{t+1} */
                        st(dCt + o, ld(dCt + o) + ld(ht + o) * dyt);
                        st(dBt + o, ld(dBt + o) + *lk * x);
                        dx += *lk * ld(Bt + o);
                        v16 G = *lk * ld(hp + o) * (signed_ ? e * 2.0f : e);
                        g += G * ld(Ad + o);
                        dAc[k][j] += G * dtt;
                        *lk *= signed_ ? e * 2.0f - 1.0f : e;
                    }
                    DX[s] = dx, GA[s] = g;
                    if (s == 15 || t == t0) { /* sum 16 steps' (or the rest's) dx and g over N at once */
                        v16 dxs = hsum16x16(DX), gs = hsum16x16(GA);
                        for (int64_t q = 0; q <= s; q++) {
                            const int64_t tq = t + s - q;
                            duc[tq * sg_l] = dxs[q] * dtc[tq * su_l];
                            ddtc[tq * sg_l] = dxs[q] * uc[tq * su_l] + gs[q];
                        }
                    }
                }
            }
        }
        for (int64_t k = 0; k < nb; k++) {
            const int64_t c = cb + k, d = c % D;
            for (int64_t j = 0; j < nv; j++) {
                st(dA + d * N + 16 * j, ld(dA + d * N + 16 * j) + dAc[k][j]);
                if (dh0) st(dh0 + c * N + 16 * j, lam[k][j]);
            }
        }
    }
}

/* ---- entry points ---- */

static int vectorised(int64_t N) { return N % 16 == 0 && N / 16 <= NV_MAX; }

/* N = 16 (Mamba's d_state) gets its own copy, with the state in one register and no loop over vectors */
void selective_scan_fwd_f32(FWD_ARGS(float)) {
    if (N == 16) fwd_vec_f32(FWD_PASS, 1);
    else if (vectorised(N)) fwd_vec_f32(FWD_PASS, N / 16);
    else fwd_plain_f32(FWD_PASS);
}
void selective_scan_bwd_f32(BWD_ARGS(float)) {
    if (N == 16) bwd_vec_f32(BWD_PASS, 1);
    else if (vectorised(N)) bwd_vec_f32(BWD_PASS, N / 16);
    else bwd_plain_f32(BWD_PASS);
}
void selective_scan_fwd_f64(FWD_ARGS(double)) { fwd_plain_f64(FWD_PASS); }
void selective_scan_bwd_f64(BWD_ARGS(double)) { bwd_plain_f64(BWD_PASS); }
