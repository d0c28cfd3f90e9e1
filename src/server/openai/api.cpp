#include "server/openai/api.h"

#include <algorithm>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "server/openai/api_internal.h"

namespace tk::server::openai {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

http::HttpResponse json_response(int status, const json& j) {
    http::HttpResponse r;
    r.status = status;
    r.body = dump(j);
    return r;
}

const char* type_for(int status) {
    switch (status) {
        case 401:
            return "authentication_error";
        case 404:
            return "not_found_error";
        default:
            return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

void not_ready(const std::shared_ptr<http::Exchange>& ex) {
    ex->respond(api_error_response(
        {503, "the model is still loading", "server_error", "", "model_loading"}));
}

void render_histogram(std::ostringstream& o, const std::string& name, const std::string& help,
                      const Histogram& h) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
    int64_t cum = 0;
    for (size_t i = 0; i < h.bounds.size(); ++i) {
        cum += h.counts[i];
        o << name << "_bucket{le=\"" << h.bounds[i] << "\"} " << cum << "\n";
    }
    cum += h.counts.back();
    o << name << "_bucket{le=\"+Inf\"} " << cum << "\n";
    o << name << "_sum " << h.sum << "\n" << name << "_count " << h.count << "\n";
}

void metric(std::ostringstream& o, const char* name, const char* type, const char* help, double v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n"
      << name << " " << v << "\n";
}

std::string render_metrics(OpenAiApi::State& st) {
    std::ostringstream o;
    o.precision(10);
    const engine::EngineStats es = st.engine->stats();
    o << "# HELP tokamak_requests_total HTTP requests finished, by endpoint and status code "
         "(499: the client went away first).\n"
         "# TYPE tokamak_requests_total counter\n";
    for (const auto& [key, n] : st.metrics.responses) {
        o << "tokamak_requests_total{endpoint=\"" << key.first << "\",status=\"" << key.second
          << "\"} " << n << "\n";
    }
    metric(o, "tokamak_requests_rejected_overload_total", "counter",
           "Requests refused with 503 because the queue was full.",
           static_cast<double>(st.metrics.rejected_overload));
    metric(o, "tokamak_requests_cancelled_by_client_total", "counter",
           "Requests whose client went away before the end.",
           static_cast<double>(st.metrics.cancelled_by_client));
    metric(o, "tokamak_requests_in_flight", "gauge",
           "Engine requests admitted and not yet finished.", static_cast<double>(st.active));
    metric(o, "tokamak_queue_length", "gauge", "Sequences waiting in the engine.",
           static_cast<double>(es.waiting));
    metric(o, "tokamak_running_sequences", "gauge", "Sequences running in the engine.",
           static_cast<double>(es.running));
    metric(o, "tokamak_kv_blocks_used", "gauge", "KV cache blocks referenced by sequences.",
           static_cast<double>(es.kv.used));
    metric(o, "tokamak_kv_blocks_total", "gauge", "KV cache blocks in the pool.",
           static_cast<double>(es.kv.total));
    metric(o, "tokamak_prefix_cache_hit_rate", "gauge",
           "Prompt tokens served from the prefix cache / prompt tokens looked up.",
           es.kv.hit_rate());
    metric(o, "tokamak_prompt_tokens_total", "counter", "Prompt tokens submitted.",
           static_cast<double>(st.metrics.prompt_tokens));
    metric(o, "tokamak_generation_tokens_total", "counter", "Tokens generated and delivered.",
           static_cast<double>(st.metrics.generated_tokens));
    metric(o, "tokamak_engine_preemptions_total", "counter",
           "Sequences preempted for lack of KV blocks.", static_cast<double>(es.preemptions));
    metric(o, "tokamak_spec_draft_tokens_total", "counter",
           "Speculative decoding: draft tokens verified by the model.",
           static_cast<double>(es.spec_drafted));
    metric(o, "tokamak_spec_accepted_tokens_total", "counter",
           "Speculative decoding: draft tokens the model accepted.",
           static_cast<double>(es.spec_accepted));
    metric(o, "tokamak_spec_acceptance_rate", "gauge",
           "Speculative decoding: accepted / drafted tokens since start (0 when off).",
           es.spec_drafted > 0 ? static_cast<double>(es.spec_accepted) /
                                     static_cast<double>(es.spec_drafted)
                               : 0.0);
    render_histogram(o, "tokamak_time_to_first_token_seconds",
                     "Time from request to its first generated token.", st.metrics.ttft);
    render_histogram(o, "tokamak_inter_token_latency_seconds",
                     "Time between consecutive tokens of one choice.", st.metrics.itl);
    return o.str();
}

}  // namespace

void Histogram::observe(double v) {
    size_t i = 0;
    while (i < bounds.size() && v > bounds[i]) ++i;
    ++counts[i];
    sum += v;
    ++count;
}

OpenAiApi::State::~State() {
    if (log != nullptr) std::fclose(log);
}

std::string OpenAiApi::State::new_id(bool chat) {
    return (chat ? "chatcmpl-" : "cmpl-") + std::to_string(created) + "-" +
           std::to_string(next_id++);
}

bool is_completion_endpoint(std::string_view path) {
    return path == "/v1/chat/completions" || path == "/v1/completions";
}

void OpenAiApi::State::write_log(const std::string& line) {
    if (log == nullptr) return;
    std::fputs(line.c_str(), log);
    std::fputc('\n', log);
    std::fflush(log);
}

http::HttpResponse api_error_response(const ApiError& e) {
    http::HttpResponse r;
    r.status = e.status;
    r.body = error_json(e);
    return r;
}

http::HttpResponse OpenAiApi::error_response(int status, const std::string& message) {
    ApiError e;
    e.status = status;
    e.message = message;
    e.type = type_for(status);
    if (status == 401) e.code = "invalid_api_key";
    if (status == 413) e.code = "request_too_large";
    return api_error_response(e);
}

OpenAiApi::OpenAiApi(ApiConfig cfg) : s_(std::make_shared<State>()) { s_->cfg = std::move(cfg); }

OpenAiApi::~OpenAiApi() = default;

Status OpenAiApi::attach(engine::Engine* engine, const tokenizer::Tokenizer* tok,
                         const std::string& chat_template) {
    State& s = *s_;
    if (!chat_template.empty()) {
        auto t = tokenizer::ChatTemplate::parse(chat_template);
        if (!t.is_ok())
            return make_error(ErrorCode::kInvalidArgument,
                              "model chat template: " + t.status().message());
        s.tmpl = std::move(*t);
    }
    if (!s.cfg.request_log.empty()) {
        s.log = std::fopen(s.cfg.request_log.c_str(), "a");
        if (s.log == nullptr)
            return make_error(ErrorCode::kIo, "cannot open request log " + s.cfg.request_log);
    }
    s.engine = engine;
    s.tok = tok;
    s.n_ctx = engine->config().n_ctx;
    s.capacity = engine->config().max_seqs + std::max<int64_t>(s.cfg.max_queue, 0);
    s.created = static_cast<int64_t>(std::time(nullptr));
    s.fingerprint = "tokamak-0.1.0";
    s.ready.store(true, std::memory_order_release);
    return Status::ok();
}

void OpenAiApi::count_response(const http::HttpRequest& req, int status) {
    State& s = *s_;
    const bool known = std::find(s.paths.begin(), s.paths.end(), req.path) != s.paths.end();
    ++s.metrics.responses[{known ? req.path : "other", status}];
    // The completion handlers log what they answer themselves (200, 400, 499, 500, 503); the
    // HTTP layer's own refusals of those endpoints are logged here, so every request has a line.
    const bool http_layer = status == 401 || status == 405 || status == 413 || status == 431;
    if (s.log != nullptr && http_layer && is_completion_endpoint(req.path)) {
        json j = {{"id", s.new_id(req.path == "/v1/chat/completions")},
                  {"time", static_cast<int64_t>(std::time(nullptr))},
                  {"endpoint", req.path},
                  {"status", status},
                  {"prompt_tokens", 0},
                  {"completion_tokens", 0},
                  {"queue_ms", nullptr},
                  {"ttft_ms", nullptr},
                  {"total_ms", nullptr},
                  {"finish_reason", nullptr}};
        s.write_log(dump(j));
    }
}

void OpenAiApi::add_routes(http::Router& router) {
    auto st = s_;
    st->paths = {"/health",     "/v1/models", "/v1/chat/completions", "/v1/completions",
                 "/tokenize",   "/detokenize"};
    if (st->cfg.metrics) st->paths.push_back("/metrics");
    router.add(
        "GET", "/health", [st](const http::HttpRequest&, std::shared_ptr<http::Exchange> ex) {
            const bool ready = st->ready.load(std::memory_order_acquire);
            ex->respond(json_response(ready ? 200 : 503, {{"status", ready ? "ok" : "loading"}}));
        });
    router.add(
        "GET", "/v1/models", [st](const http::HttpRequest&, std::shared_ptr<http::Exchange> ex) {
            if (!st->ready.load(std::memory_order_acquire)) return not_ready(ex);
            json m = {{"id", st->cfg.model_name},
                      {"object", "model"},
                      {"created", st->created},
                      {"owned_by", "tokamak"},
                      {"meta", {{"n_ctx", st->n_ctx}, {"n_vocab", st->tok->n_vocab()}}}};
            ex->respond(json_response(200, {{"object", "list"}, {"data", json::array({m})}}));
        });
    router.add("POST", "/v1/chat/completions",
               [st](const http::HttpRequest& r, std::shared_ptr<http::Exchange> ex) {
                   handle_completion(st, true, r, ex);
               });
    router.add("POST", "/v1/completions",
               [st](const http::HttpRequest& r, std::shared_ptr<http::Exchange> ex) {
                   handle_completion(st, false, r, ex);
               });
    router.add(
        "POST", "/tokenize", [st](const http::HttpRequest& r, std::shared_ptr<http::Exchange> ex) {
            if (!st->ready.load(std::memory_order_acquire)) return not_ready(ex);
            json j = json::parse(r.body, nullptr, false);
            auto fail = [&](const std::string& param, const std::string& msg) {
                ex->respond(api_error_response({400, msg, "invalid_request_error", param, ""}));
            };
            if (!j.is_object()) return fail("", "request body must be a JSON object");
            auto c = j.find("content");
            if (c == j.end() || !c->is_string())
                return fail("content", "'content' must be a string");
            bool add_special = true, with_pieces = false;
            for (auto [key, out] :
                 {std::pair{"add_special", &add_special}, std::pair{"with_pieces", &with_pieces}}) {
                auto it = j.find(key);
                if (it == j.end() || it->is_null()) continue;
                if (!it->is_boolean())
                    return fail(key, std::string("'") + key + "' must be a boolean");
                *out = it->get<bool>();
            }
            const auto ids = st->tok->encode(c->get<std::string>(), add_special, true);
            json tokens = json::array();
            for (int32_t id : ids) {
                if (with_pieces)
                    tokens.push_back({{"id", id}, {"piece", st->tok->token_to_piece(id, true)}});
                else
                    tokens.push_back(id);
            }
            ex->respond(json_response(200, {{"tokens", tokens}}));
        });
    router.add(
        "POST", "/detokenize",
        [st](const http::HttpRequest& r, std::shared_ptr<http::Exchange> ex) {
            if (!st->ready.load(std::memory_order_acquire)) return not_ready(ex);
            json j = json::parse(r.body, nullptr, false);
            auto fail = [&](const std::string& msg) {
                ex->respond(api_error_response({400, msg, "invalid_request_error", "tokens", ""}));
            };
            if (!j.is_object()) return fail("request body must be a JSON object");
            auto t = j.find("tokens");
            if (t == j.end() || !t->is_array())
                return fail("'tokens' must be an array of token ids");
            std::vector<int32_t> ids;
            for (const json& x : *t) {
                if (!x.is_number_integer() || x.get<int64_t>() < 0 ||
                    x.get<int64_t>() >= st->tok->n_vocab())
                    return fail("'tokens' must hold token ids below " +
                                std::to_string(st->tok->n_vocab()));
                ids.push_back(static_cast<int32_t>(x.get<int64_t>()));
            }
            ex->respond(json_response(200, {{"content", st->tok->detokenize(ids, false, false)}}));
        });
    if (st->cfg.metrics) {
        router.add("GET", "/metrics",
                   [st](const http::HttpRequest&, std::shared_ptr<http::Exchange> ex) {
                       if (!st->ready.load(std::memory_order_acquire)) return not_ready(ex);
                       http::HttpResponse r;
                       r.content_type = "text/plain; version=0.0.4";
                       r.body = render_metrics(*st);
                       ex->respond(std::move(r));
                   });
    }
}

}  // namespace tk::server::openai
