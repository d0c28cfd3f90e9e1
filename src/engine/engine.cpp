#include "engine/engine.h"

namespace tk::engine {

Engine::Engine(std::unique_ptr<Runner> runner, const tokenizer::Tokenizer* tok,
               const EngineConfig& cfg)
    : core_(std::move(runner), tok, cfg) {
    core_.set_step_end_hook([this] { refresh_stats(); });
    refresh_stats();
    thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
}

Result<std::shared_ptr<Stream>> Engine::submit(Request r) {
    TK_RETURN_IF_ERROR(core_.validate(r));
    auto seq = core_.make_sequence(next_id_.fetch_add(1), std::move(r));
    auto stream = seq->stream;
    {
        std::lock_guard lock(mu_);
        inbox_.push_back(std::move(seq));
    }
    cv_.notify_one();
    return stream;
}

void Engine::cancel(uint64_t id) {
    {
        std::lock_guard lock(mu_);
        cancels_.push_back(id);
    }
    cv_.notify_one();
}

EngineStats Engine::stats() const {
    std::lock_guard lock(stats_mu_);
    return stats_;
}

void Engine::refresh_stats() {
    EngineStats s = core_.stats();
    std::lock_guard lock(stats_mu_);
    stats_ = s;
}

void Engine::loop() {
    std::vector<std::unique_ptr<Sequence>> arrived;
    std::vector<uint64_t> cancels;
    bool stalled = false;  // the last step changed nothing: wait for news before trying again
    for (;;) {
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] {
                return stop_ || !inbox_.empty() || !cancels_.empty() ||
                       (core_.has_work() && !stalled);
            });
            if (stop_) break;
            arrived.swap(inbox_);
            cancels.swap(cancels_);
        }
        for (auto& s : arrived) core_.add(std::move(s));
        arrived.clear();
        for (uint64_t id : cancels) core_.cancel(id);
        cancels.clear();
        stalled = core_.has_work() && !core_.step();
        if (!core_.has_work()) refresh_stats();
    }
    // Shutting down: requests not yet handed to the core end as cancelled too.
    std::vector<std::unique_ptr<Sequence>> left;
    {
        std::lock_guard lock(mu_);
        left.swap(inbox_);
    }
    for (auto& s : left) core_.add(std::move(s));
    core_.cancel_all();
    refresh_stats();
}

}  // namespace tk::engine
