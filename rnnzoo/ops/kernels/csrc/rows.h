/* The parts shared by the compiled kernels whose state S [K, V] of one item (i = b * H + h) is updated token by
 * token and saved every `seg` tokens for the backward pass (delta_rule.c, dplr.c, mlstm.c):
 *
 *   - layout macros naming the caller's H, K, V, base (token 0 of item i, from its ITEM_BASE), ckpt and nseg;
 *   - loops for any K, V in float or double (DEFINE_PLAIN_ROWS, instantiated per type by each kernel);
 *   - float32 passes over the rows of S in 16-wide vectors along V (simd.h), for K and V multiples of 16 with
 *     V <= 16 NVMAX: a row of S is nv = V / 16 vectors, a constant in each inlined copy, so that the vectors of one
 *     row of the result stay in registers while the rows of S stream from L1.
 */
#ifndef RNNZOO_ROWS_H
#define RNNZOO_ROWS_H

#include <stdint.h>
#include <string.h>

#include "simd.h"

/* offset of token t of item i in a [B, T, H, width] tensor; of item i's state in a [B, H, K, V] one; and item i's
 * state saved at the start of segment sg in ckpt [item, segment, K, V] */
#define AT(t, width) ((base + (t) * H) * (width))
#define STATE(i) ((i) * K * V)
#define CKPT(i, sg) (ckpt + ((i) * nseg + (sg)) * K * V)

/* token t0 .. t1 - 1 of segment sg */
#define SEGMENT_TOKENS(sg) const int64_t t0 = (sg) * seg, t1 = t0 + seg < L ? t0 + seg : L;

#define DEFINE_PLAIN_ROWS(T, SUFFIX)                                                                              \
/* o = S^T q */                                                                                                   \
static inline void output_plain_##SUFFIX(int64_t K, int64_t V, const T *S, const T *qt, T *ot) {                  \
    for (int64_t c = 0; c < V; c++) ot[c] = 0;                                                                    \
    for (int64_t r = 0; r < K; r++)                                                                               \
        for (int64_t c = 0; c < V; c++) ot[c] += qt[r] * S[r * V + c];                                            \
}

#define NVMAX 16

/* whether the float32 vector loops take K, V */
static inline int vectorised(int64_t K, int64_t V) { return K % 16 == 0 && V % 16 == 0 && V <= 16 * NVMAX; }

/* The flags below (from_x, rank2) are constants at every call, so that each inlined copy holds only its own
 * arithmetic: the delta rule's rows read un = xn - S^T c and update S by one rank-1 term, the DPLR steps read
 * un = S^T c and update S by two. */

/* the read un = S^T c, or xn - S^T c with from_x, that starts a run; rows r and r + 1 in two chains of sums: the
 * FMA latency, not its throughput, would bind one chain */
INLINE void read_rows(int64_t K, int64_t V, const float *S, const float *c, const int from_x, const float *xn,
                      float *un, const int64_t nv) {
    v16 N0[NVMAX], N1[NVMAX];
    for (int64_t j = 0; j < nv; j++) N0[j] = N1[j] = (v16){};
    for (int64_t r = 0; r < K; r += 2)
        for (int64_t j = 0; j < nv; j++) {
            N0[j] += ld(S + r * V + 16 * j) * c[r];
            N1[j] += ld(S + (r + 1) * V + 16 * j) * c[r + 1];
        }
    for (int64_t j = 0; j < nv; j++) st(un + 16 * j, from_x ? ld(xn + 16 * j) - N0[j] - N1[j] : N0[j] + N1[j]);
}

/* One pass over the rows of S: next = d . S + ku u^T, plus kx x^T with rank2 (next may be S); with the output
 * o = next^T q when qt is given, and when c is given the next read un = next^T c, or xn - next^T c with from_x. */
INLINE void update_rows(int64_t K, int64_t V, const float *d, const float *S, float *next, const float *u,
                        const float *ku, const int rank2, const float *x, const float *kx, const float *qt,
                        float *ot, const float *c, const int from_x, const float *xn, float *un, const int64_t nv) {
    v16 U[NVMAX], X[NVMAX], O0[NVMAX], O1[NVMAX], N0[NVMAX], N1[NVMAX];
    for (int64_t j = 0; j < nv; j++) {
        U[j] = ld(u + 16 * j);
        if (rank2) X[j] = ld(x + 16 * j);
        O0[j] = O1[j] = N0[j] = N1[j] = (v16){};
    }
    for (int64_t r = 0; r < K; r += 2)
        for (int64_t j = 0; j < nv; j++) {
            v16 s0 = ld(S + r * V + 16 * j) * d[r] + U[j] * ku[r];
            v16 s1 = ld(S + (r + 1) * V + 16 * j) * d[r + 1] + U[j] * ku[r + 1];
            if (rank2) {
                s0 += X[j] * kx[r];
                s1 += X[j] * kx[r + 1];
            }
            st(next + r * V + 16 * j, s0);
            st(next + (r + 1) * V + 16 * j, s1);
            if (qt) {
                O0[j] += s0 * qt[r];
                O1[j] += s1 * qt[r + 1];
            }
            if (c) {
                N0[j] += s0 * c[r];
                N1[j] += s1 * c[r + 1];
            }
        }
    for (int64_t j = 0; j < nv; j++) {
        if (qt) st(ot + 16 * j, O0[j] + O1[j]);
        if (c) st(un + 16 * j, from_x ? ld(xn + 16 * j) - N0[j] - N1[j] : N0[j] + N1[j]);
    }
}

/* the sums along V of 16 rows of partial sums part [16 rows, 16 lanes] */
INLINE v16 reduce(const float *part) {
    v16 P[16];
    for (int r = 0; r < 16; r++) P[r] = ld(part + r * 16);
    return hsum16x16(P);
}

#endif
