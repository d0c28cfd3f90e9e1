#include "server/openai/params.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace tk::server::openai {
namespace {

using json = nlohmann::json;

constexpr int kMaxN = 16;
constexpr int kMaxTopLogprobs = 20;
constexpr size_t kMaxStops = 16;

ApiError bad(std::string param, std::string message) {
    ApiError e;
    e.param = std::move(param);
    e.message = std::move(message);
    return e;
}

// A field reader that records the first fault. null counts as "not given", as OpenAI treats it.
class Fields {
public:
    explicit Fields(const json& j) : j_(j) {}

    const json* get(const char* key) const {
        auto it = j_.find(key);
        if (it == j_.end() || it->is_null()) return nullptr;
        return &*it;
    }
    template <typename T>
    void number(const char* key, T& out, double lo, double hi) {
        const json* v = get(key);
        if (v == nullptr || err) return;
        if (!v->is_number()) return fail(key, std::string("'") + key + "' must be a number");
        const double d = v->get<double>();
        if (!(d >= lo && d <= hi)) {
            return fail(key, std::string("'") + key + "' must be between " + fmt(lo) + " and " +
                                 fmt(hi) + ", got " + fmt(d));
        }
        out = static_cast<T>(d);
    }
    void integer(const char* key, int64_t& out, int64_t lo, int64_t hi) {
        const json* v = get(key);
        if (v == nullptr || err) return;
        if (!v->is_number_integer())
            return fail(key, std::string("'") + key + "' must be an integer");
        const int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)
                              ? INT64_MAX
                              : v->get<int64_t>();
        if (x < lo || x > hi) {
            return fail(key, std::string("'") + key + "' must be between " + std::to_string(lo) +
                                 " and " + std::to_string(hi) + ", got " + std::to_string(x));
        }
        out = x;
    }
    void boolean(const char* key, bool& out) {
        const json* v = get(key);
        if (v == nullptr || err) return;
        if (!v->is_boolean()) return fail(key, std::string("'") + key + "' must be a boolean");
        out = v->get<bool>();
    }
    void string(const char* key, std::string& out) {
        const json* v = get(key);
        if (v == nullptr || err) return;
        if (!v->is_string()) return fail(key, std::string("'") + key + "' must be a string");
        out = v->get<std::string>();
    }
    void fail(std::string param, std::string message) {
        if (!err) err = bad(std::move(param), std::move(message));
    }
    static std::string fmt(double d) {
        if (d == std::floor(d) && std::fabs(d) < 1e15)
            return std::to_string(static_cast<int64_t>(d));
        std::string s = std::to_string(d);
        while (!s.empty() && s.back() == '0') s.pop_back();
        return s;
    }

    std::optional<ApiError> err;

private:
    const json& j_;
};

void parse_messages(Fields& f, const json& j, ApiRequest& out) {
    const json* msgs = f.get("messages");
    if (msgs == nullptr) return f.fail("messages", "'messages' is required");
    if (!msgs->is_array() || msgs->empty())
        return f.fail("messages", "'messages' must be a non-empty array");
    for (size_t i = 0; i < msgs->size(); ++i) {
        const json& m = (*msgs)[i];
        const std::string where = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) return f.fail(where, "'" + where + "' must be an object");
        auto role = m.find("role");
        if (role == m.end() || !role->is_string())
            return f.fail(where + ".role", "'" + where + ".role' must be a string");
        ChatMessage cm;
        cm.role = role->get<std::string>();
        if (cm.role == "developer") cm.role = "system";  // OpenAI's newer name for the system role
        if (cm.role != "system" && cm.role != "user" && cm.role != "assistant" &&
            cm.role != "tool") {
            return f.fail(
                where + ".role",
                "'" + where + ".role' must be system, user, assistant, tool or developer");
        }
        auto content = m.find("content");
        if (content == m.end() || content->is_null()) {
            if (cm.role != "assistant")
                return f.fail(where + ".content", "'" + where + ".content' is required");
        } else if (content->is_string()) {
            cm.content = content->get<std::string>();
        } else if (content->is_array()) {
            for (size_t k = 0; k < content->size(); ++k) {
                const json& part = (*content)[k];
                const std::string pw = where + ".content[" + std::to_string(k) + "]";
                auto type = part.is_object() ? part.find("type") : part.end();
                if (!part.is_object() || type == part.end() || !type->is_string())
                    return f.fail(pw, "'" + pw + "' must be an object with a string 'type'");
                if (*type != "text")
                    return f.fail(pw + ".type", "only text content parts are supported, got '" +
                                                    type->get<std::string>() + "'");
                auto text = part.find("text");
                if (text == part.end() || !text->is_string())
                    return f.fail(pw + ".text", "'" + pw + ".text' must be a string");
                if (k > 0) cm.content += "\n";
                cm.content += text->get<std::string>();
            }
        } else {
            return f.fail(where + ".content",
                          "'" + where + ".content' must be a string or an array of content parts");
        }
        out.messages.push_back(std::move(cm));
    }
}

