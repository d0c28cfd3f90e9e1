// Scalar reference kernels for the legacy 32-element block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q8_1). Dequantization is bit-exact with ggml's to_float; activation conversion (Q8_0/Q8_1
// from_float) follows llama.cpp's CPU backend; dot products take integer sums inside a block and
// accumulate blocks in float, in the order of ggml's scalar code.
#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "core/quant_blocks.h"
#include "kernels/registry.h"

namespace tk::kernels::detail {
namespace {

constexpr int kHalf = kQK / 2;

// Round to nearest, ties to even, for |v| < 2^22 (the default FP rounding mode does the work).
inline int round_half_even(float v) {
    const float magic = 12582912.f;  // 1.5 * 2^23
    const float t = v + magic;
    return static_cast<int>(f32_bits(t) & 0x007fffff) - 0x00400000;
}

// Bit 4 of element j (j < 32) from a Q5 block's little-endian qh word.
inline uint32_t load_qh(const uint8_t* qh) {
    return static_cast<uint32_t>(qh[0]) | static_cast<uint32_t>(qh[1]) << 8 |
           static_cast<uint32_t>(qh[2]) << 16 | static_cast<uint32_t>(qh[3]) << 24;
}

// ---- to_float ----

void q4_0_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ4_0* x = static_cast<const BlockQ4_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < kHalf; ++j) {
            const int x0 = (x[i].qs[j] & 0x0F) - 8;
            const int x1 = (x[i].qs[j] >> 4) - 8;
            dst[i * kQK + j] = static_cast<float>(x0) * d;
            dst[i * kQK + j + kHalf] = static_cast<float>(x1) * d;
        }
    }
}

void q4_1_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ4_1* x = static_cast<const BlockQ4_1*>(src);
    for (int64_t i = 0; i < n / kQK; ++i) {
        const float d = fp16_to_f32(x[i].d);
        const float m = fp16_to_f32(x[i].m);
        for (int j = 0; j < kHalf; ++j) {
            const int x0 = x[i].qs[j] & 0x0F;
            const int x1 = x[i].qs[j] >> 4;
            dst[i * kQK + j] = static_cast<float>(x0) * d + m;
            dst[i * kQK + j + kHalf] = static_cast<float>(x1) * d + m;
        }
    }
}

void q5_0_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ5_0* x = static_cast<const BlockQ5_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i) {
        const float d = fp16_to_f32(x[i].d);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < kHalf; ++j) {
            const int h0 = static_cast<int>((qh >> j) & 1) << 4;
            const int h1 = static_cast<int>((qh >> (j + kHalf)) & 1) << 4;
            const int x0 = ((x[i].qs[j] & 0x0F) | h0) - 16;
            const int x1 = ((x[i].qs[j] >> 4) | h1) - 16;
            dst[i * kQK + j] = static_cast<float>(x0) * d;
            dst[i * kQK + j + kHalf] = static_cast<float>(x1) * d;
        }
    }
}

void q5_1_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ5_1* x = static_cast<const BlockQ5_1*>(src);
    for (int64_t i = 0; i < n / kQK; ++i) {
        const float d = fp16_to_f32(x[i].d);
        const float m = fp16_to_f32(x[i].m);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < kHalf; ++j) {
            const int h0 = static_cast<int>((qh >> j) & 1) << 4;
            const int h1 = static_cast<int>((qh >> (j + kHalf)) & 1) << 4;
            const int x0 = (x[i].qs[j] & 0x0F) | h0;
            const int x1 = (x[i].qs[j] >> 4) | h1;
            dst[i * kQK + j] = static_cast<float>(x0) * d + m;
            dst[i * kQK + j + kHalf] = static_cast<float>(x1) * d + m;
        }
    }
}

void q8_0_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = static_cast<float>(x[i].qs[j]) * d;
    }
}

void q8_1_to_float(const void* src, float* dst, int64_t n) {
    const BlockQ8_1* x = static_cast<const BlockQ8_1*>(src);
    for (int64_t i = 0; i < n / kQK; ++i) {
        const float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < kQK; ++j) dst[i * kQK + j] = static_cast<float>(x[i].qs[j]) * d;
    }
}

// ---- activation conversion ----

// One block of 32 floats to Q8 by llama.cpp's rules: d = amax/127 (kept in f32 for the sum
// term), q = round-half-even(x * (127/amax)). Returns d; writes q and sum(q).
float quantize_block_q8(const float* x, int8_t* q, int* sum) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    int s = 0;
    for (int j = 0; j < kQK; ++j) {
        const int v = round_half_even(x[j] * id);
        q[j] = static_cast<int8_t>(v);
        s += v;
    }
    *sum = s;
    return d;
}

void q8_0_from_float(const float* src, void* dst, int64_t n) {
    BlockQ8_0* y = static_cast<BlockQ8_0*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i) {
        int sum = 0;
        const float d = quantize_block_q8(src + i * kQK, y[i].qs, &sum);
        y[i].d = f32_to_fp16(d);
    }
}

void q8_1_from_float(const float* src, void* dst, int64_t n) {
    BlockQ8_1* y = static_cast<BlockQ8_1*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i) {
        int sum = 0;
        const float d = quantize_block_q8(src + i * kQK, y[i].qs, &sum);
        y[i].d = f32_to_fp16(d);
        y[i].s = f32_to_fp16(d * static_cast<float>(sum));
    }
}

