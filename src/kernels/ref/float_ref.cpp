// Scalar reference kernels for F32, F16 and BF16 rows. Dot products follow ggml's scalar path:
// each product is rounded to float, then summed in double.
#include <cstring>

#include "base/fp16.h"
#include "kernels/registry.h"

namespace tk::kernels::detail {
namespace {

void f32_to_float(const void* src, float* dst, int64_t n) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void f32_from_float(const float* src, void* dst, int64_t n) {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void f32_vec_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const float* x = static_cast<const float*>(vx);
    const float* y = static_cast<const float*>(vy);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * y[i]);
    *s = static_cast<float>(sum);
}

void f16_to_float(const void* src, float* dst, int64_t n) {
    const uint16_t* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(h[i]);
}

void f16_from_float(const float* src, void* dst, int64_t n) {
    uint16_t* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = f32_to_fp16(src[i]);
}

void f16_vec_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const uint16_t* x = static_cast<const uint16_t*>(vx);
    const uint16_t* y = static_cast<const uint16_t*>(vy);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i)
        sum += static_cast<double>(fp16_to_f32(x[i]) * fp16_to_f32(y[i]));
    *s = static_cast<float>(sum);
}

void bf16_to_float(const void* src, float* dst, int64_t n) {
    const uint16_t* h = static_cast<const uint16_t*>(src);
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
}

void bf16_from_float(const float* src, void* dst, int64_t n) {
    uint16_t* h = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
}

void bf16_vec_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const uint16_t* x = static_cast<const uint16_t*>(vx);
    const uint16_t* y = static_cast<const uint16_t*>(vy);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i)
        sum += static_cast<double>(bf16_to_f32(x[i]) * bf16_to_f32(y[i]));
    *s = static_cast<float>(sum);
}

}  // namespace

void register_float_ref(KernelTable& t) {
    TypeKernels& f32 = t.types[static_cast<int>(DType::kF32)];
    f32 = TypeKernels{};
    f32.vec_dot_type = DType::kF32;
    f32.to_float = f32_to_float;
    f32.from_float = f32_from_float;
    f32.vec_dot = f32_vec_dot;

    TypeKernels& f16 = t.types[static_cast<int>(DType::kF16)];
    f16 = TypeKernels{};
    f16.vec_dot_type = DType::kF16;
    f16.to_float = f16_to_float;
    f16.from_float = f16_from_float;
    f16.vec_dot = f16_vec_dot;

    TypeKernels& bf16 = t.types[static_cast<int>(DType::kBF16)];
    bf16 = TypeKernels{};
    bf16.vec_dot_type = DType::kBF16;
    bf16.to_float = bf16_to_float;
    bf16.from_float = bf16_from_float;
    bf16.vec_dot = bf16_vec_dot;
}

}  // namespace tk::kernels::detail
