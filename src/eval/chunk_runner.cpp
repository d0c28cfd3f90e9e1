#include "eval/chunk_runner.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "base/check.h"
#include "tokenizer/tokenizer.h"

namespace tk::eval {
namespace {

constexpr int64_t kBlockSize = 16;

kv::KvConfig kv_config(const model::Model& m, int64_t n_ctx, kv::KvType type) {
    kv::KvConfig c;
    c.n_layer = m.hparams().n_layer;
    c.kv_dim = m.hparams().kv_dim();
    c.block_size = kBlockSize;
    c.n_blocks = (n_ctx + kBlockSize - 1) / kBlockSize;
    c.type = type;
    return c;
}

}  // namespace

Result<ChunkPlan> plan_chunks(int64_t n_tokens, int64_t n_ctx, int64_t max_chunks) {
    // Below 4 the second half of a chunk has no position whose successor is in the chunk.
    if (n_ctx < 4) {
        return make_error(
            ErrorCode::kInvalidArgument,
            "context size " + std::to_string(n_ctx) + " is too small for perplexity (need >= 4)");
    }
    if (n_tokens < 2 * n_ctx) {
        return make_error(ErrorCode::kInvalidArgument,
                          "the text tokenizes to only " + std::to_string(n_tokens) +
                              " tokens; perplexity with a context of " + std::to_string(n_ctx) +
                              " needs at least " + std::to_string(2 * n_ctx) + " (2 x ctx)");
    }
    ChunkPlan p;
    p.n_ctx = n_ctx;
    p.n_chunks = n_tokens / n_ctx;
    if (max_chunks > 0) p.n_chunks = std::min(p.n_chunks, max_chunks);
    p.first = n_ctx / 2;
    p.n_scored = n_ctx - 1 - p.first;
    return p;
}

std::vector<int32_t> tokenize_text(const model::Model& m, std::string_view text) {
    return m.tokenizer().encode(text, /*add_special=*/true, /*parse_special=*/false);
}

ChunkRunner::ChunkRunner(const model::Model& m, const ChunkPlan& plan, int64_t n_batch,
                         kv::KvType kv_type)
    : plan_(plan),
      n_batch_(n_batch > 0 ? std::min(n_batch, plan.n_ctx) : plan.n_ctx),
      n_vocab_(m.hparams().n_vocab),
      bos_(m.tokenizer().add_bos() ? m.tokenizer().bos() : -1),
      forward_(m),
      kv_(kv_config(m, plan.n_ctx, kv_type)),
      block_table_(static_cast<size_t>(kv_.n_blocks())),
      logits_(static_cast<size_t>(plan.n_scored * n_vocab_)) {
    std::iota(block_table_.begin(), block_table_.end(), 0);
}

std::span<const float> ChunkRunner::run(std::span<const int32_t> chunk) {
    TK_CHECK(static_cast<int64_t>(chunk.size()) == plan_.n_ctx);
    const int64_t n_ctx = plan_.n_ctx;
    const int64_t last_scored = n_ctx - 2;
    // Positions 0 .. n_ctx-1 in batches; the KV cache is "cleared" simply by starting at position
    // 0 again, since every batch only attends to positions written earlier in this chunk.
    for (int64_t start = 0; start < n_ctx; start += n_batch_) {
        const int64_t end = std::min(n_ctx, start + n_batch_);
        batch_.clear();
        const int32_t seq = batch_.add_sequence(block_table_);
        int64_t first_out = -1;
        for (int64_t pos = start; pos < end; ++pos) {
            int32_t tok = chunk[static_cast<size_t>(pos)];
            if (pos == 0 && bos_ >= 0) tok = bos_;
            const bool want = pos >= plan_.first && pos <= last_scored;
            if (want && first_out < 0) first_out = pos;
            batch_.add(tok, static_cast<int32_t>(pos), seq, want);
        }
        float* out =
            first_out < 0 ? logits_.data() : logits_.data() + (first_out - plan_.first) * n_vocab_;
        forward_.run(batch_, kv_, out);
    }
    return {logits_.data(), logits_.size()};
}

double token_nll(const float* logits, int64_t n_vocab, int32_t tok) {
    float max_logit = logits[0];
    for (int64_t i = 1; i < n_vocab; ++i) max_logit = std::max(max_logit, logits[i]);
    double sum_exp = 0.0;
    for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
    const float shifted = logits[tok] - max_logit;
    return -(static_cast<double>(shifted) - std::log(sum_exp));
}

int32_t argmax(const float* logits, int64_t n_vocab) {
    int64_t best = 0;
    for (int64_t i = 1; i < n_vocab; ++i)
        if (logits[i] > logits[best]) best = i;
    return static_cast<int32_t>(best);
}

}  // namespace tk::eval
