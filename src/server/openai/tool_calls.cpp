#include "server/openai/tool_calls.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "sampling/json_schema.h"
#include "tokenizer/tokenizer.h"

namespace tk::server::openai {
namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view kHermesEnd = "</tool_call>";

std::string_view start_marker(ToolFormat f) {
    switch (f) {
        case ToolFormat::kMistral:
            return "[TOOL_CALLS]";
        case ToolFormat::kLlama3:
            return "<|python_tag|>";
        default:
            return "<tool_call>";
    }
}

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t skip_ws(std::string_view s, size_t i) {
    while (i < s.size() && is_ws(s[i])) ++i;
    return i;
}

bool all_ws(std::string_view s) { return skip_ws(s, 0) == s.size(); }

// Length of the longest suffix of `s` that is a proper prefix of `m`.
size_t partial_suffix(std::string_view s, std::string_view m) {
    for (size_t n = std::min(s.size(), m.size() - 1); n > 0; --n)
        if (s.substr(s.size() - n) == m.substr(0, n)) return n;
    return 0;
}

enum class Header { kNeedMore, kMatch, kMismatch };

// `{ "name" : "<name>" , "arguments"|"parameters" :` at the start of `s` (s[0] == '{'). On a
// match, *end is where the arguments value (or whitespace before it) starts.
Header parse_header(std::string_view s, std::string* name, size_t* end) {
    size_t i = 1;
    auto expect = [&](char c) {
        i = skip_ws(s, i);
        if (i == s.size()) return Header::kNeedMore;
        if (s[i] != c) return Header::kMismatch;
        ++i;
        return Header::kMatch;
    };
    auto string = [&](std::string* out) {
        Header h = expect('"');
        if (h != Header::kMatch) return h;
        out->clear();
        for (; i < s.size(); ++i) {
            if (s[i] == '"') {
                ++i;
                return Header::kMatch;
            }
            if (s[i] == '\\') {
                if (++i == s.size()) return Header::kNeedMore;
            }
            *out += s[i];
        }
        return Header::kNeedMore;
    };
    std::string key;
    Header h;
    if ((h = string(&key)) != Header::kMatch) return h;
    if (key != "name") return Header::kMismatch;
    if ((h = expect(':')) != Header::kMatch) return h;
    if ((h = string(name)) != Header::kMatch) return h;
    if ((h = expect(',')) != Header::kMatch) return h;
    if ((h = string(&key)) != Header::kMatch) return h;
    if (key != "arguments" && key != "parameters") return Header::kMismatch;
    if ((h = expect(':')) != Header::kMatch) return h;
    *end = i;
    return Header::kMatch;
}

// End (exclusive) of the JSON object starting at s[0] == '{', or npos if incomplete.
size_t object_end(std::string_view s) {
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return std::string_view::npos;
}

}  // namespace

const char* tool_format_name(ToolFormat f) {
    switch (f) {
        case ToolFormat::kMistral:
            return "mistral";
        case ToolFormat::kLlama3:
            return "llama3";
        default:
            return "hermes";
    }
}

ToolFormat detect_tool_format(const tokenizer::Tokenizer& tok, std::string_view chat_template) {
    if (tok.token_id("[TOOL_CALLS]") >= 0) return ToolFormat::kMistral;
    if (tok.token_id("<|python_tag|>") >= 0) return ToolFormat::kLlama3;
    if (tok.token_id("<tool_call>") >= 0) return ToolFormat::kHermes;
    if (chat_template.find("[TOOL_CALLS]") != std::string_view::npos) return ToolFormat::kMistral;
    if (chat_template.find("<|python_tag|>") != std::string_view::npos ||
        chat_template.find("<|start_header_id|>") != std::string_view::npos)
        return ToolFormat::kLlama3;
    return ToolFormat::kHermes;
}

