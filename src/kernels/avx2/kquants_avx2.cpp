// AVX2 dot products for the K-quants (Q2_K..Q6_K against Q8_K) and IQ4_NL (Q8_0) / IQ4_XS (Q8_K).
//
// Weights are decoded to small unsigned integers (the IQ4 code book: signed int8) in registers,
// multiplied with the int8 activations by vpmaddubsw (pair sums fit int16: at most 2 * 63 * 127),
// scaled per sub-block by vpmaddwd into int32 lanes, and turned into float once per super-block.
// Constant offsets (Q3_K's -4, Q6_K's -32) and the K-quant mins go through the Q8_K bsums, so
// they cost one vpmaddwd per super-block.
//
// Every kernel is written for NR activation rows (1..kMaxDotRows) sharing one decode of each
// weight block (prompt processing). vec_dot is the NR = 1 instance, and each row's arithmetic is
// the same sequence of operations whatever NR is, so vec_dot_rows gives vec_dot's bits.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

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

// vpshufb control that broadcasts 16-bit element k of each 128-bit lane over that lane.
inline __m256i bcast16_ctrl(int k) {
    return _mm256_set1_epi16(static_cast<int16_t>(((2 * k + 1) << 8) | (2 * k)));
}

// 16 per-16-element int8 scales -> int16 with the even-numbered scales in the low lane and the
// odd-numbered in the high lane. Chunk c (32 elements = scales 2c, 2c+1) then takes its
// multipliers with one in-lane shuffle: bcast16_ctrl(c) gives [scale 2c x8 | scale 2c+1 x8],
// matching the 16 pair sums of vpmaddubsw.
inline __m256i even_odd_scales(__m128i s8, bool is_signed) {
    const __m128i eo = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    const __m128i t = _mm_shuffle_epi8(s8, eo);
    return is_signed ? _mm256_cvtepi8_epi16(t) : _mm256_cvtepu8_epi16(t);
}

// Signed int8 x signed int8, pair sums as int16 (|x| <= 127 for every caller's x).
inline __m256i mul_i8_pairs(__m256i x, __m256i y) {
    return _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

// Q4_K/Q5_K: 16 bytes = scales 0-7 then mins 0-7, from the 12-byte packing (see
// kquants_common.h for the bit layout). `p` points at the 12 scale bytes; the 4 bytes after
// them (the start of qh/qs) are loaded too and ignored.
inline __m128i unpack_k4_scales(const uint8_t* p) {
    const __m128i v = load128(p);
    // Low bits: scales 0-3 = bytes 0-3 & 63, scales 4-7 = low nibbles of bytes 8-11,
    // mins 0-3 = bytes 4-7 & 63, mins 4-7 = high nibbles of bytes 8-11.
    const __m128i t = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8,
                                                        9, 10, 11));
    const __m128i low = _mm_or_si128(
        _mm_and_si128(t, _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0,
                                       0)),
        _mm_and_si128(_mm_srli_epi16(t, 4),
                      _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15)));
    // High bits of scales/mins 4-7: top 2 bits of bytes 0-3 / 4-7, moved to bits 4-5.
    const __m128i u = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1,
                                                        -1, 4, 5, 6, 7));
    return _mm_or_si128(low, _mm_and_si128(_mm_srli_epi16(u, 2), _mm_set1_epi8(0x30)));
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

// IQ4_XS: the 8 signed 6-bit scales (stored - 32) as int16 in both 128-bit lanes.
inline __m256i iq4xs_scales(const BlockIQ4_XS& b) {
    uint32_t l;
    std::memcpy(&l, b.scales_l, 4);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i lv = _mm_cvtsi32_si128(static_cast<int>(l));
    // Nibble order: sub-block 2k in the low nibble of byte k, 2k+1 in the high nibble.
    const __m128i low = _mm_cvtepu8_epi16(
        _mm_unpacklo_epi8(_mm_and_si128(lv, m4), _mm_and_si128(_mm_srli_epi16(lv, 4), m4)));
    // Bits 2k..2k+1 of scales_h to the top of 16-bit lane k, then down to bits 0-1.
    const __m128i hv = _mm_mullo_epi16(_mm_set1_epi16(static_cast<int16_t>(b.scales_h)),
                                       _mm_setr_epi16(1 << 14, 1 << 12, 1 << 10, 1 << 8, 1 << 6,
                                                      1 << 4, 1 << 2, 1));
    const __m128i high = _mm_slli_epi16(_mm_srli_epi16(hv, 14), 4);
    const __m128i ls = _mm_sub_epi16(_mm_or_si128(low, high), _mm_set1_epi16(32));
    return _mm256_broadcastsi128_si256(ls);
}

