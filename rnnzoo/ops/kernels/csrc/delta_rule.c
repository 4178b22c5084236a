/* The delta rule with decay on CPU: the reference loop of delta_rule, gated_delta_rule and delta_product
 * (rnnzoo/ops/delta.py), compiled, one (batch, head) pair at a time with its state S [K, V] in cache.
 * Per token t, the decay D_t = diag(exp(g_t)) once, then n rank-1 rows rho = t n + j (j = 0..n-1):
 *
 *   S <- D_t S                                    (before row j = 0 only; no g: no decay)
 *   u_rho = x_rho - S^T a_rho,    S <- S + k_rho u_rho^T                   (one row)
 *   o_t = S^T q_t                                 (after row n-1; q already scaled)
 *
 * which is the delta rule (I - b k k^T) S + b k v^T with the erase vector a = b k and the value x = b v
 * (DeltaNet, Gated DeltaNet, and DeltaProduct's Householder rows), and Gated DeltaNet-2's
 * (I - k (b . k)^T) S + k (w . v)^T with a = b . k, x = w . v. The products are formed outside: the
 * kernel's inputs are k, a, x, and gradients of beta etc. follow by autograd from da and dx.
 *
 * Layouts (contiguous): q, o [B, T, H, K|V]; k, a [B, T n, H, K]; x [B, T n, H, V]; g (or NULL) [B, T, H]
 * (per_key = 0: one decay for every row of S) or [B, T, H, K] (per_key = 1); s0 (or NULL), sT [B, H, K, V].
 * Item i = b * H + h; each call handles items [i0, i1) (disjoint ranges per thread, see kernels/native.py).
 *
 * The forward pass saves S at the start of every segment of `seg` tokens in ckpt [item, segment, K, V]. The
 * backward pass recomputes one segment's states (the state before each row, pre-decay for j = 0) and the
 * u of each row from there, and runs the adjoint Lambda = dL/dS back through it:
 *   output:  Lambda += q_t do_t^T,  dq_t = S_t do_t
 *   row:     du = Lambda^T k,  dk = Lambda u,  dx = du,  da = -S_in du,  Lambda <- Lambda - a du^T
 *   decay:   dg = exp(g) * <Lambda, S_{t-1}> (per row for per_key, summed otherwise),  Lambda <- D_t Lambda
 * where S_in = D_t S_{t-1} for row j = 0, else the state the previous row left. The decay is used exactly
 * as given (exp(g) underflowing to 0 behaves as in the loop).
 *
 * Two implementations of the same loops: float32 with K and V multiples of 16 (V <= 256) in 16-wide vectors
 * (simd.h), and plain loops for other sizes and for float64.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "simd.h"

#define FWD_ARGS(T) int64_t H, int64_t L, int64_t n, int64_t K, int64_t V, int64_t per_key,                       \
    const T *q, const T *k, const T *a, const T *x, const T *g, const T *s0, T *o, T *sT, T *ckpt, int64_t seg,  \
    int64_t i0, int64_t i1
#define FWD_PASS H, L, n, K, V, per_key, q, k, a, x, g, s0, o, sT, ckpt, seg, i0, i1
#define BWD_ARGS(T) int64_t H, int64_t L, int64_t n, int64_t K, int64_t V, int64_t per_key,                       \
    const T *q, const T *k, const T *a, const T *x, const T *g, const T *ckpt, int64_t seg,                     \
    const T *dout, const T *dsT, T *dq, T *dk, T *da, T *dx, T *dg, T *ds0, int64_t i0, int64_t i1
#define BWD_PASS H, L, n, K, V, per_key, q, k, a, x, g, ckpt, seg, dout, dsT, dq, dk, da, dx, dg, ds0, i0, i1

/* offsets in the [B, T, H, *] tensors (token t) and the [B, T n, H, *] ones (row r) of item i */
#define ITEM_BASE const int64_t base = (i / H) * L * H + i % H, rbase = (i / H) * L * n * H + i % H;
#define AT(t, width) ((base + (t) * H) * (width))
#define ROW(r, width) ((rbase + (r) * H) * (width))
#define STATE(i) ((i) * K * V)
#define GW (per_key ? K : 1) /* width of g per token */

/* e[0..K) = exp(g_t) per row of S (1 without g) */
#define DECAYS(T, EXP)                                                                                            \
    for (int64_t r = 0; r < K; r++) e[r] = g ? EXP(g[AT(t, GW) + (per_key ? r : 0)]) : (T)1;

/* ---- plain loops: any K, V; float32 and float64 ---- */

