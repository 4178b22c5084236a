/* L2 normalisation over rows of d channels, y = x r with r = 1 / sqrt(sum(x^2) + eps) (the per-head q/k norm of
 * the delta-rule family), and its backward, one pass over a row each way (the PyTorch form is five elementwise
 * operators forward and about eight backward, each a pass over memory).
 *
 * Rows are read and written as [N, M, d] with row strides (s, d, 1): row i at (i / M) * s + (i % M) * d, so the
 * heads of one piece of a fused projection (x[..., a:b].view(..., H, d)) are read in place, without a copy.
 * Rows [r0, r1) per call.
 *
 * fwd: x (M, sx) -> y [rows, d] contiguous, r [rows].
 * bwd: g (M, sg), y, r -> dx (M, sdx): dx = r (g - y <g, y>) (d/dx of x r, with x r = y). */
#include <math.h>
#include <stdint.h>

#define ROW(p, i, M, s, d) ((p) + ((i) / (M)) * (s) + ((i) % (M)) * (d))

#define DEFINE(T, SUF)                                                                                         \
    static inline T dot_##SUF(const T *a, const T *b, int64_t d) {                                             \
        T acc[8] = {0}, s = 0;                                                                                 \
        int64_t j = 0;                                                                                         \
        for (; j + 8 <= d; j += 8)                                                                             \
            for (int u = 0; u < 8; u++) acc[u] += a[j + u] * b[j + u];                                         \
        for (; j < d; j++) s += a[j] * b[j];                                                                   \
        for (int u = 0; u < 8; u++) s += acc[u];                                                               \
        return s;                                                                                              \
    }                                                                                                          \
    void l2_norm_fwd_##SUF(const T *x, int64_t mx, int64_t sx, T *y, T *r, int64_t d, double eps, int64_t r0, \
                           int64_t r1) {                                                                       \
        for (int64_t i = r0; i < r1; i++) {                                                                    \
            const T *xi = ROW(x, i, mx, sx, d);                                                                \
            T *yi = y + i * d;                                                                                 \
            T ri = (T)(1.0 / sqrt((double)dot_##SUF(xi, xi, d) + eps));                                        \
            r[i] = ri;                                                                                         \
            for (int64_t j = 0; j < d; j++) yi[j] = xi[j] * ri;                                                \
        }                                                                                                      \
    }                                                                                                          \
    void l2_norm_bwd_##SUF(const T *g, int64_t mg, int64_t sg, const T *y, const T *r, T *dx, int64_t mdx,    \
                           int64_t sdx, int64_t d, int64_t r0, int64_t r1) {                                   \
        for (int64_t i = r0; i < r1; i++) {                                                                    \
            const T *gi = ROW(g, i, mg, sg, d), *yi = y + i * d;                                               \
            T *dxi = ROW(dx, i, mdx, sdx, d), ri = r[i];                                                       \
            T c = dot_##SUF(gi, yi, d);                                                                        \
            for (int64_t j = 0; j < d; j++) dxi[j] = ri * (gi[j] - yi[j] * c);                                 \
        }                                                                                                      \
    }

DEFINE(float, f32)
DEFINE(double, f64)
