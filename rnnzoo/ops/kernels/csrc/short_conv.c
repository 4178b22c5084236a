/* Causal depthwise convolution over time with an optional SiLU, channels last, and its backward: the
 * ``ShortConvolution`` of rnnzoo.mixers.short_conv. Per batch row b (rows [b0, b1) per call), with the input
 * padded in time by the K-1 previous inputs ``head``:
 *     in(p) = head[b, p] for p < K-1, x[b, p - K + 1] after;   pre[t] = bias + sum_j wt[j] * in(t + j)
 *     y[t] = silu(pre[t]) (act = 1) or pre[t] (act = 0)
 * x: [B, T, D] with row strides (sb, st) and unit channel stride; head [B, K-1, D], wt [K, D], bias [D] or NULL,
 * y [B, T, D], all contiguous. One pass forward; backward recomputes pre (K multiply-adds) instead of storing it.
 *
 * bwd: gy [B, T, D] -> dx [B, T, D], dhead [B, K-1, D], and per call accumulators dw_acc [K, D], db_acc [D]
 * (db_acc NULL without a bias). dpre [T, D] is scratch for one batch row. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fastexp.h"

#define DEFINE(T, SUF, EXP)                                                                                     \
    static inline const T *in_##SUF(const T *x, const T *head, int64_t p, int64_t K, int64_t D, int64_t st) { \
        return p < K - 1 ? head + p * D : x + (p - K + 1) * st;                                               \
    }                                                                                                          \
    static void pre_row_##SUF(const T *x, const T *head, const T *wt, const T *bias, int64_t t, int64_t K,    \
                              int64_t D, int64_t st, T *out) {                                                 \
        for (int64_t d = 0; d < D; d++) out[d] = bias ? bias[d] : 0;                                           \
        for (int64_t j = 0; j < K; j++) {                                                                      \
            const T *r = in_##SUF(x, head, t + j, K, D, st), *w = wt + j * D;                                  \
            for (int64_t d = 0; d < D; d++) out[d] += w[d] * r[d];                                             \
        }                                                                                                      \
    }                                                                                                          \
    void short_conv_fwd_##SUF(const T *x, int64_t sb, int64_t st, const T *head, const T *wt, const T *bias,  \
                              T *y, int64_t Tn, int64_t D, int64_t K, int64_t act, int64_t b0, int64_t b1) {  \
        for (int64_t b = b0; b < b1; b++) {                                                                    \
            const T *xb = x + b * sb, *hb = head + b * (K - 1) * D;                                            \
            for (int64_t t = 0; t < Tn; t++) {                                                                 \
                T *yt = y + (b * Tn + t) * D;                                                                  \
                pre_row_##SUF(xb, hb, wt, bias, t, K, D, st, yt);                                              \
                if (act)                                                                                       \
                    for (int64_t d = 0; d < D; d++) yt[d] = yt[d] / (1 + EXP(-yt[d]));                         \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    void short_conv_bwd_##SUF(const T *x, int64_t sb, int64_t st, const T *head, const T *wt, const T *bias,  \
                              const T *gy, T *dx, T *dhead, T *dw_acc, T *db_acc, T *dpre, int64_t Tn,        \
                              int64_t D, int64_t K, int64_t act, int64_t b0, int64_t b1) {                     \
        for (int64_t b = b0; b < b1; b++) {                                                                    \
            const T *xb = x + b * sb, *hb = head + b * (K - 1) * D, *gb = gy + b * Tn * D;                     \
            for (int64_t t = 0; t < Tn; t++) {                                                                 \
                T *dp = dpre + t * D;                                                                          \
                const T *g = gb + t * D;                                                                       \
                if (act) {                                                                                     \
                    pre_row_##SUF(xb, hb, wt, bias, t, K, D, st, dp);                                          \
                    for (int64_t d = 0; d < D; d++) {                                                          \
                        T s = 1 / (1 + EXP(-dp[d]));                                                           \
                        dp[d] = g[d] * s * (1 + dp[d] * (1 - s));                                              \
                    }                                                                                          \
                } else {                                                                                       \
                    for (int64_t d = 0; d < D; d++) dp[d] = g[d];                                              \
                }                                                                                              \
                if (db_acc)                                                                                    \
                    for (int64_t d = 0; d < D; d++) db_acc[d] += dp[d];                                        \
                for (int64_t j = 0; j < K; j++) { /* pre[t] read in(t + j) with weight j */                   \
                    const T *r = in_##SUF(xb, hb, t + j, K, D, st);                                            \
                    T *dw = dw_acc + j * D;                                                                    \
                    for (int64_t d = 0; d < D; d++) dw[d] += dp[d] * r[d];                                     \
                }                                                                                              \
            }                                                                                                  \
            for (int64_t p = 0; p < Tn + K - 1; p++) { /* d in(p) = sum_j wt[j] dpre[p - j] */                \
                T *out = p < K - 1 ? dhead + (b * (K - 1) + p) * D : dx + (b * Tn + p - K + 1) * D;            \
                for (int64_t d = 0; d < D; d++) out[d] = 0;                                                    \
                for (int64_t j = 0; j < K; j++) {                                                              \
                    int64_t t = p - j;                                                                         \
                    if (t < 0 || t >= Tn) continue;                                                            \
                    const T *w = wt + j * D, *dp = dpre + t * D;                                               \
                    for (int64_t d = 0; d < D; d++) out[d] += w[d] * dp[d];                                    \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }

DEFINE(float, f32, exp_f32)
DEFINE(double, f64, exp)
