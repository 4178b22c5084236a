/* xLSTM's mLSTM cell on CPU: the stabilised reference loop of rnnzoo/ops/mlstm.py, compiled, one (batch, head) pair
 * at a time with its state (C [K, V], n [K], m) in cache.
 *
 *   m_t = max(f_t + m_{t-1}, i_t),  fw = exp(f_t + m_{t-1} - m_t),  iw = exp(i_t - m_t)
 *   C_t = fw C_{t-1} + iw k_t v_t^T,  n_t = fw n_{t-1} + iw k_t
 *   h_t = C_t^T q_t / (max(|n_t^T q_t|, exp(-m_t)) + eps)                       (q already scaled)
 *
 * Layouts (contiguous): q, k [B, T, H, K]; v, o [B, T, H, V]; i, f, mt, den [B, T, H]; c0, cT [B, H, K, V];
 * n0, nT [B, H, K]; m0, mT [B, H]. Item i = b * H + h; each call handles items [i0, i1) (disjoint ranges per
 * thread, see kernels/native.py). The forward pass saves m_t and n_t^T q_t per step (mt, den) and (C, n) at the
 * start of every segment of `seg` steps (ckpt [item, segment, K, V], ckn [item, segment, K]).
 *
 * The backward pass recomputes one segment's states and runs the adjoints (Lambda, lambda, mu) of (C, n, m) back
 * through it, as autograd differentiates the loop (torch.maximum's ties split the gradient in halves, abs has
 * gradient sign(den)):
 *   Z = max(|den|, exp(-m_t)) + eps:  dnum = dh / Z,  dZ = -<dh, h> / Z  to |den| or to exp(-m_t) (mu -= dZ e^-m)
 *   Lambda += q dnum^T,  lambda += dden q,  dq = C_t dnum + dden n_t
 *   dk = iw (Lambda v + lambda),  dv = iw Lambda^T k,  dfw = <Lambda, C_{t-1}> + <lambda, n_{t-1}>,
 *   diw = k^T Lambda v + <lambda, k>,  (Lambda, lambda) <- fw (Lambda, lambda)
 *   mu -= dfw fw + diw iw,  then mu to f_t + m_{t-1} or to i_t by the max:  df = dm_{t-1} = (share of f + m) + dfw fw
 *
 * Two implementations of the same loops: float32 with K and V multiples of 16 (V <= 256) in 16-wide vectors
 * (simd.h, rows.h), and plain loops for other sizes and for float64.
 */
#include <math.h>

#include "rows.h"

#define FWD_ARGS(T) int64_t H, int64_t L, int64_t K, int64_t V, double eps, const T *q, const T *k, const T *v,     \
    const T *ig, const T *fg, const T *c0, const T *n0, const T *m0, T *o, T *cT, T *nT, T *mT, T *mt, T *den,   \
    T *ckpt, T *ckn, int64_t seg, int64_t i0, int64_t i1
#define FWD_PASS H, L, K, V, eps, q, k, v, ig, fg, c0, n0, m0, o, cT, nT, mT, mt, den, ckpt, ckn, seg, i0, i1
#define BWD_ARGS(T) int64_t H, int64_t L, int64_t K, int64_t V, double eps, const T *q, const T *k, const T *v,     \
    const T *ig, const T *fg, const T *m0, const T *o, const T *mt, const T *den, const T *ckpt, const T *ckn,   \
    int64_t seg, const T *dout, const T *dcT, const T *dnT, const T *dmT, T *dq, T *dk, T *dv, T *di, T *df,     \
    T *dc0, T *dn0, T *dm0, int64_t i0, int64_t i1
#define BWD_PASS H, L, K, V, eps, q, k, v, ig, fg, m0, o, mt, den, ckpt, ckn, seg, dout, dcT, dnT, dmT, dq, dk, dv, \
    di, df, dc0, dn0, dm0, i0, i1

