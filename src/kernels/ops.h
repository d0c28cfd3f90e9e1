#pragma once
// Float vector helpers for the model's glue code: norms, activations, softmax, elementwise ops,
// float dot/axpy for attention. Each has a scalar and an AVX2 version; ops() follows the ISA of
// kernels() (so TK_FORCE_ISA switches both). Formulas and rounding steps follow ggml's CPU ops.
// Unless noted, out may alias an input (elementwise, same index).
#include <cstdint>

#include "kernels/kernel_table.h"

namespace tk::kernels {

struct FloatOps {
    // out[i] = (x[i] * scale) * w[i] with scale = 1/sqrtf(mean(x^2) + eps); the squares are
    // summed in double (ggml rms_norm followed by mul). w may be null: out[i] = x[i] * scale.
    void (*rms_norm)(const float* x, const float* w, int64_t n, float eps, float* out);
    // In place: x[i] = exp(x[i] - max) / sum (sum in double, then scaled by float(1/sum)).
    void (*softmax)(float* x, int64_t n);
    // out[i] = x[i] / (1 + exp(-x[i])).
    void (*silu)(const float* x, float* out, int64_t n);
    // out[i] = silu(g[i]) * u[i] (SwiGLU: silu rounded to float, then the product).
    void (*silu_mul)(const float* g, const float* u, float* out, int64_t n);
    // tanh approximation: 0.5x(1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))).
    void (*gelu)(const float* x, float* out, int64_t n);
    void (*add)(const float* a, const float* b, float* out, int64_t n);
    void (*mul)(const float* a, const float* b, float* out, int64_t n);
    void (*scale)(const float* x, float s, float* out, int64_t n);  // out = s * x
    float (*dot)(const float* a, const float* b, int64_t n);
    void (*axpy)(float a, const float* x, float* y, int64_t n);  // y += a * x
};

const FloatOps& ops();             // follows kernels().isa
const FloatOps& ops_for(Isa isa);  // avx2 only if the CPU has it, else ref

inline void rms_norm(const float* x, const float* w, int64_t n, float eps, float* out) {
    ops().rms_norm(x, w, n, eps, out);
}
inline void softmax(float* x, int64_t n) { ops().softmax(x, n); }
inline void silu(const float* x, float* out, int64_t n) { ops().silu(x, out, n); }
inline void silu_mul(const float* g, const float* u, float* out, int64_t n) {
    ops().silu_mul(g, u, out, n);
}
inline void gelu(const float* x, float* out, int64_t n) { ops().gelu(x, out, n); }
inline void vec_add(const float* a, const float* b, float* out, int64_t n) {
    ops().add(a, b, out, n);
}
inline void vec_mul(const float* a, const float* b, float* out, int64_t n) {
    ops().mul(a, b, out, n);
}
inline void vec_scale(const float* x, float s, float* out, int64_t n) { ops().scale(x, s, out, n); }
inline float vec_dot_f32(const float* a, const float* b, int64_t n) { return ops().dot(a, b, n); }
inline void vec_axpy(float a, const float* x, float* y, int64_t n) { ops().axpy(a, x, y, n); }

}  // namespace tk::kernels
