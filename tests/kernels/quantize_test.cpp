// Weight quantizers against llama.cpp's ggml_quantize_chunk(type, ..., imatrix = NULL) output
// in shared/reference/quant/ (16 x 4096 floats; rows with zeros, outliers, subnormal scales,
// all-positive values, std 100; see reference/README.md section 4).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "core/dtype.h"
#include "kernels/kernel_table.h"
#include "kernels/quantize.h"

namespace tk::kernels {
namespace {

constexpr int64_t kRows = 16;
constexpr int64_t kCols = 4096;

const std::string kQuantDir = std::string(TK_SHARED_DIR) + "/reference/quant/";

// The 14 types llama.cpp produced reference bytes for.
const DType kTypes[] = {DType::kF16,  DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1,
                        DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K,
                        DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS};

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    EXPECT_TRUE(f.good()) << "cannot open " << path;
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

const std::vector<float>& input() {
    static const std::vector<float> x = [] {
        const std::vector<uint8_t> raw = read_bytes(kQuantDir + "input.f32");
        std::vector<float> v(raw.size() / sizeof(float));
        std::memcpy(v.data(), raw.data(), v.size() * sizeof(float));
        return v;
    }();
    return x;
}

const nlohmann::json& errors_json() {
    static const nlohmann::json j = [] {
        std::ifstream f(kQuantDir + "errors.json");
        return nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
    }();
    return j;
}

std::string type_name(DType t) { return std::string(dtype_name(t)); }

std::vector<uint8_t> quantize_all(DType t) {
    std::vector<uint8_t> out(static_cast<size_t>(kRows * dtype_row_bytes(t, kCols)));
    const Status s = quantize_rows(t, input().data(), out.data(), kRows, kCols);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return out;
}

struct Comparison {
    bool identical = false;
    int64_t blocks_differing = 0;
    int64_t blocks = 0;
};

Comparison compare_blocks(DType t, const std::vector<uint8_t>& ours,
                          const std::vector<uint8_t>& ref) {
    Comparison c;
    const int64_t bb = dtype_block_bytes(t);
    c.blocks = static_cast<int64_t>(ref.size()) / bb;
    if (ours.size() != ref.size()) {
        c.blocks_differing = c.blocks;
        return c;
    }
    for (int64_t b = 0; b < c.blocks; ++b) {
        if (std::memcmp(ours.data() + b * bb, ref.data() + b * bb, static_cast<size_t>(bb)) != 0) {
            ++c.blocks_differing;
        }
    }
    c.identical = c.blocks_differing == 0;
    return c;
}

struct ErrorStats {
    double rmse = 0;
    double max_abs_err = 0;
    std::vector<double> per_row_rmse;
};

// Dequantizes with the reference kernels' to_float and measures against the input, in double
// like the float64 numpy that wrote errors.json.
ErrorStats measure(DType t, const std::vector<uint8_t>& q) {
    ErrorStats e;
    const auto to_float = kernels_for(Isa::kRef).of(t).to_float;
    EXPECT_NE(to_float, nullptr) << type_name(t);
    if (to_float == nullptr) return e;
    const int64_t row_bytes = dtype_row_bytes(t, kCols);
    std::vector<float> deq(static_cast<size_t>(kCols));
    double total = 0;
    for (int64_t r = 0; r < kRows; ++r) {
        to_float(q.data() + r * row_bytes, deq.data(), kCols);
        double row_sum = 0;
        for (int64_t c = 0; c < kCols; ++c) {
            const double err = static_cast<double>(deq[c]) - input()[r * kCols + c];
            row_sum += err * err;
            e.max_abs_err = std::max(e.max_abs_err, std::fabs(err));
        }
        e.per_row_rmse.push_back(std::sqrt(row_sum / kCols));
        total += row_sum;
    }
    e.rmse = std::sqrt(total / static_cast<double>(kRows * kCols));
    return e;
}

class QuantizeTypes : public ::testing::TestWithParam<DType> {};

TEST(QuantizeInput, ReferenceFilesPresent) {
    ASSERT_EQ(input().size(), static_cast<size_t>(kRows * kCols));
    ASSERT_FALSE(errors_json().is_discarded()) << "errors.json does not parse";
}

// The main oracle: byte-identical to llama.cpp. On a mismatch, report how many blocks differ
// and check that our result is at least not worse than llama.cpp's.
TEST_P(QuantizeTypes, BytesMatchLlamaCpp) {
    const DType t = GetParam();
    ASSERT_EQ(input().size(), static_cast<size_t>(kRows * kCols));
    const std::vector<uint8_t> ref = read_bytes(kQuantDir + type_name(t) + ".bin");
    ASSERT_EQ(ref.size(), static_cast<size_t>(kRows * dtype_row_bytes(t, kCols)));
    const std::vector<uint8_t> ours = quantize_all(t);
    const Comparison c = compare_blocks(t, ours, ref);
    EXPECT_TRUE(c.identical) << type_name(t) << ": " << c.blocks_differing << " of " << c.blocks
                             << " blocks differ";
    if (!c.identical) {
        const double ours_rmse = measure(t, ours).rmse;
        const double ref_rmse = errors_json()["types"][type_name(t)]["rmse"].get<double>();
        EXPECT_LE(ours_rmse, ref_rmse) << type_name(t);
    }
}

// dequant(quant(x)) reproduces llama.cpp's error statistics (same bytes and a bit-exact
// to_float give the same numbers up to summation order in double).
TEST_P(QuantizeTypes, DequantErrorMatchesReference) {
    const DType t = GetParam();
    const nlohmann::json& ref = errors_json()["types"][type_name(t)];
    ASSERT_TRUE(ref.is_object()) << type_name(t);
    const ErrorStats e = measure(t, quantize_all(t));
    const double ref_rmse = ref["rmse"].get<double>();
    EXPECT_NEAR(e.rmse, ref_rmse, 1e-9 * ref_rmse) << type_name(t);
    EXPECT_NEAR(e.max_abs_err, ref["max_abs_err"].get<double>(), 1e-9 * ref_rmse) << type_name(t);
    ASSERT_EQ(e.per_row_rmse.size(), ref["per_row_rmse"].size());
    for (size_t r = 0; r < e.per_row_rmse.size(); ++r) {
        const double want = ref["per_row_rmse"][r].get<double>();
        EXPECT_NEAR(e.per_row_rmse[r], want, 1e-9 * want + 1e-15) << type_name(t) << " row " << r;
    }
}

// Rows are independent: any row split over threads gives the same bytes as one call, and
// dst needs no alignment.
TEST_P(QuantizeTypes, ParallelRowsAndUnalignedDestination) {
    const DType t = GetParam();
    const std::vector<uint8_t> whole = quantize_all(t);
    const int64_t row_bytes = dtype_row_bytes(t, kCols);
    std::vector<uint8_t> buf(whole.size() + 1);
    uint8_t* dst = buf.data() + 1;  // odd address
    ThreadPool pool(4);
    pool.parallel_for(kRows, [&](int64_t r, int) {
        const Status s =
            quantize_rows(t, input().data() + r * kCols, dst + r * row_bytes, 1, kCols);
        EXPECT_TRUE(s.is_ok()) << s.to_string();
    });
    EXPECT_EQ(std::memcmp(dst, whole.data(), whole.size()), 0) << type_name(t);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantizeTypes, ::testing::ValuesIn(kTypes),
                         [](const ::testing::TestParamInfo<DType>& info) {
                             return type_name(info.param);
                         });

TEST(QuantizeErrors, RowLengthNotMultipleOfBlock) {
    std::vector<float> x(300, 1.0f);
    std::vector<uint8_t> out(4096);
    for (DType t : {DType::kQ4_0, DType::kQ8_0, DType::kIQ4_NL}) {
        const Status s = quantize_rows(t, x.data(), out.data(), 1, 48);
        EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << type_name(t);
        EXPECT_NE(s.message().find("48"), std::string::npos) << s.message();
    }
    for (DType t : {DType::kQ2_K, DType::kQ4_K, DType::kQ6_K, DType::kIQ4_XS}) {
        const Status s = quantize_rows(t, x.data(), out.data(), 1, 288);
        EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << type_name(t);
    }
    EXPECT_EQ(quantize_rows(DType::kQ4_0, x.data(), out.data(), -1, 32).code(),
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(quantize_rows(DType::kQ4_0, nullptr, out.data(), 1, 32).code(),
              ErrorCode::kInvalidArgument);
}

TEST(QuantizeErrors, UnsupportedTypes) {
    std::vector<float> x(256, 1.0f);
    std::vector<uint8_t> out(4096);
    for (DType t : {DType::kQ8_1, DType::kQ8_K, DType::kI8, DType::kI32, DType::kF64}) {
        EXPECT_FALSE(can_quantize(t)) << type_name(t);
        EXPECT_EQ(quantize_rows(t, x.data(), out.data(), 1, 256).code(), ErrorCode::kUnsupported)
            << type_name(t);
    }
    for (DType t : kTypes) EXPECT_TRUE(can_quantize(t)) << type_name(t);
    EXPECT_TRUE(can_quantize(DType::kF32));
}

TEST(QuantizeEdge, EmptyAndF32Copy) {
    EXPECT_TRUE(quantize_rows(DType::kQ4_K, nullptr, nullptr, 0, 256).is_ok());
    const float x[4] = {1.5f, -2.0f, 0.0f, 3.25f};
    float y[4] = {};
    ASSERT_TRUE(quantize_rows(DType::kF32, x, y, 2, 2).is_ok());
    EXPECT_EQ(std::memcmp(x, y, sizeof(x)), 0);
}

// Prints the table in docs/quantization.md:
//   build/bin/tk_kernels_test --gtest_filter='Quantize*.Table'
TEST(QuantizeReport, Table) {
    ASSERT_EQ(input().size(), static_cast<size_t>(kRows * kCols));
    std::printf("| type | bits/weight | RMSE rows 0-9 (ours) | RMSE rows 0-9 (llama.cpp) "
                "| RMSE all (ours) | RMSE all (llama.cpp) | byte-identical |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---|\n");
    for (DType t : kTypes) {
        const std::vector<uint8_t> ours = quantize_all(t);
        const std::vector<uint8_t> ref = read_bytes(kQuantDir + type_name(t) + ".bin");
        const Comparison c = compare_blocks(t, ours, ref);
        const ErrorStats e = measure(t, ours);
        const nlohmann::json& j = errors_json()["types"][type_name(t)];
        // Rows 1-9 and row 0 are N(0,1)-like; their pooled RMSE is the quality figure.
        double sum = 0;
        for (size_t r = 0; r < 10 && r < e.per_row_rmse.size(); ++r) {
            sum += e.per_row_rmse[r] * e.per_row_rmse[r];
        }
        const double bpw = 8.0 * static_cast<double>(dtype_block_bytes(t)) /
                           static_cast<double>(dtype_block_elems(t));
        std::string same = c.identical ? "yes" : "no (" + std::to_string(c.blocks_differing) +
                                                     " of " + std::to_string(c.blocks) +
                                                     " blocks differ)";
        std::printf("| %s | %.4g | %.4g | %.4g | %.4g | %.4g | %s |\n", type_name(t).c_str(), bpw,
                    std::sqrt(sum / 10), j["rmse_rows_0_9_N01"].get<double>(), e.rmse,
                    j["rmse"].get<double>(), same.c_str());
    }
}

}  // namespace
}  // namespace tk::kernels