#define DEFINE_PLAIN(T, SUFFIX, EXP)                                                                              \
/* one row: u = x - (d . S)^T a, then next = d . S + k u^T (next may be S); d = decays or NULL (none) */        \
static inline void row_plain_##SUFFIX(int64_t K, int64_t V, const T *d, const T *S, T *next, const T *kr,       \
                                      const T *ar, const T *xr, T *u) {                                          \
    for (int64_t c = 0; c < V; c++) u[c] = xr[c];                                                                 \
    for (int64_t r = 0; r < K; r++) {                                                                             \
        const T coef = (d ? d[r] : (T)1) * ar[r];                                                                 \
        for (int64_t c = 0; c < V; c++) u[c] -= coef * S[r * V + c];                                              \
    }                                                                                                             \
    for (int64_t r = 0; r < K; r++) {                                                                             \
        const T dr = d ? d[r] : (T)1;                                                                             \
        for (int64_t c = 0; c < V; c++) next[r * V + c] = dr * S[r * V + c] + kr[r] * u[c];                       \
    }                                                                                                             \
}                                                                                                                 \
                                                                                                                  \
static void fwd_plain_##SUFFIX(FWD_ARGS(T), T *S, T *e, T *u) {                                                   \
    const int64_t nseg = (L + seg - 1) / seg;                                                                     \
    for (int64_t i = i0; i < i1; i++) {                                                                           \
        ITEM_BASE                                                                                                 \
        for (int64_t z = 0; z < K * V; z++) S[z] = s0 ? s0[STATE(i) + z] : (T)0;                                  \
        for (int64_t t = 0; t < L; t++) {                                                                         \
            if (t % seg == 0) memcpy(ckpt + (i * nseg + t / seg) * K * V, S, K * V * sizeof(T));                  \
            DECAYS(T, EXP)                                                                                        \
            for (int64_t j = 0; j < n; j++) {                                                                     \
                const int64_t rho = t * n + j;                                                                    \
                row_plain_##SUFFIX(K, V, j == 0 && g ? e : NULL, S, S, k + ROW(rho, K), a + ROW(rho, K),          \
                                   x + ROW(rho, V), u);                                                           \
            }                                                                                                     \
            const T *qt = q + AT(t, K);                                                                           \
            T *ot = o + AT(t, V);                                                                                 \
            for (int64_t c = 0; c < V; c++) ot[c] = 0;                                                            \
            for (int64_t r = 0; r < K; r++)                                                                       \
                for (int64_t c = 0; c < V; c++) ot[c] += qt[r] * S[r * V + c];                                    \
        }                                                                                                         \
        memcpy(sT + STATE(i), S, K * V * sizeof(T));                                                              \
    }                                                                                                             \
}                                                                                                                 \
                                                                                                                  \
/* work: states [seg n + 1, K, V] (index rho - t0 n: the state before that row, pre-decay for j = 0), then    \
 * u [seg n, V], then du [V] */                                                                                   \
