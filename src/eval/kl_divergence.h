#pragma once
// KL divergence of a (quantized) model against a base file written by a full-precision model's
// perplexity run (PerplexityOptions::kl_base_path), like llama-perplexity's --kl-divergence mode:
// the same chunks are evaluated, and for every scored position it compares the two next-token
// distributions over the full vocabulary:
//   KLD = sum_i p_base(i) * (log p_base(i) - log p_q(i)),
//   Δp = p_q(actual next token) - p_base(actual next token),
//   same top = argmax p_q == argmax p_base.
// Statistics and their uncertainties follow llama-perplexity's formulas.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "eval/chunk_runner.h"
#include "kv/kv_storage.h"
#include "model/model.h"

namespace tk::eval {

struct KldOptions {
    int64_t n_ctx = 0;       // 0: the base file's; anything else must equal it
    int64_t n_batch = 0;     // <= 0: n_ctx
    int64_t max_chunks = 0;  // <= 0: every chunk in the base file
    kv::KvType kv_type = kv::KvType::kF16;
};

struct ValueError {
    double value = 0;
    double error = 0;  // one standard error; 0 when there are too few values
};

struct Quantile {
    double fraction = 0;  // 1.0 is the maximum, 0.0 the minimum, 0.5 the median
    double value = 0;
};

// One row of the per-chunk table (all values cumulative over chunks 1..chunk).
struct KldChunkRow {
    int64_t chunk = 0;  // 1-based
    ValueError ppl;
    ValueError ln_ppl_ratio;
    ValueError kld;
    ValueError dp_rms;
    ValueError same_top;
};

struct KldResult {
    int64_t n_ctx = 0;
    int64_t n_batch = 0;
    int64_t n_vocab = 0;
    int64_t n_chunks = 0;
    int64_t count = 0;  // scored positions

    // Perplexity statistics.
    ValueError ppl;                 // the model under test, PPL(Q)
    ValueError ppl_base;            // the base model, from the base file
    double ln_ppl_correlation = 0;  // Cor(ln PPL(Q), ln PPL(base))
    ValueError ln_ppl_ratio;        // mean ln(PPL(Q) / PPL(base))
    ValueError ppl_ratio;           // PPL(Q) / PPL(base)
    ValueError ppl_diff;            // PPL(Q) - PPL(base)

    // KL divergence statistics.
    ValueError kld;                       // mean
    std::vector<Quantile> kld_quantiles;  // kQuantileFractions, highest first

    // Probability of the actual next token.
    ValueError dp;  // mean Δp
    std::vector<Quantile> dp_quantiles;
    ValueError dp_rms;    // RMS Δp
    ValueError same_top;  // fraction with the same top-1 token

    std::vector<KldChunkRow> chunks;
    double seconds = 0;
    double tokens_per_second = 0;  // evaluated tokens / seconds
};

// The quantiles reported, as llama-perplexity prints them: max, 99.9%, 99%, 95%, 90%, 75%, median,
// 25%, 10%, 5%, 1%, 0.1%, min.
extern const double kQuantileFractions[13];

// Summary of a base file (for error messages and the report).
struct KlBaseSummary {
    int64_t n_ctx = 0;
    int64_t n_vocab = 0;
    int64_t n_chunks = 0;
    uint64_t tokens_hash = 0;
};
Result<KlBaseSummary> read_kl_base_summary(const std::string& path);

using KldRowFn = std::function<void(const KldChunkRow&)>;

// Compares `m` with the base file. `text_tokens` is the text as tokenize_text() gives it, to check
// that it is the text the base file was made from; when empty, the tokens stored in the base file
// are evaluated. Fails with a clear message when the vocabulary, the context size or the text
// differ from the base file's.
Result<KldResult> kl_divergence(const model::Model& m, const std::string& base_path,
                                std::span<const int32_t> text_tokens, const KldOptions& opts,
                                const ProgressFn& progress = {}, const KldRowFn& on_row = {});

// llama-perplexity's percentile: linear interpolation at fraction * (n - 1) of sorted values.
double percentile(const std::vector<double>& sorted, double fraction);

}  // namespace tk::eval
