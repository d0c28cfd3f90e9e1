#pragma once
// Non-owning view of a tensor. Shapes are written outermost first: a weight matrix with
// `rows` output features of `cols` inputs has shape {rows, cols} (GGUF ne = [cols, rows]).
#include <array>
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace tk {

struct TensorView {
    DType type = DType::kF32;
    int n_dims = 0;
    std::array<int64_t, 4> shape{1, 1, 1, 1};  // outermost first; unused trailing dims = 1
    const void* data = nullptr;
    int64_t nbytes = 0;

    int64_t dim(int i) const { return shape[i]; }
    int64_t n_elements() const {
        int64_t n = 1;
        for (int i = 0; i < n_dims; ++i) n *= shape[i];
        return n;
    }
    // Innermost dimension (elements per row) and number of rows.
    int64_t cols() const { return n_dims == 0 ? 1 : shape[n_dims - 1]; }
    int64_t rows() const { return cols() == 0 ? 0 : n_elements() / cols(); }
    int64_t row_bytes() const { return dtype_row_bytes(type, cols()); }
    const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes(); }
};

std::string shape_to_string(const TensorView& t);  // "[512, 64]"

}  // namespace tk
