/* The generalized delta rule with a diagonal-plus-low-rank transition on CPU: the reference loop of
 * dplr_delta_rule and iplr_delta_rule (rnnzoo/ops/dplr.py), compiled, one (batch, head) pair at a time with its
 * state S [K, V] in cache. Per token t, with D_t = diag(exp(gk_t)) (identity without gk):
 *
 *   u_t = S_{t-1}^T a_t                           (the low-rank read, before the decay)
 *   S_t = D_t S_{t-1} + b_t u_t^T + k_t v_t^T
 *   o_t = S_t^T q_t                               (q already scaled)
 *
 * Layouts (contiguous): q, k, a, b, w = exp(gk) (or NULL: no decay) [B, T, H, K]; v, o [B, T, H, V];
 * s0 (or NULL), sT [B, H, K, V].
 * Item i = b * H + h; each call handles items [i0, i1) (disjoint ranges per thread, see kernels/native.py).
 *
 * The forward pass saves S at the start of every segment of `seg` tokens in ckpt [item, segment, K, V]. The
 * backward pass recomputes one segment's states (S_{t-1} before each token) and u_t from there, and runs the
 * adjoint Lambda = dL/dS_t back through it, per token:
 *   output:  Lambda += q_t do_t^T,  dq_t = S_t do_t
 *   write:   dk_t = Lambda v_t,  dv_t = Lambda^T k_t,  db_t = Lambda u_t,  du = Lambda^T b_t
 *   read:    da_t = S_{t-1} du,  dgk_t = exp(gk_t) . <Lambda, S_{t-1}> (per row),  Lambda <- D_t Lambda + a_t du^T
 * The decays come as w = exp(gk), taken by the caller (torch's vectorised exp, once, and the loop's own values:
 * exp(gk) underflowing to 0, or gk = -inf, behaves as in the loop); dgk = w . dL/dw.
 *
 * Two implementations of the same loops: float32 with K and V multiples of 16 (V <= 256) in 16-wide vectors
 * (simd.h, rows.h), which make one pass over S per token forward (the next token's read u_{t+1} = S_t^T a_{t+1} is
 * summed while S_t is written) and one over S and Lambda per token backward (the read of token t and the
 * output and write of token t - 1 share their rows of S_{t-1} and Lambda); and plain loops, pass by pass, for
 * other sizes and for float64.
 */
#include "rows.h"

#define FWD_ARGS(T) int64_t H, int64_t L, int64_t K, int64_t V, const T *q, const T *k, const T *v, const T *a,   \
    const T *b, const T *w, const T *s0, T *o, T *sT, T *ckpt, int64_t seg, int64_t i0, int64_t i1
#define FWD_PASS H, L, K, V, q, k, v, a, b, w, s0, o, sT, ckpt, seg, i0, i1
#define BWD_ARGS(T) int64_t H, int64_t L, int64_t K, int64_t V, const T *q, const T *k, const T *v, const T *a,   \
    const T *b, const T *w, const T *ckpt, int64_t seg, const T *dout, const T *dsT, T *dq, T *dk, T *dv,         \
    T *da, T *db, T *dgk, T *ds0, int64_t i0, int64_t i1
#define BWD_PASS H, L, K, V, q, k, v, a, b, w, ckpt, seg, dout, dsT, dq, dk, dv, da, db, dgk, ds0, i0, i1

/* token 0 of item i in a [B, T, H, width] tensor (the offsets: AT, rows.h) */
#define ITEM_BASE const int64_t base = (i / H) * L * H + i % H;

/* e[0..K) = exp(gk_t) per row of S (ones without gk) */
#define DECAYS const T_ *e = w ? w + AT(t, K) : one;

/* ---- plain loops: any K, V; float32 and float64 ---- */

DEFINE_PLAIN_ROWS(float, f32)
DEFINE_PLAIN_ROWS(double, f64)

