// Dispatch and argument checks for the weight quantizers, plus the float formats.
// The block formats live in quantize_legacy.cpp, quantize_kquants.cpp and quantize_iq4.cpp.
#include "kernels/quantize.h"

#include <cstring>
#include <string>

#include "base/fp16.h"

namespace tk::kernels {
namespace {

using RunFn = void (*)(const float* x, void* dst, int64_t n);

void run_f32(const float* x, void* dst, int64_t n) {
    std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float));
}

// ggml_fp32_to_fp16_row / ggml_fp32_to_bf16_row_ref: round to nearest even per element.
void run_f16(const float* x, void* dst, int64_t n) {
    auto* out = static_cast<uint8_t*>(dst);
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_fp16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
    }
}

void run_bf16(const float* x, void* dst, int64_t n) {
    auto* out = static_cast<uint8_t*>(dst);
    for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_bf16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
    }
}

RunFn run_for(DType type) {
    switch (type) {
        case DType::kF32: return run_f32;
        case DType::kF16: return run_f16;
        case DType::kBF16: return run_bf16;
        case DType::kQ4_0: return detail::quantize_run_q4_0;
        case DType::kQ4_1: return detail::quantize_run_q4_1;
        case DType::kQ5_0: return detail::quantize_run_q5_0;
        case DType::kQ5_1: return detail::quantize_run_q5_1;
        case DType::kQ8_0: return detail::quantize_run_q8_0;
        case DType::kQ2_K: return detail::quantize_run_q2_k;
        case DType::kQ3_K: return detail::quantize_run_q3_k;
        case DType::kQ4_K: return detail::quantize_run_q4_k;
        case DType::kQ5_K: return detail::quantize_run_q5_k;
        case DType::kQ6_K: return detail::quantize_run_q6_k;
        case DType::kIQ4_NL: return detail::quantize_run_iq4_nl;
        case DType::kIQ4_XS: return detail::quantize_run_iq4_xs;
        default: return nullptr;
    }
}

}  // namespace

bool can_quantize(DType type) { return run_for(type) != nullptr; }

Status quantize_rows(DType type, const float* src, void* dst, int64_t n_rows, int64_t n_cols) {
    const RunFn run = run_for(type);
    if (run == nullptr) {
        return make_error(ErrorCode::kUnsupported,
                          "quantize: no quantizer for type " + std::string(dtype_name(type)));
    }
    const int64_t block = dtype_block_elems(type);
    if (n_rows < 0 || n_cols < 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "quantize: negative shape " + std::to_string(n_rows) + " x " +
                              std::to_string(n_cols));
    }
    if (n_cols % block != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "quantize: row length " + std::to_string(n_cols) +
                              " is not a multiple of the " + std::string(dtype_name(type)) +
                              " block size " + std::to_string(block));
    }
    if (n_rows == 0 || n_cols == 0) return Status::ok();
    if (src == nullptr || dst == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "quantize: null source or destination");
    }
    // Blocks never straddle rows, so one run per row gives the same bytes as ggml's single run
    // over all rows, and keeps each row's output at its own offset.
    const int64_t row_bytes = dtype_row_bytes(type, n_cols);
    auto* out = static_cast<uint8_t*>(dst);
    for (int64_t r = 0; r < n_rows; ++r) {
        run(src + r * n_cols, out + r * row_bytes, n_cols);
    }
    return Status::ok();
}

}  // namespace tk::kernels
