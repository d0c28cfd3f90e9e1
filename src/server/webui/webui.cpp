#include "server/webui/webui.h"

#include <memory>

#include "server/webui/embedded.h"

namespace tk::server::webui {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string content_type_for(std::string_view name) {
    if (ends_with(name, ".html")) return "text/html; charset=utf-8";
    if (ends_with(name, ".js")) return "text/javascript; charset=utf-8";
    if (ends_with(name, ".css")) return "text/css; charset=utf-8";
    if (ends_with(name, ".svg")) return "image/svg+xml";
    return "application/octet-stream";
}

std::vector<Asset> build_assets() {
    std::vector<Asset> out;
    for (size_t i = 0; i < detail::kEmbeddedFileCount; ++i) {
        const detail::EmbeddedFile& f = detail::kEmbeddedFiles[i];
        const std::string_view name(f.name);
        Asset a;
        a.path = name == "index.html" ? "/" : "/webui/" + std::string(name);
        a.content_type = content_type_for(name);
        a.body = std::string_view(reinterpret_cast<const char*>(f.data), f.size);
        // 80 bits of the digest: plenty to tell versions of one file apart.
        a.etag = "\"" + std::string(f.sha256).substr(0, 20) + "\"";
        if (name == "index.html")
            out.insert(out.begin(), std::move(a));
        else
            out.push_back(std::move(a));
    }
    return out;
}

// If-None-Match holds "*" or a comma-separated list of (possibly weak, W/"...") tags.
bool etag_matches(std::string_view header, std::string_view etag) {
    size_t pos = 0;
    while (pos < header.size()) {
        size_t end = header.find(',', pos);
        if (end == std::string_view::npos) end = header.size();
        std::string_view t = header.substr(pos, end - pos);
        while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
        if (t.substr(0, 2) == "W/") t.remove_prefix(2);
        if (t == "*" || t == etag) return true;
        pos = end + 1;
    }
    return false;
}

// The page loads only its own files and talks only to its own server; nothing inline.
constexpr const char* kPagePolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace

const std::vector<Asset>& assets() {
    static const std::vector<Asset> all = build_assets();
    return all;
}

const Asset* find_asset(std::string_view path) {
    if (path == "/index.html") path = "/";
    for (const Asset& a : assets()) {
        if (a.path == path) return &a;
    }
    return nullptr;
}

http::HttpResponse respond(const Asset& a, std::string_view if_none_match) {
    http::HttpResponse r;
    // no-cache: the browser may keep the file but asks each time; the ETag makes that a 304.
    r.headers.push_back({"ETag", a.etag});
    r.headers.push_back({"Cache-Control", "no-cache"});
    if (!if_none_match.empty() && etag_matches(if_none_match, a.etag)) {
        r.status = 304;
        r.content_type.clear();
        return r;
    }
    r.status = 200;
    r.content_type = a.content_type;
    r.body = std::string(a.body);
    r.headers.push_back({"X-Content-Type-Options", "nosniff"});
    if (a.path == "/") r.headers.push_back({"Content-Security-Policy", kPagePolicy});
    return r;
}

void add_routes(http::Router& router) {
    for (const std::string& p : paths()) {
        router.add("GET", p, [](const http::HttpRequest& req, std::shared_ptr<http::Exchange> ex) {
            const Asset* a = find_asset(req.path);
            if (a != nullptr) ex->respond(respond(*a, req.header("If-None-Match")));
        });
    }
}

std::vector<std::string> paths() {
    std::vector<std::string> out;
    for (const Asset& a : assets()) out.push_back(a.path);
    out.push_back("/index.html");
    return out;
}

}  // namespace tk::server::webui