// The IQ4 code book in both 128-bit lanes, for vpshufb lookups.
inline __m256i iq4_table() { return _mm256_broadcastsi128_si256(load128(kIQ4NLValues)); }

// 16 bytes of IQ4 nibbles -> 32 signed code-book values in element order (low nibbles are
// elements 0-15, high nibbles 16-31).
inline __m256i iq4_decode(__m256i table, const uint8_t* qs) {
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i q = load128(qs);
    const __m256i idx =
        _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
    return _mm256_shuffle_epi8(table, idx);
}

template <typename Block, int NR>
struct Rows {
    const Block* p[NR];
    Rows(const void* y, int64_t stride) {
        for (int r = 0; r < NR; ++r)
            p[r] = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(y) + r * stride);
    }
};

// ---------------------------------------------------------------------------------------------

struct Q2K {
    template <int NR>
    static void run(int64_t n, float* s, const void* vx, const void* vy, int64_t ys) {
        const auto* x = static_cast<const BlockQ2_K*>(vx);
        const Rows<BlockQ8_K, NR> y(vy, ys);
        const __m256i m3 = _mm256_set1_epi8(3);
        const __m128i m4 = _mm_set1_epi8(0x0F);
        __m256 acc[NR], acc_m[NR];
        for (int r = 0; r < NR; ++r) acc[r] = acc_m[r] = _mm256_setzero_ps();
        for (int64_t i = 0; i < n / kQK_K; ++i) {
            const __m128i raw = load128(x[i].scales);
            const __m256i sc = even_odd_scales(_mm_and_si128(raw, m4), false);
            const __m256i mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), m4));
            __m256i sumi[NR];
            for (int r = 0; r < NR; ++r) sumi[r] = _mm256_setzero_si256();
            for (int half = 0; half < 2; ++half) {
                __m256i qb = load256(x[i].qs + 32 * half);
                for (int j = 0; j < 4; ++j) {
                    const int c = 4 * half + j;
                    const __m256i u = _mm256_and_si256(qb, m3);
                    qb = _mm256_srli_epi16(qb, 2);
                    const __m256i scv = _mm256_shuffle_epi8(sc, bcast16_ctrl(c));
                    for (int r = 0; r < NR; ++r) {
                        const __m256i p = _mm256_maddubs_epi16(u, load256(y.p[r][i].qs + 32 * c));
                        sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(scv, p));
                    }
                }
            }
            const float xd = f16(x[i].d), xm = f16(x[i].dmin);
            for (int r = 0; r < NR; ++r) {
                const BlockQ8_K& b = y.p[r][i];
                const __m256i msum = _mm256_madd_epi16(mn, load256(b.bsums));
                acc_m[r] = _mm256_fmadd_ps(_mm256_set1_ps(b.d * xm), _mm256_cvtepi32_ps(msum),
                                           acc_m[r]);
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(b.d * xd), _mm256_cvtepi32_ps(sumi[r]),
                                         acc[r]);
            }
        }
        for (int r = 0; r < NR; ++r) s[r] = hsum(acc[r]) - hsum(acc_m[r]);
    }
};

// Q3_K chunk KC (32 elements): u = low 2 bits + 4 * high bit, in 0..7. Bit KC of hmask byte l
// is the high bit of element 32*KC + l; it is moved to bit 2 with a shift that never pushes a
// wanted bit out of its 16-bit lane.
template <int KC>
inline __m256i q3k_decode(__m256i qb, __m256i hm) {
    __m256i h;
    if constexpr (KC < 2) {
        h = _mm256_slli_epi16(hm, 2 - KC);
    } else if constexpr (KC == 2) {
        h = hm;
    } else {
        h = _mm256_srli_epi16(hm, KC - 2);
    }
    const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qb, 2 * (KC & 3)), _mm256_set1_epi8(3));
    return _mm256_or_si256(q, _mm256_and_si256(h, _mm256_set1_epi8(4)));
}