#define ITEM_BASE const int64_t base = (i / H) * L * H + i % H; /* token 0 of item i, in [B, T, H] units */

/* the step's gates: m_prev, fw, iw (from the saved m_t, as the forward pass computed them) */
#define GATES(T, EXP)                                                                                             \
    const T mprev = t > 0 ? mt[AT(t - 1, 1)] : (m0 ? m0[i] : (T)0), mnew = mt[AT(t, 1)];                         \
    const T fw = EXP(fg[AT(t, 1)] + mprev - mnew), iw = EXP(ig[AT(t, 1)] - mnew);

/* the backward of the output division and of the max over (f + m_prev, i), shared by both implementations */
#define OUTPUT_GRADS(T, EXP)                                                                                      \
    const T dn_ = den[AT(t, 1)], ex = EXP(-mnew), ab = dn_ < 0 ? -dn_ : dn_, Z = (ab > ex ? ab : ex) + (T)eps;  \
    T hdh = 0;                                                                                                    \
    for (int64_t c = 0; c < V; c++) hdh += dot[c] * ot[c];                                                        \
    const T dZ = -hdh / Z, inv = 1 / Z;                                                                           \
    const T dab = ab > ex ? dZ : ab < ex ? 0 : dZ / 2, dex = ab < ex ? dZ : ab > ex ? 0 : dZ / 2;                \
    const T dden = dn_ > 0 ? dab : dn_ < 0 ? -dab : 0;                                                            \
    mu -= dex * ex;
#define GATE_GRADS(T)                                                                                             \
    mu -= dfw * fw + diw * iw;                                                                                    \
    {                                                                                                             \
        const T a_ = fg[AT(t, 1)] + mprev, i_ = ig[AT(t, 1)];                                                     \
        const T to_a = a_ > i_ ? mu : a_ < i_ ? 0 : mu / 2, to_i = a_ < i_ ? mu : a_ > i_ ? 0 : mu / 2;          \
        di[AT(t, 1)] = diw * iw + to_i;                                                                           \
        df[AT(t, 1)] = dfw * fw + to_a;                                                                           \
        mu = dfw * fw + to_a;                                                                                     \
    }

/* ---- plain loops: any K, V; float32 and float64 ---- */

#define DEFINE_PLAIN(T, SUFFIX, EXP)                                                                              \
static void fwd_plain_##SUFFIX(FWD_ARGS(T), T *C, T *n) {                                                         \
    const int64_t nseg = (L + seg - 1) / seg;                                                                     \
    for (int64_t i = i0; i < i1; i++) {                                                                           \
        ITEM_BASE                                                                                                 \
        for (int64_t z = 0; z < K * V; z++) C[z] = c0 ? c0[STATE(i) + z] : (T)0;                                  \
        for (int64_t r = 0; r < K; r++) n[r] = n0 ? n0[i * K + r] : (T)0;                                         \
        T m = m0 ? m0[i] : (T)0;                                                                                  \
        for (int64_t t = 0; t < L; t++) {                                                                         \
            if (t % seg == 0) {                                                                                   \
                memcpy(CKPT(i, t / seg), C, K * V * sizeof(T));                                                   \
                memcpy(ckn + (i * nseg + t / seg) * K, n, K * sizeof(T));                                         \
            }                                                                                                     \
            const T a_ = fg[AT(t, 1)] + m, i_ = ig[AT(t, 1)], mnew = a_ > i_ ? a_ : i_;                           \
            const T fw = EXP(a_ - mnew), iw = EXP(i_ - mnew);                                                     \
            const T *qt = q + AT(t, K), *kt = k + AT(t, K), *vt = v + AT(t, V);                                   \
            T *ot = o + AT(t, V), dq_ = 0;                                                                        \
            for (int64_t c = 0; c < V; c++) ot[c] = 0;                                                            \
            for (int64_t r = 0; r < K; r++) {                                                                     \
                const T w = iw * kt[r];                                                                           \
                for (int64_t c = 0; c < V; c++) {                                                                 \
                    C[r * V + c] = fw * C[r * V + c] + w * vt[c];                                                 \
                    ot[c] += qt[r] * C[r * V + c];                                                                \
                }                                                                                                 \
                n[r] = fw * n[r] + w;                                                                             \
                dq_ += qt[r] * n[r];                                                                              \
            }                                                                                                     \
            const T ex = EXP(-mnew), ab = dq_ < 0 ? -dq_ : dq_, Z = (ab > ex ? ab : ex) + (T)eps;                  \
            for (int64_t c = 0; c < V; c++) ot[c] /= Z;                                                           \
            mt[AT(t, 1)] = m = mnew;                                                                              \
            den[AT(t, 1)] = dq_;                                                                                  \
        }                                                                                                         \
        memcpy(cT + STATE(i), C, K * V * sizeof(T));                                                              \
        memcpy(nT + i * K, n, K * sizeof(T));                                                                     \
        mT[i] = m;                                                                                                \
    }                                                                                                             \
}                                                                                                                 \
                                                                                                                  \
