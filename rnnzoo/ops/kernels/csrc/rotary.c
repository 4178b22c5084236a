/* Rotary position embedding, rotate-half layout (rnnzoo.ops.rotary.apply_rotary), one pass over a row: with
 * x = (x1, x2) the two halves of a head's d channels and the angle of its token,
 *     y1 = x1 cos - x2 sin,  y2 = x2 cos + x1 sin.
 * The backward is the rotation by minus the angle (sign = -1), the same loop. Rows are read as [N, M, d] with row
 * strides (s, d, 1) (row i at (i / M) * s + (i % M) * d: the heads of a piece of a fused projection, in place);
 * row i takes cos, sin [tokens, d / 2] at token i / h (h heads a token). y [rows, d] contiguous; rows [r0, r1). */
#include <stdint.h>

#define DEFINE(T, SUF)                                                                                         \
    void rotary_##SUF(const T *x, int64_t mx, int64_t sx, const T *cs, const T *sn, T *y, int64_t h, int64_t d,  \
                      double sign, int64_t r0, int64_t r1) {                                                   \
        int64_t half = d / 2;                                                                                  \
        for (int64_t i = r0; i < r1; i++) {                                                                    \
            const T *restrict x1 = x + (i / mx) * sx + (i % mx) * d, *restrict x2 = x1 + half;                 \
            const T *restrict c = cs + (i / h) * half, *restrict s = sn + (i / h) * half;                      \
            T *restrict y1 = y + i * d, *restrict y2 = y1 + half, sg = (T)sign;                                \
            for (int64_t j = 0; j < half; j++) {                                                               \
                y1[j] = x1[j] * c[j] - x2[j] * (sg * s[j]);                                                    \
                y2[j] = x2[j] * c[j] + x1[j] * (sg * s[j]);                                                    \
            }                                                                                                  \
        }                                                                                                      \
    }

DEFINE(float, f32)
DEFINE(double, f64)
