#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tk::sampling {

int32_t argmax(std::span<const float> logits) {
    int32_t best = 0;
    for (size_t i = 1; i < logits.size(); ++i)
        if (logits[i] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
    return best;
}

namespace {
double log_sum_exp(std::span<const float> logits) {
    float mx = -INFINITY;
    for (float v : logits) mx = std::max(mx, v);
    double sum = 0.0;
    for (float v : logits) sum += std::exp(static_cast<double>(v) - mx);
    return mx + std::log(sum);
}
}  // namespace

float logprob_of(std::span<const float> logits, int32_t id) {
    return static_cast<float>(logits[static_cast<size_t>(id)] - log_sum_exp(logits));
}

std::vector<TokenProb> top_logprobs(std::span<const float> logits, int k) {
    const double lse = log_sum_exp(logits);
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    k = std::clamp(k, 0, static_cast<int>(ids.size()));
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
        const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
        return la > lb || (la == lb && a < b);
    });
    std::vector<TokenProb> out;
    for (int i = 0; i < k; ++i)
        out.push_back({ids[static_cast<size_t>(i)],
                       static_cast<float>(logits[static_cast<size_t>(ids[static_cast<size_t>(i)])] - lse)});
    return out;
}

Sampler::Sampler(SamplerParams params) : params_(std::move(params)), rng_(params_.seed) {
    if (params_.grammar != nullptr) grammar_ = std::make_unique<GrammarState>(params_.grammar);
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
    const int32_t id = pick(logits, history);
    if (grammar_ != nullptr) grammar_->accept(id);
    return id;
}

bool Sampler::constrain() {
    grammar_->allowed_tokens(allowed_);
    const size_t n_allowed = allowed_.size();
    std::erase_if(cand_, [&](const Candidate& c) {
        return static_cast<size_t>(c.id) >= n_allowed || allowed_[static_cast<size_t>(c.id)] == 0;
    });
    return !cand_.empty();
}

int32_t Sampler::pick(std::span<const float> logits, std::span<const int32_t> history) {
    const int32_t n_vocab = static_cast<int32_t>(logits.size());
    cand_.resize(logits.size());
    for (int32_t i = 0; i < n_vocab; ++i) cand_[static_cast<size_t>(i)] = {i, logits[static_cast<size_t>(i)]};
    for (const auto& [id, bias] : params_.logit_bias)
        if (id >= 0 && id < n_vocab) cand_[static_cast<size_t>(id)].logit += bias;

    // Penalties over the recent window.
    const bool penalize = params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                          params_.frequency_penalty != 0.0f;
    if (penalize && !history.empty()) {
        size_t start = 0;
        if (params_.penalty_last_n >= 0 && history.size() > static_cast<size_t>(params_.penalty_last_n))
            start = history.size() - static_cast<size_t>(params_.penalty_last_n);
        std::unordered_map<int32_t, int> counts;
        for (size_t i = start; i < history.size(); ++i) ++counts[history[i]];
        for (const auto& [id, count] : counts) {
            if (id < 0 || id >= n_vocab) continue;
            float& l = cand_[static_cast<size_t>(id)].logit;
            l = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
            l -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
        }
    }

    auto by_logit = [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    if (grammar_ != nullptr) {
        if (params_.temperature <= 0.0f) {
            // Greedy: the best allowed token is usually among the first few; check those alone
            // before building the whole mask.
            const size_t k = std::min<size_t>(cand_.size(), 16);
            std::partial_sort(cand_.begin(), cand_.begin() + static_cast<ptrdiff_t>(k),
                              cand_.end(), by_logit);
            for (size_t i = 0; i < k; ++i)
                if (std::isfinite(cand_[i].logit) && grammar_->allows(cand_[i].id))
                    return cand_[i].id;
        }
        if (!constrain()) {
            // Cannot happen with a consistent grammar and vocabulary; end the sequence rather
            // than emit a token the grammar rejects.
            const auto& eos = params_.grammar->vocab().eos_ids();
            return eos.empty() ? argmax(logits) : eos.front();
        }
    }

    if (params_.temperature <= 0.0f) {
        size_t best = 0;
        for (size_t i = 1; i < cand_.size(); ++i)
            if (by_logit(cand_[i], cand_[best])) best = i;
        return cand_[best].id;
    }

    size_t n = cand_.size();
    if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
        n = static_cast<size_t>(params_.top_k);
        std::partial_sort(cand_.begin(), cand_.begin() + static_cast<ptrdiff_t>(n), cand_.end(), by_logit);
    } else {
        std::sort(cand_.begin(), cand_.end(), by_logit);
    }
    // Probabilities of the remaining candidates (sorted descending).
    std::vector<double> p(n);
    const double mx = cand_[0].logit;
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp(cand_[i].logit - mx);
    for (double& v : p) v /= sum;
    if (params_.top_p < 1.0f) {
        double cum = 0.0;
        size_t keep = n;
        for (size_t i = 0; i < n; ++i) {
            cum += p[i];
            if (cum >= params_.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = std::max<size_t>(keep, 1);
    }
    if (params_.min_p > 0.0f) {
        const double threshold = p[0] * params_.min_p;
        size_t keep = 1;
        while (keep < n && p[keep] >= threshold) ++keep;
        n = keep;
    }
    // Temperature, then draw.
    std::vector<double> w(n);
    double total = 0.0;
    for (size_t i = 0; i < n; ++i)
        total += w[i] = std::exp((cand_[i].logit - mx) / params_.temperature);
    const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * total;
    double acc = 0.0;
    for (size_t i = 0; i < n; ++i) {
        acc += w[i];
        if (u < acc) return cand_[i].id;
    }
    return cand_[n - 1].id;
}

}  // namespace tk::sampling
