#include <algorithm>
#include <cctype>

#include "server/http/http_types.h"

namespace tk::server::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

}  // namespace

std::string_view HttpRequest::header(std::string_view name) const {
    for (const Header& h : headers) {
        if (iequals(h.name, name)) return h.value;
    }
    return {};
}

void Router::add(std::string method, std::string path, Handler h) {
    routes_.push_back({std::move(method), std::move(path), std::move(h)});
}

const Handler* Router::find(std::string_view method, std::string_view path, int* status) const {
    bool path_known = false;
    for (const Route& r : routes_) {
        if (r.path != path) continue;
        path_known = true;
        if (r.method == method) return &r.handler;
    }
    *status = path_known ? 405 : 404;
    return nullptr;
}

std::vector<std::string> Router::methods_for(std::string_view path) const {
    std::vector<std::string> out;
    for (const Route& r : routes_) {
        if (r.path == path) out.push_back(r.method);
    }
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    // Walk the longer length so the loop count does not depend on where the strings differ.
    const size_t n = std::max(a.size(), b.size());
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned>(x ^ y);
    }
    return diff == 0;
}

}  // namespace tk::server::http
