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
    std::string model_type;  // "llama", "mistral", "mixtral", "qwen2", "phi3", "gemma", ...
    std::string gguf_arch;   // "llama" (llama, mistral, mixtral), "qwen2", "phi3", "gemma",
                             // "starcoder2"
    int64_t hidden_size = 0;
    int64_t intermediate_size = 0;
    int64_t n_layers = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;
    int64_t head_dim = 0;  // hidden_size / n_heads unless config.json says otherwise
    int64_t vocab_size = 0;
    int64_t max_position_embeddings = 0;  // 0: not given
    double rms_norm_eps = 1e-5;  // StarCoder2: its LayerNorm epsilon (norm_epsilon)
    int64_t n_rot = 0;           // rotary dimensions (Phi-3: head_dim * partial_rotary_factor)
    int64_t n_expert = 0;        // Mixtral: num_local_experts
    int64_t n_expert_used = 0;   // Mixtral: num_experts_per_tok
    // Phi-3 LongRoPE ("longrope"/"su" rope_scaling): per-frequency divisors (n_rot / 2 each),
    // the original context and the attention factor convert_hf_to_gguf derives.
    std::vector<float> rope_long_factors, rope_short_factors;
    int64_t original_context = 0;
    std::optional<double> rope_attn_factor;
    double rope_theta = 10000.0;
    std::optional<double> rope_linear_factor;
    bool tie_word_embeddings = false;
    std::optional<int64_t> bos_token_id, eos_token_id, pad_token_id;
    std::string torch_dtype;

    // HF stores llama/mistral/mixtral Q and K rows in rotate-half order; GGUF llama wants
    // interleaved pairs. The other architectures use NEOX RoPE in GGUF too, so their rows stay.
    bool permute_qk() const { return gguf_arch == "llama"; }
    // Gemma's RMSNorm multiplies by (1 + w); GGUF stores w + 1 (convert_hf_to_gguf adds it).
    bool norm_plus_one() const { return gguf_arch == "gemma"; }
};

// Parses config.json text. `source` names the file in errors. kUnsupported for architectures
// other than Llama, Mistral, Mixtral, Qwen2, Phi-3, Gemma and StarCoder2 (the message lists
// them) and for RoPE scaling other than linear (and Phi-3's LongRoPE); kCorruptFile for
// missing or implausible fields.
Result<HfConfig> parse_hf_config(std::string_view json_text, const std::string& source);

// Writes general.architecture and the <arch>.* hyperparameter keys (the LongRoPE factor
// tensors are the caller's: they are tensors, not keys).
void add_hf_config_metadata(const HfConfig& c, GgufBuilder& out);

}  // namespace tk::formats
