#pragma once
// One sequence being evaluated: a contiguous KV cache and scratch buffers over a shared Model.
// (The paged, batched KV cache of the server engine lives in kv/; this is the single-stream path.)
#include <cstdint>
#include <vector>

#include "base/status.h"
#include "model/model.h"

namespace tk::model {

enum class KvType { kF16, kF32 };

class Session {
public:
    // n_ctx <= 0: the model's training context.
    Session(const Model& model, int64_t n_ctx, KvType kv_type = KvType::kF16);

    // Evaluates `tokens` at positions n_past() .. n_past()+n-1 and appends them to the cache.
    // logits receives n rows of n_vocab when all_logits, else the last row only.
    // Fails (and changes nothing) if the tokens do not fit in the context or an id is invalid.
    Status decode(const int32_t* tokens, int64_t n, bool all_logits, std::vector<float>& logits);

    int64_t n_past() const { return n_past_; }
    int64_t n_ctx() const { return n_ctx_; }
    void clear() { n_past_ = 0; }
    // Forget everything from position n on (n <= n_past()).
    void truncate(int64_t n);

    const Model& model() const { return model_; }

private:
    void forward(const int32_t* tokens, int64_t n, bool all_logits, float* logits);
    void attention(int64_t layer, int64_t n, int64_t pos0);
    void feed_forward_dense(const LayerWeights& l, int64_t n);
    void feed_forward_moe(const LayerWeights& l, int64_t n);

    const Model& model_;
    int64_t n_ctx_;
    KvType kv_type_;
    int64_t n_past_ = 0;
    // KV cache, per layer: [n_ctx, kv_dim] as f16 bits or f32.
    std::vector<std::vector<uint16_t>> k16_, v16_;
    std::vector<std::vector<float>> k32_, v32_;
    // Scratch, sized for the largest batch seen.
    std::vector<float> x_, xn_, q_, k_, v_, att_, ffa_, ffb_, scores_;
    std::vector<uint8_t> mm_scratch_;
};

}  // namespace tk::model
