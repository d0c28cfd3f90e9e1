#pragma once
// Shared state of the OpenAI API (api.cpp: routes, simple endpoints, metrics; generation.cpp:
// completions). Everything here is touched on the HTTP I/O thread only, except `ready`.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/openai/api.h"
#include "server/openai/params.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace tk::server::openai {

using Clock = std::chrono::steady_clock;

// Prometheus histogram with fixed bucket bounds in seconds.
struct Histogram {
    std::vector<double> bounds;
    std::vector<int64_t> counts;  // cumulative at render time; per-bucket here
    double sum = 0;
    int64_t count = 0;
    explicit Histogram(std::vector<double> b)
        : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}
    void observe(double v);
};

struct Metrics {
    // HTTP responses by (endpoint, status); unknown paths are counted as endpoint "other".
    std::map<std::pair<std::string, int>, int64_t> responses;
    int64_t prompt_tokens = 0;  // as usage counts them: once per prompt, not per choice
    int64_t generated_tokens = 0;
    int64_t rejected_overload = 0;
    int64_t cancelled_by_client = 0;
    Histogram ttft{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
    Histogram itl{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
};

struct OpenAiApi::State {
    ApiConfig cfg;
    std::atomic<bool> ready{false};
    engine::Engine* engine = nullptr;
    const tokenizer::Tokenizer* tok = nullptr;
    std::optional<tokenizer::ChatTemplate> tmpl;  // none: the ChatML-like fallback
    int64_t n_ctx = 0;
    int64_t capacity = 0;  // engine requests in flight at most: max_seqs + max_queue
    int64_t active = 0;    // engine requests in flight now
    int64_t created = 0;   // unix time of attach(): the model's "created"
    uint64_t next_id = 1;
    std::string fingerprint;
    Metrics metrics;
    FILE* log = nullptr;
    std::vector<std::string> paths;  // every routed path (metric labels)

    ~State();
    void write_log(const std::string& line);
    std::string new_id(bool chat);
};

bool is_completion_endpoint(std::string_view path);

// The completions endpoints (generation.cpp).
void handle_completion(const std::shared_ptr<OpenAiApi::State>& st, bool chat,
                       const http::HttpRequest& req, const std::shared_ptr<http::Exchange>& ex);
http::HttpResponse api_error_response(const ApiError& e);

}  // namespace tk::server::openai
