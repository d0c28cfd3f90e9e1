// AVX2 kernels for the legacy 32-element block types.
//
// Dot products follow ggml's AVX2 scheme: a weight block is decoded to 32 int8 lanes, multiplied
// with the Q8 activation block by maddubs (u8 x i8 -> i16 pairs) and madd (-> i32), converted to
// float and accumulated with one FMA per block, scaled by d_w * d_a. Each weight block is decoded
// once for up to kMaxDotRows activation rows; per row the operations are those of the one-row
// kernel, so vec_dot_rows gives the same bits as vec_dot.
//
// Built with -mavx2 -mfma -mf16c: calls no inline function from shared headers (ODR).
#include <immintrin.h>

#include <cstring>

#include "core/quant_blocks.h"
#include "kernels/registry.h"

namespace tk::kernels::detail {
namespace {

inline float half(uint16_t h) { return _cvtsh_ss(h); }

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x01));
    return _mm_cvtsi128_si32(s);
}

// 16 bytes of nibbles -> 32 bytes: low nibbles in bytes 0..15, high nibbles in bytes 16..31,
// which is ggml's element order for Q4/Q5 blocks.
inline __m256i unpack_nibbles(const uint8_t* qs) {
    const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    const __m256i both =
        _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// The 32 bits of a Q5 qh word -> 32 bytes, 0xFF where the bit is set.
inline __m256i expand_bits(const uint8_t* qh) {
    uint32_t w;
    std::memcpy(&w, qh, 4);
    const __m256i v = _mm256_set1_epi32(static_cast<int>(w));
    // shuffle_epi8 works within 128-bit lanes; each lane holds all four bytes of w.
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
    return _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(v, pick), bit), bit);
}

// u8 x i8 products, summed to 8 i32 lanes, as float. No saturation for our ranges:
// |x| <= 128 and |y| <= 127 give pair sums <= 32512.
inline __m256 dot_u8_i8(__m256i ux, __m256i sy) {
    const __m256i p16 = _mm256_maddubs_epi16(ux, sy);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

inline __m256i load32(const int8_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// ---- weight decoders: block -> 32 int8 (signed for *_0 types, unsigned for *_1) ----

struct DecQ4_0 {
    using Block = BlockQ4_0;
    static __m256i q(const Block& b) {
        return _mm256_sub_epi8(unpack_nibbles(b.qs), _mm256_set1_epi8(8));
    }
};
struct DecQ5_0 {
    using Block = BlockQ5_0;
    // Missing bit 4 means value - 16 < 0: OR-ing 0xF0 into the nibble gives that as int8.
    static __m256i q(const Block& b) {
        const __m256i hi =
            _mm256_andnot_si256(expand_bits(b.qh), _mm256_set1_epi8(static_cast<char>(0xF0)));
        return _mm256_or_si256(unpack_nibbles(b.qs), hi);
    }
};
struct DecQ8_0 {
    using Block = BlockQ8_0;
    static __m256i q(const Block& b) { return load32(b.qs); }
};
struct DecQ4_1 {
    using Block = BlockQ4_1;
    static __m256i q(const Block& b) { return unpack_nibbles(b.qs); }
};
struct DecQ5_1 {
    using Block = BlockQ5_1;
    static __m256i q(const Block& b) {
        const __m256i hi = _mm256_and_si256(expand_bits(b.qh), _mm256_set1_epi8(0x10));
        return _mm256_or_si256(unpack_nibbles(b.qs), hi);
    }
};

// Signed weights against Q8_0 activations (Q4_0, Q5_0, Q8_0).
template <typename D, int NR>
void dot_q8_0_rows(int64_t n, float* s, const void* vx, const void* vy, int64_t y_stride) {
    const auto* x = static_cast<const typename D::Block*>(vx);
    const BlockQ8_0* y[NR];
    for (int r = 0; r < NR; ++r)
        y[r] = reinterpret_cast<const BlockQ8_0*>(static_cast<const uint8_t*>(vy) + r * y_stride);
    // Even and odd blocks go to separate accumulators: one FMA chain would be bound by its
    // latency, not by throughput.
    __m256 acc[2][NR];
    for (int r = 0; r < NR; ++r) acc[0][r] = acc[1][r] = _mm256_setzero_ps();
    const int64_t nb = n / kQK;
    auto block = [&](int64_t i, __m256* a) {
        const __m256i qx = D::q(x[i]);
        const __m256i ax = _mm256_sign_epi8(qx, qx);  // |x| as u8; the sign moves onto y
        const float dx = half(x[i].d);
        for (int r = 0; r < NR; ++r) {
            const __m256 p = dot_u8_i8(ax, _mm256_sign_epi8(load32(y[r][i].qs), qx));
            a[r] = _mm256_fmadd_ps(_mm256_set1_ps(dx * half(y[r][i].d)), p, a[r]);
        }
    };
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        block(i, acc[0]);
        block(i + 1, acc[1]);
    }
    if (i < nb) block(i, acc[0]);
    for (int r = 0; r < NR; ++r) s[r] = hsum(_mm256_add_ps(acc[0][r], acc[1][r]));
}

// Unsigned weights with a min against Q8_1 activations (Q4_1, Q5_1).
template <typename D, int NR>
void dot_q8_1_rows(int64_t n, float* s, const void* vx, const void* vy, int64_t y_stride) {
    const auto* x = static_cast<const typename D::Block*>(vx);
    const BlockQ8_1* y[NR];
    for (int r = 0; r < NR; ++r)
        y[r] = reinterpret_cast<const BlockQ8_1*>(static_cast<const uint8_t*>(vy) + r * y_stride);
    __m256 acc[2][NR];
    float summs[NR];
    for (int r = 0; r < NR; ++r) {
        acc[0][r] = acc[1][r] = _mm256_setzero_ps();
        summs[r] = 0.0f;
    }
    const int64_t nb = n / kQK;
    auto block = [&](int64_t i, __m256* a) {
        const __m256i qx = D::q(x[i]);
        const float dx = half(x[i].d);
        const float mx = half(x[i].m);
        for (int r = 0; r < NR; ++r) {
            summs[r] += mx * half(y[r][i].s);
            const __m256 p = dot_u8_i8(qx, load32(y[r][i].qs));
            a[r] = _mm256_fmadd_ps(_mm256_set1_ps(dx * half(y[r][i].d)), p, a[r]);
        }
    };
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        block(i, acc[0]);
        block(i + 1, acc[1]);
    }
    if (i < nb) block(i, acc[0]);
    for (int r = 0; r < NR; ++r) s[r] = hsum(_mm256_add_ps(acc[0][r], acc[1][r])) + summs[r];
}

