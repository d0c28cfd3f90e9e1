// AVX2/FMA versions of the float ops in kernels/ops.h. exp is a Cephes-style polynomial (about
// 1 ulp, like ggml's vectorized expf); everything else performs the same roundings as the
// scalar code, except that dot/axpy use FMA and sums run in a different order.
// Tails use masked loads and stores so every element goes through the vector code.
//
// Built with -mavx2 -mfma -mf16c: calls no inline function from shared headers (ODR).
#include <immintrin.h>

#include "kernels/ops.h"

namespace tk::kernels::detail {
namespace {

// Lanes [0, r) set, for 0 <= r < 8.
inline __m256i tail_mask(int64_t r) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(r)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float hmax_ps(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Adds the 8 floats of v, widened to double, into acc.
inline __m256d add_widened(__m256d acc, __m256 v) {
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

// e^x: x = n ln2 + r, e^x = 2^n * p(r). Inputs are clamped so that 2^n stays representable:
// very negative x gives 0 (n = -127 builds a zero), very positive gives about 2.4e38.
inline __m256 exp256(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
    x = _mm256_max_ps(x, _mm256_set1_ps(-88.3762626647949f));
    const __m256 n = _mm256_floor_ps(
        _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    // ln2 split in two so n * ln2_hi is exact.
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

inline __m256 silu256(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(one, e));
}

inline __m256 gelu256(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    // u = (k * x) * (1 + (a * x) * x), the scalar code's order.
    const __m256 inner =
        _mm256_add_ps(one, _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), x), x));
    const __m256 u =
        _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.79788456080286535587989211986876f), x), inner);
    // tanh(u) = 1 - 2 / (e^(2u) + 1); the clamped exp keeps both ends finite.
    const __m256 e2 = exp256(_mm256_add_ps(u, u));
    const __m256 t =
        _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e2, one)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(one, t));
}

// Applies f to 8 lanes at a time; the tail goes through a masked load/store.
template <typename F>
inline void map1(const float* x, float* out, int64_t n, F f) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, f(_mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(out + i, m, f(_mm256_maskload_ps(x + i, m)));
    }
}

template <typename F>
inline void map2(const float* a, const float* b, float* out, int64_t n, F f) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, f(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(out + i, m,
                            f(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m)));
    }
}

void rms_norm_avx2(const float* x, const float* w, int64_t n, float eps, float* out) {
    __m256d acc = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        acc = add_widened(acc, _mm256_mul_ps(v, v));
    }
    if (i < n) {
        const __m256 v = _mm256_maskload_ps(x + i, tail_mask(n - i));  // masked lanes are 0
        acc = add_widened(acc, _mm256_mul_ps(v, v));
    }
    const float mean = static_cast<float>(hsum_pd(acc) / static_cast<double>(n));
    const float root = _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(mean + eps)));
    const __m256 scale = _mm256_set1_ps(1.0f / root);
    if (w == nullptr) {
        map1(x, out, n, [&](__m256 v) { return _mm256_mul_ps(v, scale); });
    } else {
        map2(x, w, out, n,
             [&](__m256 v, __m256 g) { return _mm256_mul_ps(_mm256_mul_ps(v, scale), g); });
    }
}

void softmax_avx2(float* x, int64_t n) {
    if (n <= 0) return;
    __m256 vmax = _mm256_set1_ps(x[0]);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
    float mx = hmax_ps(vmax);
    for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
    const __m256 vm = _mm256_set1_ps(mx);
    __m256d acc = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        acc = add_widened(acc, e);
    }
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vm)),
                                       _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(x + i, m, e);
        acc = add_widened(acc, e);
    }
    const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / hsum_pd(acc)));
    map1(x, x, n, [&](__m256 v) { return _mm256_mul_ps(v, inv); });
}

void silu_avx2(const float* x, float* out, int64_t n) { map1(x, out, n, silu256); }

void silu_mul_avx2(const float* g, const float* u, float* out, int64_t n) {
    map2(g, u, out, n, [](__m256 a, __m256 b) { return _mm256_mul_ps(silu256(a), b); });
}

void gelu_avx2(const float* x, float* out, int64_t n) { map1(x, out, n, gelu256); }

void add_avx2(const float* a, const float* b, float* out, int64_t n) {
    map2(a, b, out, n, [](__m256 p, __m256 q) { return _mm256_add_ps(p, q); });
}

void mul_avx2(const float* a, const float* b, float* out, int64_t n) {
    map2(a, b, out, n, [](__m256 p, __m256 q) { return _mm256_mul_ps(p, q); });
}

void scale_avx2(const float* x, float s, float* out, int64_t n) {
    const __m256 vs = _mm256_set1_ps(s);
    map1(x, out, n, [&](__m256 v) { return _mm256_mul_ps(v, vs); });
}

float dot_avx2(const float* a, const float* b, int64_t n) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 4; ++k)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * k), _mm256_loadu_ps(b + i + 8 * k),
                                     acc[k]);
    }
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc[0]);
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        acc[1] =
            _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), acc[1]);
    }
    return hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

void axpy_avx2(float a, const float* x, float* y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    map2(x, y, y, n, [&](__m256 p, __m256 q) { return _mm256_fmadd_ps(va, p, q); });
}

}  // namespace

void register_ops_avx2(FloatOps& o) {
    o.rms_norm = rms_norm_avx2;
    o.softmax = softmax_avx2;
    o.silu = silu_avx2;
    o.silu_mul = silu_mul_avx2;
    o.gelu = gelu_avx2;
    o.add = add_avx2;
    o.mul = mul_avx2;
    o.scale = scale_avx2;
    o.dot = dot_avx2;
    o.axpy = axpy_avx2;
}

}  // namespace tk::kernels::detail
