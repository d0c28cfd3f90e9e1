// Speculative decoding: the acceptance rule keeps the target's distribution (checked
// statistically with a fixed seed), the sampler's distribution matches sampling::Sampler, prompt
// lookup finds the latest n-gram, and the engine with a draft model or prompt lookup produces
// the non-speculative output token for token while the draft K/V stays in step with the
// target's (the fake runner aborts on any slot read that was not written).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/engine_core.h"
#include "engine/fake_runner.h"
#include "engine/speculative.h"
#include "engine_test_util.h"

namespace tk::engine {
namespace {

using testing::fake_reference;
using testing::make_request;
using testing::Outcome;

// Frequencies of accept_or_resample's output when x ~ q, against p.
void check_rule(const std::vector<float>& p, const std::vector<float>& q, int n,
                double expected_acceptance) {
    std::mt19937_64 rng(1234);
    std::vector<int> counts(p.size(), 0);
    int accepted = 0;
    for (int i = 0; i < n; ++i) {
        bool kept = false;
        const int32_t x = q.empty() ? 1 : sample_from(q, rng);
        const int32_t y = accept_or_resample(p, q, x, rng, kept);
        ++counts[static_cast<size_t>(y)];
        accepted += kept ? 1 : 0;
    }
    for (size_t k = 0; k < p.size(); ++k) {
        // 5 standard deviations of a frequency estimate: a wrong rule is off by far more.
        const double sd = std::sqrt(p[k] * (1.0 - p[k]) / n);
        EXPECT_NEAR(static_cast<double>(counts[k]) / n, p[k], 5 * sd + 1e-9) << "token " << k;
    }
    EXPECT_NEAR(static_cast<double>(accepted) / n, expected_acceptance, 0.01);
}

TEST(AcceptanceRule, OutputIsDistributedAsTheTarget) {
    const std::vector<float> p = {0.1f, 0.4f, 0.2f, 0.3f, 0.0f};
    const std::vector<float> q = {0.3f, 0.1f, 0.1f, 0.2f, 0.3f};
    // Acceptance probability is sum_x min(p(x), q(x)).
    check_rule(p, q, 200000, 0.1 + 0.1 + 0.1 + 0.2);
}

TEST(AcceptanceRule, PointMassDraftIsAcceptedWithTargetProbability) {
    const std::vector<float> p = {0.1f, 0.4f, 0.2f, 0.3f};
    check_rule(p, {}, 200000, 0.4);  // x = 1 always
}

TEST(AcceptanceRule, IdenticalDistributionsAlwaysAccept) {
    const std::vector<float> p = {0.25f, 0.5f, 0.25f};
    check_rule(p, p, 50000, 1.0);
}

TEST(SamplerDistribution, GreedyIsThePointMassOfTheSamplersChoice) {
    sampling::SamplerParams sp;
    sp.temperature = 0.0f;
    sp.repeat_penalty = 1.3f;
    const std::vector<float> logits = {1.0f, 3.0f, 2.9f, -1.0f, 3.0f};
    const std::vector<int32_t> hist = {1, 1};
    std::vector<float> probs;
    sampler_distribution(sp, logits, hist, probs);
    sampling::Sampler s(sp);
    const int32_t choice = s.sample(logits, hist);
    EXPECT_EQ(choice, 4);  // 1 is penalized
    EXPECT_EQ(probs[static_cast<size_t>(choice)], 1.0f);
}

TEST(SamplerDistribution, MatchesTheSamplersDrawFrequencies) {
    sampling::SamplerParams sp;
    sp.temperature = 0.7f;
    sp.top_k = 6;
    sp.top_p = 0.9f;
    sp.min_p = 0.05f;
    sp.presence_penalty = 0.5f;
    sp.logit_bias[2] = 0.8f;
    std::vector<float> logits(10);
    for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i) * 1.7f);
    const std::vector<int32_t> hist = {3, 7};
    std::vector<float> probs;
    sampler_distribution(sp, logits, hist, probs);
    double total = 0.0;
    for (float v : probs) total += v;
    EXPECT_NEAR(total, 1.0, 1e-6);
    sp.seed = 99;
    sampling::Sampler s(sp);
    const int n = 100000;
    std::vector<int> counts(logits.size(), 0);
    for (int i = 0; i < n; ++i) ++counts[static_cast<size_t>(s.sample(logits, hist))];
    for (size_t k = 0; k < probs.size(); ++k) {
        const double sd = std::sqrt(probs[k] * (1.0 - probs[k]) / n);
        EXPECT_NEAR(static_cast<double>(counts[k]) / n, probs[k], 5 * sd + 1e-9) << "token " << k;
        if (probs[k] == 0.0f) {
            EXPECT_EQ(counts[k], 0) << "token " << k;
        }
    }
}

