/* Decayed linear attention on CPU: the reference loop of simple_gla (a scalar decay per head and step; with
 * q = c, k = b, v = x, scale 1 it is Mamba-2's SSD) and of gla (a decay per key channel), compiled, one
 * (batch, head) pair at a time with its state S [K, V] in cache.
 *
 *   S_t = diag(exp(g_t)) S_{t-1} + k_t v_t^T,    o_t = S_t^T q_t               (q already scaled)
 *
 * Layouts (contiguous): q, k [B, T, H, K]; v, o [B, T, H, V]; g, dg [B, T, H] (per_key = 0: one decay for
 * every row) or [B, T, H, K] (per_key = 1); s0, sT [B, H, K, V]. Item i = b * H + h; each call handles items
 * [i0, i1); the Python side (rnnzoo/ops/kernels/linear_attention.py) gives disjoint ranges to its threads.
 *
 * The forward pass saves S at the start of every segment of `seg` steps in ckpt [item, segment, K, V]. The
 * backward pass recomputes one segment's states from there and runs the adjoint
 * Lambda_t = dL/dS_t = q_t do_t^T + diag(exp(g_{t+1})) Lambda_{t+1} back through it:
 *   dq_t = S_t do_t,  dk_t = Lambda_t v_t,  dv_t = Lambda_t^T k_t,  dS_0 = diag(exp(g_1)) Lambda_1,
 *   dg_t = exp(g_t) * <Lambda_t, S_{t-1}>, per row for per_key, summed over rows otherwise.
 * The decay is used exactly as given (no factorisation, no clamping): any decay, including exp(g)
 * underflowing to 0, behaves as in the loop.
 *
 * Two implementations of the same loops: float32 with K and V multiples of 16 in explicit 16-wide vectors
 * (simd.h), and plain loops for other sizes and for float64.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "simd.h"

#define FWD_ARGS(T) int64_t H, int64_t L, int64_t K, int64_t V, int64_t per_key,                                  \
    const T *q, const T *k, const T *v, const T *g, const T *s0, T *o, T *sT, T *ckpt, int64_t seg,             \
    int64_t i0, int64_t i1
#define FWD_PASS(PK) H, L, K, V, PK, q, k, v, g, s0, o, sT, ckpt, seg, i0, i1
#define BWD_ARGS(T) int64_t H, int64_t L, int64_t K, int64_t V, int64_t per_key,                                  \
    const T *q, const T *k, const T *v, const T *g, const T *s0, const T *ckpt, int64_t seg,                    \
    const T *dout, const T *dsT, T *dq, T *dk, T *dv, T *dg, T *ds0, T *work, int64_t i0, int64_t i1
#define BWD_PASS(PK) H, L, K, V, PK, q, k, v, g, s0, ckpt, seg, dout, dsT, dq, dk, dv, dg, ds0, work, i0, i1

/* offsets of item i's token t in the [B, T, H, *] tensors and of its state */
#define ITEM_BASE const int64_t base = (i / H) * L * H + i % H; /* token 0 of item i, in [B, T, H] units */
#define AT(t, width) ((base + (t) * H) * (width))
#define STATE(i) ((i) * K * V)
#define GW (per_key ? K : 1) /* width of g per token */

/* ---- plain loops: any K, V; float32 and float64 ---- */