/* work: states C [seg + 1, K, V] and n [seg + 1, K] (index t - t0: the state before step t), dnum [V] */         \
static void bwd_plain_##SUFFIX(BWD_ARGS(T), T *lam, T *lamn, T *work) {                                           \
    const int64_t nseg = (L + seg - 1) / seg;                                                                     \
    T *Cs = work, *ns = Cs + (seg + 1) * K * V, *dnum = ns + (seg + 1) * K;                                       \
    for (int64_t i = i0; i < i1; i++) {                                                                           \
        ITEM_BASE                                                                                                 \
        for (int64_t z = 0; z < K * V; z++) lam[z] = dcT ? dcT[STATE(i) + z] : (T)0;                              \
        for (int64_t r = 0; r < K; r++) lamn[r] = dnT ? dnT[i * K + r] : (T)0;                                    \
        T mu = dmT ? dmT[i] : (T)0;                                                                               \
        for (int64_t sg = nseg - 1; sg >= 0; sg--) {                                                              \
            SEGMENT_TOKENS(sg)                                                                                    \
            memcpy(Cs, CKPT(i, sg), K * V * sizeof(T));                                                           \
            memcpy(ns, ckn + (i * nseg + sg) * K, K * sizeof(T));                                                 \
            for (int64_t t = t0; t < t1; t++) {                                                                   \
                GATES(T, EXP)                                                                                     \
                (void)mprev;                                                                                      \
                const T *kt = k + AT(t, K), *vt = v + AT(t, V), *Cp = Cs + (t - t0) * K * V, *np = ns + (t - t0) * K; \
                T *Cn = Cs + (t + 1 - t0) * K * V, *nn = ns + (t + 1 - t0) * K;                                   \
                for (int64_t r = 0; r < K; r++) {                                                                 \
                    const T w = iw * kt[r];                                                                       \
                    for (int64_t c = 0; c < V; c++) Cn[r * V + c] = fw * Cp[r * V + c] + w * vt[c];               \
                    nn[r] = fw * np[r] + w;                                                                       \
                }                                                                                                 \
            }                                                                                                     \
            for (int64_t t = t1 - 1; t >= t0; t--) {                                                              \
                GATES(T, EXP)                                                                                     \
                const T *qt = q + AT(t, K), *kt = k + AT(t, K), *vt = v + AT(t, V), *dot = dout + AT(t, V);       \
                const T *ot = o + AT(t, V), *Ct = Cs + (t + 1 - t0) * K * V, *Cp = Ct - K * V;                    \
                const T *nt = ns + (t + 1 - t0) * K, *np = nt - K;                                                \
                T *dqt = dq + AT(t, K), *dkt = dk + AT(t, K), *dvt = dv + AT(t, V);                               \
                OUTPUT_GRADS(T, EXP)                                                                              \
                for (int64_t c = 0; c < V; c++) {                                                                 \
                    dnum[c] = dot[c] * inv;                                                                       \
                    dvt[c] = 0;                                                                                   \
                }                                                                                                 \
                T dfw = 0, diw = 0;                                                                               \
                for (int64_t r = 0; r < K; r++) {                                                                 \
                    T *lr = lam + r * V, sq = 0, lv = 0;                                                          \
                    for (int64_t c = 0; c < V; c++) {                                                             \
                        lr[c] += qt[r] * dnum[c];                                                                 \
                        sq += Ct[r * V + c] * dnum[c];                                                            \
                        lv += lr[c] * vt[c];                                                                      \
                        dvt[c] += iw * kt[r] * lr[c];                                                             \
                        dfw += lr[c] * Cp[r * V + c];                                                             \
                        lr[c] *= fw;                                                                              \
                    }                                                                                             \
                    lamn[r] += dden * qt[r];                                                                      \
                    dqt[r] = sq + dden * nt[r];                                                                   \
                    dkt[r] = iw * (lv + lamn[r]);                                                                 \
                    dfw += lamn[r] * np[r];                                                                       \
                    diw += kt[r] * (lv + lamn[r]);                                                                \
                    lamn[r] *= fw;                                                                                \
                }                                                                                                 \
                GATE_GRADS(T)                                                                                     \
            }                                                                                                     \
        }                                                                                                         \
        if (dc0) memcpy(dc0 + STATE(i), lam, K * V * sizeof(T));                                                  \
        if (dn0) memcpy(dn0 + i * K, lamn, K * sizeof(T));                                                        \
        if (dm0) dm0[i] = mu;                                                                                     \
    }                                                                                                             \
}