TEST(LookupDraft, CopiesWhatFollowedTheLatestMatch) {
    std::vector<int32_t> out;
    // ... 5 6 7 8 ... 5 6 9 ... 5 6 : the latest "5 6" was followed by 9.
    const std::vector<int32_t> ctx = {1, 5, 6, 7, 8, 2, 5, 6, 9, 4, 5, 6};
    EXPECT_EQ(lookup_draft(ctx, 2, 3, out), 3);
    EXPECT_EQ(out, (std::vector<int32_t>{9, 4, 5}));
    out.clear();
    // A 3-gram "8 5 6"? no; "2 5 6"? no -> falls back to the 2-gram.
    // The copy runs on periodically past the context's end: 9 4 5 6 | 9 4 5 6 | 9 4.
    EXPECT_EQ(lookup_draft(ctx, 3, 10, out), 10);
    EXPECT_EQ(out, (std::vector<int32_t>{9, 4, 5, 6, 9, 4, 5, 6, 9, 4}));
    out.clear();
    const std::vector<int32_t> a = {1, 2, 3}, b = {7}, c = {7, 7};
    EXPECT_EQ(lookup_draft(a, 2, 4, out), 0);
    EXPECT_EQ(lookup_draft(b, 2, 4, out), 0);
    EXPECT_EQ(lookup_draft(c, 2, 4, out), 4);  // "7" followed by 7, and so on
    EXPECT_EQ(out, (std::vector<int32_t>{7, 7, 7, 7}));
    out.clear();
    const std::vector<int32_t> d = {3, 1, 2, 1, 2};  // period 2 from the latest "2"
    EXPECT_EQ(lookup_draft(d, 1, 5, out), 5);
    EXPECT_EQ(out, (std::vector<int32_t>{1, 2, 1, 2, 1}));
}

struct SpecCase {
    int draft_agree;  // -1: prompt lookup
    int64_t draft_n;
};

// Runs `reqs` through an engine with the given speculation and returns the outcomes.
std::vector<Outcome> run_engine(const std::vector<Request>& reqs, SpecCase sc, int64_t n_ctx,
                                int64_t budget, bool caching, EngineStats* stats = nullptr,
                                int64_t n_blocks = 64, int stagger = 0) {
    auto runner = std::make_unique<FakeRunner>(64, n_blocks, 4, 4096);
    if (sc.draft_agree >= 0) runner->enable_draft(sc.draft_agree);
    EngineConfig cfg;
    cfg.n_ctx = n_ctx;
    cfg.max_batch_tokens = budget;
    cfg.prefix_caching = caching;
    cfg.draft_n = sc.draft_n;
    cfg.lookup_ngram = sc.draft_agree < 0 ? 2 : 0;
    EngineCore core(std::move(runner), nullptr, cfg);
    std::vector<std::shared_ptr<Stream>> streams;
    for (const Request& r : reqs) {
        // Staggered arrivals let later requests find the earlier ones' published blocks.
        for (int i = 0; i < stagger; ++i) core.step();
        auto s = core.submit(r);
        EXPECT_TRUE(s.is_ok());
        streams.push_back(*s);
    }
    std::vector<Outcome> outs;
    testing::run_all(core, streams, outs);
    testing::expect_no_blocks_in_use(core);
    if (stats != nullptr) *stats = core.stats();
    return outs;
}

std::vector<Request> repetitive_requests(int n, int64_t max_tokens) {
    std::mt19937 rng(7);
    std::vector<Request> reqs;
    for (int i = 0; i < n; ++i) {
        // A short random phrase repeated: prompt lookup has something to find.
        auto phrase = testing::random_prompt(rng, 3 + i % 4, 64);
        std::vector<int32_t> p;
        for (int k = 0; k < 4 + i; ++k) p.insert(p.end(), phrase.begin(), phrase.end());
        reqs.push_back(make_request(p, max_tokens));
    }
    return reqs;
}

