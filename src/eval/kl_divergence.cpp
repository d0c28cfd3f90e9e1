#include "eval/kl_divergence.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "base/timer.h"
#include "eval/kl_base_file.h"

namespace tk::eval {

const double kQuantileFractions[13] = {1.0,  0.999, 0.99, 0.95, 0.90,  0.75, 0.5,
                                       0.25, 0.10,  0.05, 0.01, 0.001, 0.0};

namespace {

// Sums over scored positions, in position order.
struct KldSums {
    double nll = 0, nll2 = 0;
    double nll_base = 0, nll_base2 = 0, nll_nll_base = 0;
    double kld = 0, kld2 = 0;
    double dp = 0, dp2 = 0, dp4 = 0;
    int64_t same_top = 0;
    int64_t count = 0;
};

// Per scored position.
struct PositionStats {
    double nll = 0;
    double nll_base = 0;
    double kld = 0;
    double dp = 0;
    bool same_top = false;
};

// llama-perplexity's mean and standard error of the mean (0 for ten values or fewer).
ValueError mean_and_error(double sum, double sum2, int64_t count) {
    if (count < 1) return {};
    const auto n = static_cast<double>(count);
    const double f = sum / n;
    const double var = sum2 / n - f * f;
    return {f, var > 0 && count > 10 ? std::sqrt(var / (n - 1)) : 0.0};
}

// Covariance of the two means (0 for fewer than ten values).
double covariance(double sum_a, double sum_b, double sum_ab, int64_t count) {
    if (count < 10) return 0.0;
    const auto n = static_cast<double>(count);
    return (sum_ab / n - (sum_a / n) * (sum_b / n)) / (n - 1);
}

ValueError ppl_of(const ValueError& log_ppl) {
    const double v = std::exp(log_ppl.value);
    return {v, v * log_ppl.error};
}

ValueError ln_ratio_of(const KldSums& s) {
    const ValueError lq = mean_and_error(s.nll, s.nll2, s.count);
    const ValueError lb = mean_and_error(s.nll_base, s.nll_base2, s.count);
    const double cov = covariance(s.nll, s.nll_base, s.nll_nll_base, s.count);
    const double var = lq.error * lq.error + lb.error * lb.error - 2.0 * cov;
    return {lq.value - lb.value, var > 0 ? std::sqrt(var) : 0.0};
}

ValueError rms_of(const KldSums& s) {
    const ValueError mse = mean_and_error(s.dp2, s.dp4, s.count);
    const double rms = std::sqrt(mse.value);
    return {rms, rms > 0 ? 0.5 / rms * mse.error : 0.0};
}

ValueError same_top_of(const KldSums& s) {
    if (s.count < 1) return {};
    const double p = static_cast<double>(s.same_top) / static_cast<double>(s.count);
    return {p, s.count > 1 ? std::sqrt(p * (1 - p) / static_cast<double>(s.count - 1)) : 0.0};
}

PositionStats compare_position(const float* l, int64_t V, int32_t next, const uint8_t* record,
                               double* base_lp) {
    PositionStats ps;
    float max_logit = l[0];
    int64_t imax = 0;
    for (int64_t i = 1; i < V; ++i) {
        if (l[i] > max_logit) {
            max_logit = l[i];
            imax = i;
        }
    }
    double sum_exp = 0.0;
    for (int64_t i = 0; i < V; ++i) sum_exp += std::exp(l[i] - max_logit);
    const double lse = std::log(sum_exp);
    const float shifted = l[next] - max_logit;
    ps.nll = -(static_cast<double>(shifted) - lse);

    const BaseRecord base = decode_record(record, V, base_lp);
    ps.nll_base = base.nll;
    double kld = 0.0;
    for (int64_t i = 0; i < V; ++i) {
        const double lq = static_cast<double>(l[i]) - max_logit - lse;
        kld += std::exp(base_lp[i]) * (base_lp[i] - lq);
    }
    ps.kld = kld;
    ps.dp = std::exp(-ps.nll) - std::exp(-ps.nll_base);
    ps.same_top = imax == base.top1;
    return ps;
}

std::vector<Quantile> quantiles(std::vector<double>& values) {
    std::sort(values.begin(), values.end());
    std::vector<Quantile> q;
    for (double f : kQuantileFractions) q.push_back({f, percentile(values, f)});
    return q;
}

}  // namespace

double percentile(const std::vector<double>& sorted, double fraction) {
    if (sorted.empty()) return 0.0;
    if (fraction <= 0) return sorted.front();
    if (fraction >= 1) return sorted.back();
    const double p = fraction * static_cast<double>(sorted.size() - 1);
    const auto ip = static_cast<size_t>(p);
    const double frac = p - static_cast<double>(ip);
    return (1 - frac) * sorted[ip] + frac * sorted[std::min(ip + 1, sorted.size() - 1)];
}

Result<KlBaseSummary> read_kl_base_summary(const std::string& path) {
    TK_ASSIGN_OR_RETURN(auto reader, KlBaseReader::open(path));
    const KlBaseHeader& h = reader->header();
    return KlBaseSummary{h.n_ctx, h.n_vocab, h.n_chunks, h.tokens_hash};
}

Result<KldResult> kl_divergence(const model::Model& m, const std::string& base_path,
                                std::span<const int32_t> text_tokens, const KldOptions& opts,
                                const ProgressFn& progress, const KldRowFn& on_row) {
    TK_ASSIGN_OR_RETURN(auto reader, KlBaseReader::open(base_path));
    const KlBaseHeader& h = reader->header();
    const int64_t V = m.hparams().n_vocab;
    if (h.n_vocab != V) {
        return make_error(ErrorCode::kInvalidArgument,
                          base_path + ": the base model has " + std::to_string(h.n_vocab) +
                              " logits per position, but " + m.path() + " has " +
                              std::to_string(V) + ": compare models with the same vocabulary");
    }
    if (opts.n_ctx > 0 && opts.n_ctx != h.n_ctx) {
        return make_error(ErrorCode::kInvalidArgument,
                          base_path + ": the base file was computed with a context of " +
                              std::to_string(h.n_ctx) + " tokens, but this run asks for " +
                              std::to_string(opts.n_ctx) + "; use -c " + std::to_string(h.n_ctx));
    }
    const int64_t n_evaluated = h.n_chunks * h.n_ctx;
    if (!text_tokens.empty()) {
        const bool long_enough = static_cast<int64_t>(text_tokens.size()) >= n_evaluated;
        if (!long_enough ||
            hash_tokens(text_tokens.first(static_cast<size_t>(n_evaluated))) != h.tokens_hash) {
            return make_error(ErrorCode::kInvalidArgument,
                              base_path + ": the text does not match the base file (its " +
                                  std::to_string(h.n_chunks) + " chunks of " +
                                  std::to_string(h.n_ctx) + " tokens differ from the text's " +
                                  (long_enough ? "first " + std::to_string(n_evaluated) + " tokens"
                                               : std::to_string(text_tokens.size()) + " tokens") +
                                  "); use the text and tokenizer the base file was made with");
        }
    }
    const std::vector<int32_t>& tokens = reader->tokens();
    for (int32_t t : tokens) {
        if (t < 0 || t >= V)
            return make_error(
                ErrorCode::kCorruptFile,
                base_path + ": token id " + std::to_string(t) + " is outside the vocabulary");
    }

    ChunkPlan plan;
    plan.n_ctx = h.n_ctx;
    plan.n_chunks = opts.max_chunks > 0 ? std::min(opts.max_chunks, h.n_chunks) : h.n_chunks;
    plan.first = h.first;
    plan.n_scored = h.n_scored;
    ChunkRunner runner(m, plan, opts.n_batch, opts.kv_type);

    KldResult res;
    res.n_ctx = plan.n_ctx;
    res.n_batch = runner.n_batch();
    res.n_vocab = V;
    res.n_chunks = plan.n_chunks;
    KldSums s;
    std::vector<double> kld_values, dp_values;
    std::vector<PositionStats> pos(static_cast<size_t>(plan.n_scored));
    std::vector<double> scratch(static_cast<size_t>(m.pool().size() * V));
    const int64_t rb = h.record_bytes();
    Timer timer;
    for (int64_t c = 0; c < plan.n_chunks; ++c) {
        const auto chunk = std::span<const int32_t>(tokens).subspan(
            static_cast<size_t>(c * plan.n_ctx), static_cast<size_t>(plan.n_ctx));
        TK_ASSIGN_OR_RETURN(const std::span<const uint8_t> records, reader->read_chunk(c));
        const std::span<const float> logits = runner.run(chunk);
        m.pool().parallel_for(plan.n_scored, [&](int64_t r, int thread) {
            pos[static_cast<size_t>(r)] = compare_position(
                logits.data() + r * V, V, chunk[static_cast<size_t>(plan.first + r + 1)],
                records.data() + r * rb, scratch.data() + thread * V);
        });
        for (const PositionStats& p : pos) {
            s.nll += p.nll;
            s.nll2 += p.nll * p.nll;
            s.nll_base += p.nll_base;
            s.nll_base2 += p.nll_base * p.nll_base;
            s.nll_nll_base += p.nll * p.nll_base;
            s.kld += p.kld;
            s.kld2 += p.kld * p.kld;
            s.dp += p.dp;
            s.dp2 += p.dp * p.dp;
            s.dp4 += p.dp * p.dp * p.dp * p.dp;
            s.same_top += p.same_top ? 1 : 0;
            ++s.count;
            kld_values.push_back(p.kld);
            dp_values.push_back(p.dp);
        }
        KldChunkRow row;
        row.chunk = c + 1;
        row.ppl = ppl_of(mean_and_error(s.nll, s.nll2, s.count));
        row.ln_ppl_ratio = ln_ratio_of(s);
        row.kld = mean_and_error(s.kld, s.kld2, s.count);
        row.dp_rms = rms_of(s);
        row.same_top = same_top_of(s);
        res.chunks.push_back(row);
        if (on_row) on_row(row);
        if (progress) {
            EvalProgress p;
            p.chunks_done = c + 1;
            p.n_chunks = plan.n_chunks;
            p.running_ppl = row.ppl.value;
            p.running_kld = row.kld.value;
            p.seconds = timer.seconds();
            progress(p);
        }
    }
    res.seconds = timer.seconds();
    res.tokens_per_second =
        res.seconds > 0 ? static_cast<double>(plan.n_chunks * plan.n_ctx) / res.seconds : 0.0;
    res.count = s.count;

    const ValueError log_ppl = mean_and_error(s.nll, s.nll2, s.count);
    const ValueError log_ppl_base = mean_and_error(s.nll_base, s.nll_base2, s.count);
    const double cov = covariance(s.nll, s.nll_base, s.nll_nll_base, s.count);
    res.ppl = ppl_of(log_ppl);
    res.ppl_base = ppl_of(log_ppl_base);
    const double denom = log_ppl.error * log_ppl_base.error;
    res.ln_ppl_correlation = denom > 0 ? cov / denom : 0.0;
    res.ln_ppl_ratio = ln_ratio_of(s);
    res.ppl_ratio = ppl_of(res.ln_ppl_ratio);
    const double diff_var = res.ppl.error * res.ppl.error +
                            res.ppl_base.error * res.ppl_base.error -
                            2.0 * res.ppl.value * res.ppl_base.value * cov;
    res.ppl_diff = {res.ppl.value - res.ppl_base.value, diff_var > 0 ? std::sqrt(diff_var) : 0.0};
    res.kld = mean_and_error(s.kld, s.kld2, s.count);
    res.kld_quantiles = quantiles(kld_values);
    res.dp = mean_and_error(s.dp, s.dp2, s.count);
    res.dp_quantiles = quantiles(dp_values);
    res.dp_rms = rms_of(s);
    res.same_top = same_top_of(s);
    return res;
}

}  // namespace tk::eval
