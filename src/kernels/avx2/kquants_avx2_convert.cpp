// AVX2 conversions for the K-quants and IQ4 types: to_float (bit-identical to the scalar
// reference and to ggml's dequantize_row_*) and the Q8_K activation conversion (bit-identical
// to ggml's quantize_row_q8_K_ref).
//
// to_float decodes a block's integers into an int8 buffer with SIMD, then converts each group
// with the reference's float operations: dl * q (- ml), one rounding each, never fused.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/kquants_common.h"
#include "kernels/registry.h"

namespace tk::kernels::detail {
namespace {

inline float f16(uint16_t h) { return _cvtsh_ss(h); }
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
inline void store256(void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }

inline __m256 int8x8_to_ps(const int8_t* q) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
        reinterpret_cast<const __m128i*>(q))));
}

// y[0..len) = dl * q - ml (len a multiple of 8).
inline void emit_affine(float* y, const int8_t* q, int len, float dl, float ml) {
    const __m256 vd = _mm256_set1_ps(dl), vm = _mm256_set1_ps(ml);
    for (int k = 0; k < len; k += 8)
        _mm256_storeu_ps(y + k, _mm256_sub_ps(_mm256_mul_ps(vd, int8x8_to_ps(q + k)), vm));
}

// y[0..len) = dl * q.
inline void emit_scaled(float* y, const int8_t* q, int len, float dl) {
    const __m256 vd = _mm256_set1_ps(dl);
    for (int k = 0; k < len; k += 8)
        _mm256_storeu_ps(y + k, _mm256_mul_ps(vd, int8x8_to_ps(q + k)));
}

void q2k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ2_K*>(src);
    const __m256i m3 = _mm256_set1_epi8(3);
    alignas(32) int8_t q[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
        for (int half = 0; half < 2; ++half) {
            __m256i qb = load256(x[i].qs + 32 * half);
            for (int j = 0; j < 4; ++j) {
                store256(q + 128 * half + 32 * j, _mm256_and_si256(qb, m3));
                qb = _mm256_srli_epi16(qb, 2);
            }
        }
        const float d = f16(x[i].d), dmin = f16(x[i].dmin);
        for (int k = 0; k < 16; ++k) {
            const uint8_t sc = x[i].scales[k];
            emit_affine(y + 16 * k, q + 16 * k, 16, d * static_cast<float>(sc & 0x0F),
                        dmin * static_cast<float>(sc >> 4));
        }
    }
}

void q3k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ3_K*>(src);
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1);
    const __m256i four = _mm256_set1_epi8(4);
    alignas(32) int8_t q[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
        __m256i hm = load256(x[i].hmask);  // bit c of byte l: high bit of element 32c + l
        for (int half = 0; half < 2; ++half) {
            __m256i qb = load256(x[i].qs + 32 * half);
            for (int j = 0; j < 4; ++j) {
                // value = low bits - 4 + 4 * hbit
                const __m256i h = _mm256_slli_epi16(_mm256_and_si256(hm, m1), 2);
                const __m256i v =
                    _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(qb, m3), h), four);
                store256(q + 128 * half + 32 * j, v);
                qb = _mm256_srli_epi16(qb, 2);
                hm = _mm256_srli_epi16(hm, 1);
            }
        }
        int8_t sc[16];
        kq::unpack_scales_q3k(x[i].scales, sc);
        const float d = f16(x[i].d);
        for (int k = 0; k < 16; ++k)
            emit_scaled(y + 16 * k, q + 16 * k, 16, d * static_cast<float>(sc[k]));
    }
}

void q4k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ4_K*>(src);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    alignas(32) int8_t q[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
        for (int j = 0; j < 4; ++j) {
            const __m256i qb = load256(x[i].qs + 32 * j);
            store256(q + 64 * j, _mm256_and_si256(qb, m4));
            store256(q + 64 * j + 32, _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4));
        }
        uint8_t sc[8], mn[8];
        kq::unpack_scales_mins_k4(x[i].scales, sc, mn);
        const float d = f16(x[i].d), dmin = f16(x[i].dmin);
        for (int k = 0; k < 8; ++k)
            emit_affine(y + 32 * k, q + 32 * k, 32, d * sc[k], dmin * mn[k]);
    }
}

void q5k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ5_K*>(src);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m1 = _mm256_set1_epi8(1);
    alignas(32) int8_t q[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
        __m256i hb = load256(x[i].qh);  // bit k of byte l: fifth bit of element 32k + l
        for (int j = 0; j < 4; ++j) {
            const __m256i qb = load256(x[i].qs + 32 * j);
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hb, m1), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), m1), 4);
            hb = _mm256_srli_epi16(hb, 2);
            store256(q + 64 * j, _mm256_or_si256(_mm256_and_si256(qb, m4), h0));
            store256(q + 64 * j + 32,
                     _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4), h1));
        }
        uint8_t sc[8], mn[8];
        kq::unpack_scales_mins_k4(x[i].scales, sc, mn);
        const float d = f16(x[i].d), dmin = f16(x[i].dmin);
        for (int k = 0; k < 8; ++k)
            emit_affine(y + 32 * k, q + 32 * k, 32, d * sc[k], dmin * mn[k]);
    }
}

