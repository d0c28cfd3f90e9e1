#pragma once
// Plain HTTP types shared by the server core and its handlers. Nothing here knows of Boost or of
// OpenAI: handlers see a parsed request and answer through an Exchange.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tk::server::http {

struct Header {
    std::string name;
    std::string value;
};

struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // as sent: "/v1/models?x=1"
    std::string path;    // target without the query: "/v1/models"
    std::vector<Header> headers;
    std::string body;

    // Case-insensitive lookup; "" when absent.
    std::string_view header(std::string_view name) const;
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::vector<Header> headers;
    std::string body;
};

// One request's reply channel. Every method except post() must be called on the server's I/O
// thread; post() may be called from any thread (the engine's) and runs the function there.
// A reply is either respond() once, or start_events(), any number of send_event(), end_events().
class Exchange {
public:
    virtual ~Exchange() = default;
    virtual void respond(HttpResponse r) = 0;
    // Server-sent events: status line and headers, then `data: ...\n\n` frames.
    virtual void start_events(int status, std::vector<Header> headers = {}) = 0;
    virtual void send_event(std::string_view data) = 0;
    virtual void end_events() = 0;
    // Runs once, on the I/O thread, if the client goes away (or the server gives up on it at the
    // end of a shutdown grace period) before the reply is complete. Runs at once if already gone.
    virtual void on_disconnect(std::function<void()> fn) = 0;
    virtual bool disconnected() const = 0;
    // Write backpressure for event streams: true while the bytes queued for this client are at
    // or over ServerConfig::write_buffer_bytes. A producer then stops and registers
    // on_writable(fn), which runs once (posted to the I/O thread) when the queue has drained to
    // half of that. A client that stops reading thus holds the producer, not server memory.
    virtual bool backlogged() const = 0;
    virtual void on_writable(std::function<void()> fn) = 0;
    // Queues fn to run on the I/O thread; dropped if the server is gone.
    virtual void post(std::function<void()> fn) = 0;
};

using Handler = std::function<void(const HttpRequest&, std::shared_ptr<Exchange>)>;

// Exact-path routing by method. find() gives nullptr and sets *status to 404 (no such path) or
// 405 (path known, method not).
class Router {
public:
    void add(std::string method, std::string path, Handler h);
    const Handler* find(std::string_view method, std::string_view path, int* status) const;
    std::vector<std::string> methods_for(std::string_view path) const;

private:
    struct Route {
        std::string method, path;
        Handler handler;
    };
    std::vector<Route> routes_;
};

// Compares without an early exit, so the time taken does not reveal how much of a secret matched.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace tk::server::http
