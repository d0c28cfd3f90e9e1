#pragma once
// Hyperparameters of a decoder-only transformer, named as in GGUF (`<arch>.embedding_length` ...).
#include <cstdint>
#include <string>

#include "base/status.h"

namespace tk::formats {
class GgufFile;
}

namespace tk::model {

enum class RopeType { kNormal, kNeox };  // adjacent pairs (x[2i], x[2i+1]) vs halves (x[i], x[i+d/2])

struct HParams {
    std::string arch;  // "llama", "qwen2", ...
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
    float norm_eps = 1e-5f;
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;  // 1 / rope.scaling.factor for linear scaling
    int64_t n_rot = 0;             // rotated dims per head (rope.dimension_count)
    RopeType rope_type = RopeType::kNormal;

    int64_t q_dim() const { return n_head * head_dim; }
    int64_t kv_dim() const { return n_head_kv * head_dim; }
};

// Reads and validates hyperparameters; errors name the file and the missing/invalid key.
Result<HParams> hparams_from_gguf(const formats::GgufFile& f);

}  // namespace tk::model
