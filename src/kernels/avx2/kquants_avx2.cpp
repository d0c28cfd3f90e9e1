// AVX2 kernels for the K-quants (Q2_K..Q6_K, Q8_K activations) and IQ4_NL/IQ4_XS.
//
// Dot products: weights are decoded to unsigned small integers (or, for the IQ4 code book,
// signed int8) in registers, multiplied with the int8 activations by vpmaddubsw (pair sums fit
// int16: at most 2 * 63 * 127), scaled per sub-block by vpmaddwd into int32 lanes, and turned
// into float once per super-block. Constant offsets (Q3_K's -4, Q6_K's -32) and the K-quant mins
// are applied through the Q8_K bsums, so they cost one vpmaddwd per super-block.
//
// to_float: bit-identical to the scalar reference (and ggml): weights are decoded to int8 with
// SIMD, then each group is converted with the same float multiply and subtract, unfused.
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

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// vpshufb control that broadcasts 16-bit element k of each 128-bit lane to the whole lane.
inline __m256i bcast16_ctrl(int k) {
    return _mm256_set1_epi16(static_cast<int16_t>(((2 * k + 1) << 8) | (2 * k)));
}

// For 16 int8 scales (one per 16 elements) in s: int16 vector whose low lane is scale 2c and
// high lane scale 2c+1, i.e. the per-pair multipliers of the 32 elements of chunk c after
// vpmaddubsw.
inline __m256i chunk_scales(__m128i s, int c) {
    const __m128i ctrl = _mm_set_epi8(2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1,
                                      2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c, 2 * c, 2 * c, 2 * c,
                                      2 * c, 2 * c, 2 * c, 2 * c);
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s, ctrl));
}

// Signed int8 x signed int8, pair sums as int16 (|x| <= 127 for every caller's x).
inline __m256i mul_i8_pairs(__m256i x, __m256i y) {
    return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// Q4_K/Q5_K: 16 bytes = scales 0-7 then mins 0-7, from the 12-byte packing (see
// kquants_common.h for the bit layout), with 32-bit operations.
inline __m128i unpack_k4_scales(const uint8_t* s) {
    uint32_t u[3];
    std::memcpy(u, s, 12);
    const uint32_t sc_lo = u[0] & 0x3f3f3f3f;
    const uint32_t mn_lo = u[1] & 0x3f3f3f3f;
    const uint32_t sc_hi = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
    const uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
    return _mm_set_epi32(static_cast<int>(mn_hi), static_cast<int>(mn_lo),
                         static_cast<int>(sc_hi), static_cast<int>(sc_lo));
}

// Q3_K: the 16 signed scales (stored - 32) from the 12-byte packing.
inline __m128i unpack_q3k_scales(const uint8_t* s) {
    uint32_t u[3];
    std::memcpy(u, s, 12);
    const uint32_t a = (u[0] & 0x0f0f0f0f) | ((u[2] & 0x03030303) << 4);
    const uint32_t b = (u[1] & 0x0f0f0f0f) | (((u[2] >> 2) & 0x03030303) << 4);
    const uint32_t c = ((u[0] >> 4) & 0x0f0f0f0f) | (((u[2] >> 4) & 0x03030303) << 4);
    const uint32_t d = ((u[1] >> 4) & 0x0f0f0f0f) | (((u[2] >> 6) & 0x03030303) << 4);
    const __m128i v = _mm_set_epi32(static_cast<int>(d), static_cast<int>(c),
                                    static_cast<int>(b), static_cast<int>(a));
    return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

// ---------------------------------------------------------------------------------------------
// Dot products against Q8_K.

void q2k_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockQ2_K*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps(), acc_m = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = y[i].d * f16(x[i].dmin);
        const __m128i raw = load128(x[i].scales);
        const __m128i sc = _mm_and_si128(raw, m4);
        const __m128i mn = _mm_and_si128(_mm_srli_epi16(raw, 4), m4);
        const __m256i msum = _mm256_madd_epi16(_mm256_cvtepu8_epi16(mn), load256(y[i].bsums));
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(msum), acc_m);

        const int8_t* q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
            __m256i qb = load256(x[i].qs + 32 * half);
            for (int j = 0; j < 4; ++j) {
                const __m256i u = _mm256_and_si256(qb, m3);
                qb = _mm256_srli_epi16(qb, 2);
                const __m256i p = _mm256_maddubs_epi16(u, load256(q8));
                q8 += 32;
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(chunk_scales(sc, 4 * half + j), p));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum(acc) - hsum(acc_m);
}

