#include "server/server.h"

#include "server/webui/webui.h"

namespace tk::server {

Server::Server(http::ServerConfig http_cfg, openai::ApiConfig api_cfg, bool webui)
    : api_(std::make_unique<openai::OpenAiApi>(std::move(api_cfg))) {
    http::Router router;
    api_->add_routes(router);
    if (webui) {
        webui::add_routes(router);
        for (const std::string& p : webui::paths()) http_cfg.auth_exempt_paths.push_back(p);
    }
    http_cfg.make_error = &openai::OpenAiApi::error_response;
    openai::OpenAiApi* api = api_.get();
    http_cfg.on_complete = [api](const http::HttpRequest& req, int status) {
        api->count_response(req, status);
    };
    http_ = std::make_unique<http::HttpServer>(std::move(http_cfg), std::move(router));
}

// The HTTP server goes first: its pending handlers may still reference the API.
Server::~Server() { http_.reset(); }

}  // namespace tk::server