struct Q3K {
    template <int KC, int NR>
    static void chunk(__m256i qb, __m256i hm, __m256i sc, const Rows<BlockQ8_K, NR>& y,
                      int64_t i, __m256i* sumi) {
        const __m256i u = q3k_decode<KC>(qb, hm);
        const __m256i scv = _mm256_shuffle_epi8(sc, bcast16_ctrl(KC));
        for (int r = 0; r < NR; ++r) {
            const __m256i p = _mm256_maddubs_epi16(u, load256(y.p[r][i].qs + 32 * KC));
            sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(scv, p));
        }
    }

    template <int NR>
    static void run(int64_t n, float* s, const void* vx, const void* vy, int64_t ys) {
        const auto* x = static_cast<const BlockQ3_K*>(vx);
        const Rows<BlockQ8_K, NR> y(vy, ys);
        __m256 acc[NR];
        for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
        for (int64_t i = 0; i < n / kQK_K; ++i) {
            const __m128i sc8 = unpack_q3k_scales(x[i].scales);
            const __m256i sc = even_odd_scales(sc8, true);
            const __m256i sc_all = _mm256_cvtepi8_epi16(sc8);
            const __m256i hm = load256(x[i].hmask);
            const __m256i qb0 = load256(x[i].qs);
            const __m256i qb1 = load256(x[i].qs + 32);
            __m256i sumi[NR];
            for (int r = 0; r < NR; ++r) sumi[r] = _mm256_setzero_si256();
            chunk<0>(qb0, hm, sc, y, i, sumi);
            chunk<1>(qb0, hm, sc, y, i, sumi);
            chunk<2>(qb0, hm, sc, y, i, sumi);
            chunk<3>(qb0, hm, sc, y, i, sumi);
            chunk<4>(qb1, hm, sc, y, i, sumi);
            chunk<5>(qb1, hm, sc, y, i, sumi);
            chunk<6>(qb1, hm, sc, y, i, sumi);
            chunk<7>(qb1, hm, sc, y, i, sumi);
            const float xd = f16(x[i].d);
            for (int r = 0; r < NR; ++r) {
                const BlockQ8_K& b = y.p[r][i];
                // Weights were decoded as u = q + 4; remove 4 * sum(scale * bsum).
                const __m256i offs = _mm256_madd_epi16(sc_all, load256(b.bsums));
                const __m256i t = _mm256_sub_epi32(sumi[r], _mm256_slli_epi32(offs, 2));
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(b.d * xd), _mm256_cvtepi32_ps(t), acc[r]);
            }
        }
        for (int r = 0; r < NR; ++r) s[r] = hsum(acc[r]);
    }
};

// Q4_K and Q5_K share everything but the fifth bit.
template <bool kFive>
struct Q45K {
    using Block = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;

    template <int NR>
    static void run(int64_t n, float* s, const void* vx, const void* vy, int64_t ys) {
        const auto* x = static_cast<const Block*>(vx);
        const Rows<BlockQ8_K, NR> y(vy, ys);
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        const __m256i b4 = _mm256_set1_epi8(0x10);
        __m256 acc[NR], acc_m[NR];
        for (int r = 0; r < NR; ++r) acc[r] = acc_m[r] = _mm256_setzero_ps();
        for (int64_t i = 0; i < n / kQK_K; ++i) {
            const __m128i scmn = unpack_k4_scales(x[i].scales);
            // Each min twice, to pair with the two bsums (16 activations each) of its 32.
            const __m256i mn = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scmn, scmn));
            const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scmn));
            __m256i qh, hb;
            if constexpr (kFive) {
                // Bit k of qh[l] is the fifth bit of element 32k + l; it is moved to bit 4.
                // Chunks 0-3 start from qh << 4 and chunks 4-7 from qh, so no wanted bit is
                // shifted out of its 16-bit lane.
                qh = load256(x[i].qh);
                hb = _mm256_slli_epi16(qh, 4);
            }
            __m256i sumi[NR];
            for (int r = 0; r < NR; ++r) sumi[r] = _mm256_setzero_si256();
            for (int j = 0; j < 4; ++j) {
                const __m256i qb = load256(x[i].qs + 32 * j);
                __m256i lo = _mm256_and_si256(qb, m4);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
                if constexpr (kFive) {
                    if (j == 2) hb = qh;
                    lo = _mm256_or_si256(lo, _mm256_and_si256(hb, b4));
                    hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_srli_epi16(hb, 1), b4));
                    hb = _mm256_srli_epi16(hb, 2);
                }
                const __m256i s_lo = _mm256_shuffle_epi8(sc, bcast16_ctrl(2 * j));
                const __m256i s_hi = _mm256_shuffle_epi8(sc, bcast16_ctrl(2 * j + 1));
                for (int r = 0; r < NR; ++r) {
                    const int8_t* q8 = y.p[r][i].qs + 64 * j;
                    const __m256i p_lo = _mm256_madd_epi16(
                        s_lo, _mm256_maddubs_epi16(lo, load256(q8)));
                    const __m256i p_hi = _mm256_madd_epi16(
                        s_hi, _mm256_maddubs_epi16(hi, load256(q8 + 32)));
                    sumi[r] = _mm256_add_epi32(sumi[r], _mm256_add_epi32(p_lo, p_hi));
                }
            }
            const float xd = f16(x[i].d), xm = f16(x[i].dmin);
            for (int r = 0; r < NR; ++r) {
                const BlockQ8_K& b = y.p[r][i];
                const __m256i msum = _mm256_madd_epi16(mn, load256(b.bsums));
                acc_m[r] = _mm256_fmadd_ps(_mm256_set1_ps(b.d * xm), _mm256_cvtepi32_ps(msum),
                                           acc_m[r]);
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(b.d * xd), _mm256_cvtepi32_ps(sumi[r]),
                                         acc[r]);
            }
        }
        for (int r = 0; r < NR; ++r) s[r] = hsum(acc[r]) - hsum(acc_m[r]);
    }
};

