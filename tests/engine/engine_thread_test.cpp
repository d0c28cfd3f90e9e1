// The threaded Engine with the fake runner: concurrent submitters and readers, blocking reads,
// cancellation from another thread, shutdown with requests in flight.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "engine/engine.h"
#include "engine/fake_runner.h"
#include "engine_test_util.h"

namespace tk::engine {
namespace {

using testing::fake_reference;
using testing::make_request;
using testing::Outcome;
using testing::random_prompt;

constexpr int32_t kVocab = 64;

// A fake model with a context of a million tokens: a request without max_tokens would take hours
// (the fake attends over all positions), so it is still running whenever a test cancels it.
std::unique_ptr<FakeRunner> endless_runner() {
    return std::make_unique<FakeRunner>(kVocab, 65536, 16, int64_t{1} << 20);
}

// Reads a stream to its end with blocking reads.
Outcome read_all(Stream& s) {
    Outcome o;
    for (int guard = 0; guard < 100000; ++guard) {
        auto e = s.read();
        if (!e) break;
        if (e->is_final()) {
            ++o.finals;
            o.finish = e->finish;
            o.usage = e->usage;
        } else {
            o.tokens.push_back(e->token);
        }
        o.events.push_back(std::move(*e));
    }
    return o;
}

TEST(Engine, ConcurrentClientsGetTheirOwnOutputs) {
    EngineConfig cfg;
    cfg.max_batch_tokens = 32;
    cfg.max_seqs = 6;
    Engine engine(std::make_unique<FakeRunner>(kVocab, 40, 4), nullptr, cfg);
    FakeRunner ref_runner(kVocab, 1, 4);
    constexpr int kThreads = 4, kPerThread = 6;
    std::vector<std::vector<Request>> reqs(kThreads);
    std::vector<std::vector<Outcome>> outs(kThreads);
    std::mt19937 rng(99);
    for (auto& rs : reqs)
        for (int i = 0; i < kPerThread; ++i)
            rs.push_back(make_request(random_prompt(rng, 1 + static_cast<int>(rng() % 30), kVocab),
                                      1 + static_cast<int64_t>(rng() % 25)));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::vector<std::shared_ptr<Stream>> streams;
            for (const Request& r : reqs[static_cast<size_t>(t)]) {
                auto s = engine.submit(r);
                ASSERT_TRUE(s.is_ok());
                streams.push_back(*s);
            }
            for (auto& s : streams) outs[static_cast<size_t>(t)].push_back(read_all(*s));
        });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t)
        for (int i = 0; i < kPerThread; ++i) {
            const Outcome& o = outs[static_cast<size_t>(t)][static_cast<size_t>(i)];
            EXPECT_EQ(o.finals, 1);
            EXPECT_EQ(o.tokens, fake_reference(ref_runner,
                                               reqs[static_cast<size_t>(t)][static_cast<size_t>(i)],
                                               engine.config().n_ctx));
            ASSERT_FALSE(o.events.empty());
            EXPECT_TRUE(o.events.back().is_final());
            // Event times never go backwards within a stream.
            for (size_t k = 1; k < o.events.size(); ++k)
                EXPECT_LE(o.events[k - 1].time, o.events[k].time);
        }
    // Every final event was pushed after its blocks were freed; the last one saw them all free.
    const EngineStats st = engine.stats();
    EXPECT_EQ(st.finished, kThreads * kPerThread);
    EXPECT_EQ(st.kv.used, 0);
    EXPECT_EQ(st.kv.available(), st.kv.total);
}

TEST(Engine, CancelFromAnotherThread) {
    Engine engine(endless_runner(), nullptr, EngineConfig{});
    auto s = engine.submit(make_request({1, 2, 3}, 0));
    ASSERT_TRUE(s.is_ok());
    std::shared_ptr<Stream> stream = *s;
    auto first = stream->read();  // the request is running
    ASSERT_TRUE(first.has_value());
    EXPECT_FALSE(first->is_final());
    std::thread canceller([&] { engine.cancel(stream->id()); });
    canceller.join();
    const Outcome o = read_all(*stream);
    EXPECT_EQ(o.finish, FinishReason::kCancelled);
    EXPECT_EQ(o.finals, 1);
    EXPECT_FALSE(stream->read().has_value());  // nothing after the final event
    EXPECT_FALSE(stream->try_read().has_value());
    const EngineStats st = engine.stats();
    EXPECT_EQ(st.cancelled, 1);
    EXPECT_EQ(st.kv.used, 0);
}

TEST(Engine, RejectsTooLongPromptAtSubmit) {
    EngineConfig cfg;
    cfg.n_ctx = 64;
    Engine engine(std::make_unique<FakeRunner>(kVocab, 64, 16), nullptr, cfg);
    auto r = engine.submit(make_request(std::vector<int32_t>(64, 3), 4));
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kOutOfRange);
    EXPECT_EQ(engine.stats().submitted, 0);
}

TEST(Engine, DroppedStreamIsCancelledAndNotifyFires) {
    Engine engine(endless_runner(), nullptr, EngineConfig{});
    {
        auto s = engine.submit(make_request({1, 2, 3}, 0));
        ASSERT_TRUE(s.is_ok());
        ASSERT_TRUE((*s)->read().has_value());
    }
    // A later request observes the first one's cancellation: its steps start by dropping
    // requests nobody reads.
    auto s2 = engine.submit(make_request({4, 5}, 3));
    ASSERT_TRUE(s2.is_ok());
    std::atomic<int> notified{0};
    (*s2)->set_notify([&] { notified.fetch_add(1); });
    const Outcome o = read_all(**s2);
    EXPECT_EQ(o.finish, FinishReason::kLength);
    EXPECT_EQ(engine.stats().cancelled, 1);
    EXPECT_GE(notified.load(), 1);
}

TEST(Engine, ShutdownCancelsRequestsInFlight) {
    std::shared_ptr<Stream> a, b;
    {
        Engine engine(endless_runner(), nullptr, EngineConfig{});
        a = *engine.submit(make_request({1, 2, 3}, 0));
        b = *engine.submit(make_request({1, 2, 4}, 0));
        ASSERT_TRUE(a->read().has_value());
    }
    const Outcome oa = read_all(*a), ob = read_all(*b);
    EXPECT_EQ(oa.finish, FinishReason::kCancelled);
    EXPECT_EQ(ob.finish, FinishReason::kCancelled);
    EXPECT_EQ(oa.finals, 1);
    EXPECT_EQ(ob.finals, 1);
}

}  // namespace
}  // namespace tk::engine
