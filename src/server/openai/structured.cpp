#include "server/openai/structured.h"

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "sampling/json_schema.h"
#include "server/openai/params.h"
#include "tokenizer/tokenizer.h"

namespace tk::server::openai {
namespace {

using json = nlohmann::ordered_json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

StructuredError err(std::string param, std::string message) {
    return {std::move(param), std::move(message)};
}

bool valid_function_name(const std::string& n) {
    if (n.empty() || n.size() > 64) return false;
    for (char c : n)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    return true;
}

std::optional<StructuredError> parse_response_format(const json& rf, StructuredRequest& out) {
    if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string())
        return err("response_format", "'response_format' must be an object with a string 'type'");
    const std::string type = rf["type"];
    if (type == "text") return std::nullopt;
    if (type == "json_object") {
        out.format = StructuredRequest::Format::kJsonObject;
        return std::nullopt;
    }
    if (type != "json_schema")
        return err("response_format.type",
                   "'response_format.type' must be 'text', 'json_object' or 'json_schema', got '" +
                       type + "'");
    auto js = rf.find("json_schema");
    if (js == rf.end() || !js->is_object())
        return err("response_format.json_schema",
                   "'response_format.json_schema' must be an object with a 'schema'");
    auto schema = js->find("schema");
    if (schema == js->end() || schema->is_null()) {
        out.format = StructuredRequest::Format::kJsonObject;
        return std::nullopt;
    }
    if (!schema->is_object() && !schema->is_boolean())
        return err("response_format.json_schema.schema",
                   "'response_format.json_schema.schema' must be a JSON schema object");
    auto g = sampling::json_schema_to_gbnf(dump(*schema));
    if (!g.is_ok()) return err("response_format.json_schema.schema", g.status().message());
    out.format = StructuredRequest::Format::kJsonSchema;
    out.schema_gbnf = *g;
    return std::nullopt;
}

std::optional<StructuredError> parse_tools(const json& tools, StructuredRequest& out) {
    if (!tools.is_array()) return err("tools", "'tools' must be an array");
    json fns = json::array();
    for (size_t i = 0; i < tools.size(); ++i) {
        const json& t = tools[i];
        const std::string where = "tools[" + std::to_string(i) + "]";
        if (!t.is_object() || t.value("type", "") != "function")
            return err(where + ".type", "'" + where + ".type' must be 'function'");
        auto f = t.find("function");
        if (f == t.end() || !f->is_object())
            return err(where + ".function", "'" + where + ".function' must be an object");
        auto name = f->find("name");
        if (name == f->end() || !name->is_string() || !valid_function_name(*name))
            return err(where + ".function.name",
                       "'" + where + ".function.name' must be 1-64 characters of a-z, A-Z, 0-9, "
                       "'_', '-' or '.'");
        ToolSpec spec;
        spec.name = *name;
        if (auto d = f->find("description"); d != f->end() && d->is_string()) spec.description = *d;
        if (auto p = f->find("parameters"); p != f->end() && !p->is_null()) {
            if (!p->is_object())
                return err(where + ".function.parameters",
                           "'" + where + ".function.parameters' must be a JSON schema object");
            spec.parameters = dump(*p);
        }
        for (const ToolSpec& o : out.tools)
            if (o.name == spec.name)
                return err(where + ".function.name", "function '" + spec.name + "' is defined twice");
        out.tools.push_back(std::move(spec));
        fns.push_back(t);
    }
    if (!out.tools.empty()) out.tools_json = dump(fns);
    return std::nullopt;
}

std::optional<StructuredError> parse_tool_choice(const json& tc, StructuredRequest& out) {
    using TC = StructuredRequest::ToolChoice;
    if (tc.is_string()) {
        const std::string s = tc;
        if (s == "auto") out.tool_choice = TC::kAuto;
        else if (s == "none") out.tool_choice = TC::kNone;
        else if (s == "required") out.tool_choice = TC::kRequired;
        else
            return err("tool_choice",
                       "'tool_choice' must be 'auto', 'none', 'required' or a function object");
    } else if (tc.is_object() && tc.value("type", "") == "function" && tc.contains("function") &&
               tc["function"].is_object() && tc["function"].contains("name") &&
               tc["function"]["name"].is_string()) {
        out.tool_choice = TC::kNamed;
        out.tool_choice_name = tc["function"]["name"];
    } else {
        return err("tool_choice",
                   "'tool_choice' must be 'auto', 'none', 'required' or "
                   "{\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
    if ((out.tool_choice == TC::kRequired || out.tool_choice == TC::kNamed) && out.tools.empty())
        return err("tool_choice", "'tool_choice' requires 'tools'");
    if (out.tool_choice == TC::kNamed) {
        bool found = false;
        for (const ToolSpec& t : out.tools) found = found || t.name == out.tool_choice_name;
        if (!found)
            return err("tool_choice", "'tool_choice' names function '" + out.tool_choice_name +
                                          "', which is not in 'tools'");
    }
    return std::nullopt;
}

std::optional<StructuredError> parse_message_extras(const json& msgs, StructuredRequest& out) {
    if (!msgs.is_array()) return std::nullopt;  // params.cpp reports it
    for (size_t i = 0; i < msgs.size(); ++i) {
        const json& m = msgs[i];
        const std::string where = "messages[" + std::to_string(i) + "]";
        json extra = json::object();
        if (!m.is_object()) {
            out.message_extras.emplace_back();
            continue;
        }
        if (auto tcs = m.find("tool_calls"); tcs != m.end() && !tcs->is_null()) {
            if (!tcs->is_array())
                return err(where + ".tool_calls", "'" + where + ".tool_calls' must be an array");
            json calls = json::array();
            for (size_t k = 0; k < tcs->size(); ++k) {
                const json& c = (*tcs)[k];
                const std::string cw = where + ".tool_calls[" + std::to_string(k) + "]";
                if (!c.is_object() || !c.contains("function") || !c["function"].is_object() ||
                    !c["function"].contains("name") || !c["function"]["name"].is_string())
                    return err(cw, "'" + cw + "' must have function.name");
                json args = c["function"].value("arguments", json("{}"));
                // Templates index into arguments (e.g. `arguments | tojson`), so pass an object.
                if (args.is_string()) {
                    json parsed = json::parse(args.get<std::string>(), nullptr, false);
                    if (!parsed.is_discarded()) args = parsed;
                }
                json call = {{"id", c.value("id", "")},
                             {"type", "function"},
                             {"function", {{"name", c["function"]["name"]}, {"arguments", args}}}};
                calls.push_back(std::move(call));
            }
            extra["tool_calls"] = std::move(calls);
        }
        for (const char* key : {"tool_call_id", "name"}) {
            auto v = m.find(key);
            if (v == m.end() || v->is_null()) continue;
            if (!v->is_string())
                return err(where + "." + key, "'" + where + "." + key + "' must be a string");
            extra[key] = *v;
        }
        out.message_extras.push_back(extra.empty() ? std::string() : dump(extra));
    }
    return std::nullopt;
}

}  // namespace

std::optional<StructuredError> parse_structured(std::string_view body, bool chat,
                                                StructuredRequest& out) {
    out = StructuredRequest{};
    const json j = json::parse(body, nullptr, false);
    if (!j.is_object()) return std::nullopt;  // params.cpp reports it
    if (auto rf = j.find("response_format"); rf != j.end() && !rf->is_null())
        if (auto e = parse_response_format(*rf, out)) return e;
    if (!chat) {
        for (const char* key : {"tools", "tool_choice"})
            if (j.contains(key) && !j[key].is_null())
                return err(key, std::string("'") + key + "' is only supported by /v1/chat/completions");
        return std::nullopt;
    }
    if (auto t = j.find("tools"); t != j.end() && !t->is_null())
        if (auto e = parse_tools(*t, out)) return e;
    if (auto tc = j.find("tool_choice"); tc != j.end() && !tc->is_null())
        if (auto e = parse_tool_choice(*tc, out)) return e;
    if (auto p = j.find("parallel_tool_calls"); p != j.end() && !p->is_null()) {
        if (!p->is_boolean())
            return err("parallel_tool_calls", "'parallel_tool_calls' must be a boolean");
        out.parallel_tool_calls = p->get<bool>();
    }
    // The forced-call grammar needs every schema it may use to be enforceable: refuse now.
    using TC = StructuredRequest::ToolChoice;
    if (out.tool_choice == TC::kRequired || out.tool_choice == TC::kNamed) {
        auto g = tool_call_gbnf(ToolFormat::kHermes, out.tools,
                                out.tool_choice == TC::kNamed ? out.tool_choice_name : "", true);
        if (!g.is_ok()) return err("tools", g.status().message());
    }
    if (auto m = j.find("messages"); m != j.end())
        if (auto e = parse_message_extras(*m, out)) return e;
    return std::nullopt;
}

Result<std::string> request_gbnf(const StructuredRequest& s, ToolFormat format) {
    using TC = StructuredRequest::ToolChoice;
    if (s.tools_active() && (s.tool_choice == TC::kRequired || s.tool_choice == TC::kNamed))
        return tool_call_gbnf(format, s.tools, s.tool_choice == TC::kNamed ? s.tool_choice_name : "",
                              s.parallel_tool_calls);
    switch (s.format) {
        case StructuredRequest::Format::kJsonObject:
            return sampling::json_object_gbnf();
        case StructuredRequest::Format::kJsonSchema:
            return s.schema_gbnf;
        default:
            return std::string();
    }
}

std::shared_ptr<const sampling::GrammarVocab> grammar_vocab(const tokenizer::Tokenizer& tok) {
    // Keyed by the vocabulary's content, not the tokenizer's address, which may be reused.
    size_t h = static_cast<size_t>(tok.n_vocab());
    for (int32_t i = 0; i < tok.n_vocab(); ++i)
        h = h * 1000003u ^ std::hash<std::string_view>()(tok.token_text(i));
    static std::mutex mu;
    static std::map<size_t, std::shared_ptr<const sampling::GrammarVocab>> cache;
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache.find(h); it != cache.end()) return it->second;
    std::vector<std::string> bytes(static_cast<size_t>(tok.n_vocab()));
    std::vector<int32_t> eos;
    for (int32_t i = 0; i < tok.n_vocab(); ++i) {
        if (tok.is_eog(i)) eos.push_back(i);
        const std::string_view text = tok.token_text(i);
        if (tok.is_control(i)) {
            if (text == "[TOOL_CALLS]" || text == "<|python_tag|>" || text == "<tool_call>" ||
                text == "</tool_call>")
                bytes[static_cast<size_t>(i)] = std::string(text);
            continue;
        }
        bytes[static_cast<size_t>(i)] = tok.token_to_piece(i, false);
    }
    auto v = sampling::GrammarVocab::create(std::move(bytes), std::move(eos));
    if (cache.size() >= 4) cache.clear();
    cache.emplace(h, v);
    return v;
}

std::string template_messages_json(const std::vector<ChatMessage>& msgs,
                                   const StructuredRequest& s) {
    json out = json::array();
    for (size_t i = 0; i < msgs.size(); ++i) {
        json m = {{"role", msgs[i].role}, {"content", msgs[i].content}};
        if (i < s.message_extras.size() && !s.message_extras[i].empty()) {
            const json extra = json::parse(s.message_extras[i], nullptr, false);
            if (extra.is_object())
                for (auto it = extra.begin(); it != extra.end(); ++it) m[it.key()] = it.value();
        }
        out.push_back(std::move(m));
    }
    return dump(out);
}

std::string fallback_tools_prompt(const StructuredRequest& s) {
    if (!s.tools_active()) return "";
    std::string out =
        "# Tools\n\nYou can call the functions described below, one JSON object per line inside "
        "<tools></tools>:\n<tools>\n";
    const json tools = json::parse(s.tools_json, nullptr, false);
    for (const json& t : tools) out += dump(t) + "\n";
    out +=
        "</tools>\n\nTo call a function, reply with one block per call:\n<tool_call>\n"
        "{\"name\": <function name>, \"arguments\": <arguments as a JSON object>}\n</tool_call>";
    return out;
}

std::string tool_calls_json(const std::vector<ToolCall>& calls) {
    json out = json::array();
    for (const ToolCall& c : calls)
        out.push_back({{"id", c.id},
                       {"type", "function"},
                       {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
    return dump(out);
}

std::string tool_call_deltas_json(const std::vector<ToolCallDelta>& deltas) {
    json out = json::array();
    for (const ToolCallDelta& d : deltas) {
        json j = {{"index", d.index}};
        if (!d.id.empty()) {
            j["id"] = d.id;
            j["type"] = "function";
            j["function"] = {{"name", d.name}, {"arguments", d.arguments}};
        } else {
            j["function"] = {{"arguments", d.arguments}};
        }
        out.push_back(std::move(j));
    }
    return dump(out);
}

}  // namespace tk::server::openai
