// Scheduler and engine step logic with the fake runner, driven step by step (deterministic).
#include "engine/engine_core.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "engine/fake_runner.h"
#include "engine_test_util.h"

namespace tk::engine {
namespace {

using testing::fake_reference;
using testing::make_request;
using testing::Outcome;
using testing::random_prompt;

constexpr int32_t kVocab = 64;

struct Fixture {
    Fixture(int64_t n_blocks, int64_t block_size, EngineConfig cfg, int64_t max_ctx = 4096)
        : core(std::make_unique<FakeRunner>(kVocab, n_blocks, block_size, max_ctx), nullptr, cfg),
          fake(static_cast<FakeRunner&>(core.runner())) {}

    std::shared_ptr<Stream> submit(Request r) {
        requests.push_back(r);
        auto s = core.submit(std::move(r));
        EXPECT_TRUE(s.is_ok()) << s.status().to_string();
        streams.push_back(*s);
        return *s;
    }
    void run() { testing::run_all(core, streams, outs); }
    void expect_reference_outputs() {
        for (size_t i = 0; i < requests.size(); ++i) {
            EXPECT_EQ(outs[i].finals, 1) << "request " << i;
            if (outs[i].finish == FinishReason::kCancelled) continue;
            EXPECT_EQ(outs[i].tokens, fake_reference(fake, requests[i], core.config().n_ctx))
                << "request " << i;
        }
    }

