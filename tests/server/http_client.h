#pragma once
// A tiny blocking HTTP/1.1 client for the server tests: one socket, requests written raw,
// replies read with Content-Length or chunked framing. Every read has a receive timeout, so a
// hung server fails the test instead of hanging it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tk::server::testing {

struct Reply {
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;                            // de-chunked

    nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
    // The `data: ...` payloads of an SSE body, in order.
    std::vector<std::string> events() const {
        std::vector<std::string> out;
        size_t pos = 0;
        while (pos < body.size()) {
            size_t end = body.find("\n\n", pos);
            if (end == std::string::npos) end = body.size();
            const std::string frame = body.substr(pos, end - pos);
            if (frame.rfind("data: ", 0) == 0) out.push_back(frame.substr(6));
            pos = end + 2;
        }
        return out;
    }
};

class Client {
public:
    // rcvbuf > 0: SO_RCVBUF before connecting, so a test can make a client that stops reading
    // fill up quickly.
    explicit Client(int port, int timeout_s = 60, int rcvbuf = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        timeval tv{timeout_s, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~Client() { close(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool ok() const { return ok_; }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    bool send_raw(const std::string& s) {
        size_t off = 0;
        while (off < s.size()) {
            const ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return false;
            off += static_cast<size_t>(n);
        }
        return true;
    }

    bool send(const std::string& method, const std::string& path, const std::string& body = "",
              const std::vector<std::pair<std::string, std::string>>& headers = {}) {
        std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
        if (!body.empty() || method == "POST") {
            req +=
                "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\n";
        }
        req += "\r\n" + body;
        return send_raw(req);
    }

    // Reads one whole reply; status 0 if the connection failed first.
    Reply read_reply() {
        Reply r;
        if (!read_head(r)) return Reply{};
        if (r.headers["transfer-encoding"] == "chunked") {
            for (int guard = 0; guard < 1000000; ++guard) {
                auto line = read_line();
                if (!line) return Reply{};
                const size_t n = std::stoul(*line, nullptr, 16);
                if (n == 0) {
                    read_line();
                    break;
                }
                auto data = read_n(n + 2);
                if (!data) return Reply{};
                r.body += data->substr(0, n);
            }
        } else if (r.headers.count("content-length")) {
            auto data = read_n(std::stoul(r.headers["content-length"]));
            if (!data) return Reply{};
            r.body = *data;
        } else if (r.status != 204) {
            char buf[4096];
            for (;;) {
                const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
                if (n <= 0) break;
                r.body.append(buf, static_cast<size_t>(n));
            }
        }
        return r;
    }

    // Reads the status line and headers only (for streams read piece by piece).
    bool read_head(Reply& r) {
        auto status = read_line();
        if (!status || status->size() < 12) return false;
        r.status = std::stoi(status->substr(9, 3));
        for (int guard = 0; guard < 1000; ++guard) {
            auto line = read_line();
            if (!line) return false;
            if (line->empty()) return true;
            const size_t colon = line->find(':');
            if (colon == std::string::npos) continue;
            std::string name = line->substr(0, colon);
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            size_t v = colon + 1;
            while (v < line->size() && (*line)[v] == ' ') ++v;
            r.headers[name] = line->substr(v);
        }
        return false;
    }

    // Reads raw bytes until `needle` has been seen (or the connection ends); returns them.
    std::string read_until(const std::string& needle) {
        std::string out;
        for (int guard = 0; guard < 1000000 && out.find(needle) == std::string::npos; ++guard) {
            auto c = read_n(1);
            if (!c) break;
            out += *c;
        }
        return out;
    }

private:
    std::optional<std::string> read_line() {
        std::string line;
        for (int guard = 0; guard < (1 << 20); ++guard) {
            auto c = read_n(1);
            if (!c) return std::nullopt;
            if ((*c)[0] == '\n') {
                if (!line.empty() && line.back() == '\r') line.pop_back();
                return line;
            }
            line += *c;
        }
        return std::nullopt;
    }
    std::optional<std::string> read_n(size_t n) {
        std::string out;
        while (out.size() < n) {
            if (pos_ == buf_.size()) {
                buf_.resize(65536);
                const ssize_t got = ::recv(fd_, buf_.data(), buf_.size(), 0);
                if (got <= 0) {
                    buf_.clear();
                    pos_ = 0;
                    return std::nullopt;
                }
                buf_.resize(static_cast<size_t>(got));
                pos_ = 0;
            }
            const size_t take = std::min(n - out.size(), buf_.size() - pos_);
            out.append(buf_, pos_, take);
            pos_ += take;
        }
        return out;
    }

    int fd_ = -1;
    bool ok_ = false;
    std::string buf_;
    size_t pos_ = 0;
};

// One request on a fresh connection.
inline Reply request(int port, const std::string& method, const std::string& path,
                     const std::string& body = "",
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    Client c(port);
    if (!c.ok() || !c.send(method, path, body, headers)) return Reply{};
    return c.read_reply();
}

}  // namespace tk::server::testing
