/* exp(x) for float32 in straight-line arithmetic that gcc vectorises (a call to expf stays scalar and was half of
 * the short convolution's time): x = n ln2 + r, |r| <= ln2 / 2, Cephes' degree-6 polynomial for e^r, 2^n through
 * the exponent bits; within 2 ulp of expf for x in [-87, 88], clamped outside (a SiLU's sigmoid needs no more). */
#ifndef RNNZOO_FASTEXP_H
#define RNNZOO_FASTEXP_H

#include <stdint.h>
#include <string.h>

static inline float exp_f32(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#endif
