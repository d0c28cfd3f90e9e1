// AVX2/FMA/F16C kernels for F32, F16 and BF16 rows.
//
// Dot products keep two 8-lane FMA accumulators per activation row, 16 elements per step, and
// finish the tail (n % 16) in scalar float. The multi-row variants run exactly the same
// operations per row, so vec_dot_rows gives the same bits as vec_dot.
//
// This file is built with -mavx2 -mfma -mf16c, so it calls no inline function from a shared
// header (base/fp16.h): the linker could keep this file's AVX-encoded copy for the whole binary.
#include <immintrin.h>

#include <cstring>

#include "kernels/registry.h"

namespace tk::kernels::detail {
namespace {

inline float bf16_bits_to_float(uint16_t h) {
    const uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// Same rule as tk::f32_to_bf16: round to nearest even, NaN kept quiet.
inline uint16_t float_to_bf16_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64);
    return static_cast<uint16_t>((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Loaders: 8 elements of each format to 8 floats; scalar loaders for the tail.
struct F32Load {
    using T = float;
    static __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
    static float load1(const float* p) { return *p; }
};
struct F16Load {
    using T = uint16_t;
    static __m256 load8(const uint16_t* p) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    }
    static float load1(const uint16_t* p) { return _cvtsh_ss(*p); }
};
struct BF16Load {
    using T = uint16_t;
    static __m256 load8(const uint16_t* p) {
        const __m256i w =
            _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    }
    static float load1(const uint16_t* p) { return bf16_bits_to_float(*p); }
};

template <typename L, int NR>
void dot_rows(int64_t n, float* s, const void* vx, const void* vy, int64_t y_stride) {
    using T = typename L::T;
    const T* x = static_cast<const T*>(vx);
    const T* y[NR];
    for (int r = 0; r < NR; ++r)
        y[r] = reinterpret_cast<const T*>(static_cast<const uint8_t*>(vy) + r * y_stride);
    __m256 acc0[NR], acc1[NR];
    for (int r = 0; r < NR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
    const int64_t n16 = n & ~int64_t{15};
    for (int64_t i = 0; i < n16; i += 16) {
        const __m256 x0 = L::load8(x + i);
        const __m256 x1 = L::load8(x + i + 8);
        for (int r = 0; r < NR; ++r) {
            acc0[r] = _mm256_fmadd_ps(x0, L::load8(y[r] + i), acc0[r]);
            acc1[r] = _mm256_fmadd_ps(x1, L::load8(y[r] + i + 8), acc1[r]);
        }
    }
    for (int r = 0; r < NR; ++r) {
        float tail = 0.0f;
        for (int64_t i = n16; i < n; ++i) tail += L::load1(x + i) * L::load1(y[r] + i);
        s[r] = hsum(_mm256_add_ps(acc0[r], acc1[r])) + tail;
    }
}

template <typename L>
void vec_dot(int64_t n, float* s, const void* x, const void* y) {
    dot_rows<L, 1>(n, s, x, y, 0);
}

template <typename L>
void vec_dot_rows(int64_t n, int nr, float* s, const void* x, const void* y, int64_t y_stride) {
    switch (nr) {
        case 1: dot_rows<L, 1>(n, s, x, y, y_stride); break;
        case 2: dot_rows<L, 2>(n, s, x, y, y_stride); break;
        case 3: dot_rows<L, 3>(n, s, x, y, y_stride); break;
        default: dot_rows<L, 4>(n, s, x, y, y_stride); break;
    }
}

void f16_to_float(const void* src, float* dst, int64_t n) {
    const uint16_t* h = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, F16Load::load8(h + i));
    for (; i < n; ++i) dst[i] = _cvtsh_ss(h[i]);
}

void f16_from_float(const float* src, void* dst, int64_t n) {
    uint16_t* h = static_cast<uint16_t*>(dst);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i v = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), v);
    }
    for (; i < n; ++i) h[i] = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT);
}

void bf16_to_float(const void* src, float* dst, int64_t n) {
    const uint16_t* h = static_cast<const uint16_t*>(src);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, BF16Load::load8(h + i));
    for (; i < n; ++i) dst[i] = bf16_bits_to_float(h[i]);
}

// Round to nearest even on the top 16 bits; NaNs become quiet NaNs (as f32_to_bf16).
void bf16_from_float(const float* src, void* dst, int64_t n) {
    uint16_t* h = static_cast<uint16_t*>(dst);
    const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
    const __m256i inf = _mm256_set1_epi32(0x7f800000);
    const __m256i bias = _mm256_set1_epi32(0x7fff);
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i quiet = _mm256_set1_epi32(64);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i r[2];
        for (int k = 0; k < 2; ++k) {
            const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i + 8 * k));
            const __m256i hi = _mm256_srli_epi32(u, 16);
            const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
            const __m256i rounded = _mm256_srli_epi32(
                _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(hi, one))), 16);
            r[k] = _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, quiet), is_nan);
        }
        // packus works per 128-bit lane; restore element order afterwards.
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r[0], r[1]), 0xD8);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + i), packed);
    }
    for (; i < n; ++i) h[i] = float_to_bf16_bits(src[i]);
}

}  // namespace

void register_float_avx2(KernelTable& t) {
    TypeKernels& f32 = t.types[static_cast<int>(DType::kF32)];
    f32.vec_dot = vec_dot<F32Load>;
    f32.vec_dot_rows = vec_dot_rows<F32Load>;

    TypeKernels& f16 = t.types[static_cast<int>(DType::kF16)];
    f16.to_float = f16_to_float;
    f16.from_float = f16_from_float;
    f16.vec_dot = vec_dot<F16Load>;
    f16.vec_dot_rows = vec_dot_rows<F16Load>;

    TypeKernels& bf16 = t.types[static_cast<int>(DType::kBF16)];
    bf16.to_float = bf16_to_float;
    bf16.from_float = bf16_from_float;
    bf16.vec_dot = vec_dot<BF16Load>;
    bf16.vec_dot_rows = vec_dot_rows<BF16Load>;
}

}  // namespace tk::kernels::detail
