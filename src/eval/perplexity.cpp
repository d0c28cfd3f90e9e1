#include "eval/perplexity.h"

#include <cmath>
#include <memory>

#include "base/timer.h"
#include "eval/kl_base_file.h"

namespace tk::eval {

double NllAccumulator::ppl() const { return std::exp(mean()); }

double NllAccumulator::ppl_stderr() const {
    if (count < 2) return 0.0;
    const double m = mean();
    const double var = sum2 / static_cast<double>(count) - m * m;
    return var > 0 ? std::sqrt(var / static_cast<double>(count - 1)) * ppl() : 0.0;
}

Result<PerplexityResult> perplexity(const model::Model& m, std::span<const int32_t> tokens,
                                    const PerplexityOptions& opts, const ProgressFn& progress) {
    TK_ASSIGN_OR_RETURN(const ChunkPlan plan, plan_chunks(static_cast<int64_t>(tokens.size()),
                                                          opts.n_ctx, opts.max_chunks));
    ChunkRunner runner(m, plan, opts.n_batch, opts.kv_type);
    const int64_t V = runner.n_vocab();

    std::unique_ptr<KlBaseWriter> base;
    if (!opts.kl_base_path.empty()) {
        KlBaseHeader h;
        h.n_ctx = plan.n_ctx;
        h.n_vocab = V;
        h.n_chunks = plan.n_chunks;
        h.first = plan.first;
        h.n_scored = plan.n_scored;
        const auto evaluated = tokens.first(static_cast<size_t>(plan.n_chunks * plan.n_ctx));
        h.tokens_hash = hash_tokens(evaluated);
        TK_ASSIGN_OR_RETURN(base, KlBaseWriter::create(opts.kl_base_path, h, evaluated));
    }

    PerplexityResult res;
    res.n_ctx = plan.n_ctx;
    res.n_batch = runner.n_batch();
    res.n_chunks = plan.n_chunks;
    res.n_tokens = static_cast<int64_t>(tokens.size());
    res.n_tokens_evaluated = plan.n_chunks * plan.n_ctx;
    NllAccumulator acc;
    std::vector<double> nll(static_cast<size_t>(plan.n_scored));
    Timer timer;
    for (int64_t c = 0; c < plan.n_chunks; ++c) {
        const auto chunk =
            tokens.subspan(static_cast<size_t>(c * plan.n_ctx), static_cast<size_t>(plan.n_ctx));
        const std::span<const float> logits = runner.run(chunk);
        // Rows are independent; the sums below run in position order so the result does not
        // depend on the thread count.
        m.pool().parallel_for(plan.n_scored, [&](int64_t r, int) {
            nll[static_cast<size_t>(r)] =
                token_nll(logits.data() + r * V, V, chunk[static_cast<size_t>(plan.first + r + 1)]);
        });
        for (double v : nll) acc.add(v);
        if (base) TK_RETURN_IF_ERROR(base->write_chunk(logits, chunk, &m.pool()));
        res.running.push_back(acc.ppl());
        if (progress) {
            EvalProgress p;
            p.chunks_done = c + 1;
            p.n_chunks = plan.n_chunks;
            p.running_ppl = acc.ppl();
            p.seconds = timer.seconds();
            progress(p);
        }
    }
    if (base) TK_RETURN_IF_ERROR(base->finish());
    res.seconds = timer.seconds();
    res.n_tokens_scored = acc.count;
    res.mean_nll = acc.mean();
    res.ppl = acc.ppl();
    res.ppl_stderr = acc.ppl_stderr();
    res.tokens_per_second =
        res.seconds > 0 ? static_cast<double>(res.n_tokens_evaluated) / res.seconds : 0;
    return res;
}

}  // namespace tk::eval