// Q3_K chunk KC (32 elements): u = low 2 bits + 4 * high bit, in 0..7. Bit KC of hmask byte l
// is the high bit of element 32*KC + l; it is moved to bit 2 with a shift that never pushes a
// wanted bit out of its 16-bit lane.
template <int KC>
inline __m256i q3k_chunk(__m256i qb, __m256i hm, const int8_t* q8, __m128i sc) {
    __m256i h;
    if constexpr (KC < 2) {
        h = _mm256_slli_epi16(hm, 2 - KC);
    } else if constexpr (KC == 2) {
        h = hm;
    } else {
        h = _mm256_srli_epi16(hm, KC - 2);
    }
    const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qb, 2 * (KC & 3)), _mm256_set1_epi8(3));
    const __m256i u = _mm256_or_si256(q, _mm256_and_si256(h, _mm256_set1_epi8(4)));
    const __m256i p = _mm256_maddubs_epi16(u, load256(q8 + 32 * KC));
    return _mm256_madd_epi16(chunk_scales(sc, KC), p);
}

void q3k_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockQ3_K*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const __m128i sc = unpack_q3k_scales(x[i].scales);
        // Weights are decoded as u = q + 4*hbit in 0..7; the true value is u - 4.
        const __m256i offs = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), load256(y[i].bsums));
        const int8_t* q8 = y[i].qs;
        const __m256i hm = load256(x[i].hmask);
        const __m256i qb0 = load256(x[i].qs);
        const __m256i qb1 = load256(x[i].qs + 32);
        const __m256i s0 = _mm256_add_epi32(q3k_chunk<0>(qb0, hm, q8, sc),
                                            q3k_chunk<1>(qb0, hm, q8, sc));
        const __m256i s1 = _mm256_add_epi32(q3k_chunk<2>(qb0, hm, q8, sc),
                                            q3k_chunk<3>(qb0, hm, q8, sc));
        const __m256i s2 = _mm256_add_epi32(q3k_chunk<4>(qb1, hm, q8, sc),
                                            q3k_chunk<5>(qb1, hm, q8, sc));
        const __m256i s3 = _mm256_add_epi32(q3k_chunk<6>(qb1, hm, q8, sc),
                                            q3k_chunk<7>(qb1, hm, q8, sc));
        __m256i sumi = _mm256_add_epi32(_mm256_add_epi32(s0, s1), _mm256_add_epi32(s2, s3));
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(offs, 2));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum(acc);
}

void q4k_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockQ4_K*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = y[i].d * f16(x[i].dmin);
        const __m128i scmn = unpack_k4_scales(x[i].scales);
        // Mins pair with the sums of each 32 activations: adjacent bsums added.
        const __m256i bs = load256(y[i].bsums);
        const __m128i bs32 =
            _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        const __m128i msum = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(scmn, 8)), bs32);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(msum), acc_m);

        const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scmn));
        const uint8_t* q4 = x[i].qs;
        const int8_t* q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            const __m256i qb = load256(q4 + 32 * j);
            const __m256i lo = _mm256_and_si256(qb, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
            __m256i p_lo = _mm256_maddubs_epi16(lo, load256(q8 + 64 * j));
            __m256i p_hi = _mm256_maddubs_epi16(hi, load256(q8 + 64 * j + 32));
            p_lo = _mm256_madd_epi16(_mm256_shuffle_epi8(sc, bcast16_ctrl(2 * j)), p_lo);
            p_hi = _mm256_madd_epi16(_mm256_shuffle_epi8(sc, bcast16_ctrl(2 * j + 1)), p_hi);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    __m128 m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    *s = hsum(acc) - _mm_cvtss_f32(m);
}

