#include "apps/bench_spec.h"

#include <algorithm>
#include <chrono>

#include "engine/runner.h"

namespace tk::apps {
namespace {

struct OneRun {
    std::vector<int32_t> tokens;
    double gen_tps = 0.0;
    engine::EngineStats stats;
};

Result<OneRun> generate(const model::Model& target, const model::Model* draft,
                        const std::vector<int32_t>& prompt, const SpecBenchConfig& c, bool spec) {
    constexpr int64_t kBlock = 16;
    const int64_t n_ctx = static_cast<int64_t>(prompt.size()) + c.n_gen + c.draft_n + 2;
    engine::EngineConfig ec;
    ec.n_ctx = n_ctx;
    ec.max_batch_tokens = n_ctx;
    ec.max_seqs = 1;
    ec.prefix_caching = false;
    if (spec) {
        ec.draft_n = c.draft_n;
        ec.lookup_ngram = c.lookup_ngram;
    }
    engine::EngineCore core(
        std::make_unique<engine::ModelRunner>(target, (n_ctx + kBlock - 1) / kBlock, kBlock,
                                              c.kv_type, spec ? draft : nullptr),
        &target.tokenizer(), ec);
    engine::Request r;
    r.prompt = prompt;
    r.sampling.temperature = 0.0f;
    r.max_tokens = c.n_gen;
    r.ignore_eos = true;
    TK_ASSIGN_OR_RETURN(auto stream, core.submit(std::move(r)));
    OneRun out;
    engine::Event::Clock::time_point first{}, last{};
    while (core.has_work()) {
        core.step();
        while (auto e = stream->try_read()) {
            if (e->is_final()) {
                if (e->finish == engine::FinishReason::kError) return e->error;
                continue;
            }
            if (out.tokens.empty()) first = e->time;
            last = e->time;
            out.tokens.push_back(e->token);
        }
    }
    const double secs = std::chrono::duration<double>(last - first).count();
    if (out.tokens.size() > 1 && secs > 0)
        out.gen_tps = static_cast<double>(out.tokens.size() - 1) / secs;
    out.stats = core.stats();
    return out;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

Result<SpecBenchResult> bench_speculative(const model::Model& target,
                                          const std::vector<int32_t>& prompt,
                                          const SpecBenchConfig& cfg) {
    if (cfg.draft == nullptr && cfg.lookup_ngram <= 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "bench: speculative decoding needs --draft-model or --lookup-ngram");
    }
    if (prompt.empty() || cfg.n_gen < 2 || cfg.draft_n < 1 || cfg.reps < 1) {
        return make_error(ErrorCode::kInvalidArgument,
                          "bench: speculative test needs a prompt, -n >= 2, --draft-n >= 1 and "
                          "-r >= 1");
    }
    SpecBenchResult res;
    res.n_prompt = static_cast<int64_t>(prompt.size());
    res.n_gen = cfg.n_gen;
    res.identical = true;
    std::vector<double> base, spec;
    std::vector<int32_t> reference;
    for (int rep = 0; rep < cfg.reps; ++rep) {
        TK_ASSIGN_OR_RETURN(OneRun b, generate(target, cfg.draft, prompt, cfg, false));
        TK_ASSIGN_OR_RETURN(OneRun s, generate(target, cfg.draft, prompt, cfg, true));
        base.push_back(b.gen_tps);
        spec.push_back(s.gen_tps);
        res.identical = res.identical && b.tokens == s.tokens;
        res.drafted = s.stats.spec_drafted;
        res.accepted = s.stats.spec_accepted;
        // Passes after the prompt's; the prompt pass yields the first token.
        const int64_t passes = s.stats.steps - 1;
        if (passes > 0) {
            res.tokens_per_pass = static_cast<double>(s.tokens.size() - 1) /
                                  static_cast<double>(passes);
        }
    }
    res.base_tps = median(base);
    res.spec_tps = median(spec);
    res.speedup = res.base_tps > 0 ? res.spec_tps / res.base_tps : 0.0;
    res.acceptance_rate = res.drafted > 0 ? static_cast<double>(res.accepted) /
                                                static_cast<double>(res.drafted)
                                          : 0.0;
    return res;
}

}  // namespace tk::apps
