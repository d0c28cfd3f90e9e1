#pragma once
// Helpers for engine tests: collecting a stream's events, the engine-free reference output of
// the fake runner, and driving an EngineCore to completion (bounded).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/engine_core.h"
#include "engine/fake_runner.h"
#include "sampling/sampler.h"

namespace tk::engine::testing {

struct Outcome {
    std::vector<int32_t> tokens;
    std::vector<Event> events;
    FinishReason finish = FinishReason::kNone;
    Usage usage;
    int finals = 0;
};

// Moves every queued event of `s` into `o` without blocking.
inline void drain(Stream& s, Outcome& o) {
    while (auto e = s.try_read()) {
        if (e->is_final()) {
            ++o.finals;
            o.finish = e->finish;
            o.usage = e->usage;
        } else {
            o.tokens.push_back(e->token);
        }
        o.events.push_back(std::move(*e));
    }
}

inline sampling::SamplerParams greedy() {
    sampling::SamplerParams p;
    p.temperature = 0.0f;
    return p;
}

inline Request make_request(std::vector<int32_t> prompt, int64_t max_tokens,
                            sampling::SamplerParams sp = greedy()) {
    Request r;
    r.prompt = std::move(prompt);
    r.max_tokens = max_tokens;
    r.sampling = std::move(sp);
    return r;
}

// What the fake model generates for `r` when run alone and without any KV cache.
inline std::vector<int32_t> fake_reference(const FakeRunner& f, const Request& r, int64_t n_ctx) {
    std::vector<int32_t> hist = r.prompt, out;
    std::vector<float> logits(static_cast<size_t>(f.n_vocab()));
    sampling::Sampler sampler(r.sampling);
    for (int64_t i = 0; r.max_tokens <= 0 || i < r.max_tokens; ++i) {
        f.reference_logits(hist, logits.data());
        const int32_t id = sampler.sample(logits, hist);
        if (std::find(r.stop_tokens.begin(), r.stop_tokens.end(), id) != r.stop_tokens.end()) break;
        hist.push_back(id);
        out.push_back(id);
        if (static_cast<int64_t>(hist.size()) >= n_ctx) break;
    }
    return out;
}

// A random prompt of n tokens over [0, n_vocab).
template <typename Rng>
std::vector<int32_t> random_prompt(Rng& rng, int n, int32_t n_vocab) {
    std::vector<int32_t> p(static_cast<size_t>(n));
    for (auto& t : p) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(n_vocab));
    return p;
}

// Steps until nothing is left (at most max_steps), draining the streams after every step.
inline void run_all(EngineCore& core, std::vector<std::shared_ptr<Stream>>& streams,
                    std::vector<Outcome>& outs, int max_steps = 100000) {
    outs.resize(streams.size());
    for (int i = 0; i < max_steps && core.has_work(); ++i) {
        core.step();
        for (size_t k = 0; k < streams.size(); ++k) drain(*streams[k], outs[k]);
    }
    for (size_t k = 0; k < streams.size(); ++k) drain(*streams[k], outs[k]);
    ASSERT_FALSE(core.has_work()) << "engine did not finish within " << max_steps << " steps";
}

inline void expect_no_blocks_in_use(const EngineCore& core) {
    const kv::BlockPoolStats s = core.pool().stats();
    EXPECT_EQ(s.used, 0);
    EXPECT_EQ(s.available(), s.total);
    for (int32_t b = 0; b < core.pool().n_blocks(); ++b)
        EXPECT_EQ(core.pool().ref_count(b), 0) << "block " << b;
}

}  // namespace tk::engine::testing
