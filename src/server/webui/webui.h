#pragma once
// The built-in chat page of `tokamak serve`: index.html, app.js, markdown.js, style.css and
// favicon.svg from this directory, compiled into the binary (embed.cmake), served at "/" and "/webui/<file>" with
// their content types, an ETag from the bytes' SHA-256 and `Cache-Control: no-cache`, so a
// browser keeps a copy and revalidates it with one cheap 304 per load.
#include <string>
#include <string_view>
#include <vector>

#include "server/http/http_types.h"

namespace tk::server::webui {

struct Asset {
    std::string path;               // URL path: "/" for index.html, else "/webui/<file>"
    std::string content_type;       // e.g. "text/javascript; charset=utf-8"
    std::string_view body;          // the embedded bytes (static storage)
    std::string etag;               // strong validator, quoted
};

// Every page file, index first.
const std::vector<Asset>& assets();
// The asset served at `path`, or nullptr.
const Asset* find_asset(std::string_view path);
// The reply to a GET of `a`: 200 with the body, or 304 when `if_none_match` names its ETag.
http::HttpResponse respond(const Asset& a, std::string_view if_none_match);
// Registers GET for every asset path. Their paths must also be exempt from API-key checks
// (a browser cannot attach a key when it loads a page); see paths().
void add_routes(http::Router& router);
std::vector<std::string> paths();

}  // namespace tk::server::webui
