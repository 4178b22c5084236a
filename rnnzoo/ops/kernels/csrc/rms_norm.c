/* RMSNorm over rows of d channels, y = x r w with r = 1 / sqrt(mean(x^2) + eps), and its backward, one pass
 * over a row each way (torch's CPU RMSNorm is a composite of elementwise operators, each a pass over memory).
 * Row i uses the weight row i % groups (a group norm: the caller views [..., groups, d]). Rows [r0, r1) per call.
 *
 * fwd: x [rows, d], w [groups, d] -> y [rows, d], r [rows].
 * bwd: g, x [rows, d], w, r -> dx [rows, d]; dw_acc [groups, d] accumulates sum over this call's rows of
 *      g x r (NULL: not wanted). dx = r (g w - xhat mean(g w xhat)), xhat = x r.
 *
 * The gated norms (``GatedRMSNorm``), one pass over a row forward and two backward (the second recomputes the
 * gate's exp instead of storing it), the gate z read in place and x, z, dx, dz addressed as rows of [N, M, d] with
 * row strides (s, d, 1) (row i at (i / M) * s + (i % M) * d: the heads of a piece of a fused projection):
 * gated_rms_norm (norm, then gate):  y = x r w silu(z),      r = 1 / sqrt(mean(x^2) + eps);
 * gate_rms_norm (gate, then norm):   y = u r w, u = x silu(z), r = 1 / sqrt(mean(u^2) + eps) (Mamba-2's order).
 * bwd: g [rows, d] contiguous -> dx, dz, and dw_acc [groups, d] accumulating sum over this call's rows; scratch
 * [2, d] holds silu(z) and silu'(z) of one row. silu'(z) = s (1 + z (1 - s)),
 * s = sigmoid(z). */
#include <math.h>
#include <stdint.h>

#include "fastexp.h"

#define ROW(p, i, M, s, d) ((p) + ((i) / (M)) * (s) + ((i) % (M)) * (d))

#define DEFINE(T, SUF)                                                                                         \
    void rms_norm_fwd_##SUF(const T *x, const T *w, T *y, T *r, int64_t d, int64_t groups, double eps,       \
                            int64_t r0, int64_t r1) {                                                          \
        for (int64_t i = r0; i < r1; i++) {                                                                    \
            const T *xi = x + i * d, *wi = w + (i % groups) * d;                                              \
            T *yi = y + i * d;                                                                                 \
            T acc[8] = {0};                                                                                    \
            int64_t j = 0;                                                                                     \
            for (; j + 8 <= d; j += 8)                                                                         \
                for (int u = 0; u < 8; u++) acc[u] += xi[j + u] * xi[j + u];                                   \
            T ss = 0;                                                                                          \
            for (; j < d; j++) ss += xi[j] * xi[j];                                                            \
            for (int u = 0; u < 8; u++) ss += acc[u];                                                          \
            T ri = (T)(1.0 / sqrt((double)ss / (double)d + eps));                                              \
            r[i] = ri;                                                                                         \
            for (j = 0; j < d; j++) yi[j] = xi[j] * ri * wi[j];                                                \
        }                                                                                                      \
    }                                                                                                          \
    void rms_norm_bwd_##SUF(const T *g, const T *x, const T *w, const T *r, T *dx, T *dw_acc, int64_t d,     \
                            int64_t groups, int64_t r0, int64_t r1) {                                          \
        for (int64_t i = r0; i < r1; i++) {                                                                    \
            const T *gi = g + i * d, *xi = x + i * d, *wi = w + (i % groups) * d;                             \
            T *dxi = dx + i * d, ri = r[i];                                                                    \
            T acc[8] = {0};                                                                                    \
            int64_t j = 0;                                                                                     \
            for (; j + 8 <= d; j += 8)                                                                         \
                for (int u = 0; u < 8; u++) acc[u] += gi[j + u] * wi[j + u] * xi[j + u];                       \
            T dot = 0;                                                                                         \
            for (; j < d; j++) dot += gi[j] * wi[j] * xi[j];                                                   \
            for (int u = 0; u < 8; u++) dot += acc[u];                                                         \
            T c = dot * ri * ri / (T)d; /* mean(g w xhat) r, with xhat = x r */                                \
            for (j = 0; j < d; j++) dxi[j] = ri * (gi[j] * wi[j] - xi[j] * c);                                 \
            if (dw_acc) {                                                                                      \
                T *dwi = dw_acc + (i % groups) * d;                                                            \
                for (j = 0; j < d; j++) dwi[j] += gi[j] * xi[j] * ri;                                          \
            }                                                                                                  \
        }                                                                                                      \
    }

