#pragma once
// The OpenAI-compatible API on top of the engine: /v1/chat/completions, /v1/completions (SSE
// streaming or not), /v1/models, /health, /tokenize, /detokenize and /metrics. It is the only
// JSON user of the server; http/ carries its bytes. All handlers run on the HTTP I/O thread;
// engine streams wake it through Exchange::post, so no thread ever blocks on a stream.
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "server/http/http_types.h"

namespace tk::engine {
class Engine;
}
namespace tk::tokenizer {
class Tokenizer;
}

namespace tk::server::openai {

struct ApiConfig {
    std::string model_name = "tokamak";
    // Engine requests allowed to wait beyond the engine's max_seqs running ones; more -> 503.
    int64_t max_queue = 64;
    bool metrics = false;     // serve GET /metrics
    std::string request_log;  // JSONL file, one line per finished request; "" for none
    bool log_prompts = false;
    int retry_after_s = 1;
};

class OpenAiApi {
public:
    explicit OpenAiApi(ApiConfig cfg);
    ~OpenAiApi();
    OpenAiApi(const OpenAiApi&) = delete;
    OpenAiApi& operator=(const OpenAiApi&) = delete;

    // Registers every endpoint. Until attach() they answer 503 (/health: {"status":"loading"}).
    void add_routes(http::Router& router);
    // Once, from any thread: the loaded model. `chat_template` is the model's Jinja source, or ""
    // for the ChatML-like fallback. Fails for a template that does not parse or an unwritable log.
    Status attach(engine::Engine* engine, const tokenizer::Tokenizer* tok,
                  const std::string& chat_template);

    // Error replies in OpenAI's shape, for the HTTP layer's own errors (401, 404, 413, ...).
    static http::HttpResponse error_response(int status, const std::string& message);
    // Counts a finished exchange by status (hook it to ServerConfig::on_complete).
    void count_response(const http::HttpRequest& req, int status);

    struct State;

private:
    std::shared_ptr<State> s_;
};

}  // namespace tk::server::openai
