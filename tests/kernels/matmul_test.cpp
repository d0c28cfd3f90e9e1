// Threaded matmul: llama.cpp's ggml_mul_mat results (reference/quant/matmul.json) for the float
// and legacy types under both ISAs and 1 or 2 threads; results independent of thread count,
// batch size and row sub-ranges.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "core/dtype.h"
#include "kernels/kernel_table.h"
#include "oracle_util.h"

namespace tk::kernels {
namespace {

using oracle::kActRows;
using oracle::kCols;
using oracle::kWeightRows;

const DType kTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,
                        DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1};

std::string name(DType t) { return std::string(dtype_name(t)); }

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// (c) Y = W X^T against llama.cpp, rel err (max|ref - y| / max|ref|) < 1e-5.
TEST(Matmul, MatchesLlamaCppOracle) {
    const std::vector<float> x = oracle::activations();
    ASSERT_EQ(static_cast<int64_t>(x.size()), kActRows * kCols);
    ThreadPool pool1(1), pool2(2);
    std::vector<uint8_t> scratch;
    for (DType t : kTypes) {
        const oracle::MatmulCase c = oracle::load_matmul_case(name(t));
        ASSERT_EQ(static_cast<int64_t>(c.y.size()), kActRows * kWeightRows) << name(t);
        const std::vector<uint8_t> w = oracle::load_bytes(c.weights_file);
        ASSERT_EQ(static_cast<int64_t>(w.size()), kWeightRows * dtype_row_bytes(t, kCols))
            << name(t);
        const TensorView wv = oracle::matrix_view(t, kWeightRows, kCols, w.data());
        for (Isa isa : oracle::available_isas()) {
            const KernelTable& kt = kernels_for(isa);
            EXPECT_EQ(name(kt.of(t).vec_dot_type), c.vec_dot_type) << name(t);
            std::vector<float> y1(c.y.size()), y2(c.y.size());
            matmul(wv, x.data(), kActRows, y1.data(), pool1, scratch, kt);
            matmul(wv, x.data(), kActRows, y2.data(), pool2, scratch, kt);
            const double err = oracle::rel_err(c.y, y1.data());
            EXPECT_LT(err, 1e-5) << name(t) << " " << isa_name(isa);
            EXPECT_LT(oracle::rel_err(c.y_single, y1.data()), 1e-5)
                << name(t) << " " << isa_name(isa);
            EXPECT_TRUE(same_bits(y1, y2)) << name(t) << " " << isa_name(isa) << ": 1 vs 2 threads";
            // One activation row at a time (generation) gives the same bits as the batch.
            std::vector<float> ys(c.y.size());
            for (int64_t i = 0; i < kActRows; ++i)
                matmul(wv, x.data() + i * kCols, 1, ys.data() + i * kWeightRows, pool2, scratch,
                       kt);
            EXPECT_TRUE(same_bits(y1, ys))
                << name(t) << " " << isa_name(isa) << ": batched vs single";
        }
    }
}

// (e) matmul_rows over a sub-range writes y[i * ldy + (r - row_begin)] and nothing else.
TEST(Matmul, RowSubRange) {
    const std::vector<float> x = oracle::activations();
    ASSERT_EQ(static_cast<int64_t>(x.size()), kActRows * kCols);
    ThreadPool pool(2);
    std::vector<uint8_t> scratch;
    for (DType t : {DType::kQ4_0, DType::kQ5_1, DType::kF16}) {
        const oracle::MatmulCase c = oracle::load_matmul_case(name(t));
        const std::vector<uint8_t> w = oracle::load_bytes(c.weights_file);
        ASSERT_EQ(static_cast<int64_t>(w.size()), kWeightRows * dtype_row_bytes(t, kCols));
        const TensorView wv = oracle::matrix_view(t, kWeightRows, kCols, w.data());
        for (Isa isa : oracle::available_isas()) {
            const KernelTable& kt = kernels_for(isa);
            std::vector<float> full(kActRows * kWeightRows);
            matmul(wv, x.data(), kActRows, full.data(), pool, scratch, kt);
            const int64_t rb = 5, re = 13, ldy = 11;
            const float sentinel = -12345.0f;
            std::vector<float> part(kActRows * ldy, sentinel);
            matmul_rows(wv, rb, re, x.data(), kActRows, part.data(), ldy, pool, scratch, kt);
            for (int64_t i = 0; i < kActRows; ++i) {
                for (int64_t j = 0; j < ldy; ++j) {
                    const float got = part[i * ldy + j];
                    if (j < re - rb) {
                        EXPECT_EQ(got, full[i * kWeightRows + rb + j])
                            << name(t) << " " << i << "," << j;
                    } else {
                        EXPECT_EQ(got, sentinel) << name(t) << " wrote outside the range";
                    }
                }
            }
        }
    }
}

// Batches larger than one task block, rows not a multiple of kMaxDotRows, a 3-D (expert)
// weight: every output equals the one-row vec_dot bit for bit, with 1 and 2 threads.
TEST(Matmul, LargeBatchMatchesVecDot) {
    std::mt19937 rng(99);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int64_t n_exp = 3, rows = 23, cols = 320, n = 37;
    std::vector<float> wf(static_cast<size_t>(n_exp * rows * cols)),
        x(static_cast<size_t>(n * cols));
    for (float& v : wf) v = nd(rng) * 0.1f;
    for (float& v : x) v = nd(rng);
    ThreadPool pool1(1), pool2(2);
    std::vector<uint8_t> scratch;
    for (DType t : {DType::kF32, DType::kBF16, DType::kQ8_0, DType::kQ4_1, DType::kQ5_0}) {
        for (Isa isa : oracle::available_isas()) {
            const KernelTable& kt = kernels_for(isa);
            const TypeKernels& k = kt.of(t);
            // Weights: float rows converted by from_float where the type has one, else random
            // quant bits under small finite scales.
            const int64_t row_bytes = dtype_row_bytes(t, cols);
            std::vector<uint8_t> w(static_cast<size_t>(n_exp * rows * row_bytes));
            if (k.from_float != nullptr) {
                for (int64_t r = 0; r < n_exp * rows; ++r)
                    k.from_float(wf.data() + r * cols, w.data() + r * row_bytes, cols);
            } else {
                std::uniform_int_distribution<int> byte(0, 255);
                for (uint8_t& b : w) b = static_cast<uint8_t>(byte(rng));
                for (int64_t b = 0; b < n_exp * rows * cols / 32; ++b) {
                    const uint16_t d = 0x2000 + static_cast<uint16_t>(b % 512);  // small positive
                    uint8_t* blk = w.data() + b * dtype_block_bytes(t);
                    std::memcpy(blk, &d, 2);
                    if (t == DType::kQ4_1) std::memcpy(blk + 2, &d, 2);  // min, also finite
                }
            }
            TensorView wv = oracle::matrix_view(t, n_exp * rows, cols, w.data());
            wv.n_dims = 3;
            wv.shape = {n_exp, rows, cols, 1};
            const DType vdt = k.vec_dot_type;
            const int64_t a_bytes = dtype_row_bytes(vdt, cols);
            std::vector<uint8_t> act(static_cast<size_t>(n * a_bytes));
            for (int64_t i = 0; i < n; ++i)
                kt.of(vdt).from_float(x.data() + i * cols, act.data() + i * a_bytes, cols);
            for (int64_t e = 0; e < n_exp; ++e) {
                std::vector<float> y1(static_cast<size_t>(n * rows)), y2(y1.size());
                matmul_rows(wv, e * rows, (e + 1) * rows, x.data(), n, y1.data(), rows, pool1,
                            scratch, kt);
                matmul_rows(wv, e * rows, (e + 1) * rows, x.data(), n, y2.data(), rows, pool2,
                            scratch, kt);
                EXPECT_TRUE(same_bits(y1, y2)) << name(t) << " " << isa_name(isa);
                int bad = 0;
                for (int64_t i = 0; i < n; ++i) {
                    for (int64_t r = 0; r < rows; ++r) {
                        float want = 0.0f;
                        k.vec_dot(cols, &want, wv.row(e * rows + r), act.data() + i * a_bytes);
                        if (std::memcmp(&want, &y1[i * rows + r], 4) != 0) ++bad;
                    }
                }
                EXPECT_EQ(bad, 0) << name(t) << " " << isa_name(isa) << " expert " << e;
            }
        }
    }
}

}  // namespace
}  // namespace tk::kernels
