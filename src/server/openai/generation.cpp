// POST /v1/chat/completions and /v1/completions: request -> prompt tokens -> n engine requests
// -> SSE chunks or one JSON reply. A Job lives on the I/O thread; engine streams wake it with
// Exchange::post (coalesced), and a vanished client cancels every engine request at once.
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

#include "server/openai/api_internal.h"
#include "server/openai/stop_matcher.h"
#include "server/openai/structured.h"
#include "server/openai/tool_calls.h"

namespace tk::server::openai {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

struct TokenLp {
    std::string piece;
    float logprob = 0;
    std::vector<std::pair<std::string, float>> top;
};

struct Choice {
    int index = 0;
    uint64_t id = 0;
    std::shared_ptr<engine::Stream> stream;
    StopMatcher stop{{}};
    std::string text;  // non-streaming: everything so far
    std::string finish;
    bool done = false;
    bool released = false;
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    int64_t cached_tokens = 0;
    std::vector<TokenLp> lps;  // streaming: since the last chunk
    Clock::time_point last_token;
    std::string echo;  // completions with echo: the prompt text, sent first
    std::optional<ToolCallParser> tools;  // chat with tools: output parsed for calls
};

class Job : public std::enable_shared_from_this<Job> {
public:
    Job(std::shared_ptr<OpenAiApi::State> st, std::shared_ptr<http::Exchange> ex, ApiRequest req,
        std::string endpoint, std::string id, Clock::time_point t_start)
        : st_(std::move(st)),
          ex_(std::move(ex)),
          req_(std::move(req)),
          endpoint_(std::move(endpoint)),
          id_(std::move(id)),
          t_start_(t_start) {
        created_ = static_cast<int64_t>(std::time(nullptr));
    }

    std::optional<ApiError> start(std::vector<std::vector<int32_t>> prompts,
                                  std::vector<std::string> stops, const std::string& log_prompt);
    void pump();
    void abandon();

private:
    json chunk_base() const;
    json logprobs_json(const std::vector<TokenLp>& lps) const;
    void handle(Choice& c, engine::Event& e);
    void release(Choice& c);
    void send_delta(Choice& c, const std::string& delta, bool first,
                    const std::vector<ToolCallDelta>* calls = nullptr);
    void complete();
    void detach();
    void log_line(int status);
    bool wait_writable();

