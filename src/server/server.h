#pragma once
// `tokamak serve` as a library: the HTTP core (http/) with the OpenAI API (openai/) mounted on
// it. Listen first, attach the engine once the model is loaded (until then /health says 503
// "loading"), run the I/O loop on one thread, shut down gracefully on a signal.
#include <chrono>
#include <memory>
#include <string>

#include "base/status.h"
#include "server/http/http_server.h"
#include "server/openai/api.h"

namespace tk::server {

class Server {
public:
    // `webui`: also serve the chat page (server/webui) at "/", without an API key.
    Server(http::ServerConfig http_cfg, openai::ApiConfig api_cfg, bool webui = false);
    ~Server();

    Status listen() { return http_->listen(); }
    int port() const { return http_->port(); }
    // From any thread, once: requests are served from now on.
    Status attach(engine::Engine* engine, const tokenizer::Tokenizer* tok,
                  const std::string& chat_template) {
        return api_->attach(engine, tok, chat_template);
    }
    void run() { http_->run(); }
    void shutdown(std::chrono::milliseconds grace) { http_->shutdown(grace); }
    void handle_signals(std::chrono::milliseconds grace) { http_->handle_signals(grace); }
    size_t open_connections() const { return http_->open_connections(); }

private:
    std::unique_ptr<openai::OpenAiApi> api_;
    std::unique_ptr<http::HttpServer> http_;
};

}  // namespace tk::server
