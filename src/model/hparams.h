#pragma once
// Hyperparameters of a decoder-only transformer, named as in GGUF (`<arch>.embedding_length` ...).
#include <cstdint>
#include <string>

#include "base/status.h"
#include "model/arch.h"

namespace tk::formats {
class GgufFile;
}

namespace tk::model {

struct HParams {
    std::string arch;  // "llama", "qwen2", ...
    const ArchTraits* traits = nullptr;  // never null after hparams_from_gguf
    std::string name;  // general.name
    int64_t n_vocab = 0;
    int64_t n_ctx_train = 0;
    int64_t n_embd = 0;
    int64_t n_layer = 0;
    int64_t n_head = 0;
    int64_t n_head_kv = 0;
    int64_t head_dim = 0;  // n_embd / n_head unless key_length says otherwise
    int64_t n_ff = 0;
    int64_t n_expert = 0;
    int64_t n_expert_used = 0;
    NormKind norm = NormKind::kRms;
    FfnKind ffn = FfnKind::kSwiGlu;
    float norm_eps = 1e-5f;      // layer_norm_rms_epsilon (RMSNorm) or layer_norm_epsilon
    float embd_scale = 1.0f;     // Gemma: sqrtf(n_embd)
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling
    int64_t n_rot = 0;             // rotated dims per head (rope.dimension_count)
    RopeType rope_type = RopeType::kNormal;
    float rope_attn_factor = 1.0f;  // rope.scaling.attn_factor: scales cos and sin (LongRoPE)
    int64_t n_ctx_orig = 0;         // rope.scaling.original_context_length (else n_ctx_train)

    int64_t q_dim() const { return n_head * head_dim; }
    int64_t kv_dim() const { return n_head_kv * head_dim; }
};

// Reads and validates hyperparameters; errors name the file and the missing/invalid key.
Result<HParams> hparams_from_gguf(const formats::GgufFile& f);

}  // namespace tk::model
