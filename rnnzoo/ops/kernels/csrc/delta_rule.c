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
 * g holds the decays exp(g) themselves, taken by the caller (torch's vectorised exp, once: the loop's values).
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
 * (simd.h, rows.h), one pass over S per row forward and one over S and Lambda per row backward (below), and plain
 * loops, pass by pass, for other sizes and for float64.
 */
#include "rows.h"

#define FWD_ARGS(T) int64_t H, int64_t L, int64_t n, int64_t K, int64_t V, int64_t per_key,                       \
    const T *q, const T *k, const T *a, const T *x, const T *g, const T *s0, T *o, T *sT, T *ckpt, int64_t seg,   \
    int64_t i0, int64_t i1
#define FWD_PASS H, L, n, K, V, per_key, q, k, a, x, g, s0, o, sT, ckpt, seg, i0, i1
#define BWD_ARGS(T) int64_t H, int64_t L, int64_t n, int64_t K, int64_t V, int64_t per_key,                       \
    const T *q, const T *k, const T *a, const T *x, const T *g, const T *ckpt, int64_t seg,                       \
    const T *dout, const T *dsT, T *dq, T *dk, T *da, T *dx, T *dg, T *ds0, int64_t i0, int64_t i1
#define BWD_PASS H, L, n, K, V, per_key, q, k, a, x, g, ckpt, seg, dout, dsT, dq, dk, da, dx, dg, ds0, i0, i1

/* offsets in the [B, T, H, *] tensors (token t: AT, rows.h) and the [B, T n, H, *] ones (row r) of item i */
#define ITEM_BASE const int64_t base = (i / H) * L * H + i % H, rbase = (i / H) * L * n * H + i % H;
#define ROW(r, width) ((rbase + (r) * H) * (width))
#define GW (per_key ? K : 1) /* width of g per token */

/* e[0..K) = exp(g_t) per row of S (1 without g; g holds the decays exp(g), see below) */
#define DECAYS(T)                                                                                                 \
    for (int64_t r = 0; r < K; r++) e[r] = g ? g[AT(t, GW) + (per_key ? r : 0)] : (T)1;

/* ---- plain loops: any K, V; float32 and float64 ---- */

DEFINE_PLAIN_ROWS(float, f32)
DEFINE_PLAIN_ROWS(double, f64)

#define DEFINE_PLAIN(T, SUFFIX)                                                                                   \
/* one row: u = x - (d . S)^T a, then next = d . S + k u^T (next may be S); d = decays or NULL (none) */          \
static inline void row_plain_##SUFFIX(int64_t K, int64_t V, const T *d, const T *S, T *next, const T *kr,         \
                                      const T *ar, const T *xr, T *u) {                                           \
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
            if (t % seg == 0) memcpy(CKPT(i, t / seg), S, K * V * sizeof(T));                                     \
            DECAYS(T)                                                                                             \
            for (int64_t j = 0; j < n; j++) {                                                                     \
                const int64_t rho = t * n + j;                                                                    \
                row_plain_##SUFFIX(K, V, j == 0 && g ? e : NULL, S, S, k + ROW(rho, K), a + ROW(rho, K),          \
                                   x + ROW(rho, V), u);                                                           \
            }                                                                                                     \
            output_plain_##SUFFIX(K, V, S, q + AT(t, K), o + AT(t, V));                                           \
        }                                                                                                         \
        memcpy(sT + STATE(i), S, K * V * sizeof(T));                                                              \
    }                                                                                                             \
}                                                                                                                 \
                                                                                                                  \
/* work: states [seg n + 1, K, V] (index rho - t0 n: the state before that row, pre-decay for j = 0), then        \
 * u [seg n, V], then du [V] */                                                                                   \