static void bwd_plain_##SUFFIX(BWD_ARGS(T), T *lam, T *e, T *work) {                                              \
    const int64_t nseg = (L + seg - 1) / seg;                                                                     \
    T *states = work, *us = states + (seg * n + 1) * K * V, *du = us + seg * n * V;                               \
    for (int64_t i = i0; i < i1; i++) {                                                                           \
        ITEM_BASE                                                                                                 \
        for (int64_t z = 0; z < K * V; z++) lam[z] = dsT ? dsT[STATE(i) + z] : (T)0;                              \
        for (int64_t sg = nseg - 1; sg >= 0; sg--) {                                                              \
            const int64_t t0 = sg * seg, t1 = t0 + seg < L ? t0 + seg : L;                                        \
            memcpy(states, ckpt + (i * nseg + sg) * K * V, K * V * sizeof(T));                                    \
            for (int64_t t = t0; t < t1; t++) { /* recompute the segment's states */                              \
                DECAYS(T, EXP)                                                                                    \
                for (int64_t j = 0; j < n; j++) {                                                                 \
                    const int64_t rho = t * n + j, l = rho - t0 * n;                                              \
                    row_plain_##SUFFIX(K, V, j == 0 && g ? e : NULL, states + l * K * V,                          \
                                       states + (l + 1) * K * V, k + ROW(rho, K), a + ROW(rho, K),                \
                                       x + ROW(rho, V), us + l * V);                                              \
                }                                                                                                 \
            }                                                                                                     \
            for (int64_t t = t1 - 1; t >= t0; t--) {                                                              \
                DECAYS(T, EXP)                                                                                    \
                const T *qt = q + AT(t, K), *dot = dout + AT(t, V), *St = states + (t + 1 - t0) * n * K * V;      \
                T *dqt = dq + AT(t, K);                                                                           \
                for (int64_t r = 0; r < K; r++) {                                                                 \
                    T s = 0;                                                                                      \
                    for (int64_t c = 0; c < V; c++) {                                                             \
                        lam[r * V + c] += qt[r] * dot[c];                                                         \
                        s += St[r * V + c] * dot[c];                                                              \
                    }                                                                                             \
                    dqt[r] = s;                                                                                   \
                }                                                                                                 \
                T total = 0;                                                                                      \
                for (int64_t j = n - 1; j >= 0; j--) {                                                            \
                    const int64_t rho = t * n + j, l = rho - t0 * n;                                              \
                    const T *kr = k + ROW(rho, K), *ar = a + ROW(rho, K), *u = us + l * V;                        \
                    const T *P = states + l * K * V;                                                              \
                    const int decayed = j == 0 && g;                                                              \
                    T *dkr = dk + ROW(rho, K), *dar = da + ROW(rho, K), *dxr = dx + ROW(rho, V);                  \
                    for (int64_t c = 0; c < V; c++) du[c] = 0;                                                    \
                    for (int64_t r = 0; r < K; r++)                                                               \
                        for (int64_t c = 0; c < V; c++) du[c] += lam[r * V + c] * kr[r];                          \
                    for (int64_t r = 0; r < K; r++) {                                                             \
                        T *lr = lam + r * V, sk = 0, sd = 0, gr = 0;                                              \
                        const T *Pr = P + r * V;                                                                  \
                        for (int64_t c = 0; c < V; c++) {                                                         \
                            sk += lr[c] * u[c];                                                                   \
                            sd += Pr[c] * du[c];                                                                  \
                            lr[c] -= ar[r] * du[c];                                                               \
                        }                                                                                         \
                        dkr[r] = sk;                                                                              \
                        dar[r] = decayed ? -e[r] * sd : -sd;                                                      \
                        if (decayed) {                                                                            \
                            for (int64_t c = 0; c < V; c++) {                                                     \
                                gr += lr[c] * Pr[c];                                                              \
                                lr[c] *= e[r];                                                                    \
                            }                                                                                     \
                            if (per_key) dg[AT(t, K) + r] = e[r] * gr;                                            \
                            else total += e[r] * gr;                                                              \
                        }                                                                                         \
                    }                                                                                             \
                    for (int64_t c = 0; c < V; c++) dxr[c] = du[c];                                               \
                }                                                                                                 \
                if (g && !per_key) dg[AT(t, 1)] = total;                                                          \
            }                                                                                                     \
        }                                                                                                         \
        if (ds0) memcpy(ds0 + STATE(i), lam, K * V * sizeof(T));                                                  \
    }                                                                                                             \
}

static inline float exp_f32(float v) { return expf(v); }
static inline double exp_f64(double v) { return exp(v); }

DEFINE_PLAIN(float, f32, exp_f32)
DEFINE_PLAIN(double, f64, exp_f64)

/* ---- float32, K and V multiples of 16, V <= 256: 16-wide vectors along V ----
 * A row of S is nv = V / 16 vectors; the vectors of one row of the result (u, o, du) stay in registers
 * (nv is a constant in each compiled copy) while the rows of S stream from L1. Sums along V (dq, dk, da,
 * dg) are kept per row of S as 16-lane partial sums and reduced 16 rows at a time (hsum16x16). */
#define NVMAX 16

/* one row: u = x - (d . S)^T a, next = d . S + k u^T, and o += next^T q when q is given */
INLINE void row_vec(int64_t K, int64_t V, const float *d, const float *S, float *next, const float *kr,
                    const float *ar, const float *xr, float *u, const float *qt, float *ot, const int64_t nv) {
    v16 W0[NVMAX], W1[NVMAX], U[NVMAX];
    for (int64_t c = 0; c < nv; c++) W0[c] = W1[c] = (v16){};
    for (int64_t r = 0; r < K; r += 2) { /* two chains of sums: the FMA latency, not its throughput, would bind */
        const float c0 = d[r] * ar[r], c1 = d[r + 1] * ar[r + 1];
        for (int64_t c = 0; c < nv; c++) {
            W0[c] += ld(S + r * V + 16 * c) * c0;
            W1[c] += ld(S + (r + 1) * V + 16 * c) * c1;
        }
    }
    for (int64_t c = 0; c < nv; c++) {
        U[c] = ld(xr + 16 * c) - W0[c] - W1[c];
        st(u + 16 * c, U[c]);
        W0[c] = W1[c] = (v16){}; /* now the output sums */
    }
    for (int64_t r = 0; r < K; r += 2)
        for (int64_t c = 0; c < nv; c++) {
            const v16 s0 = ld(S + r * V + 16 * c) * d[r] + U[c] * kr[r];
            const v16 s1 = ld(S + (r + 1) * V + 16 * c) * d[r + 1] + U[c] * kr[r + 1];
            st(next + r * V + 16 * c, s0);
            st(next + (r + 1) * V + 16 * c, s1);
            if (qt) {
                W0[c] += s0 * qt[r];
                W1[c] += s1 * qt[r + 1];
            }
        }
    if (qt)
        for (int64_t c = 0; c < nv; c++) st(ot + 16 * c, W0[c] + W1[c]);
}

