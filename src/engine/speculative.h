#pragma once
// Speculative decoding's arithmetic, shared by the engine and the single-sequence CLI path:
//   - the probability distribution the sampler draws from (the same chain as sampling::Sampler:
//     logit bias, penalties, top-k, top-p, min-p, temperature), as a dense vector, so that the
//     acceptance rule can compare the target's p with the draft's q;
//   - the standard acceptance rule (Leviathan et al. 2023; Chen et al. 2023): a drafted token x
//     drawn from q is kept with probability min(1, p(x)/q(x)); when it is rejected the token is
//     drawn from norm(max(0, p - q)). The kept-or-resampled token is then distributed exactly
//     as p, whatever q is;
//   - prompt lookup: draft tokens copied from an earlier occurrence of the context's last n-gram.
// A drafter with no distribution (prompt lookup) is a point mass: q = one-hot(x).
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "sampling/sampler.h"

namespace tk::engine {

// Writes the sampler's distribution over the vocabulary for `logits` given `history` into
// `probs` (resized to logits.size(); sums to 1). temperature <= 0 gives the greedy choice as a
// point mass. Ties and truncation follow sampling::Sampler exactly.
void sampler_distribution(const sampling::SamplerParams& params, std::span<const float> logits,
                          std::span<const int32_t> history, std::vector<float>& probs);

// Draws an index from a distribution (probs sums to ~1) with one 53-bit uniform.
int32_t sample_from(std::span<const float> probs, std::mt19937_64& rng);

// One verification step of the acceptance rule for the drafted token `x`:
//   q empty: x came from a point-mass drafter (q = one-hot(x)).
// Returns x when kept, else a token drawn from norm(max(0, p - q)). `accepted` says which.
int32_t accept_or_resample(std::span<const float> p, std::span<const float> q, int32_t x,
                           std::mt19937_64& rng, bool& accepted);

// Prompt lookup (n-gram) drafting: finds the latest earlier occurrence of the last n tokens of
// `context` (n from `ngram` down to 1) and appends to `out` the max_tokens tokens that followed
// it, continuing periodically past the context's end. Returns how many were appended (0: no
// match).
int64_t lookup_draft(std::span<const int32_t> context, int ngram, int64_t max_tokens,
                     std::vector<int32_t>& out);

// Counters for acceptance statistics.
struct SpecCounters {
    int64_t steps = 0;     // verification passes that carried draft tokens
    int64_t drafted = 0;   // draft tokens verified by the target
    int64_t accepted = 0;  // of which kept
    double acceptance_rate() const {
        return drafted > 0 ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0;
    }
};

}  // namespace tk::engine