    std::shared_ptr<OpenAiApi::State> st_;
    std::shared_ptr<http::Exchange> ex_;
    ApiRequest req_;
    std::string endpoint_;
    std::string id_;
    int64_t created_ = 0;
    std::vector<Choice> ch_;
    std::atomic<bool> pump_queued_{false};
    bool finished_ = false;
    bool any_token_ = false;
    bool waiting_writable_ = false;
    Clock::time_point t_start_, t_first_;
    Status error_;
    std::string prompt_for_log_;
};

void Job::release(Choice& c) {
    if (c.released) return;
    c.released = true;
    --st_->active;
}

std::optional<ApiError> Job::start(std::vector<std::vector<int32_t>> prompts,
                                   std::vector<std::string> stops, const std::string& log_prompt) {
    prompt_for_log_ = log_prompt;
    std::random_device rd;
    const int n = req_.n;
    for (size_t p = 0; p < prompts.size(); ++p) {
        for (int k = 0; k < n; ++k) {
            engine::Request r;
            r.prompt = prompts[p];
            r.sampling = req_.sampling;
            // n choices from one seed differ but stay reproducible.
            r.sampling.seed = req_.seed_given ? req_.sampling.seed + static_cast<uint64_t>(k)
                                              : (static_cast<uint64_t>(rd()) << 32) ^ rd();
            r.max_tokens = req_.max_tokens > 0 ? req_.max_tokens : (req_.chat ? 0 : 16);
            r.ignore_eos = req_.ignore_eos;
            r.logprobs = req_.logprobs;
            r.top_logprobs = req_.top_logprobs;
            auto s = st_->engine->submit(std::move(r));
            if (!s.is_ok()) {
                for (Choice& c : ch_) st_->engine->cancel(c.id);
                for (Choice& c : ch_) release(c);
                ch_.clear();
                ApiError e;
                e.status = error_code_http_status(s.status().code());
                e.message = s.status().message();
                if (s.status().code() == ErrorCode::kOutOfRange) e.code = "context_length_exceeded";
                if (e.status >= 500) e.type = "server_error";
                return e;
            }
            Choice c;
            c.index = static_cast<int>(p) * n + k;
            c.stream = *s;
            c.id = c.stream->id();
            c.stop = StopMatcher(stops);
            c.prompt_tokens = static_cast<int64_t>(prompts[p].size());
            if (req_.echo && !req_.chat) c.echo = st_->tok->detokenize(prompts[p], false, false);
            if (req_.structured.tools_active()) {
                c.tools.emplace(detect_tool_format(*st_->tok, st_->tmpl ? st_->tmpl->source() : ""),
                                "call_" + id_.substr(id_.find('-') + 1) + "_" +
                                    std::to_string(c.index) + "_");
            }
            ++st_->active;
            ch_.push_back(std::move(c));
        }
    }

    std::weak_ptr<Job> weak = weak_from_this();
    ex_->on_disconnect([weak] {
        if (auto j = weak.lock()) j->abandon();
    });
    if (req_.stream) {
        ex_->start_events(200);
        for (Choice& c : ch_) send_delta(c, c.echo, true);
    }
    for (Choice& c : ch_) {
        // The notify closure keeps the job alive until detach() clears it.
        auto self = shared_from_this();
        c.stream->set_notify([self] {
            if (!self->pump_queued_.exchange(true)) self->ex_->post([self] { self->pump(); });
        });
    }
    pump();  // events that arrived before the hooks were set
    return std::nullopt;
}

json Job::chunk_base() const {
    return {{"id", id_},
            {"object", req_.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", created_},
            {"model", st_->cfg.model_name},
            {"system_fingerprint", st_->fingerprint}};
}

json Job::logprobs_json(const std::vector<TokenLp>& lps) const {
    auto bytes = [](const std::string& s) {
        json b = json::array();
        for (unsigned char ch : s) b.push_back(static_cast<int>(ch));
        return b;
    };
    if (req_.chat) {
        json content = json::array();
        for (const TokenLp& t : lps) {
            json top = json::array();
            for (const auto& [piece, lp] : t.top)
                top.push_back({{"token", piece}, {"logprob", lp}, {"bytes", bytes(piece)}});
            content.push_back({{"token", t.piece},
                               {"logprob", t.logprob},
                               {"bytes", bytes(t.piece)},
                               {"top_logprobs", top}});
        }
        return {{"content", content}};
    }
    json tokens = json::array(), token_lps = json::array(), tops = json::array(),
         offsets = json::array();
    for (const TokenLp& t : lps) {
        tokens.push_back(t.piece);
        token_lps.push_back(t.logprob);
        json top = json::object();
        for (const auto& [piece, lp] : t.top) top[piece] = lp;
        tops.push_back(top);
    }
    return {{"tokens", tokens},
            {"token_logprobs", token_lps},
            {"top_logprobs", tops},
            {"text_offset", offsets}};
}

void Job::send_delta(Choice& c, const std::string& delta, bool first,
                     const std::vector<ToolCallDelta>* calls) {
    json choice = {{"index", c.index}, {"finish_reason", nullptr}};
    if (req_.chat) {
        json d = json::object();
        if (first) d["role"] = "assistant";
        if (!delta.empty() || first) d["content"] = delta;
        if (calls != nullptr && !calls->empty())
            d["tool_calls"] = json::parse(tool_call_deltas_json(*calls));
        choice["delta"] = d;
    } else {
        if (delta.empty() && c.lps.empty()) return;
        choice["text"] = delta;
    }
    choice["logprobs"] = req_.logprobs && !c.lps.empty() ? logprobs_json(c.lps) : json(nullptr);
    c.lps.clear();
    json j = chunk_base();
    j["choices"] = json::array({choice});
    ex_->send_event(dump(j));
}

void Job::handle(Choice& c, engine::Event& e) {
    bool hit = false;
    std::string delta;
    if (e.token >= 0) {
        ++c.completion_tokens;
        ++st_->metrics.generated_tokens;
        if (!any_token_) {
            any_token_ = true;
            t_first_ = e.time;
            st_->metrics.ttft.observe(std::chrono::duration<double>(e.time - t_start_).count());
        } else if (c.completion_tokens > 1) {
            st_->metrics.itl.observe(std::chrono::duration<double>(e.time - c.last_token).count());
        }
        c.last_token = e.time;
        if (req_.logprobs) {
            TokenLp t;
            t.piece = st_->tok->token_to_piece(e.token, false);
            t.logprob = e.logprob;
            for (const auto& tp : e.top_logprobs)
                t.top.emplace_back(st_->tok->token_to_piece(tp.id, false), tp.logprob);
            c.lps.push_back(std::move(t));
        }
    }
    std::string piece = e.text;
    // Tool-call markers that are control tokens detokenize to nothing: the parser needs them.
    if (c.tools && e.token >= 0 && st_->tok->is_control(e.token)) {
        const std::string_view t = st_->tok->token_text(e.token);
        if (t == "[TOOL_CALLS]" || t == "<|python_tag|>") piece = std::string(t) + piece;
    }
    delta = c.stop.push(piece, &hit);
    if (hit) {
        c.finish = "stop";
        c.done = true;
        st_->engine->cancel(c.id);  // the rest is not wanted; frees its blocks now
        release(c);
    } else if (e.is_final()) {
        delta += c.stop.flush();
        c.done = true;
        c.cached_tokens = e.usage.cached_tokens;
        switch (e.finish) {
            case engine::FinishReason::kLength:
                c.finish = "length";
                break;
            case engine::FinishReason::kError:
                c.finish = "error";
                if (error_.is_ok())
                    error_ =
                        e.error.is_ok() ? Status(ErrorCode::kInternal, "engine error") : e.error;
                break;
            default:
                c.finish = "stop";
                break;
        }
        release(c);
    }
    std::vector<ToolCallDelta> calls;
    if (c.tools) {
        delta = c.tools->push(delta, &calls);
        if (c.done) delta += c.tools->finish(&calls);
        if (c.done && c.finish == "stop" && !c.tools->calls().empty()) c.finish = "tool_calls";
    }
    if (req_.stream) {
        if (!delta.empty() || !c.lps.empty() || !calls.empty())
            send_delta(c, delta, false, &calls);
        if (c.done) {
            json choice = {{"index", c.index}, {"logprobs", nullptr}, {"finish_reason", c.finish}};
            if (req_.chat)
                choice["delta"] = json::object();
            else
                choice["text"] = "";
            json j = chunk_base();
            j["choices"] = json::array({choice});
            ex_->send_event(dump(j));
        }
    } else {
        c.text += delta;
    }
}

// Streaming: while the client's socket is backed up, leave the events in the engine's streams
// (bounded by max_tokens) instead of turning them into bytes the server must hold. The choices
// keep their slots and KV blocks until the client reads on or the write timeout drops it.
bool Job::wait_writable() {
    if (!req_.stream || !ex_->backlogged()) return false;
    if (!waiting_writable_) {
        waiting_writable_ = true;
        std::weak_ptr<Job> weak = weak_from_this();
        ex_->on_writable([weak] {
            if (auto j = weak.lock()) {
                j->waiting_writable_ = false;
                j->pump();
            }
        });
    }
    return true;
}

void Job::pump() {
    pump_queued_.store(false);
    if (finished_ || waiting_writable_) return;
    bool all_done = true;
    for (Choice& c : ch_) {
        while (!c.done) {
            if (wait_writable()) return;
            auto e = c.stream->try_read();
            if (!e) break;
            handle(c, *e);
        }
        all_done = all_done && c.done;
    }
    if (all_done) complete();
}

void Job::detach() {
    finished_ = true;
    for (size_t i = 0; i < ch_.size(); i += static_cast<size_t>(req_.n))
        st_->metrics.prompt_tokens += ch_[i].prompt_tokens;
    for (Choice& c : ch_) {
        c.stream->set_notify(nullptr);  // breaks the job <-> stream cycle
        release(c);
    }
    ex_->on_disconnect(nullptr);
}

void Job::abandon() {
    if (finished_) return;
    for (Choice& c : ch_) {
        if (!c.done) st_->engine->cancel(c.id);
    }
    ++st_->metrics.cancelled_by_client;
    detach();
    log_line(499);
}

void Job::complete() {
    detach();
    json usage = {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}};
    int64_t pt = 0, ct = 0, cached = 0;
    for (const Choice& c : ch_) {
        ct += c.completion_tokens;
        cached += c.cached_tokens;
    }
    // Prompt tokens once per prompt, not per choice, as OpenAI counts them.
    for (size_t i = 0; i < ch_.size(); i += static_cast<size_t>(req_.n)) pt += ch_[i].prompt_tokens;
    usage = {{"prompt_tokens", pt},
             {"completion_tokens", ct},
             {"total_tokens", pt + ct},
             {"prompt_tokens_details", {{"cached_tokens", cached}}}};
    if (req_.stream) {
        if (!error_.is_ok()) {
            ApiError e;
            e.status = 500;
            e.type = "server_error";
            e.message = error_.message();
            ex_->send_event(error_json(e));
        }
        if (req_.include_usage) {
            json j = chunk_base();
            j["choices"] = json::array();
            j["usage"] = usage;
            ex_->send_event(dump(j));
        }
        ex_->send_event("[DONE]");
        ex_->end_events();
        log_line(200);
        return;
    }
    if (!error_.is_ok()) {
        ApiError e;
        e.status = 500;
        e.type = "server_error";
        e.message = error_.message();
        ex_->respond(api_error_response(e));
        log_line(500);
        return;
    }
    json choices = json::array();
    for (const Choice& c : ch_) {
        json choice = {{"index", c.index}, {"finish_reason", c.finish}};
        if (req_.chat) {
            choice["message"] = {{"role", "assistant"}, {"content", c.text}};
            if (c.tools && !c.tools->calls().empty()) {
                choice["message"]["tool_calls"] = json::parse(tool_calls_json(c.tools->calls()));
                if (c.text.empty()) choice["message"]["content"] = nullptr;
            }
        }
        else
            choice["text"] = c.echo + c.text;
        choice["logprobs"] = req_.logprobs ? logprobs_json(c.lps) : json(nullptr);
        choices.push_back(std::move(choice));
    }
    json j = chunk_base();
    j["object"] = req_.chat ? "chat.completion" : "text_completion";
    j["choices"] = std::move(choices);
    j["usage"] = usage;
    http::HttpResponse r;
    r.body = dump(j);
    ex_->respond(std::move(r));
    log_line(200);
}

void Job::log_line(int status) {
    if (st_->log == nullptr) return;
    const auto now = Clock::now();
    auto ms = [](Clock::duration d) {
        return std::chrono::duration<double, std::milli>(d).count();
    };
    int64_t pt = 0, ct = 0;
    std::string finish;
    for (size_t i = 0; i < ch_.size(); ++i) {
        if (i % static_cast<size_t>(req_.n) == 0) pt += ch_[i].prompt_tokens;
        ct += ch_[i].completion_tokens;
        if (!ch_[i].finish.empty() && finish.find(ch_[i].finish) == std::string::npos)
            finish += (finish.empty() ? "" : ",") + ch_[i].finish;
    }
    json j = {{"id", id_},
              {"time", static_cast<int64_t>(std::time(nullptr))},
              {"endpoint", endpoint_},
              {"status", status},
              {"prompt_tokens", pt},
              {"completion_tokens", ct},
              // Not yet known: the engine does not report when a request was first scheduled,
              // so the time spent waiting for a slot is inside ttft_ms.
              {"queue_ms", nullptr},
              {"ttft_ms", any_token_ ? json(ms(t_first_ - t_start_)) : json(nullptr)},
              {"total_ms", ms(now - t_start_)},
              {"finish_reason", status == 499 ? json("cancelled") : json(finish)}};
    if (!req_.user.empty()) j["user"] = req_.user;
    if (st_->cfg.log_prompts) j["prompt"] = prompt_for_log_;
    st_->write_log(dump(j));
}

// The log line of a request refused before it reached the engine.
void log_refusal(OpenAiApi::State& st, const std::string& id, const std::string& endpoint,
                 const ApiError& e, const std::string& user, Clock::time_point t_start) {
    if (st.log == nullptr) return;
    json j = {{"id", id},
              {"time", static_cast<int64_t>(std::time(nullptr))},
              {"endpoint", endpoint},
              {"status", e.status},
              {"prompt_tokens", 0},
              {"completion_tokens", 0},
              {"queue_ms", nullptr},
              {"ttft_ms", nullptr},
              {"total_ms", std::chrono::duration<double, std::milli>(Clock::now() - t_start).count()},
              {"finish_reason", nullptr},
              {"error", e.code.empty() ? e.type : e.code}};
    if (!user.empty()) j["user"] = user;
    st.write_log(dump(j));
}

// The ChatML-like format used when the model has no chat template of its own.
std::string fallback_chat(const std::vector<ChatMessage>& msgs) {
    std::string out;
    for (const ChatMessage& m : msgs)
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    return out + "<|im_start|>assistant\n";
}

}  // namespace

