#pragma once
// Reference weight quantizers, bit-identical to ggml_quantize_chunk(type, ..., imatrix = NULL)
// at llama.cpp c392e509. Compiled without FP contraction so results match byte for byte.
#include <cstdint>

#include "base/status.h"
#include "core/dtype.h"

namespace tk::kernels {

// True if `type` can be produced by quantize_rows.
bool can_quantize(DType type);
// Quantizes n_rows rows of n_cols floats into dst (n_rows * dtype_row_bytes(type, n_cols) bytes).
// n_cols must be a multiple of the type's block size (checked by the caller: returns
// kInvalidArgument otherwise).
Status quantize_rows(DType type, const float* src, void* dst, int64_t n_rows, int64_t n_cols);

}  // namespace tk::kernels