    EngineCore core;
    FakeRunner& fake;
    std::vector<Request> requests;
    std::vector<std::shared_ptr<Stream>> streams;
    std::vector<Outcome> outs;
};

EngineConfig config(int64_t max_batch_tokens, int64_t max_seqs, bool caching = true) {
    EngineConfig c;
    c.max_batch_tokens = max_batch_tokens;
    c.max_seqs = max_seqs;
    c.prefix_caching = caching;
    return c;
}

TEST(EngineCore, SingleRequestMatchesUnbatchedReference) {
    Fixture f(64, 16, config(512, 8));
    f.submit(make_request({1, 2, 3, 4, 5}, 20));
    f.run();
    ASSERT_EQ(f.outs[0].tokens.size(), 20u);
    EXPECT_EQ(f.outs[0].finish, FinishReason::kLength);
    EXPECT_EQ(f.outs[0].usage.prompt_tokens, 5);
    EXPECT_EQ(f.outs[0].usage.completion_tokens, 20);
    f.expect_reference_outputs();
    testing::expect_no_blocks_in_use(f.core);
    EXPECT_EQ(f.fake.counters().steps, 20);  // one prefill step, then one decode per token
}

TEST(EngineCore, AdmissionRespectsSequenceCapAndArrivalOrder) {
    Fixture f(256, 16, config(512, 2));
    for (int i = 0; i < 4; ++i) f.submit(make_request({1, static_cast<int32_t>(i + 2), 3}, 3 + i));
    f.core.step();
    ASSERT_EQ(f.core.last_step().size(), 2u);
    EXPECT_EQ(f.core.last_step()[0].first, 1u);
    EXPECT_EQ(f.core.last_step()[1].first, 2u);
    EXPECT_EQ(f.core.stats().running, 2);
    EXPECT_EQ(f.core.stats().waiting, 2);
    // Request 1 ends after 3 tokens; in that same step request 3 cannot start (cap), next step it
    // does.
    std::set<uint64_t> seen;
    for (int i = 0; i < 1000 && f.core.has_work(); ++i) {
        f.core.step();
        EXPECT_LE(f.core.last_step().size(), 2u);
        for (auto& [id, n] : f.core.last_step()) seen.insert(id);
        if (!seen.count(4)) {
            EXPECT_LE(f.core.stats().running, 2);
        }
    }
    EXPECT_EQ(seen, (std::set<uint64_t>{1, 2, 3, 4}));
    testing::run_all(f.core, f.streams, f.outs);
    f.expect_reference_outputs();
}

TEST(EngineCore, TokenBudgetCapsEveryStep) {
    Fixture f(256, 16, config(8, 8));
    std::mt19937 rng(7);
    for (int i = 0; i < 5; ++i) f.submit(make_request(random_prompt(rng, 5 + 3 * i, kVocab), 6));
    f.core.step();
    // Request 1 takes 5 tokens, request 2 the 3 left (a chunk); nothing else fits.
    ASSERT_EQ(f.core.last_step().size(), 2u);
    EXPECT_EQ(f.core.last_step()[0], (std::pair<uint64_t, int64_t>{1, 5}));
    EXPECT_EQ(f.core.last_step()[1], (std::pair<uint64_t, int64_t>{2, 3}));
    for (int i = 0; i < 1000 && f.core.has_work(); ++i) {
        f.core.step();
        int64_t total = 0;
        for (auto& [id, n] : f.core.last_step()) total += n;
        EXPECT_LE(total, 8);
    }
    EXPECT_LE(f.fake.counters().max_rows, 8);
    testing::run_all(f.core, f.streams, f.outs);
    f.expect_reference_outputs();
}

TEST(EngineCore, LongPromptIsChunkedWhileOthersKeepDecoding) {
    Fixture f(256, 16, config(16, 8));
    std::mt19937 rng(11);
    f.submit(make_request(random_prompt(rng, 4, kVocab), 40));
    f.submit(make_request(random_prompt(rng, 6, kVocab), 40));
    f.core.step();  // both prefilled
    f.core.step();  // both decoding
    f.submit(make_request(random_prompt(rng, 100, kVocab), 5));
    int prefill_steps = 0;
    for (int i = 0; i < 1000; ++i) {
        f.core.step();
        std::map<uint64_t, int64_t> got(f.core.last_step().begin(), f.core.last_step().end());
        if (!got.count(3)) break;  // request 3 left: should not happen before its prefill ends
        // Decoding streams get their token in every step of the long prefill.
        EXPECT_EQ(got[1], 1);
        EXPECT_EQ(got[2], 1);
        EXPECT_LE(got[3], 14);
        ++prefill_steps;
        if (got[3] == 1 && prefill_steps > 1) break;  // request 3 is decoding now
    }
    EXPECT_GE(prefill_steps, 100 / 14);
    testing::run_all(f.core, f.streams, f.outs);
    f.expect_reference_outputs();  // chunked prefill == single prefill
}

TEST(EngineCore, PreemptionRecomputesAndOutputIsUnchanged) {
    // 12 blocks of 4 tokens; 4 requests of 6 + 20 tokens need 7 blocks each.
    for (bool caching : {true, false}) {
        SCOPED_TRACE(caching ? "prefix caching" : "no prefix caching");
        Fixture f(12, 4, config(64, 8, caching));
        std::mt19937 rng(3);
        sampling::SamplerParams sampled;  // a seeded random sampler: its state must survive too
        sampled.temperature = 0.9f;
        sampled.seed = 42;
        for (int i = 0; i < 4; ++i)
            f.submit(make_request(random_prompt(rng, 6, kVocab), 20,
                                  i % 2 ? sampled : testing::greedy()));
        f.run();
        EXPECT_GT(f.core.stats().preemptions, 0);
        f.expect_reference_outputs();
        for (const auto& o : f.outs) {
            EXPECT_EQ(o.finish, FinishReason::kLength);
            EXPECT_EQ(o.tokens.size(), 20u);
        }
        testing::expect_no_blocks_in_use(f.core);
        if (!caching) {
            EXPECT_EQ(f.core.pool().stats().free, 12);
        }
    }
}

TEST(EngineCore, CancelFreesBlocksAtOnce) {
    Fixture f(64, 4, config(64, 8));
    std::mt19937 rng(5);
    auto a = f.submit(make_request(random_prompt(rng, 30, kVocab), 100));
    auto b = f.submit(make_request(random_prompt(rng, 9, kVocab), 100));
    auto c = f.submit(make_request(random_prompt(rng, 9, kVocab), 100));
    f.core.step();
    f.core.step();
    const int64_t used_before = f.core.pool().stats().used;
    EXPECT_GT(used_before, 0);
    EXPECT_TRUE(f.core.cancel(a->id()));
    EXPECT_FALSE(f.core.cancel(a->id()));  // already gone
    EXPECT_FALSE(f.core.cancel(999));
    EXPECT_LT(f.core.pool().stats().used, used_before);
    Outcome oa;
    testing::drain(*a, oa);
    EXPECT_EQ(oa.finals, 1);
    EXPECT_EQ(oa.finish, FinishReason::kCancelled);
    EXPECT_EQ(oa.usage.completion_tokens,
              2);  // prefilled and sampled in step 1, one more in step 2
    EXPECT_TRUE(f.core.cancel(b->id()));
    EXPECT_TRUE(f.core.cancel(c->id()));
    testing::expect_no_blocks_in_use(f.core);
    EXPECT_FALSE(f.core.has_work());
    EXPECT_EQ(f.core.stats().cancelled, 3);
}

TEST(EngineCore, DroppedStreamIsCancelled) {
    Fixture f(64, 16, config(64, 8));
    {
        auto s = f.core.submit(make_request({1, 2, 3}, 1000));
        ASSERT_TRUE(s.is_ok());
        f.core.step();
    }  // the only reader is gone
    f.core.step();
    EXPECT_FALSE(f.core.has_work());
    EXPECT_EQ(f.core.stats().cancelled, 1);
    testing::expect_no_blocks_in_use(f.core);
}

TEST(EngineCore, PrefixSharingRefCountsAndHitRate) {
    Fixture f(64, 4, config(512, 8));
    std::mt19937 rng(9);
    const auto prefix = random_prompt(rng, 20, kVocab);  // 5 full blocks
    auto pa = prefix;
    pa.push_back(7);
    f.submit(make_request(pa, 50));
    f.core.step();  // A prefilled: its 5 prefix blocks are published
    auto pb = prefix;
    pb.insert(pb.end(), {8, 9});
    f.submit(make_request(pb, 50));
    f.core.step();
    const auto& running = f.core.scheduler().running();
    ASSERT_EQ(running.size(), 2u);
    const auto ta = running[0]->table.blocks(), tb = running[1]->table.blocks();
    for (int k = 0; k < 5; ++k) {
        EXPECT_EQ(ta[static_cast<size_t>(k)], tb[static_cast<size_t>(k)]) << "block " << k;
        EXPECT_EQ(f.core.pool().ref_count(ta[static_cast<size_t>(k)]), 2);
    }
    EXPECT_NE(ta[5], tb[5]);
    EXPECT_EQ(f.core.pool().ref_count(ta[5]), 1);
    f.run();
    EXPECT_EQ(f.outs[0].usage.cached_tokens, 0);
    EXPECT_EQ(f.outs[1].usage.cached_tokens, 20);
    const kv::BlockPoolStats s = f.core.pool().stats();
    EXPECT_EQ(s.prompt_tokens, 21 + 22);
    EXPECT_EQ(s.hit_tokens, 20);
    EXPECT_NEAR(s.hit_rate(), 20.0 / 43.0, 1e-12);
    f.expect_reference_outputs();  // prefix-cached == uncached
    testing::expect_no_blocks_in_use(f.core);
}

TEST(EngineCore, FullyCachedPromptCopiesItsLastBlock) {
    Fixture f(64, 4, config(512, 8));
    std::mt19937 rng(13);
    const auto prompt = random_prompt(rng, 16, kVocab);  // exactly 4 blocks
    f.submit(make_request(prompt, 30));
    f.core.step();
    f.submit(make_request(prompt, 30));
    f.core.step();  // B: all 16 tokens cached; token 15 is recomputed into a copy of block 3
    EXPECT_EQ(f.fake.counters().copies, 1);
    EXPECT_EQ(f.core.pool().stats().copies, 1);
    EXPECT_EQ(f.core.last_step().back(), (std::pair<uint64_t, int64_t>{2, 1}));
    f.run();
    EXPECT_EQ(f.outs[1].usage.cached_tokens, 15);
    f.expect_reference_outputs();
    EXPECT_EQ(f.outs[0].tokens, f.outs[1].tokens);
    testing::expect_no_blocks_in_use(f.core);

    // After both finished the blocks stay cached: a third identical request reuses them without
    // copying (it is the sole owner, so the block is unpublished in place instead).
    f.submit(make_request(prompt, 30));
    f.run();
    EXPECT_EQ(f.outs[2].usage.cached_tokens, 15);
    EXPECT_EQ(f.fake.counters().copies, 1);
    f.expect_reference_outputs();
}

TEST(EngineCore, FinishReasonsAndUsage) {
    Fixture f(64, 16, config(512, 8), /*max_ctx=*/32);
    EXPECT_EQ(f.core.config().n_ctx, 32);
    // Stop token: the reference's third token ends the request and is not emitted.
    Request probe = make_request({1, 2, 3}, 10);
    const auto ref = fake_reference(f.fake, probe, 32);
    Request stop = probe;
    stop.stop_tokens = {ref[2]};
    f.submit(stop);
    f.submit(make_request({1, 2, 3}, 0));  // no limit: runs to the context size
    Request lp = make_request({4, 5}, 3);
    lp.top_logprobs = 3;
    f.submit(lp);
    f.run();
    const auto first_stop = std::find(ref.begin(), ref.end(), ref[2]) - ref.begin();
    EXPECT_EQ(f.outs[0].finish, FinishReason::kStop);
    EXPECT_EQ(f.outs[0].tokens, std::vector<int32_t>(ref.begin(), ref.begin() + first_stop));
    EXPECT_EQ(f.outs[0].usage.completion_tokens, first_stop + 1);
    EXPECT_EQ(f.outs[1].finish, FinishReason::kLength);
    EXPECT_EQ(f.outs[1].tokens.size(), 32u - 3u);
    f.expect_reference_outputs();

    // Log-probabilities are those of the raw logits.
    std::vector<int32_t> hist = {4, 5};
    std::vector<float> logits(kVocab);
    for (const Event& e : f.outs[2].events) {
        if (e.is_final()) break;
        f.fake.reference_logits(hist, logits.data());
        EXPECT_FLOAT_EQ(e.logprob, sampling::logprob_of(logits, e.token));
        ASSERT_EQ(e.top_logprobs.size(), 3u);
        EXPECT_EQ(e.top_logprobs[0].id, e.token);  // greedy
        EXPECT_GE(e.top_logprobs[0].logprob, e.top_logprobs[1].logprob);
        EXPECT_GE(e.top_logprobs[1].logprob, e.top_logprobs[2].logprob);
        hist.push_back(e.token);
    }
}

TEST(EngineCore, RejectsBadRequestsUpFront) {
    Fixture f(8, 16, config(512, 8), /*max_ctx=*/4096);
    EXPECT_EQ(f.core.config().n_ctx, 128);  // capped by the pool: 8 blocks of 16
    auto empty = f.core.submit(make_request({}, 4));
    EXPECT_EQ(empty.status().code(), ErrorCode::kInvalidArgument);
    auto bad_id = f.core.submit(make_request({1, kVocab}, 4));
    EXPECT_EQ(bad_id.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad_id.status().message().find("vocabulary"), std::string::npos);
    auto too_long = f.core.submit(make_request(std::vector<int32_t>(128, 1), 4));
    ASSERT_EQ(too_long.status().code(), ErrorCode::kOutOfRange);
    EXPECT_NE(too_long.status().message().find("128 tokens"), std::string::npos);
    Request neg = make_request({1}, 4);
    neg.top_logprobs = -1;
    EXPECT_EQ(f.core.submit(neg).status().code(), ErrorCode::kInvalidArgument);
    EXPECT_FALSE(f.core.has_work());
    // The longest prompt that fits is accepted and never truncated.
    f.submit(make_request(std::vector<int32_t>(127, 1), 4));
    f.run();
    EXPECT_EQ(f.outs[0].tokens.size(), 1u);
    EXPECT_EQ(f.outs[0].finish, FinishReason::kLength);
    f.expect_reference_outputs();
}

// A bounded random mix of submits, cancels and steps (fixed seed) on a pool small enough to force
// preemption, with shared prefixes: every finished request matches its reference and every
// block is free at the end.
TEST(EngineCore, StressRandomSubmitsAndCancelsLeaveEveryBlockFree) {
    for (bool caching : {true, false}) {
        SCOPED_TRACE(caching ? "prefix caching" : "no prefix caching");
        Fixture f(24, 4, config(24, 6, caching));
        std::mt19937 rng(20240607);
        std::vector<std::vector<int32_t>> prefixes;
        for (int i = 0; i < 3; ++i) prefixes.push_back(random_prompt(rng, 4 + 4 * i, kVocab));
        std::vector<uint64_t> live;
        for (int iter = 0; iter < 600; ++iter) {
            const unsigned action = rng() % 10;
            if (action < 3 && f.requests.size() < 120) {
                std::vector<int32_t> p = prefixes[rng() % prefixes.size()];
                const auto tail = random_prompt(rng, static_cast<int>(rng() % 12), kVocab);
                p.insert(p.end(), tail.begin(), tail.end());
                if (rng() % 4 == 0) p.resize(1 + rng() % p.size());
                Request r = make_request(p, 1 + static_cast<int64_t>(rng() % 24));
                if (rng() % 3 == 0) r.stop_tokens = {static_cast<int32_t>(rng() % kVocab)};
                if (rng() % 2 == 0) {
                    r.sampling.temperature = 0.7f;
                    r.sampling.seed = rng();
                }
                live.push_back(f.submit(std::move(r))->id());
            } else if (action == 3 && !live.empty()) {
                const size_t k = rng() % live.size();
                f.core.cancel(live[k]);
                live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
            } else {
                f.core.step();
            }
            const kv::BlockPoolStats s = f.core.pool().stats();
            ASSERT_EQ(s.free + s.cached + s.used, s.total);
        }
        f.run();
        f.expect_reference_outputs();
        testing::expect_no_blocks_in_use(f.core);
        if (!caching) {
            EXPECT_EQ(f.core.pool().stats().free, f.core.pool().n_blocks());
        }
        const EngineStats st = f.core.stats();
        EXPECT_EQ(st.finished, static_cast<int64_t>(f.requests.size()));
        EXPECT_GT(st.preemptions, 0);
        EXPECT_GT(st.cancelled, 0);
        if (caching) {
            EXPECT_GT(st.kv.hit_tokens, 0);
        }
    }
}

}  // namespace
}  // namespace tk::engine
