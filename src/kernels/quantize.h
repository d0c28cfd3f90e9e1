#pragma once
// Reference weight quantizers, bit-identical to ggml_quantize_chunk(type, ..., imatrix = NULL)
// at llama.cpp c392e509. Compiled without FP contraction so results match byte for byte.
//
// quantize_rows is a pure function of its arguments (no global or static mutable state), so a
// caller may quantize disjoint row ranges of one matrix from several threads at once: rows are
// independent and row r starts at byte r * dtype_row_bytes(type, n_cols) of dst.
#include <cstdint>

#include "base/status.h"
#include "core/dtype.h"

namespace tk::kernels {

// True if `type` can be produced by quantize_rows: F32 (copy), F16, BF16, Q4_0, Q4_1, Q5_0,
// Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS. The activation-only types Q8_1 and
// Q8_K are not weight formats (ggml_quantize_chunk rejects them too).
bool can_quantize(DType type);
// Quantizes n_rows rows of n_cols floats into dst (n_rows * dtype_row_bytes(type, n_cols) bytes).
// n_cols must be a multiple of the type's block size (checked by the caller: returns
// kInvalidArgument otherwise). Returns kUnsupported for a type can_quantize rejects.
// dst needs no particular alignment.
Status quantize_rows(DType type, const float* src, void* dst, int64_t n_rows, int64_t n_cols);

namespace detail {
// One contiguous run of n floats (n a multiple of the block size) to blocks, as ggml's
// quantize_row_*_ref / quantize_iq4_* do it. No argument checks: quantize_rows does those.
void quantize_run_q4_0(const float* x, void* dst, int64_t n);
void quantize_run_q4_1(const float* x, void* dst, int64_t n);
void quantize_run_q5_0(const float* x, void* dst, int64_t n);
void quantize_run_q5_1(const float* x, void* dst, int64_t n);
void quantize_run_q8_0(const float* x, void* dst, int64_t n);
void quantize_run_q2_k(const float* x, void* dst, int64_t n);
void quantize_run_q3_k(const float* x, void* dst, int64_t n);
void quantize_run_q4_k(const float* x, void* dst, int64_t n);
void quantize_run_q5_k(const float* x, void* dst, int64_t n);
void quantize_run_q6_k(const float* x, void* dst, int64_t n);
void quantize_run_iq4_nl(const float* x, void* dst, int64_t n);
void quantize_run_iq4_xs(const float* x, void* dst, int64_t n);
}  // namespace detail

}  // namespace tk::kernels
