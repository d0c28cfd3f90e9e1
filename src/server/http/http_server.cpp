#include "server/http/http_server.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_set>

namespace tk::server::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// Lets other threads post to the I/O loop for exactly as long as the server exists.
struct Poster {
    std::mutex mu;
    asio::io_context* ioc = nullptr;
    void post(std::function<void()> fn) {
        std::lock_guard lock(mu);
        if (ioc != nullptr) asio::post(*ioc, std::move(fn));
    }
};

constexpr size_t kWatchBufferLimit = 1u << 20;  // pipelined bytes buffered while a reply runs
constexpr size_t kDrainLimit = 4u << 20;        // bytes read and dropped before a polite close
constexpr auto kDrainTime = std::chrono::seconds(2);
constexpr size_t kWriteChunk = 64u << 10;  // bytes per write, so a slow reader shows progress

std::string reason(int status) {
    return std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(status)));
}

}  // namespace

class Connection;

struct HttpServer::Impl {
    ServerConfig cfg;
    Router router;
    bool destroying = false;
    std::unordered_set<Connection*> conns;  // every live connection; touched on the I/O thread
    std::atomic<size_t> n_conns{0};
    std::shared_ptr<Poster> poster = std::make_shared<Poster>();
    asio::io_context ioc{1};
    tcp::acceptor acceptor{ioc};
    std::optional<asio::signal_set> signals;
    asio::steady_timer grace_timer{ioc};
    bool stopping = false;
    int port = 0;

    Impl(ServerConfig c, Router r) : cfg(std::move(c)), router(std::move(r)) {
        poster->ioc = &ioc;
        if (!cfg.make_error) {
            cfg.make_error = [](int status, const std::string& message) {
                HttpResponse r;
                r.status = status;
                r.content_type = "text/plain";
                r.body = message + "\n";
                return r;
            };
        }
    }
    void accept();
    void begin_shutdown(std::chrono::milliseconds grace);
    void maybe_finish();
};

namespace {

class ExchangeImpl;

}  // namespace

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(tcp::socket s, HttpServer::Impl* srv)
        : sock_(std::move(s)), srv_(srv), timer_(srv->ioc), write_timer_(srv->ioc) {
        srv_->conns.insert(this);
        srv_->n_conns.store(srv_->conns.size());
    }
    ~Connection() {
        if (srv_->destroying) return;
        srv_->conns.erase(this);
        srv_->n_conns.store(srv_->conns.size());
        srv_->maybe_finish();
    }

    void start() {
        beast::error_code ec;
        sock_.set_option(tcp::no_delay(true), ec);
        if (srv_->cfg.send_buffer_bytes > 0)
            sock_.set_option(asio::socket_base::send_buffer_size(srv_->cfg.send_buffer_bytes), ec);
        read_request();
    }
    bool idle() const { return !ex_; }
    void close();

    // Exchange operations (I/O thread only); `ex` must be the current exchange.
    void respond(const ExchangeImpl* ex, HttpResponse r);
    void start_events(const ExchangeImpl* ex, int status, const std::vector<Header>& headers);
    void send_event(const ExchangeImpl* ex, std::string_view data);
    void end_events(const ExchangeImpl* ex);
    bool backlogged(const ExchangeImpl* ex) const {
        return !closed_ && ex == ex_.get() && outq_bytes_ >= srv_->cfg.write_buffer_bytes;
    }
    void on_writable(const ExchangeImpl* ex, std::function<void()> fn);

private:
    void read_request();
    void on_header(beast::error_code ec);
    void on_body(beast::error_code ec);
    void dispatch();
    void reject(int status, const std::string& message);
    void watch();
    void on_watch(beast::error_code ec, size_t n);
    void enqueue(std::string s);
    void do_write();
    void on_written(beast::error_code ec, size_t n);
    void after_reply();
    void polite_close();
    void drain();
    std::string common_headers() const;

    tcp::socket sock_;
    HttpServer::Impl* srv_;
    asio::steady_timer timer_;        // idle timeout, then the drain deadline
    asio::steady_timer write_timer_;  // write_timeout for the write in flight
    beast::flat_buffer buf_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    HttpRequest req_;
    std::shared_ptr<ExchangeImpl> ex_;  // the exchange in progress, if any
    std::string cors_;                  // Access-Control-* lines for this request's origin
    int status_ = 0;
    bool keep_alive_ = true;
    bool chunked_ = true;
    bool reading_ = false;  // a read is pending on the socket
    bool awaiting_header_ = false;
    bool writing_ = false;
    bool reply_started_ = false;
    bool reply_done_ = false;
    bool draining_ = false;
    bool closed_ = false;
    size_t drained_ = 0;
    std::deque<std::string> outq_;
    size_t outq_bytes_ = 0;  // unwritten bytes in outq_
    size_t out_off_ = 0;     // bytes of outq_.front() already written
    uint64_t write_seq_ = 0;
    std::function<void()> writable_;  // the exchange's on_writable, waiting for a drain
};