bool parse_ids(const json& a, std::vector<int32_t>& ids) {
    for (const json& x : a) {
        if (!x.is_number_integer()) return false;
        const int64_t v = x.get<int64_t>();
        if (v < 0 || v > std::numeric_limits<int32_t>::max()) return false;
        ids.push_back(static_cast<int32_t>(v));
    }
    return true;
}

void parse_prompt(Fields& f, ApiRequest& out) {
    const json* p = f.get("prompt");
    if (p == nullptr) return f.fail("prompt", "'prompt' is required");
    const char* kMsg =
        "'prompt' must be a string, an array of strings, an array of token ids or an array of "
        "arrays of token ids";
    if (p->is_string()) {
        out.prompts.push_back({p->get<std::string>(), {}, false});
        return;
    }
    if (!p->is_array() || p->empty()) return f.fail("prompt", kMsg);
    if ((*p)[0].is_number_integer()) {
        PromptInput in;
        in.is_ids = true;
        if (!parse_ids(*p, in.ids)) return f.fail("prompt", kMsg);
        out.prompts.push_back(std::move(in));
        return;
    }
    for (const json& x : *p) {
        if (x.is_string()) {
            out.prompts.push_back({x.get<std::string>(), {}, false});
        } else if (x.is_array() && !x.empty()) {
            PromptInput in;
            in.is_ids = true;
            if (!parse_ids(x, in.ids)) return f.fail("prompt", kMsg);
            out.prompts.push_back(std::move(in));
        } else {
            return f.fail("prompt", kMsg);
        }
    }
}

void parse_stop(Fields& f, ApiRequest& out) {
    const json* s = f.get("stop");
    if (s == nullptr) return;
    if (s->is_string()) {
        out.stop.push_back(s->get<std::string>());
        return;
    }
    if (!s->is_array() || s->size() > kMaxStops) {
        return f.fail("stop", "'stop' must be a string or an array of at most " +
                                  std::to_string(kMaxStops) + " strings");
    }
    for (const json& x : *s) {
        if (!x.is_string()) return f.fail("stop", "'stop' must be a string or an array of strings");
        out.stop.push_back(x.get<std::string>());
    }
}

void parse_logit_bias(Fields& f, ApiRequest& out) {
    const json* b = f.get("logit_bias");
    if (b == nullptr) return;
    if (!b->is_object())
        return f.fail("logit_bias", "'logit_bias' must be an object of token id -> bias");
    for (auto it = b->begin(); it != b->end(); ++it) {
        const std::string& k = it.key();
        char* end = nullptr;
        const long id = std::strtol(k.c_str(), &end, 10);
        if (k.empty() || *end != 0 || id < 0 || id > std::numeric_limits<int32_t>::max())
            return f.fail("logit_bias", "'logit_bias' key '" + k + "' is not a token id");
        if (!it->is_number()) return f.fail("logit_bias", "'logit_bias' values must be numbers");
        const double v = it->get<double>();
        if (!(v >= -100.0 && v <= 100.0))
            return f.fail("logit_bias", "'logit_bias' values must be between -100 and 100");
        // -100 bans the token, as OpenAI documents.
        out.sampling.logit_bias[static_cast<int32_t>(id)] =
            v <= -100.0 ? -std::numeric_limits<float>::infinity() : static_cast<float>(v);
    }
}

}  // namespace

