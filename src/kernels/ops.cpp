// Scalar float ops (the reference for ops_avx2.cpp) and the per-ISA op tables.
#include "kernels/ops.h"

#include <cmath>

namespace tk::kernels {
namespace detail {
void register_ops_avx2(FloatOps& o);  // avx2/ops_avx2.cpp
}  // namespace detail

namespace {

constexpr float kGeluCoefA = 0.044715f;
constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;

void rms_norm_ref(const float* x, const float* w, int64_t n, float eps, float* out) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
    const float mean = static_cast<float>(sum / static_cast<double>(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    if (w == nullptr) {
        for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale;
    } else {
        for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * scale) * w[i];
    }
}

void softmax_ref(float* x, int64_t n) {
    if (n <= 0) return;
    float mx = x[0];
    for (int64_t i = 1; i < n; ++i) mx = std::fmax(mx, x[i]);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += static_cast<double>(x[i]);
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

inline float silu1(float v) { return v / (1.0f + std::exp(-v)); }

void silu_ref(const float* x, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = silu1(x[i]);
}

void silu_mul_ref(const float* g, const float* u, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = silu1(g[i]) * u[i];
}

void gelu_ref(const float* x, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        out[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + kGeluCoefA * v * v)));
    }
}

void add_ref(const float* a, const float* b, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void mul_ref(const float* a, const float* b, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void scale_ref(const float* x, float s, float* out, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s;
}

float dot_ref(const float* a, const float* b, int64_t n) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i] * b[i]);
    return static_cast<float>(sum);
}

void axpy_ref(float a, const float* x, float* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

FloatOps build_ref() {
    FloatOps o;
    o.rms_norm = rms_norm_ref;
    o.softmax = softmax_ref;
    o.silu = silu_ref;
    o.silu_mul = silu_mul_ref;
    o.gelu = gelu_ref;
    o.add = add_ref;
    o.mul = mul_ref;
    o.scale = scale_ref;
    o.dot = dot_ref;
    o.axpy = axpy_ref;
    return o;
}

const FloatOps& ref_ops() {
    static const FloatOps o = build_ref();
    return o;
}

const FloatOps& avx2_ops() {
    static const FloatOps o = [] {
        FloatOps a = build_ref();
        detail::register_ops_avx2(a);
        return a;
    }();
    return o;
}

}  // namespace

const FloatOps& ops_for(Isa isa) {
    if (isa == Isa::kAvx2 && cpu_has_avx2()) return avx2_ops();
    return ref_ops();
}

const FloatOps& ops() {
    static const FloatOps& chosen = ops_for(kernels().isa);
    return chosen;
}

}  // namespace tk::kernels