namespace {

class ExchangeImpl final : public Exchange {
public:
    ExchangeImpl(std::weak_ptr<Connection> c, std::shared_ptr<Poster> p)
        : conn_(std::move(c)), poster_(std::move(p)) {}

    void respond(HttpResponse r) override {
        if (auto c = conn_.lock()) c->respond(this, std::move(r));
    }
    void start_events(int status, std::vector<Header> headers) override {
        if (auto c = conn_.lock()) c->start_events(this, status, headers);
    }
    void send_event(std::string_view data) override {
        if (auto c = conn_.lock()) c->send_event(this, data);
    }
    void end_events() override {
        if (auto c = conn_.lock()) c->end_events(this);
    }
    void on_disconnect(std::function<void()> fn) override {
        if (gone_) {
            if (fn) fn();
            return;
        }
        on_gone_ = std::move(fn);
    }
    bool disconnected() const override { return gone_; }
    bool backlogged() const override {
        auto c = conn_.lock();
        return c && c->backlogged(this);
    }
    void on_writable(std::function<void()> fn) override {
        if (auto c = conn_.lock()) c->on_writable(this, std::move(fn));
    }
    void post(std::function<void()> fn) override { poster_->post(std::move(fn)); }

    void fire_disconnect() {
        if (gone_) return;
        gone_ = true;
        std::function<void()> fn;
        fn.swap(on_gone_);
        if (fn) fn();
    }

private:
    std::weak_ptr<Connection> conn_;
    std::shared_ptr<Poster> poster_;
    bool gone_ = false;
    std::function<void()> on_gone_;
};

}  // namespace

void Connection::read_request() {
    ex_.reset();
    req_ = HttpRequest{};
    cors_.clear();
    status_ = 0;
    reply_started_ = reply_done_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(srv_->cfg.max_header_bytes));
    parser_->body_limit(srv_->cfg.max_body_bytes);
    timer_.expires_after(srv_->cfg.idle_timeout);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec && self->awaiting_header_) self->close();
    });
    awaiting_header_ = true;
    reading_ = true;
    bhttp::async_read_header(
        sock_, buf_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
}

void Connection::on_header(beast::error_code ec) {
    reading_ = false;
    awaiting_header_ = false;
    timer_.cancel();
    if (closed_) return;
    if (ec == bhttp::error::header_limit) return reject(431, "request headers are too large");
    // Beast checks Content-Length against the body limit while parsing the header.
    if (ec == bhttp::error::body_limit) {
        return reject(413, "request body is over the limit of " +
                               std::to_string(srv_->cfg.max_body_bytes) + " bytes");
    }
    if (ec) return close();
    auto& h = parser_->get();
    keep_alive_ = h.keep_alive() && !srv_->stopping;
    chunked_ = h.version() >= 11;
    const auto len = parser_->content_length();
    if (len && *len > srv_->cfg.max_body_bytes) {
        return reject(413, "request body of " + std::to_string(*len) +
                               " bytes is over the limit of " +
                               std::to_string(srv_->cfg.max_body_bytes) + " bytes");
    }
    if (beast::iequals(h[bhttp::field::expect], "100-continue"))
        enqueue("HTTP/1.1 100 Continue\r\n\r\n");
    reading_ = true;
    bhttp::async_read(
        sock_, buf_, *parser_,
        [self = shared_from_this()](beast::error_code ec2, size_t) { self->on_body(ec2); });
}

void Connection::on_body(beast::error_code ec) {
    reading_ = false;
    if (closed_) return;
    if (ec == bhttp::error::body_limit) {
        return reject(413, "request body is over the limit of " +
                               std::to_string(srv_->cfg.max_body_bytes) + " bytes");
    }
    if (ec) return close();
    dispatch();
}