struct Q6K {
    template <int NR>
    static void run(int64_t n, float* s, const void* vx, const void* vy, int64_t ys) {
        const auto* x = static_cast<const BlockQ6_K*>(vx);
        const Rows<BlockQ8_K, NR> y(vy, ys);
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        const __m256i m3 = _mm256_set1_epi8(0x30);
        __m256 acc[NR];
        for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
        for (int64_t i = 0; i < n / kQK_K; ++i) {
            const __m128i sc8 = load128(x[i].scales);
            const __m256i sc = even_odd_scales(sc8, true);
            __m256i sumi[NR];
            for (int r = 0; r < NR; ++r) sumi[r] = _mm256_setzero_si256();
            for (int half = 0; half < 2; ++half) {
                const __m256i l0 = load256(x[i].ql + 64 * half);
                const __m256i l1 = load256(x[i].ql + 64 * half + 32);
                const __m256i h = load256(x[i].qh + 32 * half);
                // Weights decode to u = q + 32 in 0..63: low nibble from ql, qh bit pair c of
                // byte l -> bits 4-5 of element 32c + l.
                __m256i u[4];
                u[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                       _mm256_and_si256(_mm256_slli_epi16(h, 4), m3));
                u[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                       _mm256_and_si256(_mm256_slli_epi16(h, 2), m3));
                u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                       _mm256_and_si256(h, m3));
                u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(h, 2), m3));
                for (int k = 0; k < 4; ++k) {
                    const int c = 4 * half + k;
                    const __m256i scv = _mm256_shuffle_epi8(sc, bcast16_ctrl(c));
                    for (int r = 0; r < NR; ++r) {
                        const __m256i p =
                            _mm256_maddubs_epi16(u[k], load256(y.p[r][i].qs + 32 * c));
                        sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(scv, p));
                    }
                }
            }
            const __m256i sc_all = _mm256_cvtepi8_epi16(sc8);
            const float xd = f16(x[i].d);
            for (int r = 0; r < NR; ++r) {
                const BlockQ8_K& b = y.p[r][i];
                // Remove 32 * sum(scale * bsum) for the +32 of the decoded weights.
                const __m256i offs = _mm256_madd_epi16(sc_all, load256(b.bsums));
                const __m256i t = _mm256_sub_epi32(sumi[r], _mm256_slli_epi32(offs, 5));
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(b.d * xd), _mm256_cvtepi32_ps(t), acc[r]);
            }
        }
        for (int r = 0; r < NR; ++r) s[r] = hsum(acc[r]);
    }
};