static void bwd_plain_##SUFFIX(BWD_ARGS(T), T *lam, T *e, T *work) {                                              \
    const int64_t nseg = (L + seg - 1) / seg;                                                                     \
    T *states = work, *us = states + (seg * n + 1) * K * V, *du = us + seg * n * V;                               \
    for (int64_t i = i0; i < i1; i++) {                                                                           \
        ITEM_BASE                                                                                                 \
        for (int64_t z = 0; z < K * V; z++) lam[z] = dsT ? dsT[STATE(i) + z] : (T)0;                              \
        for (int64_t sg = nseg - 1; sg >= 0; sg--) {                                                              \
            SEGMENT_TOKENS(sg)                                                                                    \
            memcpy(states, CKPT(i, sg), K * V * sizeof(T));                                                       \
            for (int64_t t = t0; t < t1; t++) { /* recompute the segment's states */                              \
                DECAYS(T)                                                                                         \
                for (int64_t j = 0; j < n; j++) {                                                                 \
                    const int64_t rho = t * n + j, l = rho - t0 * n;                                              \
                    row_plain_##SUFFIX(K, V, j == 0 && g ? e : NULL, states + l * K * V,                          \
                                       states + (l + 1) * K * V, k + ROW(rho, K), a + ROW(rho, K),                \
                                       x + ROW(rho, V), us + l * V);                                              \
                }                                                                                                 \
            }                                                                                                     \
            for (int64_t t = t1 - 1; t >= t0; t--) {                                                              \
                DECAYS(T)                                                                                         \
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

DEFINE_PLAIN(float, f32)
DEFINE_PLAIN(double, f64)

/* ---- float32, K and V multiples of 16, V <= 256: 16-wide vectors along V ----
 * A row of S is nv = V / 16 vectors; the vectors of one row of the result (u, o, du) stay in registers
 * (nv is a constant in each compiled copy) while the rows of S stream from L1. Sums along V (dq, dk, da,
 * dg) are kept per row of S as 16-lane partial sums and reduced 16 rows at a time (hsum16x16).
 * One pass over S per row forward (update_rows, rows.h): the next row's read (d_next . S)^T a_next is summed while
 * this row writes S; one pass over S and Lambda per row backward: the adjoint's update of row rho and the
 * du = Lambda^T k of row rho - 1 (with its token's output share when rho - 1 is a token's last row) share their
 * rows of Lambda, and the state after row rho - 1 is the one before row rho. */

/* cn = d . a of row rho1 (d: the decays of its token when it is the token's first row, into e; else ones) */
#define NEXT_COEF(rho1)                                                                                           \
    {                                                                                                             \
        const float *dn = one;                                                                                    \
        if ((rho1) % n == 0) {                                                                                    \
            const int64_t t = (rho1) / n;                                                                         \
            DECAYS(float)                                                                                         \
            dn = e;                                                                                               \
        }                                                                                                         \
        for (int64_t r = 0; r < K; r++) cn[r] = dn[r] * a[ROW(rho1, K) + r];                                      \
    }

/* scratch past S: e [K] (the next token's decays), e0 [K] (this token's), one [K], cn [K], u [2, V] */
INLINE void fwd_vec(FWD_ARGS(float), float *S, float *e, float *e0, const float *one, float *cn, float *u,
                    const int64_t nv) {
    const int64_t nseg = (L + seg - 1) / seg, rows = L * n;
    for (int64_t i = i0; i < i1; i++) {
        ITEM_BASE
        float *ucur = u, *unext = u + V;
        for (int64_t z = 0; z < K * V; z++) S[z] = s0 ? s0[STATE(i) + z] : 0.0f;
        NEXT_COEF(0)
        read_rows(K, V, S, cn, 1, x + ROW(0, V), ucur, nv);
        for (int64_t rho = 0; rho < rows; rho++) {
            const int64_t t = rho / n, j = rho % n;
            if (j == 0) {
                if (t % seg == 0) memcpy(CKPT(i, t / seg), S, K * V * sizeof(float));
                memcpy(e0, e, K * sizeof(float));
            }
            const int more = rho + 1 < rows;
            if (more) NEXT_COEF(rho + 1)
            update_rows(K, V, j == 0 ? e0 : one, S, S, ucur, k + ROW(rho, K), 0, NULL, NULL,
                        j == n - 1 ? q + AT(t, K) : NULL, o + AT(t, V), more ? cn : NULL, 1,
                        more ? x + ROW(rho + 1, V) : NULL, unext, nv);
            float *swap = ucur;
            ucur = unext;
            unext = swap;
        }
        memcpy(sT + STATE(i), S, K * V * sizeof(float));
    }
}

/* One pass over the rows of Lambda (and of P, the state before row rho) doing, row by row,
 *   the adjoint of row rho (read): dk, da (partial sums), Lambda <- Lambda - a du^T, and when decayed dg and
 *   Lambda <- d . Lambda;
 *   then du = Lambda^T k of row rho - 1 (write; into duw), after its token's output share Lambda += q do^T and
 *   dq = S do (out) when rho - 1 is the token's last row; S (Ss) is the state after row rho - 1, P when read.
 * parts: [4, K, 16] partial sums (dq, dk, da, dg); the flags are constants in each inlined copy. */
INLINE void adjoint_vec(int64_t K, int64_t V, int read, int decayed, int write, int out, float *lam,
                        const float *P, const float *e, const float *ar, const float *dur, const float *ur,
                        const float *Ss, const float *kw, const float *qt, const float *dot, float *duw,
                        float *parts, const int64_t nv) {
    float *pq = parts, *pk = pq + K * 16, *pd = pk + K * 16, *pg = pd + K * 16;
    v16 DUR[NVMAX], U[NVMAX], DO[NVMAX], DUW[NVMAX];
    for (int64_t c = 0; c < nv; c++) {
        if (read) {
            DUR[c] = ld(dur + 16 * c);
            U[c] = ld(ur + 16 * c);
        }
        if (out) DO[c] = ld(dot + 16 * c);
        DUW[c] = (v16){};
    }
    for (int64_t r = 0; r < K; r++) {
        v16 sk = {}, sd = {}, gr = {}, sq = {};
        float *lr = lam + r * V;
        for (int64_t c = 0; c < nv; c++) {
            v16 lv = ld(lr + 16 * c), pv = {};
            if (read) {
                pv = ld(P + r * V + 16 * c);
                sk += lv * U[c];
                sd += pv * DUR[c];
                lv -= DUR[c] * ar[r];
                if (decayed) {
                    gr += lv * pv;
                    lv *= e[r];
                }
            }
            if (write) {
                if (out) {
                    lv += DO[c] * qt[r];
                    sq += (read ? pv : ld(Ss + r * V + 16 * c)) * DO[c];
                }
                DUW[c] += lv * kw[r];
            }
            st(lr + 16 * c, lv);
        }
        if (read) {
            st(pk + r * 16, sk);
            st(pd + r * 16, sd);
            if (decayed) st(pg + r * 16, gr);
        }
        if (out) st(pq + r * 16, sq);
    }
    if (write)
        for (int64_t c = 0; c < nv; c++) st(duw + 16 * c, DUW[c]);
}

/* work: states [seg n + 1, K, V] (index rho - t0 n: the state before that row, pre-decay for j = 0), u [seg n, V],
 * du [2, V] (by the parity of the row), then partial sums [4, K, 16] (dq, dk, da, dg) */
INLINE void bwd_vec(BWD_ARGS(float), float *lam, float *e, float *e0, const float *one, float *cn, float *work,
                    const int64_t nv) {
    const int64_t nseg = (L + seg - 1) / seg;
    float *states = work, *us = states + (seg * n + 1) * K * V, *du = us + seg * n * V, *parts = du + 2 * V;
    float *pq = parts, *pk = pq + K * 16, *pd = pk + K * 16, *pg = pd + K * 16;
    for (int64_t i = i0; i < i1; i++) {
        ITEM_BASE
        for (int64_t z = 0; z < K * V; z++) lam[z] = dsT ? dsT[STATE(i) + z] : 0.0f;
        for (int64_t sg = nseg - 1; sg >= 0; sg--) {
            SEGMENT_TOKENS(sg)
            const int64_t r0 = t0 * n, r1 = t1 * n;
            memcpy(states, CKPT(i, sg), K * V * sizeof(float));
            NEXT_COEF(r0)
            read_rows(K, V, states, cn, 1, x + ROW(r0, V), us, nv);
            for (int64_t rho = r0; rho < r1; rho++) { /* recompute the segment's states and u */
                const int64_t l = rho - r0;
                if (rho % n == 0) memcpy(e0, e, K * sizeof(float));
                const int more = rho + 1 < r1;
                if (more) NEXT_COEF(rho + 1)
                update_rows(K, V, rho % n == 0 ? e0 : one, states + l * K * V, states + (l + 1) * K * V, us + l * V,
                            k + ROW(rho, K), 0, NULL, NULL, NULL, NULL, more ? cn : NULL, 1,
                            more ? x + ROW(rho + 1, V) : NULL, us + (l + 1) * V, nv);
            }
            /* rows r1 - 1 .. r0: du of r1 - 1 alone, then the adjoint of rho with du of rho - 1, then the
             * adjoint of r0 alone */
            for (int64_t rho = r1; rho >= r0; rho--) {
                const int64_t t = rho / n, j = rho % n, l = rho - r0, w = rho - 1; /* w: the row written */
                const int read = rho < r1, write = rho > r0, decayed = read && j == 0 && g, out = write && w % n == n - 1;
                const float *P = states + l * K * V;
                float *dur = du + (rho & 1) * V, *duw = du + (w & 1) * V;
                if (decayed) DECAYS(float)
                const float *ar = read ? a + ROW(rho, K) : NULL, *ur = us + l * V, *kw = write ? k + ROW(w, K) : NULL;
                const float *qt = out ? q + AT(w / n, K) : NULL, *dot = out ? dout + AT(w / n, V) : NULL;
                if (read && write) {
                    if (decayed && out)
                        adjoint_vec(K, V, 1, 1, 1, 1, lam, P, e, ar, dur, ur, P, kw, qt, dot, duw, parts, nv);
                    else if (out)
                        adjoint_vec(K, V, 1, 0, 1, 1, lam, P, e, ar, dur, ur, P, kw, qt, dot, duw, parts, nv);
                    else
                        adjoint_vec(K, V, 1, 0, 1, 0, lam, P, e, ar, dur, ur, P, kw, qt, dot, duw, parts, nv);
                } else if (write) {
                    if (out)
                        adjoint_vec(K, V, 0, 0, 1, 1, lam, P, e, ar, dur, ur, P, kw, qt, dot, duw, parts, nv);
                    else
                        adjoint_vec(K, V, 0, 0, 1, 0, lam, P, e, ar, dur, ur, P, kw, qt, dot, duw, parts, nv);
                } else if (decayed) {
                    adjoint_vec(K, V, 1, 1, 0, 0, lam, P, e, ar, dur, ur, P, kw, qt, dot, duw, parts, nv);
                } else {
                    adjoint_vec(K, V, 1, 0, 0, 0, lam, P, e, ar, dur, ur, P, kw, qt, dot, duw, parts, nv);
                }
                if (write)
                    for (int64_t c = 0; c < V; c += 16) st(dx + ROW(w, V) + c, ld(duw + c));
                v16 gsum = {};
                for (int64_t rb = 0; rb < K; rb += 16) {
                    if (read) {
                        st(dk + ROW(rho, K) + rb, reduce(pk + rb * 16));
                        st(da + ROW(rho, K) + rb, -reduce(pd + rb * 16) * ld((j == 0 && g ? e : one) + rb));
                    }
                    if (decayed) {
                        const v16 dgr = reduce(pg + rb * 16) * ld(e + rb);
                        if (per_key) st(dg + AT(t, K) + rb, dgr);
                        else gsum += dgr;
                    }
                    if (out) st(dq + AT(w / n, K) + rb, reduce(pq + rb * 16));
                }
                if (decayed && !per_key) dg[AT(t, 1)] = hsum(gsum);
            }
        }
        if (ds0) memcpy(ds0 + STATE(i), lam, K * V * sizeof(float));
    }
}

/* ---- entry points ----
 * scratch: K * V + 4 K + 2 V floats per thread (S or Lambda, e, e0, ones, cn, u [2]);
 * work (backward): (seg n + 1) K V + seg n V + 2 V + 4 K 16 floats per thread */

#define SCRATCH(T) T *S = scratch, *e = S + K * V, *e0 = e + K, *one = e0 + K, *cn = one + K, *u = cn + K;        \
    for (int64_t r = 0; r < K; r++) one[r] = 1;

void delta_rule_fwd_f32(FWD_ARGS(float), float *scratch) {
    SCRATCH(float)
    switch (vectorised(K, V) ? V / 16 : 0) {
    case 0: fwd_plain_f32(FWD_PASS, S, e, u); break;
    case 4: fwd_vec(FWD_PASS, S, e, e0, one, cn, u, 4); break;
    case 8: fwd_vec(FWD_PASS, S, e, e0, one, cn, u, 8); break;
    default: fwd_vec(FWD_PASS, S, e, e0, one, cn, u, V / 16);
    }
}
void delta_rule_bwd_f32(BWD_ARGS(float), float *scratch, float *work) {
    SCRATCH(float)
    (void)u;
    switch (vectorised(K, V) ? V / 16 : 0) {
    case 0: bwd_plain_f32(BWD_PASS, S, e, work); break;
    case 4: bwd_vec(BWD_PASS, S, e, e0, one, cn, work, 4); break;
    case 8: bwd_vec(BWD_PASS, S, e, e0, one, cn, work, 8); break;
    default: bwd_vec(BWD_PASS, S, e, e0, one, cn, work, V / 16);
    }
}
void delta_rule_fwd_f64(FWD_ARGS(double), double *scratch) {
    SCRATCH(double)
    (void)e0, (void)one, (void)cn;
    fwd_plain_f64(FWD_PASS, S, e, u);
}
void delta_rule_bwd_f64(BWD_ARGS(double), double *scratch, double *work) {
    SCRATCH(double)
    (void)u, (void)e0, (void)one, (void)cn;
    bwd_plain_f64(BWD_PASS, S, e, work);
}
