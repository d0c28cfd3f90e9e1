#pragma once
// The in-process server over the real stories260K model for the server tests: a ModelRunner
// whose steps wait at a gate (so overload, disconnects and backpressure are reproduced without
// timing luck) and a Harness that runs Server + Engine on 127.0.0.1 with an ephemeral port.
#include <gtest/gtest.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/engine.h"
#include "engine/runner.h"
#include "http_client.h"
#include "model/model.h"
#include "server/server.h"
#include "testutil/testutil.h"

namespace tk::server::testing {

using json = nlohmann::json;

inline const model::Model& stories() {
    static std::unique_ptr<model::Model> m = [] {
        model::LoadOptions lo;
        lo.n_threads = 1;
        auto r = model::Model::load(tk::testing::shared_path("models/gguf/stories260K.gguf"), lo);
        EXPECT_TRUE(r.is_ok()) << r.status().to_string();
        return std::move(r).value();
    }();
    return *m;
}

// A ModelRunner whose steps wait for permission: `allow(n)` lets n more steps run.
class GatedRunner final : public engine::Runner {
public:
    explicit GatedRunner(const model::Model& m) : inner_(m, 256, 16) {}
    int32_t n_vocab() const override { return inner_.n_vocab(); }
    int64_t max_context() const override { return inner_.max_context(); }
    int64_t n_blocks() const override { return inner_.n_blocks(); }
    int64_t block_size() const override { return inner_.block_size(); }
    void copy_block(int32_t src, int32_t dst) override { inner_.copy_block(src, dst); }
    void run(const model::Batch& batch, float* logits) override {
        {
            std::unique_lock lock(mu_);
            ++waiting_;
            cv_.notify_all();
            // Bounded: a test that forgets to open the gate fails instead of hanging.
            cv_.wait_for(lock, std::chrono::seconds(30), [&] { return budget_ != 0; });
            --waiting_;
            if (budget_ > 0) --budget_;
        }
        inner_.run(batch, logits);
    }
    void allow(int64_t n) {  // -1: open for good
        std::lock_guard lock(mu_);
        budget_ = n;
        cv_.notify_all();
    }
    // Waits until a step is blocked at the gate.
    bool wait_blocked() {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return waiting_ > 0; });
    }

private:
    engine::ModelRunner inner_;
    std::mutex mu_;
    std::condition_variable cv_;
    int64_t budget_ = -1;
    int waiting_ = 0;
};

struct Harness {
    GatedRunner* gate = nullptr;
    std::unique_ptr<engine::Engine> engine;
    std::unique_ptr<Server> srv;
    std::thread io;
    int port = 0;

    explicit Harness(http::ServerConfig hc = {}, openai::ApiConfig ac = {}, int64_t max_seqs = 8) {
        const model::Model& m = stories();
        auto runner = std::make_unique<GatedRunner>(m);
        gate = runner.get();
        engine::EngineConfig ec;
        ec.max_seqs = max_seqs;
        engine = std::make_unique<engine::Engine>(std::move(runner), &m.tokenizer(), ec);
        hc.host = "127.0.0.1";
        hc.port = 0;
        if (ac.model_name == "tokamak") ac.model_name = "stories";
        srv = std::make_unique<Server>(hc, ac);
        EXPECT_TRUE(srv->listen().is_ok());
        port = srv->port();
        EXPECT_TRUE(srv->attach(engine.get(), &m.tokenizer(), "").is_ok());
        io = std::thread([this] { srv->run(); });
    }
    ~Harness() {
        gate->allow(-1);
        srv->shutdown(std::chrono::milliseconds(0));
        io.join();
        srv.reset();
        engine.reset();
    }
    // Polls the engine's stats until `pred` holds: bounded in count and time.
    template <typename Pred>
    bool wait_stats(Pred pred) {
        for (int i = 0; i < 2000; ++i) {
            if (pred(engine->stats())) return true;
            std::unique_lock lock(poll_mu_);
            poll_cv_.wait_for(lock, std::chrono::milliseconds(5));
        }
        return false;
    }
    bool wait_connections(size_t n) {
        for (int i = 0; i < 2000; ++i) {
            if (srv->open_connections() == n) return true;
            std::unique_lock lock(poll_mu_);
            poll_cv_.wait_for(lock, std::chrono::milliseconds(5));
        }
        return false;
    }
    std::mutex poll_mu_;
    std::condition_variable poll_cv_;
};

inline Reply post(int port, const std::string& path, const json& body,
           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return request(port, "POST", path, body.dump(), headers);
}

}  // namespace tk::server::testing
