#pragma once
// Internal to the K-quant / IQ4 kernels: scalar unpacking of the packed sub-block scales, shared
// by kquants_ref.cpp and avx2/kquants_avx2.cpp. Everything here has internal linkage (anonymous
// namespace) so the avx2 translation unit's copies, compiled with -mavx2, can never be picked by
// the linker for the baseline ones (the ODR pitfall of inline functions across ISA flags).
#include <cstdint>
#include <cstring>

#include "core/quant_blocks.h"

namespace tk::kernels::kq {
namespace {

// Round to nearest, ties to even, exactly as ggml's nearest_int (valid for |v| < 2^22): adding
// 1.5 * 2^23 makes the float unit the integer unit, so the addition itself rounds.
inline int nearest_int(float v) {
    const float biased = v + 12582912.0f;
    int32_t bits;
    std::memcpy(&bits, &biased, 4);
    return (bits & 0x007fffff) - 0x00400000;
}

// Q4_K / Q5_K: 12 bytes hold 8 six-bit scales and 8 six-bit mins for the 8 sub-blocks of 32.
// Bytes 0-3: low 6 bits = scale 0-3, top 2 bits = high bits of scale 4-7.
// Bytes 4-7: low 6 bits = min 0-3,   top 2 bits = high bits of min 4-7.
// Bytes 8-11: low nibble = low 4 bits of scale 4-7, high nibble = low 4 bits of min 4-7.
inline void unpack_scales_mins_k4(const uint8_t* s, uint8_t sc[8], uint8_t mn[8]) {
    for (int j = 0; j < 4; ++j) {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
        sc[j + 4] = static_cast<uint8_t>((s[j + 8] & 0x0F) | ((s[j] >> 6) << 4));
        mn[j + 4] = static_cast<uint8_t>((s[j + 8] >> 4) | ((s[j + 4] >> 6) << 4));
    }
}

// Q3_K: 12 bytes hold 16 six-bit scales (stored +32) for the 16 sub-blocks of 16.
// Bytes 0-7: low nibbles = low 4 bits of scales 0-7, high nibbles = low 4 bits of scales 8-15.
// Bytes 8-11: bit pairs (2k, 2k+1) of byte 8+j = high 2 bits of scale 4k+j.
// Returns the signed scales (stored value - 32).
inline void unpack_scales_q3k(const uint8_t* s, int8_t out[16]) {
    for (int j = 0; j < 16; ++j) {
        const int low = j < 8 ? (s[j] & 0x0F) : (s[j - 8] >> 4);
        const int high = (s[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
        out[j] = static_cast<int8_t>((low | (high << 4)) - 32);
    }
}

// IQ4_XS: 6-bit scale of sub-block ib (of 8): low 4 bits in scales_l nibbles, high 2 bits in
// scales_h bit pairs. Returns the signed scale (stored value - 32).
inline int iq4xs_scale(const BlockIQ4_XS& b, int ib) {
    const int low = (b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0F;
    const int high = (b.scales_h >> (2 * ib)) & 3;
    return (low | (high << 4)) - 32;
}

}  // namespace
}  // namespace tk::kernels::kq
