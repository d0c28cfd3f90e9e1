#include <string>

#include "base/check.h"
#include "base/log.h"
#include "engine/runner.h"

namespace tk::engine {
namespace {

kv::KvConfig kv_config(const model::Model& m, int64_t n_blocks, int64_t block_size,
                       kv::KvType type) {
    kv::KvConfig c;
    c.n_layer = m.hparams().n_layer;
    c.kv_dim = m.hparams().kv_dim();
    c.block_size = block_size;
    c.n_blocks = n_blocks;
    c.type = type;
    return c;
}

}  // namespace

ModelRunner::ModelRunner(const model::Model& model, int64_t n_blocks, int64_t block_size,
                         kv::KvType kv_type, const model::Model* draft)
    : forward_(model), kv_(kv_config(model, n_blocks, block_size, kv_type)) {
    if (draft != nullptr) {
        TK_CHECK(draft->hparams().n_vocab == model.hparams().n_vocab);
        draft_forward_ = std::make_unique<model::Forward>(*draft);
        draft_kv_ = std::make_unique<kv::KvStorage>(kv_config(*draft, n_blocks, block_size, kv_type));
        log_info("draft KV cache: " + std::to_string(draft_kv_->config().total_bytes() >> 20) +
                 " MiB");
    }
    log_info("KV cache: " + std::to_string(n_blocks) + " blocks of " + std::to_string(block_size) +
             " tokens (" + std::to_string(n_blocks * block_size) + " tokens), " +
             kv::kv_type_name(kv_type) + ", " + std::to_string(kv_.config().total_bytes() >> 20) +
             " MiB");
}

int32_t ModelRunner::n_vocab() const {
    return static_cast<int32_t>(forward_.model().hparams().n_vocab);
}

int64_t ModelRunner::max_context() const { return forward_.model().hparams().n_ctx_train; }

void ModelRunner::run(const model::Batch& batch, float* logits) {
    forward_.run(batch, kv_, logits);
}

void ModelRunner::copy_block(int32_t src, int32_t dst) {
    kv_.copy_block(src, dst);
    if (draft_kv_) draft_kv_->copy_block(src, dst);
}

void ModelRunner::run_draft(const model::Batch& batch, float* logits) {
    TK_CHECK(draft_forward_ != nullptr);
    draft_forward_->run(batch, *draft_kv_, logits);
}

void Runner::run_draft(const model::Batch&, float*) { TK_CHECK(false && "runner has no draft"); }

int64_t ModelRunner::blocks_for_bytes(const model::Model& model, int64_t bytes, int64_t block_size,
                                      kv::KvType kv_type) {
    const kv::KvConfig c = kv_config(model, 1, block_size, kv_type);
    const int64_t per_block = c.bytes_per_token() * block_size;
    TK_CHECK(per_block > 0);
    return bytes / per_block;
}

}  // namespace tk::engine