#define DEFINE_PLAIN(T, SUFFIX)                                                                                   \
/* one token: u = S^T a, next = e . S + b u^T + k v^T (next may be S) */                                          \
static inline void step_plain_##SUFFIX(int64_t K, int64_t V, const T *e, const T *S, T *next, const T *kt,        \
                                       const T *vt, const T *at, const T *bt, T *u) {                             \
    for (int64_t c = 0; c < V; c++) u[c] = 0;                                                                     \
    for (int64_t r = 0; r < K; r++)                                                                               \
        for (int64_t c = 0; c < V; c++) u[c] += at[r] * S[r * V + c];                                             \
    for (int64_t r = 0; r < K; r++)                                                                               \
        for (int64_t c = 0; c < V; c++) next[r * V + c] = e[r] * S[r * V + c] + bt[r] * u[c] + kt[r] * vt[c];     \
}                                                                                                                 \
                                                                                                                  \
static void fwd_plain_##SUFFIX(FWD_ARGS(T), T *S, const T *one, T *u) {                                           \
    typedef T T_;                                                                                                 \
    const int64_t nseg = (L + seg - 1) / seg;                                                                     \
    for (int64_t i = i0; i < i1; i++) {                                                                           \
        ITEM_BASE                                                                                                 \
        for (int64_t z = 0; z < K * V; z++) S[z] = s0 ? s0[STATE(i) + z] : (T)0;                                  \
        for (int64_t t = 0; t < L; t++) {                                                                         \
            if (t % seg == 0) memcpy(CKPT(i, t / seg), S, K * V * sizeof(T));                                     \
            DECAYS                                                                                                \
            step_plain_##SUFFIX(K, V, e, S, S, k + AT(t, K), v + AT(t, V), a + AT(t, K), b + AT(t, K), u);        \
            output_plain_##SUFFIX(K, V, S, q + AT(t, K), o + AT(t, V));                                           \
        }                                                                                                         \
        memcpy(sT + STATE(i), S, K * V * sizeof(T));                                                              \
    }                                                                                                             \
}                                                                                                                 \
                                                                                                                  \
