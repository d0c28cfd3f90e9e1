#pragma once
// tokamak bench --draft-model / --lookup-ngram: generation speed of one greedy sequence with and
// without speculative decoding, the speed-up and the draft acceptance rate.
#include <cstdint>
#include <vector>

#include "base/status.h"
#include "engine/engine_core.h"
#include "kv/kv_storage.h"
#include "model/model.h"

namespace tk::apps {

struct SpecBenchConfig {
    const model::Model* draft = nullptr;  // null: prompt lookup (lookup_ngram > 0)
    int64_t draft_n = 5;
    int lookup_ngram = 0;
    int n_gen = 64;
    int reps = 3;
    kv::KvType kv_type = kv::KvType::kF16;
};

struct SpecBenchResult {
    int64_t n_prompt = 0;
    int64_t n_gen = 0;
    double base_tps = 0.0;  // median generation tokens/s without speculation
    double spec_tps = 0.0;  // and with it
    double speedup = 0.0;   // spec_tps / base_tps
    double acceptance_rate = 0.0;
    int64_t drafted = 0;         // per repetition
    int64_t accepted = 0;
    double tokens_per_pass = 0;  // generated tokens per target forward pass (after the prompt)
    bool identical = false;      // greedy outputs equal, as they must be
};

// Generates cfg.n_gen tokens greedily after `prompt` (end-of-generation ignored) through the
// engine with one sequence, without and then with speculation, cfg.reps times each. Generation
// time runs from the first token to the last, so the prompt pass is left out of both.
Result<SpecBenchResult> bench_speculative(const model::Model& target,
                                          const std::vector<int32_t>& prompt,
                                          const SpecBenchConfig& cfg);

}  // namespace tk::apps
