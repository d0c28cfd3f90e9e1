#pragma once
// Helpers for kernel tests against the llama.cpp oracle in shared/reference (README there):
//   dequant/<TYPE>.json   rows of raw bytes (hex) and their float values,
//   quant/act.f32         4 x 4096 activations, quant/act_<VDT>.bin the same after llama.cpp's
//                         conversion to a vec_dot_type,
//   quant/<TYPE>.bin      16 x 4096 weights (F32: quant/input.f32),
//   quant/matmul.json     Y[4][16] = ggml_mul_mat(W, X).
// Missing or malformed files record a gtest failure and return empty data.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/tensor_view.h"
#include "kernels/kernel_table.h"

namespace tk::kernels::oracle {

constexpr int64_t kWeightRows = 16;  // quant/<TYPE>.bin, matmul.json
constexpr int64_t kCols = 4096;
constexpr int64_t kActRows = 4;  // quant/act.f32

inline std::string shared_file(const std::string& rel) {
    return std::string(TK_SHARED_DIR) + "/" + rel;
}

// Whole file under shared/ (rel path, e.g. "reference/quant/act.f32").
inline std::vector<uint8_t> load_bytes(const std::string& rel) {
    const std::string path = shared_file(rel);
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        ADD_FAILURE() << "cannot open " << path;
        return {};
    }
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline std::vector<float> load_f32(const std::string& rel) {
    const std::vector<uint8_t> raw = load_bytes(rel);
    std::vector<float> v(raw.size() / sizeof(float));
    if (!v.empty()) std::memcpy(v.data(), raw.data(), v.size() * sizeof(float));
    return v;
}

inline nlohmann::json load_json(const std::string& rel) {
    const std::string path = shared_file(rel);
    std::ifstream f(path);
    if (!f) {
        ADD_FAILURE() << "cannot open " << path;
        return {};
    }
    nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) ADD_FAILURE() << "bad JSON in " << path;
    return j;
}

// "0a1B..." -> bytes; odd length or a non-hex digit records a failure.
inline std::vector<uint8_t> parse_hex(std::string_view hex) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::vector<uint8_t> out;
    if (hex.size() % 2 != 0) {
        ADD_FAILURE() << "odd hex length " << hex.size();
        return out;
    }
    out.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            ADD_FAILURE() << "bad hex digit at " << i;
            return {};
        }
        out.push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
    return out;
}

// JSON float lists are shortest round-trip decimals of float32: parse as double, cast.
inline std::vector<float> json_floats(const nlohmann::json& a) {
    std::vector<float> v;
    if (!a.is_array()) return v;
    v.reserve(a.size());
    for (const auto& e : a) v.push_back(static_cast<float>(e.get<double>()));
    return v;
}

struct DequantRow {
    std::vector<uint8_t> bytes;
    std::vector<float> values;
};

struct DequantOracle {
    int64_t row_elements = 0;
    int64_t row_bytes = 0;
    std::vector<DequantRow> rows;
};

// reference/dequant/<type_name>.json
inline DequantOracle load_dequant(std::string_view type_name) {
    DequantOracle o;
    const nlohmann::json j = load_json("reference/dequant/" + std::string(type_name) + ".json");
    if (!j.is_object() || !j.contains("rows")) return o;
    o.row_elements = j.value("row_elements", int64_t{0});
    o.row_bytes = j.value("row_bytes", int64_t{0});
    for (const auto& r : j["rows"]) {
        DequantRow row;
        row.bytes = parse_hex(r["hex"].get<std::string>());
        row.values = json_floats(r["values"]);
        o.rows.push_back(std::move(row));
    }
    return o;
}

struct MatmulCase {
    std::string vec_dot_type;     // "Q8_0", ...
    std::string weights_file;     // rel path of W (16 x 4096)
    std::string activation_file;  // rel path of act_<VDT>.bin ("" for F32)
    std::vector<float> y;         // [kActRows][kWeightRows], y[i][j] = dot(W row j, X row i)
    std::vector<float> y_single;  // same, one-row mul_mat (ggml's vec_dot path)
};

inline const nlohmann::json& matmul_json() {
    static const nlohmann::json j = load_json("reference/quant/matmul.json");
    return j;
}

inline MatmulCase load_matmul_case(std::string_view type_name) {
    MatmulCase c;
    const nlohmann::json& j = matmul_json();
    const std::string t(type_name);
    if (!j.is_object() || !j["types"].contains(t)) {
        ADD_FAILURE() << "matmul.json has no type " << t;
        return c;
    }
    const nlohmann::json& e = j["types"][t];
    c.vec_dot_type = e.value("vec_dot_type", std::string());
    c.weights_file = "reference/quant/" + e.value("weights", std::string());
    if (e.contains("activation_bytes") && e["activation_bytes"].is_string())
        c.activation_file = "reference/quant/" + e["activation_bytes"].get<std::string>();
    for (const auto& row : e["y"])
        for (float v : json_floats(row)) c.y.push_back(v);
    for (const auto& row : e["y_single_row_ops"])
        for (float v : json_floats(row)) c.y_single.push_back(v);
    return c;
}

inline std::vector<float> activations() { return load_f32("reference/quant/act.f32"); }

// Row-major [rows, cols] view over raw weight bytes.
inline TensorView matrix_view(DType type, int64_t rows, int64_t cols, const void* data) {
    TensorView v;
    v.type = type;
    v.n_dims = 2;
    v.shape = {rows, cols, 1, 1};
    v.data = data;
    v.nbytes = rows * dtype_row_bytes(type, cols);
    return v;
}

// max|ref - y| / max|ref|, the README's kernel criterion.
inline double rel_err(const std::vector<float>& ref, const float* y) {
    double max_diff = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < ref.size(); ++i) {
        max_diff = std::fmax(max_diff, std::fabs(static_cast<double>(ref[i]) - y[i]));
        max_ref = std::fmax(max_ref, std::fabs(static_cast<double>(ref[i])));
    }
    return max_ref > 0.0 ? max_diff / max_ref : max_diff;
}

// The ISAs this CPU can run (ref always).
inline std::vector<Isa> available_isas() {
    std::vector<Isa> v{Isa::kRef};
    if (cpu_has_avx2()) v.push_back(Isa::kAvx2);
    return v;
}

}  // namespace tk::kernels::oracle
