// json.dumps as transformers' tojson filter calls it (ensure_ascii=False by default, Python's
// float repr, insertion-ordered keys unless sort_keys).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tokenizer/jinja_pyutil.h"

namespace tk::tokenizer::jinja {

namespace {
void json_string(std::string_view s, bool ensure_ascii, std::string* out) {
    out->push_back('"');
    for (char32_t c : utf8_decode(s)) {
        char buf[16];
        switch (c) {
            case '"':
                *out += "\\\"";
                break;
            case '\\':
                *out += "\\\\";
                break;
            case '\n':
                *out += "\\n";
                break;
            case '\r':
                *out += "\\r";
                break;
            case '\t':
                *out += "\\t";
                break;
            case '\b':
                *out += "\\b";
                break;
            case '\f':
                *out += "\\f";
                break;
            default:
                if (c < 0x20 || (ensure_ascii && c > 0x7E)) {
                    if (c >= 0x10000) {
                        const char32_t v = c - 0x10000;
                        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x",
                                      static_cast<unsigned>(0xD800 | (v >> 10)),
                                      static_cast<unsigned>(0xDC00 | (v & 0x3FF)));
                    } else {
                        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
                    }
                    *out += buf;
                } else {
                    utf8_append(*out, c);
                }
        }
    }
    out->push_back('"');
}

Status dump(const Value& v, const JsonOptions& o, int level, std::string* out) {
    if (level > 500) return Status(ErrorCode::kInvalidArgument, "tojson: nesting too deep");
    auto newline = [&](int lvl) {
        out->push_back('\n');
        for (int i = 0; i < lvl; ++i) *out += o.indent;
    };
    switch (v.kind()) {
        case Value::Kind::kNone:
            *out += "null";
            return Status::ok();
        case Value::Kind::kBool:
            *out += v.as_bool() ? "true" : "false";
            return Status::ok();
        case Value::Kind::kInt:
            *out += std::to_string(v.as_int());
            return Status::ok();
        case Value::Kind::kFloat: {
            const double d = v.as_float();
            if (std::isnan(d)) {
                *out += "NaN";
            } else if (std::isinf(d)) {
                *out += d < 0 ? "-Infinity" : "Infinity";
            } else {
                *out += format_float(d);
            }
            return Status::ok();
        }
        case Value::Kind::kString:
            json_string(v.as_string(), o.ensure_ascii, out);
            return Status::ok();
        case Value::Kind::kArray: {
            if (v.is_iterator()) break;
            const auto& items = v.as_array();
            if (items.empty()) {
                *out += "[]";
                return Status::ok();
            }
            out->push_back('[');
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) *out += o.item_sep;
                if (o.has_indent) newline(level + 1);
                TK_RETURN_IF_ERROR(dump(items[i], o, level + 1, out));
            }
            if (o.has_indent) newline(level);
            out->push_back(']');
            return Status::ok();
        }
        case Value::Kind::kObject: {
            const auto& entries = v.as_object().entries;
            if (entries.empty()) {
                *out += "{}";
                return Status::ok();
            }
            std::vector<const std::pair<std::string, Value>*> order;
            order.reserve(entries.size());
            for (const auto& e : entries) order.push_back(&e);
            if (o.sort_keys) {
                std::stable_sort(order.begin(), order.end(),
                                 [](const auto* a, const auto* b) { return a->first < b->first; });
            }
            out->push_back('{');
            for (size_t i = 0; i < order.size(); ++i) {
                if (i) *out += o.item_sep;
                if (o.has_indent) newline(level + 1);
                json_string(order[i]->first, o.ensure_ascii, out);
                *out += o.key_sep;
                TK_RETURN_IF_ERROR(dump(order[i]->second, o, level + 1, out));
            }
            if (o.has_indent) newline(level);
            out->push_back('}');
            return Status::ok();
        }
        default:
            break;
    }
    return Status(ErrorCode::kInvalidArgument,
                  "Object of type " + type_name(v) + " is not JSON serializable");
}
}  // namespace

Status json_dump(const Value& v, const JsonOptions& opts, std::string* out) {
    return dump(v, opts, 0, out);
}

}  // namespace tk::tokenizer::jinja