struct IQ4XS {
    template <int NR>
    static void run(int64_t n, float* s, const void* vx, const void* vy, int64_t ys) {
        const auto* x = static_cast<const BlockIQ4_XS*>(vx);
        const Rows<BlockQ8_K, NR> y(vy, ys);
        const __m256i table = iq4_table();
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        __m256 acc[NR];
        for (int r = 0; r < NR; ++r) acc[r] = _mm256_setzero_ps();
        for (int64_t i = 0; i < n / kQK_K; ++i) {
            const __m256i ls = iq4xs_scales(x[i]);
            __m256i sumi[NR];
            for (int r = 0; r < NR; ++r) sumi[r] = _mm256_setzero_si256();
            for (int ib = 0; ib < 8; ib += 2) {
                // 32 bytes = sub-blocks ib and ib+1: look up both nibble halves, then put each
                // sub-block's low-nibble (elements 0-15) and high-nibble (16-31) values together.
                const __m256i qb = load256(x[i].qs + 16 * ib);
                const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(qb, m4));
                const __m256i hi =
                    _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4));
                const __m256i w[2] = {_mm256_permute2x128_si256(lo, hi, 0x20),
                                      _mm256_permute2x128_si256(lo, hi, 0x31)};
                for (int k = 0; k < 2; ++k) {
                    const __m256i aw = _mm256_sign_epi8(w[k], w[k]);
                    const __m256i scv = _mm256_shuffle_epi8(ls, bcast16_ctrl(ib + k));
                    for (int r = 0; r < NR; ++r) {
                        const __m256i a =
                            _mm256_sign_epi8(load256(y.p[r][i].qs + 32 * (ib + k)), w[k]);
                        const __m256i p = _mm256_maddubs_epi16(aw, a);
                        sumi[r] = _mm256_add_epi32(sumi[r], _mm256_madd_epi16(p, scv));
                    }
                }
            }
            const float xd = f16(x[i].d);
            for (int r = 0; r < NR; ++r)
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(xd * y.p[r][i].d),
                                         _mm256_cvtepi32_ps(sumi[r]), acc[r]);
        }
        for (int r = 0; r < NR; ++r) s[r] = hsum(acc[r]);
    }
};

struct IQ4NL {
    template <int NR>
    static void block(__m256i table, const BlockIQ4_NL& xb, const Rows<BlockQ8_0, NR>& y,
                      int64_t i, __m256* acc) {
        const __m256i w = iq4_decode(table, xb.qs);
        const __m256i aw = _mm256_sign_epi8(w, w);
        const float xd = f16(xb.d);
        for (int r = 0; r < NR; ++r) {
            const BlockQ8_0& b = y.p[r][i];
            const __m256i p = _mm256_madd_epi16(
                _mm256_maddubs_epi16(aw, _mm256_sign_epi8(load256(b.qs), w)),
                _mm256_set1_epi16(1));
            acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(xd * f16(b.d)), _mm256_cvtepi32_ps(p), acc[r]);
        }
    }

    template <int NR>
    static void run(int64_t n, float* s, const void* vx, const void* vy, int64_t ys) {
        const auto* x = static_cast<const BlockIQ4_NL*>(vx);
        const Rows<BlockQ8_0, NR> y(vy, ys);
        const __m256i table = iq4_table();
        // Even and odd blocks go to separate accumulators (latency), added at the end.
        __m256 acc0[NR], acc1[NR];
        for (int r = 0; r < NR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
        const int64_t nb = n / kQK;
        int64_t i = 0;
        for (; i + 1 < nb; i += 2) {
            block<NR>(table, x[i], y, i, acc0);
            block<NR>(table, x[i + 1], y, i + 1, acc1);
        }
        if (i < nb) block<NR>(table, x[i], y, i, acc0);
        for (int r = 0; r < NR; ++r) s[r] = hsum(_mm256_add_ps(acc0[r], acc1[r]));
    }
};

template <typename K>
void vec_dot(int64_t n, float* s, const void* x, const void* y) {
    K::template run<1>(n, s, x, y, 0);
}

template <typename K>
void vec_dot_rows(int64_t n, int nr, float* s, const void* x, const void* y, int64_t ys) {
    static_assert(kMaxDotRows == 4);
    switch (nr) {
        case 1: K::template run<1>(n, s, x, y, ys); break;
        case 2: K::template run<2>(n, s, x, y, ys); break;
        case 3: K::template run<3>(n, s, x, y, ys); break;
        default: K::template run<4>(n, s, x, y, ys); break;
    }
}

template <typename K>
void set_dot(KernelTable& t, DType type) {
    TypeKernels& k = t.types[static_cast<int>(type)];
    k.vec_dot = vec_dot<K>;
    k.vec_dot_rows = vec_dot_rows<K>;
}

}  // namespace

// Defined in kquants_avx2_convert.cpp (to_float and the Q8_K conversion).
void register_kquants_avx2_convert(KernelTable& t);

void register_kquants_avx2(KernelTable& t) {
    set_dot<Q2K>(t, DType::kQ2_K);
    set_dot<Q3K>(t, DType::kQ3_K);
    set_dot<Q45K<false>>(t, DType::kQ4_K);
    set_dot<Q45K<true>>(t, DType::kQ5_K);
    set_dot<Q6K>(t, DType::kQ6_K);
    set_dot<IQ4NL>(t, DType::kIQ4_NL);
    set_dot<IQ4XS>(t, DType::kIQ4_XS);
    register_kquants_avx2_convert(t);
}

}  // namespace tk::kernels::detail