#define DEFINE_GATED(T, SUF, EXP)                                                                             \
    void gated_rms_norm_fwd_##SUF(const T *x, int64_t mx, int64_t sx, const T *z, int64_t mz, int64_t sz,      \
                                  const T *w, T *y, T *r, int64_t d, int64_t groups, int64_t gate_first,       \
                                  double eps, int64_t r0, int64_t r1) {                                        \
        for (int64_t i = r0; i < r1; i++) {                                                                    \
            const T *xi = ROW(x, i, mx, sx, d), *zi = ROW(z, i, mz, sz, d), *wi = w + (i % groups) * d;       \
            T *yi = y + i * d;                                                                                 \
            T acc[8] = {0}, ss = 0;                                                                            \
            int64_t j = 0;                                                                                     \
            if (gate_first) { /* y holds u = x silu(z) until scaled */                                         \
                for (j = 0; j < d; j++) yi[j] = xi[j] * zi[j] / (1 + EXP(-zi[j]));                             \
                xi = yi;                                                                                       \
            }                                                                                                  \
            for (j = 0; j + 8 <= d; j += 8)                                                                    \
                for (int u = 0; u < 8; u++) acc[u] += xi[j + u] * xi[j + u];                                   \
            for (; j < d; j++) ss += xi[j] * xi[j];                                                            \
            for (int u = 0; u < 8; u++) ss += acc[u];                                                          \
            T ri = (T)(1.0 / sqrt((double)ss / (double)d + eps));                                              \
            r[i] = ri;                                                                                         \
            if (gate_first)                                                                                    \
                for (j = 0; j < d; j++) yi[j] = yi[j] * ri * wi[j];                                            \
            else                                                                                               \
                for (j = 0; j < d; j++) yi[j] = xi[j] * ri * wi[j] * zi[j] / (1 + EXP(-zi[j]));                \
        }                                                                                                      \
    }                                                                                                          \
    void gated_rms_norm_bwd_##SUF(const T *g, const T *x, int64_t mx, int64_t sx, const T *z, int64_t mz,      \
                                  int64_t sz, const T *w, const T *r, T *dx, int64_t mdx, int64_t sdx, T *dz,   \
                                  int64_t mdz, int64_t sdz, T *dw_acc, T *scratch, int64_t d, int64_t groups,   \
                                  int64_t gate_first, int64_t r0, int64_t r1) {                                \
        T *restrict silu = scratch, *restrict ds = scratch + d;                                                \
        for (int64_t i = r0; i < r1; i++) {                                                                    \
            const T *restrict gi = g + i * d, *restrict xi = ROW(x, i, mx, sx, d);                             \
            const T *restrict zi = ROW(z, i, mz, sz, d), *restrict wi = w + (i % groups) * d;                  \
            T *restrict dxi = ROW(dx, i, mdx, sdx, d), *restrict dzi = ROW(dz, i, mdz, sdz, d);                \
            T *restrict dwi = dw_acc + (i % groups) * d, ri = r[i];                                            \
            for (int64_t j = 0; j < d; j++) {                                                                  \
                T s = 1 / (1 + EXP(-zi[j]));                                                                   \
                silu[j] = zi[j] * s;                                                                           \
                ds[j] = s * (1 + zi[j] * (1 - s));                                                             \
            }                                                                                                  \
            /* dot = the sum of the gradient at the normalised value times w times the value normalised, / r */\
            T acc[8] = {0}, dot = 0;                                                                           \
            int64_t j = 0;                                                                                     \
            for (; j + 8 <= d; j += 8)                                                                         \
                for (int u = 0; u < 8; u++) acc[u] += gi[j + u] * wi[j + u] * xi[j + u] * silu[j + u];        \
            for (; j < d; j++) dot += gi[j] * wi[j] * xi[j] * silu[j];                                         \
            for (int u = 0; u < 8; u++) dot += acc[u];                                                         \
            T c = dot * ri * ri / (T)d;                                                                        \
            if (gate_first) /* u = x silu: du = r (g w - u c) */                                               \
                for (j = 0; j < d; j++) {                                                                      \
                    T u = xi[j] * silu[j], du = ri * (gi[j] * wi[j] - u * c);                                  \
                    dxi[j] = du * silu[j];                                                                     \
                    dzi[j] = du * xi[j] * ds[j];                                                               \
                    dwi[j] += gi[j] * u * ri;                                                                  \
                }                                                                                              \
            else /* n = x r w: dn = g silu */                                                                  \
                for (j = 0; j < d; j++) {                                                                      \
                    T dn = gi[j] * silu[j];                                                                    \
                    dxi[j] = ri * (dn * wi[j] - xi[j] * c);                                                    \
                    dzi[j] = gi[j] * xi[j] * ri * wi[j] * ds[j];                                               \
                    dwi[j] += dn * xi[j] * ri;                                                                 \
                }                                                                                              \
        }                                                                                                      \
    }

DEFINE(float, f32)
DEFINE(double, f64)
DEFINE_GATED(float, f32, exp_f32)
DEFINE_GATED(double, f64, exp)
