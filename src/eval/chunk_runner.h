#pragma once
// The evaluation loop shared by perplexity and KL divergence, as llama-perplexity does it: the
// text's tokens are cut into consecutive chunks of n_ctx tokens; each chunk is evaluated from an
// empty KV cache with its first token replaced by BOS, and only its second half is scored:
// the logits at positions first = n_ctx/2 .. n_ctx-2 predict the tokens at first+1 .. n_ctx-1.
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kv/kv_storage.h"
#include "model/forward.h"
#include "model/model.h"

namespace tk::eval {

struct ChunkPlan {
    int64_t n_ctx = 0;
    int64_t n_chunks = 0;
    int64_t first = 0;     // first scored position: n_ctx / 2
    int64_t n_scored = 0;  // scored positions per chunk: n_ctx - 1 - first
};

// n_chunks = floor(n_tokens / n_ctx), capped by max_chunks when > 0. Fails when the text is shorter
// than 2 * n_ctx tokens (llama-perplexity's rule) or n_ctx is too small to score anything.
Result<ChunkPlan> plan_chunks(int64_t n_tokens, int64_t n_ctx, int64_t max_chunks);

// llama.cpp's tokenization for perplexity: the whole text at once, BOS as the model asks
// (add_special = true), special-token text left as plain text.
std::vector<int32_t> tokenize_text(const model::Model& m, std::string_view text);

// Progress of a chunked evaluation, reported after every chunk.
struct EvalProgress {
    int64_t chunks_done = 0;
    int64_t n_chunks = 0;
    double running_ppl = 0;  // exp(mean nll) over the chunks done
    double running_kld = 0;  // mean KL divergence so far (KL divergence runs only)
    double seconds = 0;
};
using ProgressFn = std::function<void(const EvalProgress&)>;

// Evaluates chunks with a private KV cache of n_ctx positions. Logits are computed only for the
// scored rows, in batches of n_batch tokens (the split changes results by float noise at most).
class ChunkRunner {
public:
    ChunkRunner(const model::Model& m, const ChunkPlan& plan, int64_t n_batch, kv::KvType kv_type);

    // `chunk` holds n_ctx token ids, all valid for the model. Returns n_scored rows of n_vocab
    // logits; row r belongs to position first + r and predicts chunk[first + r + 1]. The span is
    // valid until the next call.
    std::span<const float> run(std::span<const int32_t> chunk);

    const ChunkPlan& plan() const { return plan_; }
    int64_t n_vocab() const { return n_vocab_; }
    int64_t n_batch() const { return n_batch_; }

private:
    ChunkPlan plan_;
    int64_t n_batch_;
    int64_t n_vocab_;
    int32_t bos_;  // -1: the model does not start sequences with BOS
    model::Forward forward_;
    kv::KvStorage kv_;
    std::vector<int32_t> block_table_;
    model::Batch batch_;
    std::vector<float> logits_;  // [n_scored, n_vocab]
};

// -log softmax(logits)[tok] exactly as llama-perplexity computes it: float max, double sum of
// expf(l - max), log in double.
double token_nll(const float* logits, int64_t n_vocab, int32_t tok);

// Index of the largest logit (the first one on ties).
int32_t argmax(const float* logits, int64_t n_vocab);

}  // namespace tk::eval
