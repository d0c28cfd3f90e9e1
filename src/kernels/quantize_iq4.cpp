// Non-linear 4-bit quantizers IQ4_NL (32-value blocks) and IQ4_XS (256-value super-blocks of
// 8 sub-blocks with 6-bit scales), as ggml's quantize_iq4_nl / quantize_iq4_xs with no
// importance matrix (quantize_row_iq4_nl_impl with ntry = 7 and weights x^2).
#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "core/quant_blocks.h"
#include "kernels/quantize.h"

namespace tk::kernels::detail {
namespace {

constexpr float kGroupMaxEps = 1e-15f;
constexpr int kNTry = 7;
constexpr int kBlock = 32;  // values per scale, for both types

int nearest_int(float fval) {
    const float val = fval + 12582912.f;
    int i;
    std::memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

// Index of the code-book value closest to x (the upper one on an exact tie), by bisection
// over the sorted table, as ggml's best_index_int8 of this era.
int best_index(float x) {
    const int8_t* val = kIQ4NLValues;
    constexpr int n = 16;
    if (x <= val[0]) return 0;
    if (x >= val[n - 1]) return n - 1;
    int ml = 0, mu = n - 1;
    while (mu - ml > 1) {
        const int mav = (ml + mu) / 2;
        if (x < val[mav]) {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

// Best scale for one 32-value block: start at max/|values[0]|, try 15 more, keep the one
// with the best x^2-weighted least-squares fit. Returns 0 for an all-zero block.
float block_scale(const float* xb) {
    const int8_t* values = kIQ4NLValues;
    float weight[kBlock];
    for (int j = 0; j < kBlock; ++j) weight[j] = xb[j] * xb[j];
    float amax = 0, max = 0;
    for (int j = 0; j < kBlock; ++j) {
        const float ax = std::fabs(xb[j]);
        if (ax > amax) {
            amax = ax;
            max = xb[j];
        }
    }
    if (amax < kGroupMaxEps) return 0;
    float d = -max / values[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < kBlock; ++j) {
        const float al = id * xb[j];
        const float q = values[best_index(al)];
        const float w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
    }
    d = sumqx / sumq2;
    float best = d * sumqx;
    for (int itry = -kNTry; itry <= kNTry; ++itry) {
        id = (itry + values[0]) / max;
        sumqx = sumq2 = 0;
        for (int j = 0; j < kBlock; ++j) {
            const float al = id * xb[j];
            const float q = values[best_index(al)];
            const float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

// Element j and j+16 of each 32-value block share byte j (low and high nibble).
void pack_nibbles(const uint8_t* L, int n, uint8_t* q4) {
    for (int i = 0; i < n / 32; ++i) {
        for (int j = 0; j < 16; ++j) {
            q4[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
        }
    }
}

}  // namespace

void quantize_run_iq4_nl(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK;
    uint8_t L[kQK];
    for (int64_t i = 0; i < nb; ++i) {
        const float* xb = x + i * kQK;
        BlockIQ4_NL b;
        const float scale = block_scale(xb);
        b.d = f32_to_fp16(scale);
        // Requantized against the unrounded float scale, as ggml does.
        const float id = scale != 0.0f ? 1 / scale : 0;
        for (int j = 0; j < kQK; ++j) L[j] = static_cast<uint8_t>(best_index(id * xb[j]));
        pack_nibbles(L, kQK, b.qs);
        std::memcpy(static_cast<uint8_t*>(dst) + i * static_cast<int64_t>(sizeof(b)), &b,
                    sizeof(b));
    }
}

void quantize_run_iq4_xs(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    constexpr int kSub = kQK_K / kBlock;
    uint8_t L[kQK_K];
    float scales[kSub];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockIQ4_XS b;
        std::memset(&b, 0, sizeof(b));
        float max_scale = 0, amax_scale = 0;
        for (int ib = 0; ib < kSub; ++ib) {
            scales[ib] = block_scale(x + ib * kBlock);
            const float abs_d = std::fabs(scales[ib]);
            if (abs_d > amax_scale) {
                amax_scale = abs_d;
                max_scale = scales[ib];
            }
        }
        // 6-bit signed sub-block scales l - 32 against d = -max_scale / 32 (d is -0.0 for an
        // all-zero super-block, which ggml stores as such).
        const float d = -max_scale / 32;
        b.d = f32_to_fp16(d);
        const float id = d != 0.0f ? 1 / d : 0.f;
        uint16_t scales_h = 0;
        for (int ib = 0; ib < kSub; ++ib) {
            int l = nearest_int(id * scales[ib]);
            l = l < 31 ? l : 31;
            l = l > -32 ? l : -32;
            const float dl = d * l;
            const float idl = dl != 0.0f ? 1 / dl : 0.f;
            const float* xb = x + ib * kBlock;
            for (int j = 0; j < kBlock; ++j) {
                L[ib * kBlock + j] = static_cast<uint8_t>(best_index(idl * xb[j]));
            }
            l += 32;
            const uint8_t l_l = static_cast<uint8_t>(l & 0xf);
            const uint8_t l_h = static_cast<uint8_t>(l >> 4);
            if (ib % 2 == 0) {
                b.scales_l[ib / 2] = l_l;
            } else {
                b.scales_l[ib / 2] = static_cast<uint8_t>(b.scales_l[ib / 2] | (l_l << 4));
            }
            scales_h = static_cast<uint16_t>(scales_h | (l_h << 2 * (ib % 8)));
        }
        b.scales_h = scales_h;
        pack_nibbles(L, kQK_K, b.qs);
        std::memcpy(static_cast<uint8_t*>(dst) + i * static_cast<int64_t>(sizeof(b)), &b,
                    sizeof(b));
    }
}

}  // namespace tk::kernels::detail
