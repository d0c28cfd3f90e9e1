#pragma once
// One sequence evaluated on its own (the CLI path): the batched Forward over a private paged KV
// storage whose block table is simply 0, 1, 2, ... The server engine uses Forward directly with
// a shared block pool.
#include <cstdint>
#include <vector>

#include "base/status.h"
#include "kv/kv_storage.h"
#include "model/forward.h"
#include "model/model.h"

namespace tk::model {

using kv::KvType;

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

    const Model& model() const { return forward_.model(); }

private:
    Forward forward_;
    int64_t n_ctx_;
    kv::KvStorage kv_;
    std::vector<int32_t> block_table_;
    int64_t n_past_ = 0;
    Batch batch_;
};

}  // namespace tk::model