/* work: states [seg + 1, K, V] (index t - t0: S_{t-1}), u [seg, V], then du [V] */                               \
static void bwd_plain_##SUFFIX(BWD_ARGS(T), T *lam, const T *one, T *work) {                                      \
    typedef T T_;                                                                                                 \
    const int64_t nseg = (L + seg - 1) / seg;                                                                     \
    T *states = work, *us = states + (seg + 1) * K * V, *du = us + seg * V;                                       \
    for (int64_t i = i0; i < i1; i++) {                                                                           \
        ITEM_BASE                                                                                                 \
        for (int64_t z = 0; z < K * V; z++) lam[z] = dsT ? dsT[STATE(i) + z] : (T)0;                              \
        for (int64_t sg = nseg - 1; sg >= 0; sg--) {                                                              \
            SEGMENT_TOKENS(sg)                                                                                    \
            memcpy(states, CKPT(i, sg), K * V * sizeof(T));                                                       \
            for (int64_t t = t0; t < t1; t++) { /* recompute the segment's states */                              \
                DECAYS                                                                                            \
                const int64_t l = t - t0;                                                                         \
                step_plain_##SUFFIX(K, V, e, states + l * K * V, states + (l + 1) * K * V, k + AT(t, K),          \
                                    v + AT(t, V), a + AT(t, K), b + AT(t, K), us + l * V);                        \
            }                                                                                                     \
            for (int64_t t = t1 - 1; t >= t0; t--) {                                                              \
                DECAYS                                                                                            \
                const int64_t l = t - t0;                                                                         \
                const T *qt = q + AT(t, K), *dot = dout + AT(t, V), *kt = k + AT(t, K), *vt = v + AT(t, V);       \
                const T *at = a + AT(t, K), *bt = b + AT(t, K), *u = us + l * V;                                  \
                const T *P = states + l * K * V, *St = states + (l + 1) * K * V;                                  \
                T *dvt = dv + AT(t, V);                                                                           \
                for (int64_t c = 0; c < V; c++) dvt[c] = du[c] = 0;                                               \
                for (int64_t r = 0; r < K; r++) {                                                                 \
                    T *lr = lam + r * V, sq = 0, sk = 0, sb = 0;                                                  \
                    for (int64_t c = 0; c < V; c++) {                                                             \
                        lr[c] += qt[r] * dot[c];                                                                  \
                        sq += St[r * V + c] * dot[c];                                                             \
                        sk += lr[c] * vt[c];                                                                      \
                        sb += lr[c] * u[c];                                                                       \
                        dvt[c] += lr[c] * kt[r];                                                                  \
                        du[c] += lr[c] * bt[r];                                                                   \
                    }                                                                                             \
                    dq[AT(t, K) + r] = sq;                                                                        \
                    dk[AT(t, K) + r] = sk;                                                                        \
                    db[AT(t, K) + r] = sb;                                                                        \
                }                                                                                                 \
                for (int64_t r = 0; r < K; r++) {                                                                 \
                    T *lr = lam + r * V, sa = 0, sg_ = 0;                                                         \
                    const T *Pr = P + r * V;                                                                      \
                    for (int64_t c = 0; c < V; c++) {                                                             \
                        sa += Pr[c] * du[c];                                                                      \
                        sg_ += lr[c] * Pr[c];                                                                     \
                        lr[c] = e[r] * lr[c] + at[r] * du[c];                                                     \
                    }                                                                                             \
                    da[AT(t, K) + r] = sa;                                                                        \
                    if (w) dgk[AT(t, K) + r] = e[r] * sg_;                                                        \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
        if (ds0) memcpy(ds0 + STATE(i), lam, K * V * sizeof(T));                                                  \
    }                                                                                                             \
}

DEFINE_PLAIN(float, f32)
DEFINE_PLAIN(double, f64)

/* ---- float32, K and V multiples of 16, V <= 256: 16-wide vectors along V ----
 * A row of S is nv = V / 16 vectors; the vectors of one token (u, v, o, do, du, dv) stay in registers (nv is a
 * constant in each compiled copy) while the rows of S and Lambda stream from L1/L2. Sums along V (dq, dk, db,
 * da, dgk) are kept per row as 16-lane partial sums and reduced 16 rows at a time (hsum16x16). One token's
 * update of S with its output and the next token's read is update_rows (rows.h), as the rank-2 update
 * e . S + b u^T + k v^T. */

/* u: 2 V floats (this token's read and the next one's, swapped in turn) */
INLINE void fwd_vec(FWD_ARGS(float), float *S, const float *one, float *u, const int64_t nv) {
    typedef float T_;
    const int64_t nseg = (L + seg - 1) / seg;
    for (int64_t i = i0; i < i1; i++) {
        ITEM_BASE
        float *ucur = u, *unext = u + V;
        for (int64_t z = 0; z < K * V; z++) S[z] = s0 ? s0[STATE(i) + z] : 0.0f;
        read_rows(K, V, S, a + AT(0, K), 0, NULL, ucur, nv);
        for (int64_t t = 0; t < L; t++) {
            if (t % seg == 0) memcpy(CKPT(i, t / seg), S, K * V * sizeof(float));
            DECAYS
            update_rows(K, V, e, S, S, ucur, b + AT(t, K), 1, v + AT(t, V), k + AT(t, K), q + AT(t, K), o + AT(t, V),
                        t + 1 < L ? a + AT(t + 1, K) : NULL, 0, NULL, unext, nv);
            float *swap = ucur;
            ucur = unext;
            unext = swap;
        }
        memcpy(sT + STATE(i), S, K * V * sizeof(float));
    }
}

/* One pass over the rows of Lambda (and of P = S_{t-1}) doing, row by row,
 *   the read of token t (read): da_t, dgk_t from P and du_t; Lambda <- e_t . Lambda + a_t du_t^T;
 *   then the output and write of token s (write; s = t - 1 when read, so that S_s = P): Lambda += q_s do_s^T,
 *   dq_s from S_s, dk_s, db_s, and the sums dv_s = Lambda^T k_s, du_s = Lambda^T b_s (into dvs, dus).
 * parts: [5, K, 16] partial sums (dq, dk, db, da, dgk); read and write are constants in each inlined copy. */
INLINE void adjoint_vec(int64_t K, int64_t V, int read, int write, float *lam, const float *P, const float *e,
                        const float *at, const float *dut, const float *Ss, const float *qs, const float *dos,
                        const float *vs, const float *us, const float *ks, const float *bs, float *dvs, float *dus,
                        float *parts, const int64_t nv) {
    float *pq = parts, *pk = pq + K * 16, *pb = pk + K * 16, *pa = pb + K * 16, *pg = pa + K * 16;
    v16 DUT[NVMAX], DO[NVMAX], X[NVMAX], U[NVMAX], DV[NVMAX], DU[NVMAX];
    for (int64_t c = 0; c < nv; c++) {
        if (read) DUT[c] = ld(dut + 16 * c);
        if (write) {
            DO[c] = ld(dos + 16 * c);
            X[c] = ld(vs + 16 * c);
            U[c] = ld(us + 16 * c);
            DV[c] = DU[c] = (v16){};
        }
    }
    for (int64_t r = 0; r < K; r++) {
        v16 sa = {}, sg = {}, sq = {}, sk = {}, sb = {};
        float *lr = lam + r * V;
        for (int64_t c = 0; c < nv; c++) {
            v16 lv = ld(lr + 16 * c), pv = {};
            if (read) {
                pv = ld(P + r * V + 16 * c);
                sa += pv * DUT[c];
                sg += lv * pv;
                lv = lv * e[r] + DUT[c] * at[r];
            }
            if (write) {
                const v16 sv = read ? pv : ld(Ss + r * V + 16 * c);
                lv += DO[c] * qs[r];
                sq += sv * DO[c];
                sk += lv * X[c];
                sb += lv * U[c];
                DV[c] += lv * ks[r];
                DU[c] += lv * bs[r];
            }
            st(lr + 16 * c, lv);
        }
        if (read) {
            st(pa + r * 16, sa);
            st(pg + r * 16, sg);
        }
        if (write) {
            st(pq + r * 16, sq);
            st(pk + r * 16, sk);
            st(pb + r * 16, sb);
        }
    }
    if (write)
        for (int64_t c = 0; c < nv; c++) {
            st(dvs + 16 * c, DV[c]);
            st(dus + 16 * c, DU[c]);
        }
}

/* work: states [seg + 1, K, V] (index t - t0: S_{t-1}), u [seg, V], du [2, V] (this token's and the one
 * before's, swapped in turn), then partial sums [5, K, 16] */
INLINE void bwd_vec(BWD_ARGS(float), float *lam, const float *one, float *work, const int64_t nv) {
    typedef float T_;
    const int64_t nseg = (L + seg - 1) / seg;
    float *states = work, *us = states + (seg + 1) * K * V, *du = us + seg * V, *parts = du + 2 * V;
    float *pq = parts, *pk = pq + K * 16, *pb = pk + K * 16, *pa = pb + K * 16, *pg = pa + K * 16;
    for (int64_t i = i0; i < i1; i++) {
        ITEM_BASE
        for (int64_t z = 0; z < K * V; z++) lam[z] = dsT ? dsT[STATE(i) + z] : 0.0f;
        for (int64_t sg = nseg - 1; sg >= 0; sg--) {
            SEGMENT_TOKENS(sg)
            memcpy(states, CKPT(i, sg), K * V * sizeof(float));
            read_rows(K, V, states, a + AT(t0, K), 0, NULL, us, nv);
            for (int64_t t = t0; t < t1; t++) { /* recompute the segment's states and reads */
                DECAYS
                const int64_t l = t - t0;
                update_rows(K, V, e, states + l * K * V, states + (l + 1) * K * V, us + l * V, b + AT(t, K),
                            1, v + AT(t, V), k + AT(t, K), NULL, NULL, t + 1 < t1 ? a + AT(t + 1, K) : NULL, 0, NULL,
                            us + (l + 1) * V, nv);
            }
            /* tokens t1 - 1 .. t0: the write of t1 - 1 alone, then the read of t with the write of t - 1, then
             * the read of t0 alone */
            for (int64_t t = t1; t >= t0; t--) {
                const int read = t < t1, write = t > t0;
                const int64_t s = t - 1, l = t - t0; /* l: index of S_{t-1} (= S_s) in states */
                float *dut = du + (t & 1) * V, *dus = du + (s & 1) * V;
                const float *e = read && w ? w + AT(t, K) : one;
                const float *at = read ? a + AT(t, K) : NULL;
                if (write) {
                    const float *Ss = states + l * K * V;
                    const float *qs = q + AT(s, K), *dos = dout + AT(s, V), *vs = v + AT(s, V);
                    const float *ks = k + AT(s, K), *bs = b + AT(s, K), *u_s = us + (l - 1) * V;
                    if (read)
                        adjoint_vec(K, V, 1, 1, lam, Ss, e, at, dut, Ss, qs, dos, vs, u_s, ks, bs, dv + AT(s, V),
                                    dus, parts, nv);
                    else
                        adjoint_vec(K, V, 0, 1, lam, NULL, e, NULL, NULL, Ss, qs, dos, vs, u_s, ks, bs,
                                    dv + AT(s, V), dus, parts, nv);
                } else {
                    adjoint_vec(K, V, 1, 0, lam, states, e, at, dut, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                NULL, NULL, parts, nv);
                }
                for (int64_t rb = 0; rb < K; rb += 16) {
                    if (read) {
                        st(da + AT(t, K) + rb, reduce(pa + rb * 16));
                        if (w) st(dgk + AT(t, K) + rb, reduce(pg + rb * 16) * ld(e + rb));
                    }
                    if (write) {
                        st(dq + AT(s, K) + rb, reduce(pq + rb * 16));
                        st(dk + AT(s, K) + rb, reduce(pk + rb * 16));
                        st(db + AT(s, K) + rb, reduce(pb + rb * 16));
                    }
                }
            }
        }
        if (ds0) memcpy(ds0 + STATE(i), lam, K * V * sizeof(float));
    }
}

/* ---- entry points ----
 * scratch: K * V + K + 2 V floats per thread (S or Lambda, ones, u);
 * work (backward): (seg + 1) K V + seg V + 2 V + 5 K 16 floats per thread */

#define SCRATCH(T) T *S = scratch, *one = S + K * V, *u = one + K;                                                \
    for (int64_t r = 0; r < K; r++) one[r] = 1;

void dplr_fwd_f32(FWD_ARGS(float), float *scratch) {
    SCRATCH(float)
    switch (vectorised(K, V) ? V / 16 : 0) {
    case 0: fwd_plain_f32(FWD_PASS, S, one, u); break;
    case 4: fwd_vec(FWD_PASS, S, one, u, 4); break;
    case 8: fwd_vec(FWD_PASS, S, one, u, 8); break;
    default: fwd_vec(FWD_PASS, S, one, u, V / 16);
    }
}
void dplr_bwd_f32(BWD_ARGS(float), float *scratch, float *work) {
    SCRATCH(float)
    (void)u;
    switch (vectorised(K, V) ? V / 16 : 0) {
    case 0: bwd_plain_f32(BWD_PASS, S, one, work); break;
    case 4: bwd_vec(BWD_PASS, S, one, work, 4); break;
    case 8: bwd_vec(BWD_PASS, S, one, work, 8); break;
    default: bwd_vec(BWD_PASS, S, one, work, V / 16);
    }
}
void dplr_fwd_f64(FWD_ARGS(double), double *scratch) {
    SCRATCH(double)
    fwd_plain_f64(FWD_PASS, S, one, u);
}
void dplr_bwd_f64(BWD_ARGS(double), double *scratch, double *work) {
    SCRATCH(double)
    (void)u;
    bwd_plain_f64(BWD_PASS, S, one, work);
}
