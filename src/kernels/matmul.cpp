#include "kernels/matmul.h"

#include <algorithm>

#include "base/check.h"

namespace tk::kernels {
namespace {

// Activation rows per task. A task takes kActBlock activation rows against a chunk of weight
// rows and walks them in groups of kMaxDotRows: the group's converted rows (4 x ~4 KB for a
// 4096-wide Q8_0 row) stay in L1 while the chunk's weight rows stream past from L2, and each
// weight block is decoded once per group.
constexpr int64_t kActBlock = 32;
// Weight rows per task: enough tasks for dynamic balance, few enough to amortize hand-out.
constexpr int64_t kMaxRowChunk = 64;
constexpr int64_t kTasksPerThread = 8;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

void matmul(const TensorView& w, const float* x, int64_t n, float* y, ThreadPool& pool,
            std::vector<uint8_t>& scratch, const KernelTable& kt) {
    matmul_rows(w, 0, w.rows(), x, n, y, w.rows(), pool, scratch, kt);
}

// y[i * ldy + (r - row_begin)] = dot(W row r, X row i) for r in [row_begin, row_end), i < n.
void matmul_rows(const TensorView& w, int64_t row_begin, int64_t row_end, const float* x, int64_t n,
                 float* y, int64_t ldy, ThreadPool& pool, std::vector<uint8_t>& scratch,
                 const KernelTable& kt) {
    const int64_t n_rows = row_end - row_begin;
    if (n <= 0 || n_rows <= 0) return;
    TK_CHECK(row_begin >= 0 && row_end <= w.rows());
    const TypeKernels& wk = kt.of(w.type);
    TK_CHECK(wk.vec_dot != nullptr);
    const int64_t cols = w.cols();
    const DType vdt = wk.vec_dot_type;

    // 1. Activations to vec_dot_type, once per row.
    const uint8_t* act = reinterpret_cast<const uint8_t*>(x);
    int64_t act_stride = cols * static_cast<int64_t>(sizeof(float));
    if (vdt != DType::kF32) {
        const TypeKernels& ak = kt.of(vdt);
        TK_CHECK(ak.from_float != nullptr);
        act_stride = dtype_row_bytes(vdt, cols);
        if (scratch.size() < static_cast<size_t>(n * act_stride))
            scratch.resize(static_cast<size_t>(n * act_stride));
        uint8_t* dst = scratch.data();
        if (n == 1) {
            ak.from_float(x, dst, cols);
        } else {
            pool.parallel_for(n, [&](int64_t i, int) {
                ak.from_float(x + i * cols, dst + i * act_stride, cols);
            });
        }
        act = dst;
    }

    // 2. Tasks over (weight-row chunk) x (activation block).
    const int64_t n_act_blocks = ceil_div(n, kActBlock);
    const int64_t want_chunks = std::max<int64_t>(1, kTasksPerThread * pool.size() / n_act_blocks);
    const int64_t chunk = std::clamp<int64_t>(ceil_div(n_rows, want_chunks), 1, kMaxRowChunk);
    const int64_t n_chunks = ceil_div(n_rows, chunk);
    const uint8_t* w_data = static_cast<const uint8_t*>(w.data);
    const int64_t w_stride = w.row_bytes();
    const auto dot = wk.vec_dot;
    const auto dot_rows = wk.vec_dot_rows;

    pool.parallel_for(n_chunks * n_act_blocks, [&](int64_t task, int) {
        // Consecutive tasks share a weight chunk, so both threads read it while it is hot.
        const int64_t r0 = row_begin + (task / n_act_blocks) * chunk;
        const int64_t r1 = std::min(r0 + chunk, row_end);
        const int64_t a0 = (task % n_act_blocks) * kActBlock;
        const int64_t a1 = std::min(a0 + kActBlock, n);
        float s[kMaxDotRows];
        for (int64_t i = a0; i < a1; i += kMaxDotRows) {
            const int nr = static_cast<int>(std::min<int64_t>(kMaxDotRows, a1 - i));
            const uint8_t* a = act + i * act_stride;
            for (int64_t r = r0; r < r1; ++r) {
                const uint8_t* wr = w_data + r * w_stride;
                if (dot_rows != nullptr) {
                    dot_rows(cols, nr, s, wr, a, act_stride);
                } else {
                    for (int k = 0; k < nr; ++k) dot(cols, &s[k], wr, a + k * act_stride);
                }
                float* out = y + i * ldy + (r - row_begin);
                for (int k = 0; k < nr; ++k) out[k * ldy] = s[k];
            }
        }
    });
}

}  // namespace tk::kernels
