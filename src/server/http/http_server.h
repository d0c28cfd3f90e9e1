#pragma once
// An HTTP/1.1 server on Boost.Beast + Asio: one I/O thread serves every connection with
// asynchronous reads and writes (no thread per connection), keep-alive, a body size limit (413),
// API-key checks (401), CORS for configured origins, chunked server-sent events, and a graceful
// shutdown that stops accepting, lets open replies finish for a grace period, then closes.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "server/http/http_types.h"

namespace tk::server::http {

struct ServerConfig {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0: an ephemeral port (see HttpServer::port)
    size_t max_body_bytes = 16u << 20;
    size_t max_header_bytes = 64u << 10;
    // Requests must carry "Authorization: Bearer <one of these>" when any is set, except on
    // the exempt paths and CORS preflights.
    std::vector<std::string> api_keys;
    std::vector<std::string> auth_exempt_paths = {"/health"};
    // Origins that get Access-Control-Allow-* headers; "*" allows any.
    std::vector<std::string> cors_origins;
    // Closes a keep-alive connection that sends no new request for this long.
    std::chrono::milliseconds idle_timeout{60000};
    // Bytes queued for one client before its exchange reports backlogged() (a stream's producer
    // pauses); over 4x this an event stream is dropped as stuck. One full reply (respond()) is
    // always accepted whole.
    size_t write_buffer_bytes = 256u << 10;
    // A client whose socket accepts none of a queued write for this long is disconnected (its
    // request is cancelled, freeing its KV blocks). Writes go out in pieces of at most 64 KiB,
    // so a slow but live reader keeps making progress.
    std::chrono::milliseconds write_timeout{60000};
    // SO_SNDBUF for accepted sockets; 0 keeps the kernel's autotuned default. Small values make
    // backpressure reach the producer sooner (and deterministically in tests).
    int send_buffer_bytes = 0;
    // Builds error bodies (401, 404, 405, 413, 503) so the API layer picks their format.
    std::function<HttpResponse(int status, const std::string& message)> make_error;
    // Runs once per finished exchange, on the I/O thread: with the status sent, or 499 when the
    // client went away (or was dropped) before the reply was complete.
    std::function<void(const HttpRequest&, int status)> on_complete;
};

class HttpServer {
public:
    HttpServer(ServerConfig cfg, Router router);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Binds and listens (kIo naming the address on failure). port() is valid afterwards.
    Status listen();
    int port() const;

    // Serves on the calling thread until shutdown completes.
    void run();
    // Thread-safe: stop accepting, close idle connections, let replies in progress finish for
    // `grace`, then close what is left (their on_disconnect handlers run). run() returns after.
    void shutdown(std::chrono::milliseconds grace);
    // SIGINT and SIGTERM call shutdown(grace). Call before run().
    void handle_signals(std::chrono::milliseconds grace);
    // Connections open right now (for tests and metrics).
    size_t open_connections() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace tk::server::http
