#pragma once
// Perplexity of a model on a text, computed exactly as llama.cpp's llama-perplexity does (see
// chunk_runner.h for the chunking), so the numbers compare with published tables:
//   nll_j = -log softmax(logits_j)[t_{j+1}] for every scored position j,
//   PPL = exp(mean nll), and the printed uncertainty is
//   sqrt((mean(nll^2) - mean(nll)^2) / (count - 1)) * PPL.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "eval/chunk_runner.h"
#include "kv/kv_storage.h"
#include "model/model.h"

namespace tk::eval {

struct PerplexityOptions {
    int64_t n_ctx = 512;
    int64_t n_batch = 0;     // tokens per forward call; <= 0: n_ctx
    int64_t max_chunks = 0;  // <= 0: every whole chunk of the text
    kv::KvType kv_type = kv::KvType::kF16;
    // When set, also writes the KL-divergence base file (kl_divergence.h) for these chunks.
    std::string kl_base_path;
};

struct PerplexityResult {
    double ppl = 0;
    double ppl_stderr = 0;  // the "+/-" llama-perplexity prints
    double mean_nll = 0;
    int64_t n_ctx = 0;
    int64_t n_batch = 0;
    int64_t n_chunks = 0;
    int64_t n_tokens = 0;            // tokens of the whole text (BOS included)
    int64_t n_tokens_scored = 0;     // n_chunks * (n_ctx - 1 - n_ctx/2)
    int64_t n_tokens_evaluated = 0;  // n_chunks * n_ctx
    std::vector<double> running;     // PPL after each chunk (the "[k]x.xxxx," values)
    double seconds = 0;              // evaluation time (tokenization and loading excluded)
    double tokens_per_second = 0;    // evaluated tokens / seconds
};

// `tokens` is the whole text as tokenize_text() gives it.
Result<PerplexityResult> perplexity(const model::Model& m, std::span<const int32_t> tokens,
                                    const PerplexityOptions& opts, const ProgressFn& progress = {});

// Running sums of nll and nll^2 in the order llama-perplexity adds them.
struct NllAccumulator {
    double sum = 0;
    double sum2 = 0;
    int64_t count = 0;

    void add(double nll) {
        sum += nll;
        sum2 += nll * nll;
        ++count;
    }
    double mean() const { return count > 0 ? sum / static_cast<double>(count) : 0.0; }
    double ppl() const;
    // The uncertainty of PPL as llama-perplexity prints it (0 when undefined).
    double ppl_stderr() const;
};

}  // namespace tk::eval