INLINE void fwd_vec(FWD_ARGS(float), float *S, float *e, const float *one, float *u, const int64_t nv) {
    const int64_t nseg = (L + seg - 1) / seg;
    for (int64_t i = i0; i < i1; i++) {
        ITEM_BASE
        for (int64_t z = 0; z < K * V; z++) S[z] = s0 ? s0[STATE(i) + z] : 0.0f;
        for (int64_t t = 0; t < L; t++) {
            if (t % seg == 0) memcpy(ckpt + (i * nseg + t / seg) * K * V, S, K * V * sizeof(float));
            DECAYS(float, expf)
            for (int64_t j = 0; j < n; j++) {
                const int64_t rho = t * n + j;
                row_vec(K, V, j == 0 ? e : one, S, S, k + ROW(rho, K), a + ROW(rho, K), x + ROW(rho, V), u,
                        j == n - 1 ? q + AT(t, K) : NULL, o + AT(t, V), nv);
            }
        }
        memcpy(sT + STATE(i), S, K * V * sizeof(float));
    }
}

/* the sums along V of 16 rows of partial sums part [16 rows, 16 lanes], times f (per row) */
INLINE v16 reduce(const float *part) {
    v16 P[16];
    for (int r = 0; r < 16; r++) P[r] = ld(part + r * 16);
    return hsum16x16(P);
}