void q6k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ6_K*>(src);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(0x30);
    const __m256i off = _mm256_set1_epi8(32);
    alignas(32) int8_t q[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
        for (int half = 0; half < 2; ++half) {
            const __m256i l0 = load256(x[i].ql + 64 * half);
            const __m256i l1 = load256(x[i].ql + 64 * half + 32);
            const __m256i h = load256(x[i].qh + 32 * half);
            const __m256i u0 = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                               _mm256_and_si256(_mm256_slli_epi16(h, 4), m3));
            const __m256i u1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                               _mm256_and_si256(_mm256_slli_epi16(h, 2), m3));
            const __m256i u2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                               _mm256_and_si256(h, m3));
            const __m256i u3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                               _mm256_and_si256(_mm256_srli_epi16(h, 2), m3));
            int8_t* o = q + 128 * half;
            store256(o, _mm256_sub_epi8(u0, off));
            store256(o + 32, _mm256_sub_epi8(u1, off));
            store256(o + 64, _mm256_sub_epi8(u2, off));
            store256(o + 96, _mm256_sub_epi8(u3, off));
        }
        const float d = f16(x[i].d);
        for (int k = 0; k < 16; ++k)
            emit_scaled(y + 16 * k, q + 16 * k, 16, d * static_cast<float>(x[i].scales[k]));
    }
}

inline __m256i iq4_decode(__m256i table, const uint8_t* qs) {
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i v = load128(qs);
    const __m256i idx =
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
    return _mm256_shuffle_epi8(table, idx);
}

void iq4nl_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ4_NL*>(src);
    const __m256i table = _mm256_broadcastsi128_si256(load128(kIQ4NLValues));
    alignas(32) int8_t q[kQK];
    for (int64_t i = 0; i < n / kQK; ++i, y += kQK) {
        store256(q, iq4_decode(table, x[i].qs));
        emit_scaled(y, q, kQK, f16(x[i].d));
    }
}

void iq4xs_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockIQ4_XS*>(src);
    const __m256i table = _mm256_broadcastsi128_si256(load128(kIQ4NLValues));
    alignas(32) int8_t q[32];
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16(x[i].d);
        for (int ib = 0; ib < 8; ++ib, y += 32) {
            store256(q, iq4_decode(table, x[i].qs + 16 * ib));
            emit_scaled(y, q, 32, d * static_cast<float>(kq::iq4xs_scale(x[i], ib)));
        }
    }
}

void q8k_to_float(const void* src, float* y, int64_t n) {
    const auto* x = static_cast<const BlockQ8_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) emit_scaled(y, x[i].qs, kQK_K, x[i].d);
}

void q8k_from_float(const float* x, void* dst, int64_t n) {
    auto* y = static_cast<BlockQ8_K*>(dst);
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i i127 = _mm256_set1_epi32(127);
    for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
        __m256 vmax = _mm256_setzero_ps();
        for (int k = 0; k < kQK_K; k += 8)
            vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(x + k), abs_mask));
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        const float amax = _mm_cvtss_f32(m);
        if (amax == 0.0f) {
            std::memset(&y[i], 0, sizeof(BlockQ8_K));
            continue;
        }
        // The reference keeps the first element whose |x| is the maximum, with its sign.
        float max = amax;
        const __m256 vamax = _mm256_set1_ps(amax);
        for (int k = 0; k < kQK_K; k += 8) {
            const __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + k), abs_mask);
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(a, vamax, _CMP_EQ_OQ));
            if (hit) {
                max = x[k + __builtin_ctz(static_cast<unsigned>(hit))];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        for (int k = 0; k < kQK_K; k += 32) {
            // vcvtps2dq rounds to nearest even under the default MXCSR, like nearest_int.
            __m256i v[4];
            for (int t = 0; t < 4; ++t) {
                const __m256 f = _mm256_mul_ps(vs, _mm256_loadu_ps(x + k + 8 * t));
                v[t] = _mm256_min_epi32(_mm256_cvtps_epi32(f), i127);
            }
            const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]),
                                                 _mm256_packs_epi32(v[2], v[3]));
            store256(y[i].qs + k, _mm256_permutevar8x32_epi32(p, perm));
        }
        for (int b = 0; b < kQK_K / 16; ++b) {
            const __m128i q = load128(y[i].qs + 16 * b);
            const __m128i s16 = _mm_maddubs_epi16(_mm_set1_epi8(1), q);  // pair sums
            __m128i s32 = _mm_madd_epi16(s16, _mm_set1_epi16(1));
            s32 = _mm_add_epi32(s32, _mm_shuffle_epi32(s32, 0x4E));
            s32 = _mm_add_epi32(s32, _mm_shuffle_epi32(s32, 0xB1));
            y[i].bsums[b] = static_cast<int16_t>(_mm_cvtsi128_si32(s32));
        }
        y[i].d = 1.0f / iscale;
    }
}

}  // namespace

void register_kquants_avx2_convert(KernelTable& t) {
    t.types[static_cast<int>(DType::kQ2_K)].to_float = q2k_to_float;
    t.types[static_cast<int>(DType::kQ3_K)].to_float = q3k_to_float;
    t.types[static_cast<int>(DType::kQ4_K)].to_float = q4k_to_float;
    t.types[static_cast<int>(DType::kQ5_K)].to_float = q5k_to_float;
    t.types[static_cast<int>(DType::kQ6_K)].to_float = q6k_to_float;
    t.types[static_cast<int>(DType::kIQ4_NL)].to_float = iq4nl_to_float;
    t.types[static_cast<int>(DType::kIQ4_XS)].to_float = iq4xs_to_float;
    t.types[static_cast<int>(DType::kQ8_K)].to_float = q8k_to_float;
    t.types[static_cast<int>(DType::kQ8_K)].from_float = q8k_from_float;
}

}  // namespace tk::kernels::detail
