#pragma once
// Hugging Face config.json -> the hyperparameters tokamak needs, and their GGUF metadata keys
// (as llama.cpp's convert_hf_to_gguf writes them).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tk::formats {

class GgufBuilder;

struct HfConfig {
    std::string hf_arch;     // "LlamaForCausalLM" (or model_type when architectures is absent)
    std::string model_type;  // "llama", "mistral", "qwen2"
    std::string gguf_arch;   // "llama" (llama, mistral) or "qwen2"
    int64_t hidden_size = 0;
    int64_t intermediate_size = 0;
    int64_t n_layers = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;
    int64_t head_dim = 0;  // hidden_size / n_heads unless config.json says otherwise
    int64_t vocab_size = 0;
    int64_t max_position_embeddings = 0;  // 0: not given
    double rms_norm_eps = 1e-5;
    double rope_theta = 10000.0;
    std::optional<double> rope_linear_factor;
    bool tie_word_embeddings = false;
    std::optional<int64_t> bos_token_id, eos_token_id, pad_token_id;
    std::string torch_dtype;

    // HF stores llama/mistral Q and K rows in rotate-half order; GGUF llama wants interleaved
    // pairs. Qwen2 uses NEOX RoPE in GGUF too, so its rows stay as they are.
    bool permute_qk() const { return gguf_arch == "llama"; }
};

// Parses config.json text. `source` names the file in errors. kUnsupported for architectures
// other than llama, mistral and qwen2 (the message lists those) and for RoPE scaling other than
// linear; kCorruptFile for missing or implausible fields.
Result<HfConfig> parse_hf_config(std::string_view json_text, const std::string& source);

// Writes general.architecture and the <arch>.* hyperparameter keys.
void add_hf_config_metadata(const HfConfig& c, GgufBuilder& out);

}  // namespace tk::formats