void q5k_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockQ5_K*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i b4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    __m128 acc_m = _mm_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const float dmin = y[i].d * f16(x[i].dmin);
        const __m128i scmn = unpack_k4_scales(x[i].scales);
        const __m256i bs = load256(y[i].bsums);
        const __m128i bs32 =
            _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
        const __m128i msum = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(scmn, 8)), bs32);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(msum), acc_m);

        const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scmn));
        const uint8_t* q5 = x[i].qs;
        const int8_t* q8 = y[i].qs;
        // Bit k of qh[l] is the fifth bit of element 32k + l and is moved to bit 4. Chunks 0-3
        // start from qh << 4 and chunks 4-7 from qh itself, so no wanted bit is shifted out of
        // its 16-bit lane.
        const __m256i qh = load256(x[i].qh);
        __m256i hb = _mm256_slli_epi16(qh, 4);
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; ++j) {
            if (j == 2) hb = qh;
            const __m256i qb = load256(q5 + 32 * j);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_and_si256(hb, b4));
            hb = _mm256_srli_epi16(hb, 1);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                                               _mm256_and_si256(hb, b4));
            hb = _mm256_srli_epi16(hb, 1);
            __m256i p_lo = _mm256_maddubs_epi16(lo, load256(q8 + 64 * j));
            __m256i p_hi = _mm256_maddubs_epi16(hi, load256(q8 + 64 * j + 32));
            p_lo = _mm256_madd_epi16(_mm256_shuffle_epi8(sc, bcast16_ctrl(2 * j)), p_lo);
            p_hi = _mm256_madd_epi16(_mm256_shuffle_epi8(sc, bcast16_ctrl(2 * j + 1)), p_hi);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    __m128 m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    *s = hsum(acc) - _mm_cvtss_f32(m);
}

void q6k_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockQ6_K*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m3 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = y[i].d * f16(x[i].d);
        const __m128i sc = load128(x[i].scales);
        // Weights decode to u = q + 32 in 0..63; remove 32 * sum(scale * bsum) at the end.
        const __m256i offs = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc), load256(y[i].bsums));
        const int8_t* q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
            const __m256i l0 = load256(x[i].ql + 64 * half);
            const __m256i l1 = load256(x[i].ql + 64 * half + 32);
            const __m256i h = load256(x[i].qh + 32 * half);
            // qh bit pair c of byte l -> bits 4-5 of element 32c + l.
            const __m256i u0 = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                               _mm256_and_si256(_mm256_slli_epi16(h, 4), m3));
            const __m256i u1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                               _mm256_and_si256(_mm256_slli_epi16(h, 2), m3));
            const __m256i u2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                               _mm256_and_si256(h, m3));
            const __m256i u3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                               _mm256_and_si256(_mm256_srli_epi16(h, 2), m3));
            const __m256i p0 = _mm256_maddubs_epi16(u0, load256(q8));
            const __m256i p1 = _mm256_maddubs_epi16(u1, load256(q8 + 32));
            const __m256i p2 = _mm256_maddubs_epi16(u2, load256(q8 + 64));
            const __m256i p3 = _mm256_maddubs_epi16(u3, load256(q8 + 96));
            q8 += 128;
            const int c = 4 * half;
            const __m256i s01 = _mm256_add_epi32(_mm256_madd_epi16(chunk_scales(sc, c), p0),
                                                 _mm256_madd_epi16(chunk_scales(sc, c + 1), p1));
            const __m256i s23 = _mm256_add_epi32(_mm256_madd_epi16(chunk_scales(sc, c + 2), p2),
                                                 _mm256_madd_epi16(chunk_scales(sc, c + 3), p3));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(s01, s23));
        }
        sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(offs, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum(acc);
}

