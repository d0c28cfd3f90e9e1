#include "engine/speculative.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "base/check.h"

namespace tk::engine {
namespace {

struct Candidate {
    int32_t id;
    float logit;
};

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

void sampler_distribution(const sampling::SamplerParams& params, std::span<const float> logits,
                          std::span<const int32_t> history, std::vector<float>& probs) {
    // Mirrors sampling::Sampler::sample step by step; only the final draw is left out.
    const int32_t n_vocab = static_cast<int32_t>(logits.size());
    TK_CHECK(n_vocab > 0);
    std::vector<Candidate> cand(logits.size());
    for (int32_t i = 0; i < n_vocab; ++i)
        cand[static_cast<size_t>(i)] = {i, logits[static_cast<size_t>(i)]};
    for (const auto& [id, bias] : params.logit_bias)
        if (id >= 0 && id < n_vocab) cand[static_cast<size_t>(id)].logit += bias;
    const bool penalize = params.repeat_penalty != 1.0f || params.presence_penalty != 0.0f ||
                          params.frequency_penalty != 0.0f;
    if (penalize && !history.empty()) {
        size_t start = 0;
        if (params.penalty_last_n >= 0 &&
            history.size() > static_cast<size_t>(params.penalty_last_n))
            start = history.size() - static_cast<size_t>(params.penalty_last_n);
        std::unordered_map<int32_t, int> counts;
        for (size_t i = start; i < history.size(); ++i) ++counts[history[i]];
        for (const auto& [id, count] : counts) {
            if (id < 0 || id >= n_vocab) continue;
            float& l = cand[static_cast<size_t>(id)].logit;
            l = l > 0 ? l / params.repeat_penalty : l * params.repeat_penalty;
            l -= static_cast<float>(count) * params.frequency_penalty + params.presence_penalty;
        }
    }
    probs.assign(logits.size(), 0.0f);
    if (params.temperature <= 0.0f) {
        size_t best = 0;
        for (size_t i = 1; i < cand.size(); ++i)
            if (cand[i].logit > cand[best].logit) best = i;
        probs[static_cast<size_t>(cand[best].id)] = 1.0f;
        return;
    }
    auto by_logit = [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    size_t n = cand.size();
    if (params.top_k > 0 && static_cast<size_t>(params.top_k) < n) {
        n = static_cast<size_t>(params.top_k);
        std::partial_sort(cand.begin(), cand.begin() + static_cast<ptrdiff_t>(n), cand.end(),
                          by_logit);
    } else {
        std::sort(cand.begin(), cand.end(), by_logit);
    }
    std::vector<double> p(n);
    const double mx = cand[0].logit;
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp(cand[i].logit - mx);
    for (double& v : p) v /= sum;
    if (params.top_p < 1.0f) {
        double cum = 0.0;
        size_t keep = n;
        for (size_t i = 0; i < n; ++i) {
            cum += p[i];
            if (cum >= params.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = std::max<size_t>(keep, 1);
    }
    if (params.min_p > 0.0f) {
        const double threshold = p[0] * params.min_p;
        size_t keep = 1;
        while (keep < n && p[keep] >= threshold) ++keep;
        n = keep;
    }
    std::vector<double> w(n);
    double total = 0.0;
    for (size_t i = 0; i < n; ++i)
        total += w[i] = std::exp((cand[i].logit - mx) / params.temperature);
    for (size_t i = 0; i < n; ++i)
        probs[static_cast<size_t>(cand[i].id)] = static_cast<float>(w[i] / total);
}

int32_t sample_from(std::span<const float> probs, std::mt19937_64& rng) {
    TK_CHECK(!probs.empty());
    double total = 0.0;
    for (float v : probs) total += v;
    const double u = uniform01(rng) * total;
    double acc = 0.0;
    int32_t last_nonzero = 0;
    for (size_t i = 0; i < probs.size(); ++i) {
        if (probs[i] <= 0.0f) continue;
        acc += probs[i];
        last_nonzero = static_cast<int32_t>(i);
        if (u < acc) return last_nonzero;
    }
    return last_nonzero;  // rounding left u at the very top
}

int32_t accept_or_resample(std::span<const float> p, std::span<const float> q, int32_t x,
                           std::mt19937_64& rng, bool& accepted) {
    TK_CHECK(x >= 0 && static_cast<size_t>(x) < p.size());
    TK_CHECK(q.empty() || q.size() == p.size());
    const double px = p[static_cast<size_t>(x)];
    const double qx = q.empty() ? 1.0 : static_cast<double>(q[static_cast<size_t>(x)]);
    // Keep x with probability min(1, p(x)/q(x)), written without the division. A drafter never
    // proposes a token it gives no mass, so qx > 0 in practice; if it did, keep x iff p allows it.
    const double u = uniform01(rng);
    accepted = qx > 0.0 ? u * qx < px : px > 0.0;
    if (accepted) return x;
    // Residual max(0, p - q): the mass p has beyond what the draft already offered.
    std::vector<float> r(p.size());
    double sum = 0.0;
    for (size_t i = 0; i < p.size(); ++i) {
        const float qi = q.empty() ? (static_cast<int32_t>(i) == x ? 1.0f : 0.0f) : q[i];
        r[i] = std::max(0.0f, p[i] - qi);
        sum += r[i];
    }
    // p == q up to rounding leaves nothing: p itself is then the right distribution.
    if (!(sum > 0.0)) return sample_from(p, rng);
    return sample_from(r, rng);
}

int64_t lookup_draft(std::span<const int32_t> context, int ngram, int64_t max_tokens,
                     std::vector<int32_t>& out) {
    const int64_t L = static_cast<int64_t>(context.size());
    if (max_tokens <= 0) return 0;
    for (int64_t n = std::min<int64_t>(ngram, L - 1); n >= 1; --n) {
        const int32_t* tail = context.data() + (L - n);
        // Latest occurrence first: recent text is the best predictor. Start so that at least
        // one token follows the match inside the context.
        for (int64_t i = L - n - 1; i >= 0; --i) {
            if (!std::equal(tail, tail + n, context.data() + i)) continue;
            // Copy what followed the match, running on into the tokens being drafted (as an LZ77
            // copy may overlap itself): a repeating stretch of period p = L - from keeps
            // repeating, so a recent match still yields a full draft.
            const int64_t from = i + n;
            const size_t base = out.size();
            for (int64_t k = 0; k < max_tokens; ++k) {
                const int64_t idx = from + k;
                out.push_back(idx < L ? context[static_cast<size_t>(idx)]
                                      : out[base + static_cast<size_t>(idx - L)]);
            }
            return max_tokens;
        }
    }
    return 0;
}

}  // namespace tk::engine