static inline float exp_f32(float x) { return expf(x); }
static inline double exp_f64(double x) { return exp(x); }

DEFINE_PLAIN(float, f32, exp_f32)
DEFINE_PLAIN(double, f64, exp_f64)

/* ---- float32, K and V multiples of 16, V <= 256: 16-wide vectors along V ----
 * A row of C is nv = V / 16 vectors; the step's vectors (v, o, dnum, dv) stay in registers (nv is a constant in
 * each compiled copy) while the rows stream from L1; sums along V per row (dq, Lambda v) are kept as 16-lane
 * partial sums and reduced 16 rows at a time (hsum16x16). */
INLINE void fwd_vec(FWD_ARGS(float), float *C, float *n, const int64_t nv) {
    const int64_t nseg = (L + seg - 1) / seg;
    for (int64_t i = i0; i < i1; i++) {
        ITEM_BASE
        for (int64_t z = 0; z < K * V; z++) C[z] = c0 ? c0[STATE(i) + z] : 0.0f;
        for (int64_t r = 0; r < K; r++) n[r] = n0 ? n0[i * K + r] : 0.0f;
        float m = m0 ? m0[i] : 0.0f;
        for (int64_t t = 0; t < L; t++) {
            if (t % seg == 0) {
                memcpy(CKPT(i, t / seg), C, K * V * sizeof(float));
                memcpy(ckn + (i * nseg + t / seg) * K, n, K * sizeof(float));
            }
            const float a_ = fg[AT(t, 1)] + m, i_ = ig[AT(t, 1)], mnew = a_ > i_ ? a_ : i_;
            const float fw = expf(a_ - mnew), iw = expf(i_ - mnew);
            const float *qt = q + AT(t, K), *kt = k + AT(t, K), *vt = v + AT(t, V);
            v16 VT[NVMAX], O0[NVMAX], O1[NVMAX];
            for (int64_t c = 0; c < nv; c++) {
                VT[c] = ld(vt + 16 * c);
                O0[c] = O1[c] = (v16){};
            }
            float dq_ = 0;
            for (int64_t r = 0; r < K; r += 2) {
                const float w0 = iw * kt[r], w1 = iw * kt[r + 1];
                for (int64_t c = 0; c < nv; c++) {
                    const v16 s0 = ld(C + r * V + 16 * c) * fw + VT[c] * w0;
                    const v16 s1 = ld(C + (r + 1) * V + 16 * c) * fw + VT[c] * w1;
                    st(C + r * V + 16 * c, s0);
                    st(C + (r + 1) * V + 16 * c, s1);
                    O0[c] += s0 * qt[r];
                    O1[c] += s1 * qt[r + 1];
                }
            }
            for (int64_t r = 0; r < K; r++) {
                n[r] = fw * n[r] + iw * kt[r];
                dq_ += qt[r] * n[r];
            }
            const float ex = expf(-mnew), ab = fabsf(dq_), Z = (ab > ex ? ab : ex) + (float)eps;
            for (int64_t c = 0; c < nv; c++) st(o + AT(t, V) + 16 * c, (O0[c] + O1[c]) / Z);
            mt[AT(t, 1)] = m = mnew;
            den[AT(t, 1)] = dq_;
        }
        memcpy(cT + STATE(i), C, K * V * sizeof(float));
        memcpy(nT + i * K, n, K * sizeof(float));
        mT[i] = m;
    }
}

