/* RMSNorm over rows of d channels, y = x r w with r = 1 / sqrt(mean(x^2) + eps), and its backward, one pass
 * over a row each way (torch's CPU RMSNorm is a composite of elementwise operators, each a pass over memory).
 * Row i uses the weight row i % groups (a group norm: the caller views [..., groups, d]). Rows [r0, r1) per call.
 *
 * fwd: x [rows, d], w [groups, d] -> y [rows, d], r [rows].
 * bwd: g, x [rows, d], w, r -> dx [rows, d]; dw_acc [groups, d] accumulates sum over this call's rows of
 *      g x r (NULL: not wanted). dx = r (g w - xhat mean(g w xhat)), xhat = x r. */
#include <math.h>
#include <stdint.h>

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

DEFINE(float, f32)
DEFINE(double, f64)