std::string Connection::common_headers() const {
    std::string s = cors_;
    if (!keep_alive_ || srv_->stopping) s += "Connection: close\r\n";
    return s;
}

void Connection::reject(int status, const std::string& message) {
    keep_alive_ = false;
    ex_ = std::make_shared<ExchangeImpl>(weak_from_this(), srv_->poster);
    if (parser_) {
        const auto& h = parser_->get();
        req_.method = std::string(h.method_string());
        req_.target = std::string(h.target());
        req_.path = req_.target.substr(0, req_.target.find('?'));
    }
    respond(ex_.get(), srv_->cfg.make_error(status, message));
}

void Connection::dispatch() {
    auto msg = parser_->release();
    req_.method = std::string(msg.method_string());
    req_.target = std::string(msg.target());
    req_.path = req_.target.substr(0, req_.target.find('?'));
    for (const auto& f : msg)
        req_.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    req_.body = std::move(msg.body());
    ex_ = std::make_shared<ExchangeImpl>(weak_from_this(), srv_->poster);
    auto ex = ex_;  // the handler may finish the exchange and start the next read

    const std::string_view origin = req_.header("Origin");
    bool origin_ok = false;
    if (!origin.empty()) {
        for (const std::string& o : srv_->cfg.cors_origins)
            origin_ok = origin_ok || o == "*" || o == origin;
    }
    if (origin_ok)
        cors_ = "Access-Control-Allow-Origin: " + std::string(origin) + "\r\nVary: Origin\r\n";

    if (req_.method == "OPTIONS") {
        // CORS preflight: answered here, without authentication, as browsers send no credentials.
        HttpResponse r;
        r.status = 204;
        r.content_type.clear();
        if (origin_ok) {
            r.headers.push_back({"Access-Control-Allow-Methods", "GET, POST, OPTIONS"});
            r.headers.push_back({"Access-Control-Allow-Headers", "Authorization, Content-Type"});
            r.headers.push_back({"Access-Control-Max-Age", "600"});
        }
        return respond(ex.get(), std::move(r));
    }

    const auto& cfg = srv_->cfg;
    bool exempt = false;
    for (const std::string& p : cfg.auth_exempt_paths) exempt = exempt || p == req_.path;
    if (!cfg.api_keys.empty() && !exempt) {
        const std::string_view auth = req_.header("Authorization");
        constexpr std::string_view kBearer = "Bearer ";
        bool ok = false;
        if (auth.size() > kBearer.size() &&
            beast::iequals(beast::string_view(auth.data(), kBearer.size()), "Bearer ")) {
            const std::string_view key = auth.substr(kBearer.size());
            // Every key is compared, match or not, so timing does not say which one matched.
            for (const std::string& k : cfg.api_keys) ok = constant_time_equal(key, k) || ok;
        }
        if (!ok) {
            HttpResponse r =
                cfg.make_error(401, "invalid or missing API key (Authorization: Bearer KEY)");
            r.headers.push_back({"WWW-Authenticate", "Bearer"});
            return respond(ex.get(), std::move(r));
        }
    }

    int status = 0;
    const Handler* h = srv_->router.find(req_.method, req_.path, &status);
    if (h == nullptr) {
        HttpResponse r = cfg.make_error(
            status, status == 404 ? "no such endpoint: " + req_.method + " " + req_.path
                                  : "method " + req_.method + " not allowed on " + req_.path);
        if (status == 405) {
            std::string allow;
            for (const std::string& m : srv_->router.methods_for(req_.path))
                allow += (allow.empty() ? "" : ", ") + m;
            r.headers.push_back({"Allow", allow});
        }
        return respond(ex.get(), std::move(r));
    }
    (*h)(req_, ex);
    // While the reply is being produced, keep a read pending so a vanished client is noticed
    // (and its request cancelled) even before anything is written.
    if (ex_ == ex && !reply_done_) watch();
}

void Connection::watch() {
    if (reading_ || closed_ || buf_.size() > kWatchBufferLimit) return;
    reading_ = true;
    sock_.async_read_some(
        buf_.prepare(4096),
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_watch(ec, n); });
}

void Connection::on_watch(beast::error_code ec, size_t n) {
    reading_ = false;
    if (closed_) return;
    if (draining_) {
        drained_ += n;
        if (ec || drained_ > kDrainLimit) return close();
        buf_.consume(buf_.size());
        return drain();
    }
    if (ec) return close();  // EOF or reset: the client is gone
    buf_.commit(n);          // a pipelined next request: kept for read_request()
    if (ex_) return watch();
    read_request();
}