/* work: states C [seg + 1, K, V], n [seg + 1, K], then partial sums [2, K, 16] (dq, Lambda v) and their sums
 * [2, K] */
INLINE void bwd_vec(BWD_ARGS(float), float *lam, float *lamn, float *work, const int64_t nv) {
    const int64_t nseg = (L + seg - 1) / seg;
    float *Cs = work, *ns = Cs + (seg + 1) * K * V, *pq = ns + (seg + 1) * K, *pl = pq + K * 16;
    float *sq = pl + K * 16, *lv = sq + K;
    for (int64_t i = i0; i < i1; i++) {
        ITEM_BASE
        for (int64_t z = 0; z < K * V; z++) lam[z] = dcT ? dcT[STATE(i) + z] : 0.0f;
        for (int64_t r = 0; r < K; r++) lamn[r] = dnT ? dnT[i * K + r] : 0.0f;
        float mu = dmT ? dmT[i] : 0.0f;
        for (int64_t sg = nseg - 1; sg >= 0; sg--) {
            SEGMENT_TOKENS(sg)
            memcpy(Cs, CKPT(i, sg), K * V * sizeof(float));
            memcpy(ns, ckn + (i * nseg + sg) * K, K * sizeof(float));
            for (int64_t t = t0; t < t1; t++) {
                GATES(float, expf)
                (void)mprev;
                const float *kt = k + AT(t, K), *vt = v + AT(t, V), *Cp = Cs + (t - t0) * K * V;
                const float *np = ns + (t - t0) * K;
                float *Cn = Cs + (t + 1 - t0) * K * V, *nn = ns + (t + 1 - t0) * K;
                v16 VT[NVMAX];
                for (int64_t c = 0; c < nv; c++) VT[c] = ld(vt + 16 * c);
                for (int64_t r = 0; r < K; r++) {
                    const float w = iw * kt[r];
                    for (int64_t c = 0; c < nv; c++) st(Cn + r * V + 16 * c, ld(Cp + r * V + 16 * c) * fw + VT[c] * w);
                    nn[r] = fw * np[r] + w;
                }
            }
            for (int64_t t = t1 - 1; t >= t0; t--) {
                GATES(float, expf)
                const float *qt = q + AT(t, K), *kt = k + AT(t, K), *vt = v + AT(t, V), *dot = dout + AT(t, V);
                const float *ot = o + AT(t, V), *Ct = Cs + (t + 1 - t0) * K * V, *Cp = Ct - K * V;
                const float *nt = ns + (t + 1 - t0) * K, *np = nt - K;
                OUTPUT_GRADS(float, expf)
                v16 DN[NVMAX], VT[NVMAX], DV[2][NVMAX], gf[2] = {};
                for (int64_t c = 0; c < nv; c++) {
                    DN[c] = ld(dot + 16 * c) * inv;
                    VT[c] = ld(vt + 16 * c);
                    DV[0][c] = DV[1][c] = (v16){};
                }
                for (int64_t r = 0; r < K; r++) { /* two chains of the sums over rows (FMA latency) */
                    v16 pqr = {}, plr = {};
                    float *lr = lam + r * V;
                    const float w = iw * kt[r];
                    for (int64_t c = 0; c < nv; c++) {
                        const v16 l = ld(lr + 16 * c) + DN[c] * qt[r];
                        pqr += ld(Ct + r * V + 16 * c) * DN[c];
                        plr += l * VT[c];
                        DV[r & 1][c] += l * w;
                        gf[r & 1] += l * ld(Cp + r * V + 16 * c);
                        st(lr + 16 * c, l * fw);
                    }
                    st(pq + r * 16, pqr);
                    st(pl + r * 16, plr);
                }
                for (int64_t rb = 0; rb < K; rb += 16) {
                    st(sq + rb, reduce(pq + rb * 16));
                    st(lv + rb, reduce(pl + rb * 16));
                }
                for (int64_t c = 0; c < nv; c++) st(dv + AT(t, V) + 16 * c, DV[0][c] + DV[1][c]);
                float dfw = hsum(gf[0] + gf[1]), diw = 0;
                for (int64_t r = 0; r < K; r++) {
                    lamn[r] += dden * qt[r];
                    dq[AT(t, K) + r] = sq[r] + dden * nt[r];
                    dk[AT(t, K) + r] = iw * (lv[r] + lamn[r]);
                    dfw += lamn[r] * np[r];
                    diw += kt[r] * (lv[r] + lamn[r]);
                    lamn[r] *= fw;
                }
                GATE_GRADS(float)
            }
        }
        if (dc0) memcpy(dc0 + STATE(i), lam, K * V * sizeof(float));
        if (dn0) memcpy(dn0 + i * K, lamn, K * sizeof(float));
        if (dm0) dm0[i] = mu;
    }
}