template <typename D>
void vec_dot_q8_0(int64_t n, float* s, const void* x, const void* y) {
    dot_q8_0_rows<D, 1>(n, s, x, y, 0);
}
template <typename D>
void vec_dot_rows_q8_0(int64_t n, int nr, float* s, const void* x, const void* y, int64_t ys) {
    switch (nr) {
        case 1: dot_q8_0_rows<D, 1>(n, s, x, y, ys); break;
        case 2: dot_q8_0_rows<D, 2>(n, s, x, y, ys); break;
        case 3: dot_q8_0_rows<D, 3>(n, s, x, y, ys); break;
        default: dot_q8_0_rows<D, 4>(n, s, x, y, ys); break;
    }
}
template <typename D>
void vec_dot_q8_1(int64_t n, float* s, const void* x, const void* y) {
    dot_q8_1_rows<D, 1>(n, s, x, y, 0);
}
template <typename D>
void vec_dot_rows_q8_1(int64_t n, int nr, float* s, const void* x, const void* y, int64_t ys) {
    switch (nr) {
        case 1: dot_q8_1_rows<D, 1>(n, s, x, y, ys); break;
        case 2: dot_q8_1_rows<D, 2>(n, s, x, y, ys); break;
        case 3: dot_q8_1_rows<D, 3>(n, s, x, y, ys); break;
        default: dot_q8_1_rows<D, 4>(n, s, x, y, ys); break;
    }
}

// ---- to_float (bit-exact: one rounding per value, and for *_1 a separate add, no FMA) ----

// 32 int8 lanes -> 4 x 8 floats scaled by d (and + m when kMin).
template <bool kMin>
inline void store_scaled(__m256i q, float d, float m, float* dst) {
    const __m256 vd = _mm256_set1_ps(d);
    const __m256 vm = _mm256_set1_ps(m);
    const __m128i lo = _mm256_castsi256_si128(q);
    const __m128i hi = _mm256_extracti128_si256(q, 1);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; ++k) {
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k])), vd);
        if (kMin) v = _mm256_add_ps(v, vm);
        _mm256_storeu_ps(dst + 8 * k, v);
    }
}