Result<std::string> tool_call_gbnf(ToolFormat format, const std::vector<ToolSpec>& tools,
                                   const std::string& only, bool parallel) {
    // One schema for "a call to any allowed function", with every tool's $defs moved to the
    // top so their "#/$defs/..." references still resolve.
    const char* args_key = format == ToolFormat::kLlama3 ? "parameters" : "arguments";
    json any_of = json::array();
    json defs = json::object();
    for (const ToolSpec& t : tools) {
        if (!only.empty() && t.name != only) continue;
        json params = json{{"type", "object"}};
        if (!t.parameters.empty()) {
            params = json::parse(t.parameters, nullptr, false);
            if (params.is_discarded())
                return make_error(ErrorCode::kInvalidArgument,
                                  "tool '" + t.name + "': parameters are not valid JSON");
        }
        for (const char* key : {"$defs", "definitions"}) {
            if (!params.is_object() || !params.contains(key)) continue;
            for (auto it = params[key].begin(); it != params[key].end(); ++it) {
                json& slot = defs[key][it.key()];
                if (!slot.is_null() && slot != it.value())
                    return make_error(ErrorCode::kUnsupported,
                                      "tools define '" + it.key() + "' in " + key + " differently");
                slot = it.value();
            }
            params.erase(key);
        }
        any_of.push_back({{"type", "object"},
                          {"properties", {{"name", {{"const", t.name}}}, {args_key, params}}},
                          {"required", json::array({"name", args_key})},
                          {"additionalProperties", false}});
    }
    if (any_of.empty())
        return make_error(ErrorCode::kInvalidArgument,
                          "tool_choice names function '" + only + "', which is not in 'tools'");
    json schema = any_of.size() == 1 ? any_of[0] : json{{"anyOf", any_of}};
    for (auto it = defs.begin(); it != defs.end(); ++it) schema[it.key()] = it.value();
    auto rules = sampling::json_schema_to_gbnf(schema.dump(), "tool-call");
    if (!rules.is_ok()) return rules.status();
    std::string root;
    switch (format) {
        case ToolFormat::kMistral:
            root = std::string("\"[TOOL_CALLS]\" j-ws \"[\" j-ws tool-call j-ws ") +
                   (parallel ? "(\",\" j-ws tool-call j-ws)* " : "") + "\"]\"";
            break;
        case ToolFormat::kLlama3:
            root = "tool-call";
            break;
        default:
            root = std::string(parallel ? "hermes-call (\"\\n\" hermes-call)*" : "hermes-call") +
                   "\nhermes-call ::= \"<tool_call>\\n\" tool-call \"\\n</tool_call>\"";
            break;
    }
    return "root ::= " + root + "\n" + *rules;
}

ToolCallParser::ToolCallParser(ToolFormat format, std::string id_prefix)
    : format_(format), id_prefix_(std::move(id_prefix)) {}

std::string ToolCallParser::push(std::string_view text, std::vector<ToolCallDelta>* deltas) {
    buf_.append(text);
    return run(deltas, false);
}

std::string ToolCallParser::finish(std::vector<ToolCallDelta>* deltas) { return run(deltas, true); }

void ToolCallParser::start_call(std::string name, std::vector<ToolCallDelta>* deltas) {
    ToolCall c;
    c.id = id_prefix_ + std::to_string(calls_.size());
    c.name = std::move(name);
    ToolCallDelta d;
    d.index = static_cast<int>(calls_.size());
    d.id = c.id;
    d.name = c.name;
    calls_.push_back(std::move(c));
    deltas->push_back(std::move(d));
}

void ToolCallParser::add_args(const std::string& text, std::vector<ToolCallDelta>* deltas) {
    if (text.empty() || calls_.empty()) return;
    calls_.back().arguments += text;
    const int index = static_cast<int>(calls_.size()) - 1;
    if (!deltas->empty() && deltas->back().index == index) {
        deltas->back().arguments += text;
    } else {
        ToolCallDelta d;
        d.index = index;
        d.arguments = text;
        deltas->push_back(std::move(d));
    }
}

