// Scalar reference kernels for the K-quants (Q2_K..Q6_K, Q8_K activations) and IQ4_NL/IQ4_XS.
//
// to_float reproduces ggml's dequantize_row_* bit for bit: same float operations in the same
// order (this file is built with -ffp-contract=off, so nothing is fused). The dot products follow
// ggml's reference ggml_vec_dot_*_q8_K: exact integer sums inside a super-block (scale times
// sub-block dot, and min times the Q8_K bsums), then one float multiply-add per super-block.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/fp16.h"
#include "core/quant_blocks.h"
#include "kernels/kquants_common.h"
#include "kernels/registry.h"

namespace tk::kernels::detail {
namespace {

using kq::nearest_int;

// ---------------------------------------------------------------------------------------------
// Decoding. Each K-quant packs its 256 values in a fixed order; these decoders write a block's
// small integers in element order, with loops that follow the packing (so compilers vectorize
// them), and both to_float and the dot products use them.

// Q2_K / Q3_K low bits: 128-element halves use 32 bytes of qs each; the four 2-bit fields of
// byte l hold elements l, l+32, l+64, l+96 of that half.
inline void decode_q2_bits(const uint8_t* qs, int8_t* q) {
    for (int half = 0; half < 2; ++half)
        for (int j = 0; j < 4; ++j)
            for (int l = 0; l < 32; ++l)
                q[128 * half + 32 * j + l] =
                    static_cast<int8_t>((qs[32 * half + l] >> (2 * j)) & 3);
}

// Q3_K: low bits as Q2_K, minus 4 unless the element's hmask bit is set (bit e/32 of
// hmask[e % 32]).
inline void decode_q3k(const BlockQ3_K& b, int8_t* q) {
    decode_q2_bits(b.qs, q);
    for (int c = 0; c < 8; ++c)
        for (int l = 0; l < 32; ++l)
            q[32 * c + l] = static_cast<int8_t>(q[32 * c + l] - (((b.hmask[l] >> c) & 1) ? 0 : 4));
}

// Q6_K, per 128-element half: element l + 32c takes its low 4 bits from ql (byte l + 32*(c&1),
// nibble c>>1) and its high 2 bits from qh (byte l, bit pair c); stored +32.
inline void decode_q6k(const BlockQ6_K& b, int8_t* q) {
    for (int half = 0; half < 2; ++half) {
        const uint8_t* ql = b.ql + 64 * half;
        const uint8_t* qh = b.qh + 32 * half;
        int8_t* o = q + 128 * half;
        for (int l = 0; l < 32; ++l) {
            o[l] = static_cast<int8_t>(((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32);
            o[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32);
            o[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            o[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

// sum over 16 elements of a * b (int8 x int8).
inline int dot16(const int8_t* a, const int8_t* b) {
    int s = 0;
    for (int l = 0; l < 16; ++l) s += a[l] * b[l];
    return s;
}

// ---------------------------------------------------------------------------------------------
// to_float

void q2k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ2_K*>(src);
    int8_t q[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = fp16_to_f32(x[i].d);
        const float dmin = fp16_to_f32(x[i].dmin);
        decode_q2_bits(x[i].qs, q);
        for (int k = 0; k < 16; ++k) {
            const uint8_t sc = x[i].scales[k];
            const float dl = d * static_cast<float>(sc & 0x0F);
            const float ml = dmin * static_cast<float>(sc >> 4);
            for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>(q[16 * k + l]) - ml;
        }
    }
}

void q3k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ3_K*>(src);
    int8_t q[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = fp16_to_f32(x[i].d);
        int8_t sc[16];
        kq::unpack_scales_q3k(x[i].scales, sc);
        decode_q3k(x[i], q);
        for (int k = 0; k < 16; ++k) {
            const float dl = d * static_cast<float>(sc[k]);
            for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>(q[16 * k + l]);
        }
    }
}

void q4k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ4_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = fp16_to_f32(x[i].d);
        const float dmin = fp16_to_f32(x[i].dmin);
        uint8_t sc[8], mn[8];
        kq::unpack_scales_mins_k4(x[i].scales, sc, mn);
        const uint8_t* q = x[i].qs;
        for (int j = 0; j < 4; ++j) {
            const float d1 = d * sc[2 * j], m1 = dmin * mn[2 * j];
            const float d2 = d * sc[2 * j + 1], m2 = dmin * mn[2 * j + 1];
            for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0F) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
            q += 32;
        }
    }
}

void q5k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ5_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = fp16_to_f32(x[i].d);
        const float dmin = fp16_to_f32(x[i].dmin);
        uint8_t sc[8], mn[8];
        kq::unpack_scales_mins_k4(x[i].scales, sc, mn);
        const uint8_t* ql = x[i].qs;
        const uint8_t* qh = x[i].qh;
        for (int j = 0; j < 4; ++j) {
            const float d1 = d * sc[2 * j], m1 = dmin * mn[2 * j];
            const float d2 = d * sc[2 * j + 1], m2 = dmin * mn[2 * j + 1];
            for (int l = 0; l < 32; ++l) {
                const int q = (ql[l] & 0x0F) | (((qh[l] >> (2 * j)) & 1) << 4);
                *y++ = d1 * static_cast<float>(q) - m1;
            }
            for (int l = 0; l < 32; ++l) {
                const int q = (ql[l] >> 4) | (((qh[l] >> (2 * j + 1)) & 1) << 4);
                *y++ = d2 * static_cast<float>(q) - m2;
            }
            ql += 32;
        }
    }
}

void q6k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ6_K*>(src);
    int8_t q[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = fp16_to_f32(x[i].d);
        decode_q6k(x[i], q);
        for (int k = 0; k < 16; ++k) {
            // ggml: y = d * sc * q, evaluated left to right.
            const float dl = d * static_cast<float>(x[i].scales[k]);
            for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>(q[16 * k + l]);
        }
    }
}

void q8k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ8_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i)
        for (int j = 0; j < kQK_K; ++j) *y++ = x[i].d * static_cast<float>(x[i].qs[j]);
}

