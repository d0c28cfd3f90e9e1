#pragma once
// Matrix products over a thread pool.
#include <cstdint>
#include <vector>

#include "base/thread_pool.h"
#include "core/tensor_view.h"
#include "kernels/kernel_table.h"

namespace tk::kernels {

// Y[n, rows] = X[n, cols] * W[rows, cols]^T (W any supported type, X and Y float32, row-major).
// X rows are converted once to W's vec_dot_type. `scratch` is reused between calls.
void matmul(const TensorView& w, const float* x, int64_t n, float* y, ThreadPool& pool,
            std::vector<uint8_t>& scratch, const KernelTable& kt = kernels());

// Same, restricted to the given weight rows [row_begin, row_end) (MoE experts, chunking).
void matmul_rows(const TensorView& w, int64_t row_begin, int64_t row_end, const float* x,
                 int64_t n, float* y, int64_t ldy, ThreadPool& pool, std::vector<uint8_t>& scratch,
                 const KernelTable& kt = kernels());

}  // namespace tk::kernels