/* work: states [seg n + 1, K, V], u [seg n, V], then partial sums [4, K, 16] (dq, dk, da, dg) */
INLINE void bwd_vec(BWD_ARGS(float), float *lam, float *e, const float *one, float *work, const int64_t nv) {
    const int64_t nseg = (L + seg - 1) / seg;
    float *states = work, *us = states + (seg * n + 1) * K * V, *parts = us + seg * n * V;
    float *pq = parts, *pk = pq + K * 16, *pd = pk + K * 16, *pg = pd + K * 16;
    for (int64_t i = i0; i < i1; i++) {
        ITEM_BASE
        for (int64_t z = 0; z < K * V; z++) lam[z] = dsT ? dsT[STATE(i) + z] : 0.0f;
        for (int64_t sg = nseg - 1; sg >= 0; sg--) {
            const int64_t t0 = sg * seg, t1 = t0 + seg < L ? t0 + seg : L;
            memcpy(states, ckpt + (i * nseg + sg) * K * V, K * V * sizeof(float));
            for (int64_t t = t0; t < t1; t++) {
                DECAYS(float, expf)
                for (int64_t j = 0; j < n; j++) {
                    const int64_t rho = t * n + j, l = rho - t0 * n;
                    row_vec(K, V, j == 0 ? e : one, states + l * K * V, states + (l + 1) * K * V, k + ROW(rho, K),
                            a + ROW(rho, K), x + ROW(rho, V), us + l * V, NULL, NULL, nv);
                }
            }
            for (int64_t t = t1 - 1; t >= t0; t--) {
                DECAYS(float, expf)
                const float *qt = q + AT(t, K), *St = states + (t + 1 - t0) * n * K * V;
                v16 DO[NVMAX], DU0[NVMAX], DU1[NVMAX];
                for (int64_t c = 0; c < nv; c++) DO[c] = ld(dout + AT(t, V) + 16 * c);
                v16 gsum = {};
                for (int64_t j = n - 1; j >= 0; j--) {
                    const int64_t rho = t * n + j, l = rho - t0 * n;
                    const float *kr = k + ROW(rho, K), *ar = a + ROW(rho, K), *u = us + l * V;
                    const float *P = states + l * K * V, *d = j == 0 ? e : one;
                    for (int64_t c = 0; c < nv; c++) DU0[c] = DU1[c] = (v16){};
                    for (int64_t r = 0; r < K; r += 2) { /* du = Lambda^T k (after the output's share) */
                        v16 q0 = {}, q1 = {};
                        for (int64_t c = 0; c < nv; c++) {
                            v16 l0 = ld(lam + r * V + 16 * c), l1 = ld(lam + (r + 1) * V + 16 * c);
                            if (j == n - 1) {
                                l0 += DO[c] * qt[r];
                                l1 += DO[c] * qt[r + 1];
                                st(lam + r * V + 16 * c, l0);
                                st(lam + (r + 1) * V + 16 * c, l1);
                                q0 += ld(St + r * V + 16 * c) * DO[c];
                                q1 += ld(St + (r + 1) * V + 16 * c) * DO[c];
                            }
                            DU0[c] += l0 * kr[r];
                            DU1[c] += l1 * kr[r + 1];
                        }
                        if (j == n - 1) {
                            st(pq + r * 16, q0);
                            st(pq + (r + 1) * 16, q1);
                        }
                    }
                    if (j == n - 1)
                        for (int64_t rb = 0; rb < K; rb += 16) st(dq + AT(t, K) + rb, reduce(pq + rb * 16));
                    for (int64_t c = 0; c < nv; c++) {
                        DU0[c] += DU1[c];
                        st(dx + ROW(rho, V) + 16 * c, DU0[c]);
                    }
                    for (int64_t r = 0; r < K; r++) {
                        v16 sk = {}, sd = {}, gr = {};
                        const float *Pr = P + r * V;
                        float *lr = lam + r * V;
                        for (int64_t c = 0; c < nv; c++) {
                            v16 lv = ld(lr + 16 * c);
                            const v16 pv = ld(Pr + 16 * c);
                            sk += lv * ld(u + 16 * c);
                            sd += pv * DU0[c];
                            lv -= DU0[c] * ar[r];
                            if (j == 0 && g) {
                                gr += lv * pv;
                                lv *= e[r];
                            }
                            st(lr + 16 * c, lv);
                        }
                        st(pk + r * 16, sk);
                        st(pd + r * 16, sd);
                        if (j == 0 && g) st(pg + r * 16, gr);
                    }
                    for (int64_t rb = 0; rb < K; rb += 16) {
                        st(dk + ROW(rho, K) + rb, reduce(pk + rb * 16));
                        st(da + ROW(rho, K) + rb, -reduce(pd + rb * 16) * ld(d + rb));
                        if (j == 0 && g) {
                            const v16 dgr = reduce(pg + rb * 16) * ld(e + rb);
                            if (per_key) st(dg + AT(t, K) + rb, dgr);
                            else gsum += dgr;
                        }
                    }
                }
                if (g && !per_key) dg[AT(t, 1)] = hsum(gsum);
            }
        }
        if (ds0) memcpy(ds0 + STATE(i), lam, K * V * sizeof(float));
    }
}

/* ---- entry points ----
 * scratch: K * V + 2 K + V floats per thread (S or Lambda, e, ones, u);
 * work (backward): (seg n + 1) K V + seg n V + 4 K 16 + V floats per thread */

static int vectorised(int64_t K, int64_t V) { return K % 16 == 0 && V % 16 == 0 && V <= 16 * NVMAX; }

#define SCRATCH(T) T *S = scratch, *e = S + K * V, *one = e + K, *u = one + K;                                    \
    for (int64_t r = 0; r < K; r++) one[r] = 1;

void delta_rule_fwd_f32(FWD_ARGS(float), float *scratch) {
    SCRATCH(float)
    switch (vectorised(K, V) ? V / 16 : 0) {
    case 0: fwd_plain_f32(FWD_PASS, S, e, u); break;
    case 4: fwd_vec(FWD_PASS, S, e, one, u, 4); break;
    case 8: fwd_vec(FWD_PASS, S, e, one, u, 8); break;
    default: fwd_vec(FWD_PASS, S, e, one, u, V / 16);
    }
}
void delta_rule_bwd_f32(BWD_ARGS(float), float *scratch, float *work) {
    SCRATCH(float)
    (void)u;
    switch (vectorised(K, V) ? V / 16 : 0) {
    case 0: bwd_plain_f32(BWD_PASS, S, e, work); break;
    case 4: bwd_vec(BWD_PASS, S, e, one, work, 4); break;
    case 8: bwd_vec(BWD_PASS, S, e, one, work, 8); break;
    default: bwd_vec(BWD_PASS, S, e, one, work, V / 16);
    }
}
void delta_rule_fwd_f64(FWD_ARGS(double), double *scratch) {
    SCRATCH(double)
    fwd_plain_f64(FWD_PASS, S, e, u);
}
void delta_rule_bwd_f64(BWD_ARGS(double), double *scratch, double *work) {
    SCRATCH(double)
    (void)u;
    bwd_plain_f64(BWD_PASS, S, e, work);
}
