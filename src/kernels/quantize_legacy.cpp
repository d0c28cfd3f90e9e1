// Legacy 32-element block quantizers (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), following ggml's
// quantize_row_*_ref operation for operation: float arithmetic in the same order, the same
// truncating casts and the same roundf, so the bytes match llama.cpp exactly.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "base/fp16.h"
#include "core/quant_blocks.h"
#include "kernels/quantize.h"

namespace tk::kernels::detail {
namespace {

// Blocks are assembled locally and copied out, so dst needs no alignment.
template <typename Block>
void store_block(void* dst, int64_t i, const Block& b) {
    std::memcpy(static_cast<uint8_t*>(dst) + i * static_cast<int64_t>(sizeof(Block)), &b,
                sizeof(Block));
}

// The element of largest magnitude, with its sign (the first one on ties).
float signed_absmax(const float* x, int n) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float v = x[j];
        if (amax < std::fabs(v)) {
            amax = std::fabs(v);
            max = v;
        }
    }
    return max;
}

void min_max(const float* x, int n, float* min_out, float* max_out) {
    float min = std::numeric_limits<float>::max();
    float max = -std::numeric_limits<float>::max();
    for (int j = 0; j < n; ++j) {
        const float v = x[j];
        if (v < min) min = v;
        if (v > max) max = v;
    }
    *min_out = min;
    *max_out = max;
}

}  // namespace

void quantize_run_q4_0(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK;
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = x + i * kQK;
        // The extreme value maps to -8, which uses the one extra negative level of 4 bits.
        const float max = signed_absmax(xb, kQK);
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ4_0 b;
        b.d = f32_to_fp16(d);
        for (int j = 0; j < kQK / 2; ++j) {
            const float x0 = xb[j] * id;
            const float x1 = xb[kQK / 2 + j] * id;
            const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 8.5f)));
            const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 8.5f)));
            b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
        store_block(dst, i, b);
    }
}

void quantize_run_q4_1(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK;
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = x + i * kQK;
        float min, max;
        min_max(xb, kQK, &min, &max);
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ4_1 b;
        b.d = f32_to_fp16(d);
        b.m = f32_to_fp16(min);
        for (int j = 0; j < kQK / 2; ++j) {
            const float x0 = (xb[j] - min) * id;
            const float x1 = (xb[kQK / 2 + j] - min) * id;
            const int q0 = std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 0.5f)));
            const int q1 = std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 0.5f)));
            b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
        store_block(dst, i, b);
    }
}

void quantize_run_q5_0(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK;
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = x + i * kQK;
        const float max = signed_absmax(xb, kQK);
        const float d = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ5_0 b;
        b.d = f32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            const float x0 = xb[j] * id;
            const float x1 = xb[kQK / 2 + j] * id;
            const uint32_t q0 = static_cast<uint32_t>(
                std::min(31, static_cast<int>(static_cast<int8_t>(x0 + 16.5f))));
            const uint32_t q1 = static_cast<uint32_t>(
                std::min(31, static_cast<int>(static_cast<int8_t>(x1 + 16.5f))));
            b.qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            // Bit 4 of element j goes to bit j of qh (elements 16..31 to bits 16..31).
            qh |= ((q0 & 0x10u) >> 4) << j;
            qh |= ((q1 & 0x10u) >> 4) << (j + kQK / 2);
        }
        std::memcpy(b.qh, &qh, sizeof(qh));
        store_block(dst, i, b);
    }
}

void quantize_run_q5_1(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK;
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = x + i * kQK;
        float min, max;
        min_max(xb, kQK, &min, &max);
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ5_1 b;
        b.d = f32_to_fp16(d);
        b.m = f32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            const float x0 = (xb[j] - min) * id;
            const float x1 = (xb[kQK / 2 + j] - min) * id;
            // No clamp here in ggml: (x - min) * id stays within [0, 31.5).
            const uint32_t q0 = static_cast<uint8_t>(x0 + 0.5f);
            const uint32_t q1 = static_cast<uint8_t>(x1 + 0.5f);
            b.qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            qh |= ((q0 & 0x10u) >> 4) << j;
            qh |= ((q1 & 0x10u) >> 4) << (j + kQK / 2);
        }
        std::memcpy(b.qh, &qh, sizeof(qh));
        store_block(dst, i, b);
    }
}

void quantize_run_q8_0(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK;
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = x + i * kQK;
        float amax = 0.0f;
        for (int j = 0; j < kQK; ++j) {
            const float a = std::fabs(xb[j]);
            amax = amax > a ? amax : a;  // ggml's MAX(), NaN included
        }
        const float d = amax / ((1 << 7) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        BlockQ8_0 b;
        b.d = f32_to_fp16(d);
        // roundf: halves away from zero (not the nearest-even of the activation path).
        for (int j = 0; j < kQK; ++j) b.qs[j] = static_cast<int8_t>(std::round(xb[j] * id));
        store_block(dst, i, b);
    }
}

}  // namespace tk::kernels::detail