/* ---- entry points ----
 * scratch: K * V + K floats per thread (C or Lambda, then n or lambda);
 * work (backward): (seg + 1) (K V + K) + 2 K 16 + 2 K + V floats per thread */

void mlstm_fwd_f32(FWD_ARGS(float), float *scratch) {
    switch (vectorised(K, V) ? V / 16 : 0) {
    case 0: fwd_plain_f32(FWD_PASS, scratch, scratch + K * V); break;
    case 4: fwd_vec(FWD_PASS, scratch, scratch + K * V, 4); break;
    case 8: fwd_vec(FWD_PASS, scratch, scratch + K * V, 8); break;
    default: fwd_vec(FWD_PASS, scratch, scratch + K * V, V / 16);
    }
}
void mlstm_bwd_f32(BWD_ARGS(float), float *scratch, float *work) {
    switch (vectorised(K, V) ? V / 16 : 0) {
    case 0: bwd_plain_f32(BWD_PASS, scratch, scratch + K * V, work); break;
    case 4: bwd_vec(BWD_PASS, scratch, scratch + K * V, work, 4); break;
    case 8: bwd_vec(BWD_PASS, scratch, scratch + K * V, work, 8); break;
    default: bwd_vec(BWD_PASS, scratch, scratch + K * V, work, V / 16);
    }
}
void mlstm_fwd_f64(FWD_ARGS(double), double *scratch) { fwd_plain_f64(FWD_PASS, scratch, scratch + K * V); }
void mlstm_bwd_f64(BWD_ARGS(double), double *scratch, double *work) {
    bwd_plain_f64(BWD_PASS, scratch, scratch + K * V, work);
}