sampling::SamplerParams openai_default_sampling() {
    sampling::SamplerParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    return p;
}

std::optional<ApiError> parse_request(std::string_view body, bool chat, ApiRequest& out) {
    json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return bad("", "request body is not valid JSON");
    if (!j.is_object()) return bad("", "request body must be a JSON object");
    out = ApiRequest{};
    out.chat = chat;
    out.sampling = openai_default_sampling();
    Fields f(j);
    f.string("model", out.model);
    if (chat) {
        parse_messages(f, j, out);
    } else {
        parse_prompt(f, out);
    }
    f.integer("max_tokens", out.max_tokens, 1, 1 << 24);
    f.integer("max_completion_tokens", out.max_tokens, 1, 1 << 24);
    f.number("temperature", out.sampling.temperature, 0.0, 2.0);
    f.number("top_p", out.sampling.top_p, 0.0, 1.0);
    int64_t top_k = 0;
    f.integer("top_k", top_k, -1, 1 << 20);
    out.sampling.top_k = static_cast<int32_t>(top_k);
    f.number("min_p", out.sampling.min_p, 0.0, 1.0);
    f.number("presence_penalty", out.sampling.presence_penalty, -2.0, 2.0);
    f.number("frequency_penalty", out.sampling.frequency_penalty, -2.0, 2.0);
    f.number("repetition_penalty", out.sampling.repeat_penalty, 0.0, 10.0);
    if (const json* s = f.get("seed"); s != nullptr && !f.err) {
        if (!s->is_number_integer()) {
            f.fail("seed", "'seed' must be an integer");
        } else {
            out.seed_given = true;
            out.sampling.seed = s->is_number_unsigned() ? s->get<uint64_t>()
                                                        : static_cast<uint64_t>(s->get<int64_t>());
        }
    }
    parse_stop(f, out);
    int64_t n = 1;
    f.integer("n", n, 1, kMaxN);
    out.n = static_cast<int>(n);
    f.boolean("stream", out.stream);
    if (const json* so = f.get("stream_options"); so != nullptr && !f.err) {
        if (!so->is_object()) {
            f.fail("stream_options", "'stream_options' must be an object");
        } else if (auto iu = so->find("include_usage"); iu != so->end() && !iu->is_null()) {
            if (!iu->is_boolean())
                f.fail("stream_options.include_usage",
                       "'stream_options.include_usage' must be a boolean");
            else
                out.include_usage = iu->get<bool>();
        }
    }
    parse_logit_bias(f, out);
    if (chat) {
        f.boolean("logprobs", out.logprobs);
        int64_t k = 0;
        f.integer("top_logprobs", k, 0, kMaxTopLogprobs);
        out.top_logprobs = static_cast<int>(k);
        if (out.top_logprobs > 0 && !out.logprobs && !f.err)
            f.fail("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    } else {
        // Legacy completions: logprobs is the number of alternatives (0-5), null for none.
        int64_t k = -1;
        f.integer("logprobs", k, 0, 5);
        out.logprobs = k >= 0;
        out.top_logprobs = static_cast<int>(std::max<int64_t>(k, 0));
        f.boolean("echo", out.echo);
    }
    f.boolean("ignore_eos", out.ignore_eos);
    f.string("user", out.user);
    if (f.err) return f.err;
    if (auto e = parse_structured(body, chat, out.structured)) return bad(e->param, e->message);
    return std::nullopt;
}

std::string error_json(const ApiError& e) {
    json j = {{"error",
               {{"message", e.message},
                {"type", e.type},
                {"param", e.param.empty() ? json(nullptr) : json(e.param)},
                {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace tk::server::openai
