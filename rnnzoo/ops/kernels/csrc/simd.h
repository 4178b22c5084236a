/* 16-wide float vectors in GNU C vector extensions (one AVX-512 register, two AVX2 or four NEON ones), shared
 * by the compiled kernels: loads and stores, and sums across lanes. gcc's auto-vectoriser is not relied on:
 * it turned dot products into serial chains of scalar adds (their order is fixed without -ffast-math). */
#ifndef RNNZOO_SIMD_H
#define RNNZOO_SIMD_H

#include <stdint.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

INLINE v16 ld(const float *p) { v16 x; memcpy(&x, p, sizeof x); return x; }
INLINE void st(float *p, v16 x) { memcpy(p, &x, sizeof x); }

#if defined(__clang__) || __GNUC__ >= 12 /* __builtin_shufflevector: clang, and gcc from 12 */

#define SHUF __builtin_shufflevector

/* the sum of a vector's lanes, by halving in registers */
INLINE float hsum(v16 x) {
    v8 h8 = SHUF(x, x, 0, 1, 2, 3, 4, 5, 6, 7) + SHUF(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
    v4 h4 = SHUF(h8, h8, 0, 1, 2, 3) + SHUF(h8, h8, 4, 5, 6, 7);
    return (h4[0] + h4[2]) + (h4[1] + h4[3]);
}

/* out[s] = the sum of the lanes of P[s], s < 16: pairs of vectors folded by shuffles, four levels (30 shuffles
 * and 15 adds for 16 sums, against about 8 dependent operations for each single hsum) */
INLINE v16 hsum16x16(const v16 *P) {
    v16 A[8], B[4], C[2];
    for (int i = 0; i < 8; i++)
        A[i] = SHUF(P[i], P[i + 8], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
               SHUF(P[i], P[i + 8], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (int i = 0; i < 4; i++)
        B[i] = SHUF(A[i], A[i + 4], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27) +
               SHUF(A[i], A[i + 4], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    for (int i = 0; i < 2; i++)
        C[i] = SHUF(B[i], B[i + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29) +
               SHUF(B[i], B[i + 2], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    return SHUF(C[0], C[1], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30) +
           SHUF(C[0], C[1], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
}

#else /* older gcc: the same sums lane by lane (slower, same results up to the order of the additions) */

INLINE float hsum(v16 x) {
    float s = 0;
    for (int i = 0; i < 16; i++) s += x[i];
    return s;
}

INLINE v16 hsum16x16(const v16 *P) {
    v16 out;
    for (int s = 0; s < 16; s++) out[s] = hsum(P[s]);
    return out;
}

#endif

#endif