#define DEFINE_PLAIN(T, SUFFIX, EXP)                                                                              \
static void fwd_plain_##SUFFIX(FWD_ARGS(T), T *S) {                                                               \
    const int64_t nseg = (L + seg - 1) / seg;                                                                     \
    for (int64_t i = i0; i < i1; i++) {                                                                           \
        ITEM_BASE                                                                                                 \
        for (int64_t x = 0; x < K * V; x++) S[x] = s0 ? s0[STATE(i) + x] : (T)0;                                  \
        for (int64_t t = 0; t < L; t++) {                                                                         \
            if (t % seg == 0) memcpy(ckpt + (i * nseg + t / seg) * K * V, S, K * V * sizeof(T));                  \
            const T *gt = g + AT(t, GW), *qt = q + AT(t, K), *kt = k + AT(t, K), *vt = v + AT(t, V);              \
            T *ot = o + AT(t, V);                                                                                 \
            for (int64_t c = 0; c < V; c++) ot[c] = 0;                                                            \
            for (int64_t r = 0; r < K; r++) {                                                                     \
                const T e = EXP(gt[per_key ? r : 0]);                                                             \
                T *Sr = S + r * V;                                                                                \
                for (int64_t c = 0; c < V; c++) {                                                                 \
                    Sr[c] = e * Sr[c] + kt[r] * vt[c];                                                            \
                    ot[c] += qt[r] * Sr[c];                                                                       \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
        memcpy(sT + STATE(i), S, K * V * sizeof(T));                                                              \
    }                                                                                                             \
}                                                                                                                 \
                                                                                                                  \
static void bwd_plain_##SUFFIX(BWD_ARGS(T), T *lam) {                                                             \
    const int64_t nseg = (L + seg - 1) / seg;                                                                     \
    for (int64_t i = i0; i < i1; i++) {                                                                           \
        ITEM_BASE                                                                                                 \
        for (int64_t x = 0; x < K * V; x++) lam[x] = dsT ? dsT[STATE(i) + x] : (T)0;                              \
        for (int64_t sg = nseg - 1; sg >= 0; sg--) {                                                              \
            const int64_t t0 = sg * seg, t1 = t0 + seg < L ? t0 + seg : L;                                        \
            const T *start = ckpt + (i * nseg + sg) * K * V;                                                      \
            for (int64_t t = t0; t < t1; t++) { /* recompute the segment's states */                              \
                const T *gt = g + AT(t, GW), *kt = k + AT(t, K), *vt = v + AT(t, V);                              \
                const T *prev = t > t0 ? work + (t - 1 - t0) * K * V : start;                                     \
                T *St = work + (t - t0) * K * V;                                                                  \
                for (int64_t r = 0; r < K; r++) {                                                                 \
                    const T e = EXP(gt[per_key ? r : 0]);                                                         \
                    for (int64_t c = 0; c < V; c++) St[r * V + c] = e * prev[r * V + c] + kt[r] * vt[c];          \
                }                                                                                                 \
            }                                                                                                     \
            for (int64_t t = t1 - 1; t >= t0; t--) {                                                              \
                const T *gt = g + AT(t, GW), *qt = q + AT(t, K), *kt = k + AT(t, K), *vt = v + AT(t, V);          \
                const T *dot = dout + AT(t, V), *St = work + (t - t0) * K * V;                                    \
                const T *prev = t > t0 ? St - K * V : start;                                                      \
                T *dqt = dq + AT(t, K), *dkt = dk + AT(t, K), *dvt = dv + AT(t, V), *dgt = dg + AT(t, GW);        \
                T total = 0;                                                                                      \
                for (int64_t c = 0; c < V; c++) dvt[c] = 0;                                                       \
                for (int64_t r = 0; r < K; r++) {                                                                 \
                    const T e = EXP(gt[per_key ? r : 0]);                                                         \
                    T *lr = lam + r * V, sq = 0, sk = 0, gr = 0;                                                  \
                    for (int64_t c = 0; c < V; c++) {                                                             \
                        lr[c] += qt[r] * dot[c];                                                                  \
                        sq += St[r * V + c] * dot[c];                                                             \
                        sk += lr[c] * vt[c];                                                                      \
                        dvt[c] += kt[r] * lr[c];                                                                  \
                        gr += lr[c] * prev[r * V + c];                                                            \
                        lr[c] *= e;                                                                               \
                    }                                                                                             \
                    dqt[r] = sq;                                                                                  \
                    dkt[r] = sk;                                                                                  \
                    if (per_key) dgt[r] = e * gr;                                                                 \
                    else total += e * gr;                                                                         \
                }                                                                                                 \
                if (!per_key) dgt[0] = total;                                                                     \
            }                                                                                                     \
        }                                                                                                         \
        if (ds0) memcpy(ds0 + STATE(i), lam, K * V * sizeof(T));                                                  \
    }                                                                                                             \
}

static inline float exp_f32(float x) { return expf(x); }
static inline double exp_f64(double x) { return exp(x); }

DEFINE_PLAIN(float, f32, exp_f32)
DEFINE_PLAIN(double, f64, exp_f64)

/* ---- float32, K and V multiples of 16: 16-wide vectors along V ---- */

/* The vectorised loops work on blocks of 16 rows x 16 columns of the state (16 registers of 16 floats each)
 * and run a whole segment of steps on one block before the next: the block stays in registers between
 * steps, where a row-major pass over the whole state stored and reloaded every row at every step. Per
 * step, a block adds its share to o_t (forward) and to dq_t, dk_t, dv_t, dg_t (backward); the shares of
 * the sums over columns (dq_t, dk_t, and dg_t per row) are kept as 16-lane partial sums in `part` and
 * reduced across lanes once per step, after the last column block. e holds exp(g) of the segment,
 * [seg, K] per key or [seg]. per_key is a constant in each compiled copy. */
#define R 16 /* rows per block */

INLINE void exps(const float *g, float *e, int64_t base, int64_t H, int64_t K, int64_t t0, int64_t t1,
                 int64_t per_key) {
    for (int64_t t = t0; t < t1; t++)
        for (int64_t r = 0; r < GW; r++) e[(t - t0) * GW + r] = expf(g[AT(t, GW) + r]);
}

INLINE void fwd_vec(FWD_ARGS(float), float *S, float *e, const int64_t nv) {
    const int64_t nseg = (L + seg - 1) / seg, nr = K / R;
    for (int64_t i = i0; i < i1; i++) {
        ITEM_BASE
        for (int64_t x = 0; x < K * V; x++) S[x] = s0 ? s0[STATE(i) + x] : 0.0f;
        for (int64_t sg = 0; sg < nseg; sg++) {
            const int64_t t0 = sg * seg, t1 = t0 + seg < L ? t0 + seg : L;
            memcpy(ckpt + (i * nseg + sg) * K * V, S, K * V * sizeof(float));
            exps(g, e, base, H, K, t0, t1, per_key);
            for (int64_t rb = 0; rb < nr; rb++)
                for (int64_t j = 0; j < nv; j++) {
                    float *blk = S + rb * R * V + 16 * j;
                    v16 Sr[R];
                    _Pragma("GCC unroll 16")
                    for (int r = 0; r < R; r++) Sr[r] = ld(blk + r * V);
                    for (int64_t t = t0; t < t1; t++) {
                        const float *qt = q + AT(t, K) + rb * R, *kt = k + AT(t, K) + rb * R;
                        const float *er = per_key ? e + (t - t0) * K + rb * R : e + (t - t0);
                        const v16 vt = ld(v + AT(t, V) + 16 * j);
                        v16 acc0 = {}, acc1 = {};
                        _Pragma("GCC unroll 16")
                        for (int r = 0; r < R; r += 2) {
                            Sr[r] = Sr[r] * er[per_key ? r : 0] + vt * kt[r];
                            Sr[r + 1] = Sr[r + 1] * er[per_key ? r + 1 : 0] + vt * kt[r + 1];
                            acc0 += Sr[r] * qt[r];
                            acc1 += Sr[r + 1] * qt[r + 1];
                        }
                        float *ot = o + AT(t, V) + 16 * j;
                        st(ot, rb ? ld(ot) + acc0 + acc1 : acc0 + acc1);
                    }
                    _Pragma("GCC unroll 16")
                    for (int r = 0; r < R; r++) st(blk + r * V, Sr[r]);
                }
        }
        memcpy(sT + STATE(i), S, K * V * sizeof(float));
    }
}

/* work: [seg + 1, R, 16] states of one block (index 0: the segment's start), then e [seg, K], then part
 * [seg, 3, R, 16] (partial sums of dq, dk and per-row dg) and gpart [seg, 16] (dg summed over rows) */
INLINE void bwd_vec(BWD_ARGS(float), float *lam, const int64_t nv) {
    const int64_t nseg = (L + seg - 1) / seg, nr = K / R;
    float *Sw = work, *e = Sw + (seg + 1) * R * 16, *part = e + seg * K, *gpart = part + seg * 3 * R * 16;
    for (int64_t i = i0; i < i1; i++) {
        ITEM_BASE
        for (int64_t x = 0; x < K * V; x++) lam[x] = dsT ? dsT[STATE(i) + x] : 0.0f;
        for (int64_t sg = nseg - 1; sg >= 0; sg--) {
            const int64_t t0 = sg * seg, t1 = t0 + seg < L ? t0 + seg : L;
            const float *start = ckpt + (i * nseg + sg) * K * V;
            exps(g, e, base, H, K, t0, t1, per_key);
            for (int64_t rb = 0; rb < nr; rb++)
                for (int64_t j = 0; j < nv; j++) {
                    const int first = rb == 0 && j == 0, last = rb == nr - 1 && j == nv - 1;
                    v16 Sr[R], Lr[R];
                    _Pragma("GCC unroll 16")
                    for (int r = 0; r < R; r++) { /* recompute the block's states over the segment */
                        Sr[r] = ld(start + (rb * R + r) * V + 16 * j);
                        st(Sw + r * 16, Sr[r]);
                    }
                    for (int64_t t = t0; t < t1; t++) {
                        const float *kt = k + AT(t, K) + rb * R;
                        const float *er = per_key ? e + (t - t0) * K + rb * R : e + (t - t0);
                        const v16 vt = ld(v + AT(t, V) + 16 * j);
                        _Pragma("GCC unroll 16")
                        for (int r = 0; r < R; r++) {
                            Sr[r] = Sr[r] * er[per_key ? r : 0] + vt * kt[r];
                            st(Sw + ((t - t0 + 1) * R + r) * 16, Sr[r]);
                        }
                    }
                    float *lblk = lam + rb * R * V + 16 * j;
                    _Pragma("GCC unroll 16")
                    for (int r = 0; r < R; r++) Lr[r] = ld(lblk + r * V);
                    for (int64_t t = t1 - 1; t >= t0; t--) {
                        const int64_t s = t - t0;
                        const float *qt = q + AT(t, K) + rb * R, *kt = k + AT(t, K) + rb * R;
                        const float *er = per_key ? e + s * K + rb * R : e + s;
                        const v16 dj = ld(dout + AT(t, V) + 16 * j), vj = ld(v + AT(t, V) + 16 * j);
                        const float *St = Sw + (s + 1) * R * 16, *Sp = Sw + s * R * 16;
                        float *pq = part + s * 3 * R * 16, *pk = pq + R * 16, *pg = pk + R * 16;
                        v16 dv0 = {}, dv1 = {}, g0 = {}, g1 = {};
                        _Pragma("GCC unroll 16")
                        for (int r = 0; r < R; r += 2) {
                            Lr[r] += dj * qt[r];
                            Lr[r + 1] += dj * qt[r + 1];
                            v16 sq0 = ld(St + r * 16) * dj, sq1 = ld(St + (r + 1) * 16) * dj;
                            v16 sk0 = Lr[r] * vj, sk1 = Lr[r + 1] * vj;
                            v16 gr0 = Lr[r] * ld(Sp + r * 16), gr1 = Lr[r + 1] * ld(Sp + (r + 1) * 16);
                            st(pq + r * 16, j == 0 ? sq0 : ld(pq + r * 16) + sq0);
                            st(pq + (r + 1) * 16, j == 0 ? sq1 : ld(pq + (r + 1) * 16) + sq1);
                            st(pk + r * 16, j == 0 ? sk0 : ld(pk + r * 16) + sk0);
                            st(pk + (r + 1) * 16, j == 0 ? sk1 : ld(pk + (r + 1) * 16) + sk1);
                            if (per_key) {
                                st(pg + r * 16, j == 0 ? gr0 : ld(pg + r * 16) + gr0);
                                st(pg + (r + 1) * 16, j == 0 ? gr1 : ld(pg + (r + 1) * 16) + gr1);
                            } else {
                                g0 += gr0;
                                g1 += gr1;
                            }
                            dv0 += Lr[r] * kt[r];
                            dv1 += Lr[r + 1] * kt[r + 1];
                            Lr[r] *= er[per_key ? r : 0];
                            Lr[r + 1] *= er[per_key ? r + 1 : 0];
                        }
                        float *dvt = dv + AT(t, V) + 16 * j;
                        st(dvt, rb ? ld(dvt) + dv0 + dv1 : dv0 + dv1);
                        if (j == nv - 1) { /* this row block's sums over V are complete: reduce across lanes */
                            v16 P[R];
                            for (int r = 0; r < R; r++) P[r] = ld(pq + r * 16);
                            st(dq + AT(t, K) + rb * R, hsum16x16(P));
                            for (int r = 0; r < R; r++) P[r] = ld(pk + r * 16);
                            st(dk + AT(t, K) + rb * R, hsum16x16(P));
                            if (per_key) {
                                for (int r = 0; r < R; r++) P[r] = ld(pg + r * 16);
                                st(dg + AT(t, K) + rb * R, hsum16x16(P) * ld(er));
                            }
                        }
                        if (!per_key) {
                            float *gp = gpart + s * 16;
                            st(gp, first ? g0 + g1 : ld(gp) + g0 + g1);
                            if (last) dg[AT(t, 1)] = er[0] * hsum(ld(gp));
                        }
                    }
                    _Pragma("GCC unroll 16")
                    for (int r = 0; r < R; r++) st(lblk + r * V, Lr[r]);
                }
        }
        if (ds0) memcpy(ds0 + STATE(i), lam, K * V * sizeof(float));
    }
}

/* ---- entry points ----
 * scratch: K * V + seg * K floats per thread (S or Lambda, then e);
 * work: max(seg * K * V, (seg + 1) * 256 + seg * K + seg * 768 + seg * 16) floats per thread (plain / vec) */

static int vectorised(int64_t K, int64_t V) { return K % R == 0 && V % 16 == 0; }

void linear_attention_fwd_f32(FWD_ARGS(float), float *scratch) {
    if (!vectorised(K, V)) fwd_plain_f32(FWD_PASS(per_key), scratch);
    else if (per_key) fwd_vec(FWD_PASS(1), scratch, scratch + K * V, V / 16);
    else fwd_vec(FWD_PASS(0), scratch, scratch + K * V, V / 16);
}
void linear_attention_bwd_f32(BWD_ARGS(float), float *scratch) {
    if (!vectorised(K, V)) bwd_plain_f32(BWD_PASS(per_key), scratch);
    else if (per_key) bwd_vec(BWD_PASS(1), scratch, V / 16);
    else bwd_vec(BWD_PASS(0), scratch, V / 16);
}
void linear_attention_fwd_f64(FWD_ARGS(double), double *scratch) { fwd_plain_f64(FWD_PASS(per_key), scratch); }
void linear_attention_bwd_f64(BWD_ARGS(double), double *scratch) { bwd_plain_f64(BWD_PASS(per_key), scratch); }