// The IQ4 code book in both 128-bit lanes, for vpshufb lookups.
inline __m256i iq4_table() {
    return _mm256_broadcastsi128_si256(load128(kIQ4NLValues));
}

// 16 bytes of IQ4 nibbles -> 32 signed code-book values in element order (low nibbles are
// elements 0-15, high nibbles 16-31).
inline __m256i iq4_decode(__m256i table, const uint8_t* qs) {
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i q = load128(qs);
    const __m256i idx =
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
    return _mm256_shuffle_epi8(table, idx);
}

void iq4xs_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockIQ4_XS*>(vx);
    const auto* y = static_cast<const BlockQ8_K*>(vy);
    const __m256i table = iq4_table();
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const float d = f16(x[i].d) * y[i].d;
        __m256i sumi = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib += 2) {
            const __m256i w0 = iq4_decode(table, x[i].qs + 16 * ib);
            const __m256i w1 = iq4_decode(table, x[i].qs + 16 * ib + 16);
            const __m256i p0 = mul_i8_pairs(w0, load256(y[i].qs + 32 * ib));
            const __m256i p1 = mul_i8_pairs(w1, load256(y[i].qs + 32 * ib + 32));
            const int16_t ls0 = static_cast<int16_t>(kq::iq4xs_scale(x[i], ib));
            const int16_t ls1 = static_cast<int16_t>(kq::iq4xs_scale(x[i], ib + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p0, _mm256_set1_epi16(ls0)));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, _mm256_set1_epi16(ls1)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = hsum(acc);
}

void iq4nl_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const auto* x = static_cast<const BlockIQ4_NL*>(vx);
    const auto* y = static_cast<const BlockQ8_0*>(vy);
    const __m256i table = iq4_table();
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const int64_t nb = n / kQK;
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        const __m256i p0 = _mm256_madd_epi16(
            mul_i8_pairs(iq4_decode(table, x[i].qs), load256(y[i].qs)), ones);
        const __m256i p1 = _mm256_madd_epi16(
            mul_i8_pairs(iq4_decode(table, x[i + 1].qs), load256(y[i + 1].qs)), ones);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * f16(y[i].d)),
                               _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i + 1].d) * f16(y[i + 1].d)),
                               _mm256_cvtepi32_ps(p1), acc1);
    }
    if (i < nb) {
        const __m256i p0 = _mm256_madd_epi16(
            mul_i8_pairs(iq4_decode(table, x[i].qs), load256(y[i].qs)), ones);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(x[i].d) * f16(y[i].d)),
                               _mm256_cvtepi32_ps(p0), acc0);
    }
    *s = hsum(_mm256_add_ps(acc0, acc1));
}

}  // namespace

// Defined in kquants_avx2_convert.cpp (to_float and the Q8_K conversion).
void register_kquants_avx2_convert(KernelTable& t);

void register_kquants_avx2(KernelTable& t) {
    t.types[static_cast<int>(DType::kQ2_K)].vec_dot = q2k_dot;
    t.types[static_cast<int>(DType::kQ3_K)].vec_dot = q3k_dot;
    t.types[static_cast<int>(DType::kQ4_K)].vec_dot = q4k_dot;
    t.types[static_cast<int>(DType::kQ5_K)].vec_dot = q5k_dot;
    t.types[static_cast<int>(DType::kQ6_K)].vec_dot = q6k_dot;
    t.types[static_cast<int>(DType::kIQ4_NL)].vec_dot = iq4nl_dot;
    t.types[static_cast<int>(DType::kIQ4_XS)].vec_dot = iq4xs_dot;
    register_kquants_avx2_convert(t);
}

}  // namespace tk::kernels::detail
