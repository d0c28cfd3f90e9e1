#pragma once
// The batched inference engine: one loop thread owns the scheduler, the KV block pool and the
// runner; any other thread submits requests, cancels them and reads their streams.
//
//   Engine engine(std::make_unique<ModelRunner>(model, n_blocks), &model.tokenizer(), cfg);
//   auto stream = engine.submit(request);          // Result<std::shared_ptr<Stream>>
//   while (auto e = (*stream)->read()) { ... }     // tokens, then one final event
//
// Dropping every reference to a stream cancels its request at the next step.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/engine_core.h"

namespace tk::engine {

class Engine {
public:
    Engine(std::unique_ptr<Runner> runner, const tokenizer::Tokenizer* tok,
           const EngineConfig& cfg);
    // Cancels whatever is still running or waiting (final event "cancelled") and joins the loop.
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    const EngineConfig& config() const { return core_.config(); }

    // Fails at once, without queueing, for an invalid request or a prompt that does not fit the
    // context (kOutOfRange: never truncated).
    Result<std::shared_ptr<Stream>> submit(Request r);
    // Asynchronous: the stream's final event (finish reason "cancelled") confirms it, and by then
    // the request's blocks are free. Unknown or finished ids are ignored.
    void cancel(uint64_t id);
    // A snapshot taken at the end of the latest step.
    EngineStats stats() const;

private:
    void loop();
    void refresh_stats();

    EngineCore core_;  // touched only by the loop thread once it runs
    std::atomic<uint64_t> next_id_{1};

    std::mutex mu_;  // guards the inbox below
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Sequence>> inbox_;
    std::vector<uint64_t> cancels_;
    bool stop_ = false;

    mutable std::mutex stats_mu_;
    EngineStats stats_;

    std::thread thread_;
};

}  // namespace tk::engine