void iq4nl_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ4_NL*>(src);
    for (int64_t i = 0; i < n / kQK; ++i) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < 16; ++j) {
            y[j] = d * static_cast<float>(kIQ4NLValues[x[i].qs[j] & 0x0F]);
            y[j + 16] = d * static_cast<float>(kIQ4NLValues[x[i].qs[j] >> 4]);
        }
        y += kQK;
    }
}

void iq4xs_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ4_XS*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = fp16_to_f32(x[i].d);
        for (int ib = 0; ib < 8; ++ib) {
            const float dl = d * static_cast<float>(kq::iq4xs_scale(x[i], ib));
            const uint8_t* qs = x[i].qs + 16 * ib;
            for (int j = 0; j < 16; ++j) {
                y[j] = dl * static_cast<float>(kIQ4NLValues[qs[j] & 0x0F]);
                y[j + 16] = dl * static_cast<float>(kIQ4NLValues[qs[j] >> 4]);
            }
            y += 32;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Q8_K activation conversion (ggml's quantize_row_q8_K_ref).

void q8k_from_float(const float* x, void* dst, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
        float amax = 0.0f, max = 0.0f;  // max: the signed value with the largest |x|, first wins
        for (int j = 0; j < kQK_K; ++j) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            // ggml leaves bsums unwritten here; zero is what they would sum to.
            std::memset(&y[i], 0, sizeof(BlockQ8_K));
            continue;
        }
        // The sign makes the largest element -127 (never -128), so int8 products stay in
        // range for the SIMD kernels.
        const float iscale = -127.0f / max;
        for (int j = 0; j < kQK_K; ++j) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = static_cast<int8_t>(v < 127 ? v : 127);
        }
        for (int k = 0; k < kQK_K / 16; ++k) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += y[i].qs[16 * k + l];
            y[i].bsums[k] = static_cast<int16_t>(sum);
        }
        y[i].d = 1.0f / iscale;
    }
}

// ---------------------------------------------------------------------------------------------
// Dot products. Integer sums per super-block fit int32 with a wide margin (worst case Q6_K:
// 256 * 32 * 127 * 127 < 2^31 / 16).

void q2k_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockQ2_K*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    int8_t q[kQK_K];
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        decode_q2_bits(x[i].qs, q);
        int isum = 0, summs = 0;
        for (int k = 0; k < 16; ++k) {
            isum += (x[i].scales[k] & 0x0F) * dot16(q + 16 * k, y[i].qs + 16 * k);
            summs += (x[i].scales[k] >> 4) * y[i].bsums[k];
        }
        const float dall = y[i].d * fp16_to_f32(x[i].d);
        const float dmin = y[i].d * fp16_to_f32(x[i].dmin);
        sumf += dall * static_cast<float>(isum) - dmin * static_cast<float>(summs);
    }
    *s = sumf;
}

void q3k_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockQ3_K*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    int8_t q[kQK_K];
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t sc[16];
        kq::unpack_scales_q3k(x[i].scales, sc);
        decode_q3k(x[i], q);
        int isum = 0;
        for (int k = 0; k < 16; ++k) isum += sc[k] * dot16(q + 16 * k, y[i].qs + 16 * k);
        sumf += y[i].d * fp16_to_f32(x[i].d) * static_cast<float>(isum);
    }
    *s = sumf;
}