// ---- dot products ----

void q4_0_vec_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const BlockQ4_0* x = static_cast<const BlockQ4_0*>(vx);
    const BlockQ8_0* y = static_cast<const BlockQ8_0*>(vy);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK; ++i) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < kHalf; ++j) {
            sumi0 += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
            sumi1 += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + kHalf];
        }
        const int sumi = sumi0 + sumi1;
        sumf += static_cast<float>(sumi) * fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d);
    }
    *s = sumf;
}

void q4_1_vec_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const BlockQ4_1* x = static_cast<const BlockQ4_1*>(vx);
    const BlockQ8_1* y = static_cast<const BlockQ8_1*>(vy);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK; ++i) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < kHalf; ++j) {
            sumi0 += (x[i].qs[j] & 0x0F) * y[i].qs[j];
            sumi1 += (x[i].qs[j] >> 4) * y[i].qs[j + kHalf];
        }
        const int sumi = sumi0 + sumi1;
        // The min term uses the activation's stored s, not d_a * sum(q_a) (llama.cpp does so).
        sumf += (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d)) * static_cast<float>(sumi) +
                fp16_to_f32(x[i].m) * fp16_to_f32(y[i].s);
    }
    *s = sumf;
}

void q5_0_vec_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const BlockQ5_0* x = static_cast<const BlockQ5_0*>(vx);
    const BlockQ8_0* y = static_cast<const BlockQ8_0*>(vy);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK; ++i) {
        const uint32_t qh = load_qh(x[i].qh);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < kHalf; ++j) {
            const int h0 = static_cast<int>((qh >> j) & 1) << 4;
            const int h1 = static_cast<int>((qh >> (j + kHalf)) & 1) << 4;
            sumi0 += (((x[i].qs[j] & 0x0F) | h0) - 16) * y[i].qs[j];
            sumi1 += (((x[i].qs[j] >> 4) | h1) - 16) * y[i].qs[j + kHalf];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d)) * static_cast<float>(sumi);
    }
    *s = sumf;
}

void q5_1_vec_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const BlockQ5_1* x = static_cast<const BlockQ5_1*>(vx);
    const BlockQ8_1* y = static_cast<const BlockQ8_1*>(vy);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK; ++i) {
        const uint32_t qh = load_qh(x[i].qh);
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < kHalf; ++j) {
            const int h0 = static_cast<int>((qh >> j) & 1) << 4;
            const int h1 = static_cast<int>((qh >> (j + kHalf)) & 1) << 4;
            sumi0 += ((x[i].qs[j] & 0x0F) | h0) * y[i].qs[j];
            sumi1 += ((x[i].qs[j] >> 4) | h1) * y[i].qs[j + kHalf];
        }
        const int sumi = sumi0 + sumi1;
        sumf += (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d)) * static_cast<float>(sumi) +
                fp16_to_f32(x[i].m) * fp16_to_f32(y[i].s);
    }
    *s = sumf;
}

void q8_0_vec_dot(int64_t n, float* s, const void* vx, const void* vy) {
    const BlockQ8_0* x = static_cast<const BlockQ8_0*>(vx);
    const BlockQ8_0* y = static_cast<const BlockQ8_0*>(vy);
    float sumf = 0.0f;
    for (int64_t i = 0; i < n / kQK; ++i) {
        int sumi = 0;
        for (int j = 0; j < kQK; ++j) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += static_cast<float>(sumi) * (fp16_to_f32(x[i].d) * fp16_to_f32(y[i].d));
    }
    *s = sumf;
}

void set(KernelTable& t, DType type, DType vdt, void (*to_float)(const void*, float*, int64_t),
         void (*from_float)(const float*, void*, int64_t),
         void (*vec_dot)(int64_t, float*, const void*, const void*)) {
    TypeKernels& k = t.types[static_cast<int>(type)];
    k = TypeKernels{};
    k.vec_dot_type = vdt;
    k.to_float = to_float;
    k.from_float = from_float;
    k.vec_dot = vec_dot;
}

}  // namespace

void register_legacy_ref(KernelTable& t) {
    // Weight types: from_float stays null here (weights are made by kernels/quantize).
    set(t, DType::kQ4_0, DType::kQ8_0, q4_0_to_float, nullptr, q4_0_vec_dot);
    set(t, DType::kQ4_1, DType::kQ8_1, q4_1_to_float, nullptr, q4_1_vec_dot);
    set(t, DType::kQ5_0, DType::kQ8_0, q5_0_to_float, nullptr, q5_0_vec_dot);
    set(t, DType::kQ5_1, DType::kQ8_1, q5_1_to_float, nullptr, q5_1_vec_dot);
    set(t, DType::kQ8_0, DType::kQ8_0, q8_0_to_float, q8_0_from_float, q8_0_vec_dot);
    // Q8_1 is an activation format only: no dot product of its own.
    set(t, DType::kQ8_1, DType::kQ8_1, q8_1_to_float, q8_1_from_float, nullptr);
}

}  // namespace tk::kernels::detail