TEST(SpecEngine, GreedyOutputIsIdenticalWithAndWithoutSpeculation) {
    const int64_t n_ctx = 96;
    auto reqs = repetitive_requests(5, 40);
    reqs[1].stop_tokens = {5, 9};
    reqs[3].max_tokens = 0;  // until the context is full
    FakeRunner ref(64, 1, 4, 4096);
    std::vector<std::vector<int32_t>> expected;
    for (const Request& r : reqs) expected.push_back(fake_reference(ref, r, n_ctx));
    for (SpecCase sc : {SpecCase{100, 4}, SpecCase{70, 5}, SpecCase{0, 3}, SpecCase{-1, 4}}) {
        for (bool caching : {false, true}) {
            for (int64_t budget : {int64_t{7}, int64_t{256}}) {
                EngineStats st;
                const auto outs = run_engine(reqs, sc, n_ctx, budget, caching, &st);
                for (size_t i = 0; i < reqs.size(); ++i) {
                    EXPECT_EQ(outs[i].tokens, expected[i])
                        << "request " << i << " agree " << sc.draft_agree << " caching "
                        << caching << " budget " << budget;
                    EXPECT_EQ(outs[i].finals, 1);
                }
                EXPECT_LE(st.spec_accepted, st.spec_drafted);
                if (budget == 256) {
                    EXPECT_GT(st.spec_drafted, 0);
                }
                if (sc.draft_agree == 100) {
                    EXPECT_EQ(st.spec_accepted, st.spec_drafted);
                }
                if (sc.draft_agree == 0) {
                    EXPECT_LT(st.spec_accepted * 4, st.spec_drafted);
                }
                if (sc.draft_agree == 70 && budget == 256) {
                    EXPECT_GT(st.spec_accepted, st.spec_drafted / 3);
                    EXPECT_LT(st.spec_accepted, st.spec_drafted);
                }
            }
        }
    }
}

TEST(SpecEngine, SharedPrefixesAndPreemptionKeepDraftKvInStep) {
    // The same prompt three times (prefix-cache hits on blocks the draft wrote too) in a pool
    // small enough to preempt; the fake aborts if the draft reads a slot nobody wrote.
    const int64_t n_ctx = 80;
    std::mt19937 rng(3);
    const auto prompt = testing::random_prompt(rng, 21, 64);
    std::vector<Request> reqs;
    for (int i = 0; i < 4; ++i) reqs.push_back(make_request(prompt, 30 + i));
    FakeRunner ref(64, 1, 4, 4096);
    for (SpecCase sc : {SpecCase{80, 4}, SpecCase{-1, 3}}) {
        EngineStats st;
        const auto outs = run_engine(reqs, sc, n_ctx, 64, true, &st, 20, 2);
        for (size_t i = 0; i < reqs.size(); ++i)
            EXPECT_EQ(outs[i].tokens, fake_reference(ref, reqs[i], n_ctx)) << "request " << i;
        EXPECT_GT(st.kv.hit_tokens, 0);
        EXPECT_GT(st.preemptions, 0);
    }
}

TEST(SpecEngine, SamplingWithDraftsStaysInVocabularyAndFreesBlocks) {
    auto reqs = repetitive_requests(4, 25);
    for (size_t i = 0; i < reqs.size(); ++i) {
        reqs[i].sampling = sampling::SamplerParams{};
        reqs[i].sampling.temperature = 0.9f;
        reqs[i].sampling.seed = 11 + i;
    }
    for (SpecCase sc : {SpecCase{70, 4}, SpecCase{-1, 4}}) {
        EngineStats st;
        const auto outs = run_engine(reqs, sc, 128, 256, true, &st);
        for (size_t i = 0; i < reqs.size(); ++i) {
            EXPECT_EQ(outs[i].tokens.size(), 25u) << "request " << i;
            for (int32_t t : outs[i].tokens) EXPECT_TRUE(t >= 0 && t < 64);
        }
        EXPECT_GT(st.spec_drafted, 0);
    }
}

}  // namespace
}  // namespace tk::engine