void q4_0_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ4_0* x = static_cast<const BlockQ4_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i)
        store_scaled<false>(DecQ4_0::q(x[i]), half(x[i].d), 0.0f, dst + i * kQK);
}

void q4_1_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ4_1* x = static_cast<const BlockQ4_1*>(src);
    for (int64_t i = 0; i < n / kQK; ++i)
        store_scaled<true>(DecQ4_1::q(x[i]), half(x[i].d), half(x[i].m), dst + i * kQK);
}

void q5_0_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ5_0* x = static_cast<const BlockQ5_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i)
        store_scaled<false>(DecQ5_0::q(x[i]), half(x[i].d), 0.0f, dst + i * kQK);
}

void q5_1_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ5_1* x = static_cast<const BlockQ5_1*>(src);
    for (int64_t i = 0; i < n / kQK; ++i)
        store_scaled<true>(DecQ5_1::q(x[i]), half(x[i].d), half(x[i].m), dst + i * kQK);
}

void q8_0_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i)
        store_scaled<false>(DecQ8_0::q(x[i]), half(x[i].d), 0.0f, dst + i * kQK);
}

// ---- activation conversion (llama.cpp's quantize_row_q8_0/q8_1 rules) ----

// Quantizes 32 floats; returns d (f32) and writes q; *sum gets sum(q) when non-null.
inline float quantize_block_q8(const float* x, int8_t* q, int* sum) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
    __m256 amax8 =
        _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                      _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax8), _mm256_extractf128_ps(amax8, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.f;
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
    __m256i qi[4];
    for (int k = 0; k < 4; ++k) {
        const __m256 r =
            _mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        qi[k] = _mm256_cvtps_epi32(r);
    }
    if (sum != nullptr)
        *sum = hsum_i32(
            _mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3])));
    // packs work per 128-bit lane; the permute restores element order.
    const __m256i p16a = _mm256_packs_epi32(qi[0], qi[1]);
    const __m256i p16b = _mm256_packs_epi32(qi[2], qi[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    const __m256i fixed =
        _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), fixed);
    return d;
}

void q8_0_from_float(const float* src, void* dst, int64_t n) {
    BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i) {
        const float d = quantize_block_q8(src + i * kQK, y[i].qs, nullptr);
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    }
}

void q8_1_from_float(const float* src, void* dst, int64_t n) {
    BlockQ8_1* y = static_cast<BlockQ8_1*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i) {
        int sum = 0;
        const float d = quantize_block_q8(src + i * kQK, y[i].qs, &sum);
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        y[i].s = _cvtss_sh(d * static_cast<float>(sum), _MM_FROUND_TO_NEAREST_INT);
    }
}

TypeKernels& entry(KernelTable& t, DType type) { return t.types[static_cast<int>(type)]; }

}  // namespace

void register_legacy_avx2(KernelTable& t) {
    TypeKernels& q4_0 = entry(t, DType::kQ4_0);
    q4_0.to_float = q4_0_to_float;
    q4_0.vec_dot = vec_dot_q8_0<DecQ4_0>;
    q4_0.vec_dot_rows = vec_dot_rows_q8_0<DecQ4_0>;

    TypeKernels& q5_0 = entry(t, DType::kQ5_0);
    q5_0.to_float = q5_0_to_float;
    q5_0.vec_dot = vec_dot_q8_0<DecQ5_0>;
    q5_0.vec_dot_rows = vec_dot_rows_q8_0<DecQ5_0>;

    TypeKernels& q8_0 = entry(t, DType::kQ8_0);
    q8_0.to_float = q8_0_to_float;
    q8_0.from_float = q8_0_from_float;
    q8_0.vec_dot = vec_dot_q8_0<DecQ8_0>;
    q8_0.vec_dot_rows = vec_dot_rows_q8_0<DecQ8_0>;

    TypeKernels& q4_1 = entry(t, DType::kQ4_1);
    q4_1.to_float = q4_1_to_float;
    q4_1.vec_dot = vec_dot_q8_1<DecQ4_1>;
    q4_1.vec_dot_rows = vec_dot_rows_q8_1<DecQ4_1>;

    TypeKernels& q5_1 = entry(t, DType::kQ5_1);
    q5_1.to_float = q5_1_to_float;
    q5_1.vec_dot = vec_dot_q8_1<DecQ5_1>;
    q5_1.vec_dot_rows = vec_dot_rows_q8_1<DecQ5_1>;

    entry(t, DType::kQ8_1).from_float = q8_1_from_float;
}

}  // namespace tk::kernels::detail