void Connection::respond(const ExchangeImpl* ex, HttpResponse r) {
    if (closed_ || ex != ex_.get() || reply_started_) return;
    reply_started_ = true;
    status_ = r.status;
    std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
    if (!r.content_type.empty()) out += "Content-Type: " + r.content_type + "\r\n";
    if (r.status != 204 && r.status != 304)
        out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    for (const Header& h : r.headers) out += h.name + ": " + h.value + "\r\n";
    out += common_headers();
    out += "\r\n";
    if (r.status != 204 && r.status != 304) out += r.body;
    reply_done_ = true;
    enqueue(std::move(out));
}

void Connection::start_events(const ExchangeImpl* ex, int status,
                              const std::vector<Header>& headers) {
    if (closed_ || ex != ex_.get() || reply_started_) return;
    reply_started_ = true;
    status_ = status;
    // Without chunked encoding (HTTP/1.0) the end of the stream is the end of the connection.
    if (!chunked_) keep_alive_ = false;
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
    out += "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n";
    if (chunked_) out += "Transfer-Encoding: chunked\r\n";
    for (const Header& h : headers) out += h.name + ": " + h.value + "\r\n";
    out += common_headers();
    out += "\r\n";
    enqueue(std::move(out));
}

void Connection::send_event(const ExchangeImpl* ex, std::string_view data) {
    if (closed_ || ex != ex_.get() || !reply_started_ || reply_done_) return;
    // A producer that ignores backlogged() meets this cap: the client is not reading, and
    // buffering without bound is not an option.
    if (outq_bytes_ > 4 * srv_->cfg.write_buffer_bytes) return close();
    std::string frame = "data: ";
    frame += data;
    frame += "\n\n";
    if (chunked_) {
        char size[24];
        std::snprintf(size, sizeof size, "%zx\r\n", frame.size());
        frame = size + frame + "\r\n";
    }
    enqueue(std::move(frame));
}

void Connection::end_events(const ExchangeImpl* ex) {
    if (closed_ || ex != ex_.get() || !reply_started_ || reply_done_) return;
    reply_done_ = true;
    enqueue(chunked_ ? "0\r\n\r\n" : "");
}

void Connection::on_writable(const ExchangeImpl* ex, std::function<void()> fn) {
    if (closed_ || ex != ex_.get()) return;
    if (outq_bytes_ < srv_->cfg.write_buffer_bytes / 2) {
        if (fn) asio::post(srv_->ioc, std::move(fn));
        return;
    }
    writable_ = std::move(fn);
}

void Connection::enqueue(std::string s) {
    if (closed_) return;
    outq_bytes_ += s.size();
    outq_.push_back(std::move(s));
    if (!writing_) do_write();
}

void Connection::do_write() {
    writing_ = true;
    const std::string& front = outq_.front();
    const size_t n = std::min(kWriteChunk, front.size() - out_off_);
    const uint64_t seq = ++write_seq_;
    write_timer_.expires_after(srv_->cfg.write_timeout);
    write_timer_.async_wait([self = shared_from_this(), seq](beast::error_code ec) {
        // The client has not taken a single piece for write_timeout: it is stuck or gone.
        if (!ec && self->writing_ && self->write_seq_ == seq) self->close();
    });
    asio::async_write(sock_, asio::buffer(front.data() + out_off_, n),
                      [self = shared_from_this()](beast::error_code ec, size_t written) {
                          self->on_written(ec, written);
                      });
}

void Connection::on_written(beast::error_code ec, size_t n) {
    writing_ = false;
    if (closed_) return;
    if (ec) return close();  // a failed write: the client is gone
    out_off_ += n;
    outq_bytes_ -= n;
    if (out_off_ == outq_.front().size()) {
        outq_.pop_front();
        out_off_ = 0;
    }
    if (writable_ && outq_bytes_ < srv_->cfg.write_buffer_bytes / 2) {
        // Posted, not called: the producer would enqueue from inside this handler.
        asio::post(srv_->ioc, std::move(writable_));
        writable_ = nullptr;
    }
    if (!outq_.empty()) return do_write();
    write_timer_.cancel();
    if (reply_done_ && ex_) after_reply();
}

