#include "model/session.h"

#include <numeric>

#include "base/check.h"

namespace tk::model {
namespace {

constexpr int64_t kBlockSize = 16;

kv::KvConfig session_kv_config(const Model& m, int64_t n_ctx, KvType type) {
    kv::KvConfig c;
    c.n_layer = m.hparams().n_layer;
    c.kv_dim = m.hparams().kv_dim();
    c.block_size = kBlockSize;
    c.n_blocks = (n_ctx + kBlockSize - 1) / kBlockSize;
    c.type = type;
    return c;
}

}  // namespace

Session::Session(const Model& model, int64_t n_ctx, KvType kv_type)
    : forward_(model, n_ctx > 0 ? n_ctx : model.hparams().n_ctx_train),
      n_ctx_(n_ctx > 0 ? n_ctx : model.hparams().n_ctx_train),
      kv_(session_kv_config(model, n_ctx_, kv_type)),
      block_table_(static_cast<size_t>(kv_.n_blocks())) {
    std::iota(block_table_.begin(), block_table_.end(), 0);
}

void Session::truncate(int64_t n) {
    TK_CHECK(n >= 0 && n <= n_past_);
    n_past_ = n;
}

Status Session::decode(const int32_t* tokens, int64_t n, bool all_logits, std::vector<float>& logits) {
    const HParams& hp = model().hparams();
    if (n <= 0) return make_error(ErrorCode::kInvalidArgument, "decode: no tokens");
    if (n_past_ + n > n_ctx_) {
        return make_error(ErrorCode::kOutOfRange,
                          "context full: " + std::to_string(n_past_) + " + " + std::to_string(n) +
                              " tokens exceed the context size " + std::to_string(n_ctx_));
    }
    for (int64_t i = 0; i < n; ++i) {
        if (tokens[i] < 0 || tokens[i] >= hp.n_vocab) {
            return make_error(ErrorCode::kInvalidArgument,
                              "token id " + std::to_string(tokens[i]) + " is outside the vocabulary (0.." +
                                  std::to_string(hp.n_vocab - 1) + ")");
        }
    }
    batch_.clear();
    const int32_t seq = batch_.add_sequence(block_table_);
    for (int64_t i = 0; i < n; ++i)
        batch_.add(tokens[i], static_cast<int32_t>(n_past_ + i), seq, all_logits || i == n - 1);
    logits.resize(batch_.logit_rows.size() * static_cast<size_t>(hp.n_vocab));
    forward_.run(batch_, kv_, logits.data());
    n_past_ += n;
    return Status::ok();
}

}  // namespace tk::model
