#pragma once
// Seeded token sampling over a logits row. Chain, in llama.cpp's default order:
// logit bias -> repetition/presence/frequency penalties -> top-k -> top-p -> min-p ->
// temperature -> draw. temperature <= 0 is greedy (argmax, lowest id on ties). An optional
// grammar restricts the candidates after bias and penalties.
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

#include "sampling/grammar.h"

namespace tk::sampling {

struct SamplerParams {
    float temperature = 0.8f;
    int32_t top_k = 40;          // <= 0: off
    float top_p = 0.95f;         // >= 1: off
    float min_p = 0.05f;         // <= 0: off
    float repeat_penalty = 1.0f; // 1: off (divides positive logits, multiplies negative ones)
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    int32_t penalty_last_n = 64;  // window of recent tokens for penalties; -1: all
    uint64_t seed = 0xC0FFEE;
    std::unordered_map<int32_t, float> logit_bias;
    // Constrained decoding: only tokens that continue a valid parse are drawn (the mask applies
    // after logit bias and penalties, before truncation), end tokens only where the grammar is
    // complete. The Sampler keeps the per-sequence parse state and advances it on what it returns.
    std::shared_ptr<const Grammar> grammar;
};

struct TokenProb {
    int32_t id;
    float logprob;  // log-softmax of the raw logits (before penalties and truncation)
};

class Sampler {
public:
    explicit Sampler(SamplerParams params);

    // Picks the next token. `history` holds previous tokens (prompt and generated) for penalties.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

    const SamplerParams& params() const { return params_; }
    // The parse state (null without a grammar): for callers that force tokens past the sampler.
    GrammarState* grammar_state() { return grammar_.get(); }

private:
    struct Candidate {
        int32_t id;
        float logit;
    };
    SamplerParams params_;
    std::mt19937_64 rng_;
    std::vector<Candidate> cand_;
    std::unique_ptr<GrammarState> grammar_;
    std::vector<uint8_t> allowed_;

    int32_t pick(std::span<const float> logits, std::span<const int32_t> history);
    // Keeps only the candidates the grammar allows; false if none is left.
    bool constrain();
};

// Index of the largest value (lowest index on ties).
int32_t argmax(std::span<const float> logits);
// log-softmax of `logits` at `id`, and the k most likely tokens (descending).
float logprob_of(std::span<const float> logits, int32_t id);
std::vector<TokenProb> top_logprobs(std::span<const float> logits, int k);

}  // namespace tk::sampling