std::string ToolCallParser::run(std::vector<ToolCallDelta>* deltas, bool final) {
    std::string out;
    auto content = [&](std::string text) {
        // Whitespace between or after calls is formatting, not content.
        if (!calls_.empty() && all_ws(text)) return;
        out += text;
    };
    while (true) {
        switch (mode_) {
            case Mode::kContent: {
                if (at_start_ && format_ == ToolFormat::kLlama3) {
                    const size_t i = skip_ws(buf_, 0);
                    if (i == buf_.size()) {
                        if (final) content(std::exchange(buf_, {}));
                        return out;
                    }
                    at_start_ = false;
                    if (buf_[i] == '{') {
                        lead_ = buf_.substr(0, i);  // content again if this is no call
                        buf_.erase(0, i);
                        bare_ = true;
                        mode_ = Mode::kHeader;
                        continue;
                    }
                }
                at_start_ = false;
                const std::string_view m = start_marker(format_);
                const size_t p = buf_.find(m);
                if (p != std::string::npos) {
                    content(buf_.substr(0, p));
                    buf_.erase(0, p + m.size());
                    mode_ = Mode::kCallStart;
                    continue;
                }
                const size_t keep = final ? 0 : partial_suffix(buf_, m);
                content(buf_.substr(0, buf_.size() - keep));
                buf_.erase(0, buf_.size() - keep);
                return out;
            }
            case Mode::kCallStart: {
                const size_t i = skip_ws(buf_, 0);
                if (i == buf_.size()) {
                    buf_.clear();
                    return out;
                }
                if (format_ == ToolFormat::kMistral && !in_list_ && buf_[i] == '[') {
                    in_list_ = true;
                    buf_.erase(0, i + 1);
                    continue;
                }
                if (buf_[i] == '{') {
                    buf_.erase(0, i);
                    bare_ = false;
                    mode_ = Mode::kHeader;
                    continue;
                }
                in_list_ = false;  // a marker without a call: the rest is content
                mode_ = Mode::kContent;
                continue;
            }
            case Mode::kHeader: {
                std::string name;
                size_t end = 0;
                const Header h = parse_header(buf_, &name, &end);
                if (h == Header::kNeedMore) {
                    if (final) {
                        if (bare_) content(lead_ + buf_);
                        buf_.clear();
                    }
                    return out;
                }
                if (h == Header::kMismatch) {
                    mode_ = Mode::kWhole;
                    continue;
                }
                start_call(std::move(name), deltas);
                buf_.erase(0, end);
                depth_ = 0;
                in_str_ = esc_ = started_ = primitive_ = false;
                mode_ = Mode::kArgs;
                continue;
            }
            case Mode::kArgs: {
                std::string piece;
                size_t i = 0;
                bool done = false, as_string = false;
                for (; i < buf_.size() && !done; ++i) {
                    const char c = buf_[i];
                    if (!started_) {
                        if (is_ws(c)) continue;
                        if (c == '"') {
                            as_string = true;
                            break;
                        }
                        started_ = true;
                        primitive_ = c != '{' && c != '[';
                        depth_ = primitive_ ? 0 : 1;
                        piece += c;
                        continue;
                    }
                    if (primitive_) {
                        if (c == ',' || c == '}' || is_ws(c)) {
                            done = true;
                            break;  // not part of the value
                        }
                        piece += c;
                        continue;
                    }
                    piece += c;
                    if (in_str_) {
                        if (esc_)
                            esc_ = false;
                        else if (c == '\\')
                            esc_ = true;
                        else if (c == '"')
                            in_str_ = false;
                    } else if (c == '"') {
                        in_str_ = true;
                    } else if (c == '{' || c == '[') {
                        ++depth_;
                    } else if ((c == '}' || c == ']') && --depth_ == 0) {
                        done = true;
                    }
                }
                add_args(piece, deltas);
                buf_.erase(0, i);
                if (as_string) {
                    mode_ = Mode::kArgsString;
                    continue;
                }
                if (done || (final && primitive_)) {
                    depth_ = 1;
                    in_str_ = esc_ = false;
                    mode_ = Mode::kCallEnd;
                    if (!final || !buf_.empty()) continue;
                }
                return out;
            }
            case Mode::kArgsString: {
                // Arguments sent as a JSON string holding JSON: decode once it is complete.
                bool esc = false;
                size_t end = std::string::npos;
                for (size_t i = 1; i < buf_.size(); ++i) {
                    if (esc)
                        esc = false;
                    else if (buf_[i] == '\\')
                        esc = true;
                    else if (buf_[i] == '"') {
                        end = i + 1;
                        break;
                    }
                }
                if (end == std::string::npos) {
                    if (final) buf_.clear();
                    return out;
                }
                json s = json::parse(buf_.substr(0, end), nullptr, false);
                if (s.is_string()) add_args(s.get<std::string>(), deltas);
                buf_.erase(0, end);
                depth_ = 1;
                in_str_ = esc_ = false;
                mode_ = Mode::kCallEnd;
                continue;
            }
            case Mode::kCallEnd: {
                // Up to the '}' closing the call object (other keys are skipped).
                size_t i = 0;
                bool closed = false;
                for (; i < buf_.size() && !closed; ++i) {
                    const char c = buf_[i];
                    if (in_str_) {
                        if (esc_)
                            esc_ = false;
                        else if (c == '\\')
                            esc_ = true;
                        else if (c == '"')
                            in_str_ = false;
                    } else if (c == '"') {
                        in_str_ = true;
                    } else if (c == '{' || c == '[') {
                        ++depth_;
                    } else if ((c == '}' || c == ']') && --depth_ == 0) {
                        closed = true;
                    }
                }
                buf_.erase(0, i);
                if (!closed) return out;
                mode_ = Mode::kAfterCall;
                continue;
            }
            case Mode::kAfterCall: {
                const size_t i = skip_ws(buf_, 0);
                if (format_ == ToolFormat::kHermes) {
                    const std::string_view rest = std::string_view(buf_).substr(i);
                    if (rest.size() < kHermesEnd.size() && kHermesEnd.substr(0, rest.size()) == rest) {
                        if (final) buf_.clear();
                        return out;
                    }
                    if (rest.substr(0, kHermesEnd.size()) == kHermesEnd)
                        buf_.erase(0, i + kHermesEnd.size());
                    mode_ = Mode::kContent;
                    continue;
                }
                if (i == buf_.size()) {
                    if (final) buf_.clear();
                    return out;
                }
                const char c = buf_[i];
                if (format_ == ToolFormat::kMistral && in_list_ && (c == ',' || c == ']')) {
                    buf_.erase(0, i + 1);
                    if (c == ']') in_list_ = false;
                    mode_ = c == ',' ? Mode::kCallStart : Mode::kContent;
                    continue;
                }
                if (format_ == ToolFormat::kLlama3 && c == ';') {
                    buf_.erase(0, i + 1);
                    mode_ = Mode::kCallStart;
                    continue;
                }
                in_list_ = false;
                mode_ = Mode::kContent;
                continue;
            }
            case Mode::kWhole: {
                // Not name-first: wait for the whole object, then look at it.
                const size_t end = object_end(buf_);
                if (end == std::string::npos) {
                    if (final) {
                        if (bare_) content(lead_ + buf_);
                        buf_.clear();
                    }
                    return out;
                }
                const json j = json::parse(buf_.substr(0, end), nullptr, false);
                const json* args = nullptr;
                if (j.is_object() && j.contains("name") && j["name"].is_string()) {
                    if (j.contains("arguments")) args = &j["arguments"];
                    if (j.contains("parameters")) args = &j["parameters"];
                }
                if (args != nullptr) {
                    start_call(j["name"].get<std::string>(), deltas);
                    add_args(args->is_string() ? args->get<std::string>() : args->dump(), deltas);
                    mode_ = Mode::kAfterCall;
                } else {
                    if (bare_) content(lead_ + buf_.substr(0, end));
                    mode_ = Mode::kContent;
                }
                buf_.erase(0, end);
                continue;
            }
        }
    }
}

}  // namespace tk::server::openai
