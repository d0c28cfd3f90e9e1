#pragma once
// Quantization presets ("Q4_K_M", ...) and the per-tensor type choice of llama.cpp's
// llama-quantize at commit c392e509 (llama_tensor_get_type / llama_model_quantize_impl), so
// `tokamak quantize` reproduces llama-quantize's files and in-place quantization at load picks
// the same types. Only the presets tokamak can produce are listed (no IQ1/IQ2/IQ3/TQ, no
// Q2_K_S, which needs an importance matrix); no imatrix is ever used.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "core/dtype.h"
#include "core/tensor_view.h"

namespace tk::formats {
class GgufFile;
}

namespace tk::model {

// llama.cpp's enum llama_ftype: the value written as general.file_type.
enum class FileType : uint32_t {
    kAllF32 = 0,
    kMostlyF16 = 1,
    kMostlyQ4_0 = 2,
    kMostlyQ4_1 = 3,
    kMostlyQ8_0 = 7,
    kMostlyQ5_0 = 8,
    kMostlyQ5_1 = 9,
    kMostlyQ2_K = 10,
    kMostlyQ3_K_S = 11,
    kMostlyQ3_K_M = 12,
    kMostlyQ3_K_L = 13,
    kMostlyQ4_K_S = 14,
    kMostlyQ4_K_M = 15,
    kMostlyQ5_K_S = 16,
    kMostlyQ5_K_M = 17,
    kMostlyQ6_K = 18,
    kMostlyIQ4_NL = 25,
    kMostlyIQ4_XS = 30,
    kMostlyBF16 = 32,
};

struct QuantPreset {
    std::string_view name;  // canonical name, e.g. "Q4_K_M" (an alias parses to its target)
    FileType ftype;
    DType default_type;     // type of every quantized tensor before the mix adjusts it
    std::string_view description;
};

// Every preset, in llama-quantize's listing order (aliases not included).
const std::vector<QuantPreset>& quant_presets();
// Case-insensitive. Accepts the presets, llama-quantize's aliases Q3_K, Q4_K and Q5_K (for
// Q3_K_M, Q4_K_M and Q5_K_M, as llama-quantize: not "pure"; use --pure for that) and a
// numeric file type ("15"). nullopt if unknown.
std::optional<QuantPreset> parse_quant_preset(std::string_view name);
// "Q4_0, Q4_1, ..., IQ4_XS (aliases: Q3_K, Q4_K, Q5_K)", for error messages.
std::string quant_preset_list();

// What the mix needs to know about the model (llama.cpp's hparams of layer 0).
struct MixModelInfo {
    std::string arch;        // general.architecture ("falcon" changes some rules)
    int64_t n_layer = 0;     // <arch>.block_count
    int64_t n_head = 0;      // <arch>.attention.head_count (layer 0 when per layer)
    int64_t n_head_kv = 0;   // <arch>.attention.head_count_kv (defaults to n_head)
    int64_t n_expert = 0;    // <arch>.expert_count
    bool is_70b = false;     // llama.cpp's LLM_TYPE_70B (attn_v gets Q5_K instead of Q3_K/Q4_K)

    int64_t n_gqa() const { return n_head_kv == 0 ? 0 : n_head / n_head_kv; }
};
// Reads the keys above; is_70b follows llama.cpp for llama (80 layers, GQA, not 8 experts),
// qwen2 and deci (80 layers). Errors name the file and the key.
Result<MixModelInfo> mix_model_info_from_gguf(const formats::GgufFile& f);

struct MixTensor {
    std::string name;
    DType type = DType::kF32;
    std::vector<int64_t> shape;  // outermost first (GGUF ne reversed)
};
std::vector<MixTensor> mix_tensors_from_gguf(const formats::GgufFile& f);

struct MixOptions {
    bool pure = false;                       // one type for every quantized tensor (--pure)
    bool leave_output = false;               // keep output.weight as it is
    bool allow_requantize = false;           // accept already-quantized sources
    std::optional<DType> output_type;        // --output-type: output.weight (and a tied token_embd)
    std::optional<DType> token_embd_type;    // --token-embd-type
};

struct MixDecision {
    size_t index = 0;        // into the MixTensor list
    bool convert = false;    // false: the bytes are copied unchanged
    DType type = DType::kF32;  // output type (the input type when !convert)
    bool fallback = false;   // the row length forced llama.cpp's fallback type
};

// llama-quantize processes and writes tensors sorted by layer ("blk.N." prefix, others first),
// then by name; its per-layer counters depend on that order. Returns indices into `names`.
std::vector<size_t> llama_tensor_order(const std::vector<std::string>& names);

// One decision per tensor, in llama_tensor_order. Errors (kInvalidArgument / kUnsupported)
// name the tensor: rows that fit no type (llama.cpp aborts there too), --pure or a forced type
// with an incompatible row length, requantization without allow_requantize, MoE tensors
// without a layer number.
Result<std::vector<MixDecision>> plan_quant_mix(const std::vector<MixTensor>& tensors,
                                                const MixModelInfo& info,
                                                const QuantPreset& preset,
                                                const MixOptions& opts);

// Converts `src` (F32, F16, BF16 or any type with a dequantizer) to `type` row by row, like
// ggml_quantize_chunk on the dequantized rows (bit-identical to llama-quantize). dst holds
// src.rows() * dtype_row_bytes(type, src.cols()) bytes. Rows are split over `pool` (may be
// null); the result does not depend on the thread count.
Status convert_tensor(const TensorView& src, DType type, void* dst, ThreadPool* pool);

}  // namespace tk::model