void q4k_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockQ4_K*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        uint8_t sc[8], mn[8];
        kq::unpack_scales_mins_k4(x[i].scales, sc, mn);
        int isum = 0, summs = 0;
        for (int k = 0; k < 8; ++k) {
            const uint8_t* q = x[i].qs + 32 * (k / 2);
            const int shift = 4 * (k % 2);
            int sub = 0;
            for (int l = 0; l < 32; ++l) sub += y[i].qs[32 * k + l] * ((q[l] >> shift) & 0x0F);
            isum += sc[k] * sub;
            summs += mn[k] * (y[i].bsums[2 * k] + y[i].bsums[2 * k + 1]);
        }
        const float d = y[i].d * fp16_to_f32(x[i].d);
        const float dmin = y[i].d * fp16_to_f32(x[i].dmin);
        sumf += d * static_cast<float>(isum) - dmin * static_cast<float>(summs);
    }
    *s = sumf;
}

void q5k_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockQ5_K*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        uint8_t sc[8], mn[8];
        kq::unpack_scales_mins_k4(x[i].scales, sc, mn);
        int isum = 0, summs = 0;
        for (int k = 0; k < 8; ++k) {
            const uint8_t* q = x[i].qs + 32 * (k / 2);
            const int shift = 4 * (k % 2);
            int sub = 0;
            for (int l = 0; l < 32; ++l) {
                const int v = ((q[l] >> shift) & 0x0F) | (((x[i].qh[l] >> k) & 1) << 4);
                sub += y[i].qs[32 * k + l] * v;
            }
            isum += sc[k] * sub;
            summs += mn[k] * (y[i].bsums[2 * k] + y[i].bsums[2 * k + 1]);
        }
        const float d = y[i].d * fp16_to_f32(x[i].d);
        const float dmin = y[i].d * fp16_to_f32(x[i].dmin);
        sumf += d * static_cast<float>(isum) - dmin * static_cast<float>(summs);
    }
    *s = sumf;
}

void q6k_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockQ6_K*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    int8_t q[kQK_K];
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        decode_q6k(x[i], q);
        int isum = 0;
        for (int k = 0; k < 16; ++k) isum += x[i].scales[k] * dot16(q + 16 * k, y[i].qs + 16 * k);
        sumf += y[i].d * fp16_to_f32(x[i].d) * static_cast<float>(isum);
    }
    *s = sumf;
}

void iq4xs_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockIQ4_XS*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int isum = 0;
        for (int ib = 0; ib < 8; ++ib) {
            const uint8_t* qs = x[i].qs + 16 * ib;
            const int8_t* q8 = y[i].qs + 32 * ib;
            int sub = 0;
            for (int j = 0; j < 16; ++j) {
                sub += q8[j] * kIQ4NLValues[qs[j] & 0x0F];
                sub += q8[j + 16] * kIQ4NLValues[qs[j] >> 4];
            }
            isum += kq::iq4xs_scale(x[i], ib) * sub;
        }
        sumf += fp16_to_f32(x[i].d) * y[i].d * static_cast<float>(isum);
    }
    *s = sumf;
}

// IQ4_NL is a 32-element type; its activations are Q8_0 blocks.
void iq4nl_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockIQ4_NL*>(vx);
    const auto* y = static_cast<const BlockQ8_0*>(vy);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK; ++i) {
        int sub = 0;
        for (int j = 0; j < 16; ++j) {
            sub += y[i].qs[j] * kIQ4NLValues[x[i].qs[j] & 0x0F];
            sub += y[i].qs[j + 16] * kIQ4NLValues[x[i].qs[j] >> 4];
        }
        sumf += fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d) * static_cast<float>(sub);
    }
    *s = sumf;
}

void set(KernelTable& t, DType type, DType vdt, void (*to_float)(const void*, float*, int64_t),
         void (*vec_dot)(int64_t, float*, const void*, const void*)) {
    TypeKernels& k = t.types[static_cast<int>(type)];
    k.vec_dot_type = vdt;
    k.to_float = to_float;
    k.vec_dot = vec_dot;
}

}  // namespace

void register_kquants_ref(KernelTable& t) {
    set(t, DType::kQ2_K, DType::kQ8_K, q2k_to_float, q2k_dot);
    set(t, DType::kQ3_K, DType::kQ8_K, q3k_to_float, q3k_dot);
    set(t, DType::kQ4_K, DType::kQ8_K, q4k_to_float, q4k_dot);
    set(t, DType::kQ5_K, DType::kQ8_K, q5k_to_float, q5k_dot);
    set(t, DType::kQ6_K, DType::kQ8_K, q6k_to_float, q6k_dot);
    set(t, DType::kIQ4_NL, DType::kQ8_0, iq4nl_to_float, iq4nl_dot);
    set(t, DType::kIQ4_XS, DType::kQ8_K, iq4xs_to_float, iq4xs_dot);
    // Q8_K exists only as an activation type: conversion and to_float, no weight dot.
    TypeKernels& q8k = t.types[static_cast<int>(DType::kQ8_K)];
    q8k.vec_dot_type = DType::kQ8_K;
    q8k.to_float = q8k_to_float;
    q8k.from_float = q8k_from_float;
}

}  // namespace tk::kernels::detail
