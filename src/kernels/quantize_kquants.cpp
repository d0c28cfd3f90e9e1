// K-quant super-block quantizers (Q2_K..Q6_K) without an importance matrix, following ggml's
// quantize_row_q{2..6}_K_ref at llama.cpp c392e509. The scale searches are iterative and
// compare float sums, so every expression keeps ggml's operand order, float (never double)
// arithmetic and nearest_int's round-half-even; one changed rounding flips a whole block.
#include <cmath>
#include <cstring>

#include "base/fp16.h"
#include "core/quant_blocks.h"
#include "kernels/quantize.h"

namespace tk::kernels::detail {
namespace {

// Sub-groups whose largest |x| is below this are treated as all zero.
constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even, by adding 1.5 * 2^23 and reading the mantissa. Valid for
// |fval| <= 4194303, which the callers guarantee by clamping their inputs' range.
int nearest_int(float fval) {
    const float val = fval + 12582912.f;
    int i;
    std::memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

int imax(int a, int b) { return a > b ? a : b; }
int imin(int a, int b) { return a < b ? a : b; }

template <typename Block>
void store_block(void* dst, int64_t i, const Block& b) {
    std::memcpy(static_cast<uint8_t*>(dst) + i * static_cast<int64_t>(sizeof(Block)), &b,
                sizeof(Block));
}

// Symmetric quantization of n values to [-nmax, nmax-1] (stored as L + nmax), weights x^2
// (ggml's rmse_type 1 without quant_weights), trying 18 scales around nmax/max and keeping
// the one with the best weighted least-squares fit. Returns the scale.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
    float max = 0;
    float amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = static_cast<int8_t>(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = imax(-nmax, imin(nmax - 1, l));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                const int l = nearest_int(iscale * x[i]);
                L[i] = static_cast<int8_t>(nmax + imax(-nmax, imin(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Q3_K's sub-block search: start from nmax/max, then up to 5 passes of coordinate descent on
// single levels, accepting a change only if the weighted fit improves. L ends as l + nmax.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
    float max = 0;
    float amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = imax(-nmax, imin(nmax - 1, l));
        L[i] = static_cast<int8_t>(l);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = nearest_int(x[i] * sl2 / slx);
                new_l = imax(-nmax, imin(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = static_cast<int8_t>(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Asymmetric quantization x ~ scale * L - the_min with L in [0, nmax]: a grid of nstep+1
// candidate scales, each refit by weighted least squares for (scale, min), keeping the one
// with the smallest weighted error (|diff| if use_mad, else diff^2). Like ggml, a better fit
// also moves `min`, which the following candidates then start from.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
    float min = x[0];
    float max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * (x[i] - min));
        L[i] = static_cast<uint8_t>(imax(0, imin(nmax, l)));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = imax(0, imin(nmax, l));
            Laux[i] = static_cast<uint8_t>(l);
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? std::fabs(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// Q4_K/Q5_K pack 8 6-bit scales and 8 6-bit mins into 12 bytes.
void set_scale_min_k4(int j, uint8_t ls, uint8_t lm, uint8_t* q) {
    if (j < 4) {
        q[j] = ls;
        q[j + 4] = lm;
    } else {
        q[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
        q[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
        q[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
}

void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

// Q4_K and Q5_K share everything but the level count and the search grid: per 32 values a
// (scale, min) pair from make_qkx2_quants, both quantized to 6 bits against the super-block
// maxima, then every value requantized against the rounded scales. L gets levels [0, nmax].
void kquant_scales_mins(const float* x, int nmax, float rmin, float rdelta, int nstep,
                        uint16_t* d_out, uint16_t* dmin_out, uint8_t* scales_out, uint8_t* L) {
    uint8_t Laux[32];
    float weights[32];
    float mins[kQK_K / 32];
    float scales[kQK_K / 32];
    float max_scale = 0;  // mins are subtracted, so scales are never negative
    float max_min = 0;
    for (int j = 0; j < kQK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
        scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                     rmin, rdelta, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    std::memset(scales_out, 0, kKScaleBytes);
    for (int j = 0; j < kQK_K / 32; ++j) {
        uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
        uint8_t lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        set_scale_min_k4(j, ls, lm, scales_out);
    }
    *d_out = f32_to_fp16(max_scale / 63.f);
    *dmin_out = f32_to_fp16(max_min / 63.f);
    for (int j = 0; j < kQK_K / 32; ++j) {
        uint8_t sc, m;
        get_scale_min_k4(j, scales_out, &sc, &m);
        const float d = fp16_to_f32(*d_out) * sc;
        if (d == 0.0f) continue;
        const float dm = fp16_to_f32(*dmin_out) * m;
        for (int ii = 0; ii < 32; ++ii) {
            const int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = static_cast<uint8_t>(imax(0, imin(nmax, l)));
        }
    }
}

// Q3_K's 16 6-bit signed scales: low nibbles in bytes 0..7, high 2 bits in bytes 8..11.
int q3k_scale(const uint8_t* scales, int j) {
    const int lo = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
    const int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return static_cast<int8_t>(lo | (hi << 4)) - 32;
}

// 2 bits per value, 4 values per byte: byte l of each 32-byte group holds elements l, l+32,
// l+64, l+96 of its 128-element half (Q2_K and Q3_K).
void pack_2bit(const uint8_t* L, uint8_t* qs) {
    for (int j = 0; j < kQK_K; j += 128) {
        for (int l = 0; l < 32; ++l) {
            qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) |
                                                 (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
        }
    }
}

}  // namespace

void quantize_run_q2_k(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    const float q4scale = 15.f;
    uint8_t L[kQK_K];
    uint8_t Laux[16];
    float weights[16];
    float mins[kQK_K / 16];
    float scales[kQK_K / 16];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ2_K b;
        float max_scale = 0;
        float max_min = 0;
        for (int j = 0; j < kQK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux,
                                         -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = q4scale / max_scale;
            for (int j = 0; j < kQK_K / 16; ++j) {
                b.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
            }
            b.d = f32_to_fp16(max_scale / q4scale);
        } else {
            for (int j = 0; j < kQK_K / 16; ++j) b.scales[j] = 0;
            b.d = f32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4scale / max_min;
            for (int j = 0; j < kQK_K / 16; ++j) {
                const int l = nearest_int(iscale * mins[j]);
                b.scales[j] = static_cast<uint8_t>(b.scales[j] | (l << 4));
            }
            b.dmin = f32_to_fp16(max_min / q4scale);
        } else {
            b.dmin = f32_to_fp16(0.f);
        }
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float d = fp16_to_f32(b.d) * (b.scales[j] & 0xF);
            if (d == 0.0f) continue;
            const float dm = fp16_to_f32(b.dmin) * (b.scales[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = static_cast<uint8_t>(imax(0, imin(3, l)));
            }
        }
        pack_2bit(L, b.qs);
        store_block(dst, i, b);
    }
}

void quantize_run_q3_k(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    int8_t L[kQK_K];
    float scales[kQK_K / 16];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ3_K b;
        float max_scale = 0;
        float amax = 0;
        for (int j = 0; j < kQK_K / 16; ++j) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            const float scale = std::fabs(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        std::memset(b.scales, 0, sizeof(b.scales));
        if (max_scale != 0.0f) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < kQK_K / 16; ++j) {
                int8_t l = static_cast<int8_t>(nearest_int(iscale * scales[j]));
                l = static_cast<int8_t>(imax(-32, imin(31, l)) + 32);
                if (j < 8) {
                    b.scales[j] = static_cast<uint8_t>(l & 0xF);
                } else {
                    b.scales[j - 8] = static_cast<uint8_t>(b.scales[j - 8] | ((l & 0xF) << 4));
                }
                l = static_cast<int8_t>(l >> 4);
                uint8_t& high = b.scales[j % 4 + 8];
                high = static_cast<uint8_t>(high | (l << (2 * (j / 4))));
            }
            b.d = f32_to_fp16(1 / iscale);
        } else {
            b.d = f32_to_fp16(0.f);
        }
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float d = fp16_to_f32(b.d) * q3k_scale(b.scales, j);
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = static_cast<int8_t>(imax(-4, imin(3, l)) + 4);
            }
        }
        // High bit of level j goes to bit (j / 32) of hmask[j % 32]; L keeps the low 2 bits.
        std::memset(b.hmask, 0, sizeof(b.hmask));
        uint8_t low[kQK_K];
        for (int j = 0; j < kQK_K; ++j) {
            int l = L[j];
            if (l > 3) {
                b.hmask[j % 32] = static_cast<uint8_t>(b.hmask[j % 32] | (1 << (j / 32)));
                l -= 4;
            }
            low[j] = static_cast<uint8_t>(l);
        }
        pack_2bit(low, b.qs);
        store_block(dst, i, b);
    }
}

void quantize_run_q4_k(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    uint8_t L[kQK_K];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ4_K b;
        kquant_scales_mins(x, 15, -1.f, 0.1f, 20, &b.d, &b.dmin, b.scales, L);
        // Byte l of each 32-byte group: element l (low nibble) and l+32 (high) of 64.
        uint8_t* q = b.qs;
        for (int j = 0; j < kQK_K; j += 64, q += 32) {
            for (int l = 0; l < 32; ++l) {
                q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
            }
        }
        store_block(dst, i, b);
    }
}

void quantize_run_q5_k(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    uint8_t L[kQK_K];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ5_K b;
        kquant_scales_mins(x, 31, -0.5f, 0.1f, 15, &b.d, &b.dmin, b.scales, L);
        // Low nibbles as in Q4_K; bit 4 of the 64-element group g goes to bits 2g, 2g+1 of qh.
        std::memset(b.qh, 0, sizeof(b.qh));
        uint8_t* ql = b.qs;
        uint8_t m1 = 1, m2 = 2;
        for (int g = 0; g < kQK_K; g += 64, ql += 32) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[g + j];
                if (l1 > 15) {
                    l1 -= 16;
                    b.qh[j] |= m1;
                }
                int l2 = L[g + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    b.qh[j] |= m2;
                }
                ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
            }
            m1 = static_cast<uint8_t>(m1 << 2);
            m2 = static_cast<uint8_t>(m2 << 2);
        }
        store_block(dst, i, b);
    }
}

void quantize_run_q6_k(const float* x, void* dst, int64_t n) {
    const int64_t nb = n / kQK_K;
    int8_t L[kQK_K];
    float scales[kQK_K / 16];
    for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
        BlockQ6_K b;
        float max_scale = 0;
        float max_abs_scale = 0;
        for (int ib = 0; ib < kQK_K / 16; ++ib) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            const float abs_scale = std::fabs(scale);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if (max_abs_scale < kGroupMaxEps) {
            std::memset(&b, 0, sizeof(b));
            b.d = f32_to_fp16(0.f);
            store_block(dst, i, b);
            continue;
        }
        const float iscale = -128.f / max_scale;
        b.d = f32_to_fp16(1 / iscale);
        for (int ib = 0; ib < kQK_K / 16; ++ib) {
            b.scales[ib] = static_cast<int8_t>(imin(127, nearest_int(iscale * scales[ib])));
        }
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float d = fp16_to_f32(b.d) * b.scales[j];
            if (d == 0.0f) continue;
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = static_cast<int8_t>(imax(-32, imin(31, l)) + 32);
            }
        }
        // Low 4 bits: ql[l] = elements l (low) and l+64 (high), ql[l+32] = l+32 and l+96, per
        // 128-element half; high 2 bits of l, l+32, l+64, l+96 share qh[l].
        uint8_t* ql = b.ql;
        uint8_t* qh = b.qh;
        for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; ++l) {
                const int v0 = L[j + l], v1 = L[j + l + 32], v2 = L[j + l + 64], v3 = L[j + l + 96];
                ql[l + 0] = static_cast<uint8_t>((v0 & 0xF) | ((v2 & 0xF) << 4));
                ql[l + 32] = static_cast<uint8_t>((v1 & 0xF) | ((v3 & 0xF) << 4));
                qh[l] = static_cast<uint8_t>((v0 >> 4) | ((v1 >> 4) << 2) | ((v2 >> 4) << 4) |
                                             ((v3 >> 4) << 6));
            }
        }
        store_block(dst, i, b);
    }
}

}  // namespace tk::kernels::detail