void handle_completion(const std::shared_ptr<OpenAiApi::State>& st, bool chat,
                       const http::HttpRequest& hreq, const std::shared_ptr<http::Exchange>& ex) {
    const Clock::time_point t_start = Clock::now();
    const std::string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
    const std::string id = st->new_id(chat);
    ApiRequest req;
    // Every refusal is answered and logged the same way.
    auto refuse = [&](const ApiError& e) {
        http::HttpResponse r = api_error_response(e);
        if (e.code == "server_overloaded")
            r.headers.push_back({"Retry-After", std::to_string(st->cfg.retry_after_s)});
        log_refusal(*st, id, endpoint, e, req.user, t_start);
        ex->respond(std::move(r));
    };
    if (auto err = parse_request(hreq.body, chat, req)) return refuse(*err);
    if (!st->ready.load(std::memory_order_acquire))
        return refuse({503, "the model is still loading", "server_error", "", "model_loading"});
    const tokenizer::Tokenizer& tok = *st->tok;
    std::vector<std::vector<int32_t>> prompts;
    std::vector<std::string> stops = req.stop;
    std::string log_prompt;
    if (chat) {
        std::string text;
        if (st->tmpl) {
            auto v = tokenizer::Value::from_json(template_messages_json(req.messages, req.structured));
            if (!v.is_ok())
                return refuse(
                    {400, v.status().message(), "invalid_request_error", "messages", ""});
            const int32_t bos = tok.bos(), eos = tok.eos();
            tokenizer::Value tools;
            if (req.structured.tools_active()) {
                auto t = tokenizer::Value::from_json(req.structured.tools_json);
                if (t.is_ok()) tools = std::move(*t);
            }
            auto ctx = tokenizer::chat_context(*v, std::move(tools), true,
                                               bos >= 0 ? std::string(tok.token_text(bos)) : "",
                                               eos >= 0 ? std::string(tok.token_text(eos)) : "");
            auto r = st->tmpl->render(ctx);
            if (!r.is_ok())
                return refuse(
                    {400, r.status().message(), "invalid_request_error", "messages", ""});
            text = *r;
        } else {
            std::vector<ChatMessage> msgs = req.messages;
            if (const std::string tp = fallback_tools_prompt(req.structured); !tp.empty()) {
                if (!msgs.empty() && msgs[0].role == "system")
                    msgs[0].content += "\n\n" + tp;
                else
                    msgs.insert(msgs.begin(), ChatMessage{"system", tp});
            }
            text = fallback_chat(msgs);
            stops.push_back("<|im_end|>");
        }
        // A template that writes BOS itself must not get a second one.
        const int32_t bos = tok.bos();
        const bool has_bos =
            bos >= 0 && !tok.token_text(bos).empty() && text.rfind(tok.token_text(bos), 0) == 0;
        prompts.push_back(tok.encode(text, !has_bos, true));
        log_prompt = text;
    } else {
        for (const PromptInput& p : req.prompts) {
            if (p.is_ids) {
                for (int32_t id : p.ids) {
                    if (id >= tok.n_vocab()) {
                        return refuse(
                            {400,
                             "token id " + std::to_string(id) + " is out of range (vocabulary of " +
                                 std::to_string(tok.n_vocab()) + ")",
                             "invalid_request_error", "prompt", ""});
                    }
                }
                prompts.push_back(p.ids);
            } else {
                prompts.push_back(tok.encode(p.text, true, true));
                log_prompt += p.text;
            }
        }
    }
    for (const auto& p : prompts) {
        if (p.empty())
            return refuse({400, "the prompt is empty", "invalid_request_error",
                                    chat ? "messages" : "prompt", ""});
        if (static_cast<int64_t>(p.size()) >= st->n_ctx) {
            ApiError e{400,
                       "This model's maximum context length is " + std::to_string(st->n_ctx) +
                           " tokens, but the prompt has " + std::to_string(p.size()) + " tokens",
                       "invalid_request_error", chat ? "messages" : "prompt",
                       "context_length_exceeded"};
            return refuse(e);
        }
    }
    // response_format / forced tool calls: one grammar for every choice of the request.
    {
        auto gbnf = request_gbnf(
            req.structured, detect_tool_format(tok, st->tmpl ? st->tmpl->source() : ""));
        if (!gbnf.is_ok())
            return refuse({400, gbnf.status().message(), "invalid_request_error",
                           req.structured.tools_active() ? "tools" : "response_format", ""});
        if (!gbnf->empty()) {
            auto g = sampling::Grammar::compile(*gbnf, grammar_vocab(tok));
            if (!g.is_ok())
                return refuse({400, g.status().message(), "invalid_request_error",
                               "response_format", ""});
            req.sampling.grammar = *g;
        }
    }
    const int64_t needed = static_cast<int64_t>(prompts.size()) * req.n;
    if (st->active + needed > st->capacity) {
        ++st->metrics.rejected_overload;
        return refuse({503,
                       "the server is overloaded (" + std::to_string(st->active) +
                           " requests in flight, room for " + std::to_string(st->capacity) +
                           "); retry later",
                       "server_error", "", "server_overloaded"});
    }
    auto job = std::make_shared<Job>(st, ex, req, endpoint, id, t_start);
    if (auto err = job->start(std::move(prompts), std::move(stops), log_prompt)) refuse(*err);
}

}  // namespace tk::server::openai