void Connection::after_reply() {
    if (srv_->cfg.on_complete) srv_->cfg.on_complete(req_, status_);
    ex_.reset();
    if (!keep_alive_ || srv_->stopping) return polite_close();
    if (!reading_) read_request();  // else the pending watch read turns into the next request
}

void Connection::polite_close() {
    // Half-close and read what the client still sends, so an unread request body does not turn
    // our last reply into a connection reset on the client's side.
    beast::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_send, ec);
    draining_ = true;
    timer_.expires_after(kDrainTime);
    timer_.async_wait([self = shared_from_this()](beast::error_code e) {
        if (!e) self->close();
    });
    if (!reading_) drain();
}

void Connection::drain() {
    reading_ = true;
    sock_.async_read_some(
        buf_.prepare(16384),
        [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_watch(ec, n); });
}

void Connection::close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    sock_.shutdown(tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    timer_.cancel();
    write_timer_.cancel();
    writable_ = nullptr;
    // outq_ stays: a write in flight may still point into it until its handler runs.
    if (ex_) {
        auto ex = std::move(ex_);
        // A reply fully produced counts with its status even if the last bytes did not go out;
        // one cut short is 499 (nginx's "client closed request").
        if (srv_->cfg.on_complete) srv_->cfg.on_complete(req_, reply_done_ ? status_ : 499);
        if (!reply_done_ || writing_) ex->fire_disconnect();
    }
}

void HttpServer::Impl::accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket sock) {
        if (stopping) return;
        if (!ec) std::make_shared<Connection>(std::move(sock), this)->start();
        if (ec == asio::error::operation_aborted) return;
        accept();
    });
}

void HttpServer::Impl::begin_shutdown(std::chrono::milliseconds grace) {
    if (stopping) return;
    stopping = true;
    beast::error_code ec;
    acceptor.close(ec);
    if (signals) signals->cancel(ec);
    const std::vector<Connection*> all(conns.begin(), conns.end());
    for (Connection* c : all) {
        if (c->idle()) c->close();
    }
    grace_timer.expires_after(grace);
    grace_timer.async_wait([this](beast::error_code e) {
        if (e) return;
        const std::vector<Connection*> left(conns.begin(), conns.end());
        for (Connection* c : left) c->close();
    });
    maybe_finish();
}

void HttpServer::Impl::maybe_finish() {
    if (!stopping || !conns.empty()) return;
    grace_timer.cancel();
    ioc.stop();
}

HttpServer::HttpServer(ServerConfig cfg, Router router)
    : impl_(std::make_shared<Impl>(std::move(cfg), std::move(router))) {}

HttpServer::~HttpServer() {
    {
        std::lock_guard lock(impl_->poster->mu);
        impl_->poster->ioc = nullptr;
    }
    impl_->destroying = true;
}

Status HttpServer::listen() {
    Impl& s = *impl_;
    const std::string where = s.cfg.host + ":" + std::to_string(s.cfg.port);
    beast::error_code ec;
    tcp::resolver resolver(s.ioc);
    auto results = resolver.resolve(s.cfg.host, std::to_string(s.cfg.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
        return make_error(ErrorCode::kIo,
                          "cannot resolve " + where + ": " + (ec ? ec.message() : "no address"));
    }
    const tcp::endpoint ep = results.begin()->endpoint();
    s.acceptor.open(ep.protocol(), ec);
    if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) s.acceptor.bind(ep, ec);
    if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return make_error(ErrorCode::kIo, "cannot listen on " + where + ": " + ec.message());
    s.port = s.acceptor.local_endpoint(ec).port();
    s.accept();
    return Status::ok();
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::run() { impl_->ioc.run(); }

void HttpServer::shutdown(std::chrono::milliseconds grace) {
    std::weak_ptr<Impl> weak = impl_;
    impl_->poster->post([weak, grace] {
        if (auto s = weak.lock()) s->begin_shutdown(grace);
    });
}

void HttpServer::handle_signals(std::chrono::milliseconds grace) {
    Impl& s = *impl_;
    s.signals.emplace(s.ioc, SIGINT, SIGTERM);
    s.signals->async_wait([impl = impl_.get(), grace](beast::error_code ec, int) {
        if (!ec) impl->begin_shutdown(grace);
    });
}

size_t HttpServer::open_connections() const { return impl_->n_conns.load(); }

}  // namespace tk::server::http
