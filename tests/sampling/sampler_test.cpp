#include "sampling/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace tk::sampling {
namespace {

std::vector<float> make_logits() { return {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.5f}; }

SamplerParams greedy() {
    SamplerParams p;
    p.temperature = 0.0f;
    return p;
}

TEST(Sampler, GreedyPicksLowestIdAmongTies) {
    Sampler s(greedy());
    const auto l = make_logits();
    EXPECT_EQ(s.sample(l, {}), 1);
    EXPECT_EQ(argmax(l), 1);
}

TEST(Sampler, SameSeedSameTokens) {
    SamplerParams p;
    p.temperature = 1.5f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 42;
    Sampler a(p), b(p);
    const auto l = make_logits();
    std::vector<int32_t> ta, tb;
    for (int i = 0; i < 200; ++i) {
        ta.push_back(a.sample(l, {}));
        tb.push_back(b.sample(l, {}));
    }
    EXPECT_EQ(ta, tb);
    p.seed = 43;
    Sampler c(p);
    std::vector<int32_t> tc;
    for (int i = 0; i < 200; ++i) tc.push_back(c.sample(l, {}));
    EXPECT_NE(ta, tc);
}

TEST(Sampler, TopKOneIsGreedy) {
    SamplerParams p;
    p.temperature = 5.0f;
    p.top_k = 1;
    Sampler s(p);
    const auto l = make_logits();
    for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(l, {}), 1);
}

TEST(Sampler, TopKRestrictsSupport) {
    SamplerParams p;
    p.temperature = 10.0f;
    p.top_k = 3;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    Sampler s(p);
    const auto l = make_logits();
    for (int i = 0; i < 500; ++i) {
        const int32_t t = s.sample(l, {});
        EXPECT_TRUE(t == 1 || t == 3 || t == 2) << t;
    }
}

TEST(Sampler, MinPRemovesUnlikelyTokens) {
    SamplerParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.3f;  // keeps tokens with p >= 0.3 * p_max: logits >= 3 + ln(0.3) = 1.796
    Sampler s(p);
    const auto l = make_logits();
    for (int i = 0; i < 500; ++i) {
        const int32_t t = s.sample(l, {});
        EXPECT_TRUE(t == 1 || t == 3 || t == 2) << t;
    }
}

TEST(Sampler, TopPKeepsSmallestSetAboveP) {
    SamplerParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.min_p = 0.0f;
    p.top_p = 0.5f;  // the two tied tokens at 3.0 hold ~0.6 of the mass
    Sampler s(p);
    const auto l = make_logits();
    for (int i = 0; i < 500; ++i) {
        const int32_t t = s.sample(l, {});
        EXPECT_TRUE(t == 1 || t == 3) << t;
    }
}

TEST(Sampler, DistributionFollowsSoftmax) {
    SamplerParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 7;
    Sampler s(p);
    const std::vector<float> l = {0.0f, std::log(3.0f)};  // p = 0.25, 0.75
    int ones = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) ones += s.sample(l, {}) == 1;
    EXPECT_NEAR(static_cast<double>(ones) / n, 0.75, 0.02);
}

TEST(Sampler, RepetitionPenaltyDemotesSeenTokens) {
    SamplerParams p = greedy();
    p.repeat_penalty = 2.0f;
    Sampler s(p);
    const std::vector<float> l = {2.0f, 1.5f};
    const std::vector<int32_t> hist = {0};
    EXPECT_EQ(s.sample(l, hist), 1);  // 2.0 / 2 = 1.0 < 1.5
}

TEST(Sampler, FrequencyAndPresencePenalties) {
    SamplerParams p = greedy();
    p.frequency_penalty = 0.4f;
    Sampler s(p);
    const std::vector<float> l = {2.0f, 1.5f};
    EXPECT_EQ(s.sample(l, std::vector<int32_t>{0}), 0);     // 2.0 - 0.4 = 1.6 > 1.5
    EXPECT_EQ(s.sample(l, std::vector<int32_t>{0, 0}), 1);  // 2.0 - 0.8 = 1.2 < 1.5
    SamplerParams q = greedy();
    q.presence_penalty = 0.6f;
    Sampler t(q);
    EXPECT_EQ(t.sample(l, std::vector<int32_t>{0}), 1);  // 1.4 < 1.5
}

TEST(Sampler, PenaltyWindow) {
    SamplerParams p = greedy();
    p.presence_penalty = 1.0f;
    p.penalty_last_n = 1;
    Sampler s(p);
    const std::vector<float> l = {2.0f, 1.5f};
    EXPECT_EQ(s.sample(l, std::vector<int32_t>{0, 1}), 0);  // only the last token (1) is penalised
}

TEST(Sampler, LogitBias) {
    SamplerParams p = greedy();
    p.logit_bias[4] = 100.0f;
    Sampler s(p);
    EXPECT_EQ(s.sample(make_logits(), {}), 4);
}

TEST(Sampler, Logprobs) {
    const std::vector<float> l = {0.0f, std::log(3.0f)};
    EXPECT_NEAR(logprob_of(l, 1), std::log(0.75), 1e-6);
    const auto top = top_logprobs(make_logits(), 3);
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top[0].id, 1);
    EXPECT_EQ(top[1].id, 3);
    EXPECT_EQ(top[2].id, 2);
}

}  // namespace
}  // namespace tk::sampling
