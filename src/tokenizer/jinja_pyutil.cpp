// Python-compatible text forms and string methods for the chat-template engine.
#include "tokenizer/jinja_pyutil.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tokenizer/jinja_eval.h"
#include "tokenizer/unicode.h"

namespace tk::tokenizer::jinja {

// ---------------------------------------------------------------------------------------------
// UTF-8

std::u32string utf8_decode(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<uint8_t>(s[i]);
        if (c < 0x80) {
            out.push_back(c);
            ++i;
            continue;
        }
        size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
        char32_t cp = len == 4 ? (c & 0x07) : len == 3 ? (c & 0x0F) : (c & 0x1F);
        bool ok = len != 0 && i + len <= s.size();
        for (size_t k = 1; ok && k < len; ++k) {
            const auto cc = static_cast<uint8_t>(s[i + k]);
            if ((cc & 0xC0) != 0x80) ok = false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (!ok || cp > 0x10FFFF) {
            out.push_back(0xFFFD);
            ++i;
            continue;
        }
        out.push_back(cp);
        i += len;
    }
    return out;
}

void utf8_append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string utf8_encode(std::u32string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) utf8_append(out, c);
    return out;
}

size_t utf8_length(std::string_view s) {
    size_t n = 0;
    for (char c : s) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
    return n;
}

// ---------------------------------------------------------------------------------------------
// Character classes

bool py_isspace(char32_t c) {
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool py_isprintable(char32_t c) {
    if (c == ' ') return true;
    if (c < 0x7F) return c > 0x20;
    // Python: not printable = categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (other than space).
    return (cpt_flags(c) & (kCatControl | kCatSeparator)) == 0 && cpt_flags(c) != 0;
}

namespace {
// Approximates Unicode Case_Ignorable (marks, modifier letters and the Word_Break MidLetter /
// MidNumLet / Single_Quote characters); only the final-sigma rule consults it.
bool case_ignorable(char32_t c) {
    if (c == '\'' || c == '.' || c == ':' || c == '^' || c == '`' || c == 0xA8 || c == 0xAD ||
        c == 0xAF || c == 0xB4 || c == 0xB7 || c == 0xB8 || c == 0x2018 || c == 0x2019 ||
        c == 0x2024 || c == 0x2027 || (c >= 0x2B0 && c <= 0x36F)) {
        return true;
    }
    return c >= 0x80 && (cpt_flags(c) & kCatMark) != 0;
}

// CPython's handle_capital_sigma: U+03A3 lowercases to final sigma after a cased letter
// (skipping case-ignorables) when no cased letter follows.
char32_t lower_sigma(const std::u32string& s, size_t i) {
    size_t j = i;
    while (j > 0 && case_ignorable(s[j - 1])) --j;
    bool final_sigma = j > 0 && py_iscased(s[j - 1]);
    if (final_sigma) {
        size_t k = i + 1;
        while (k < s.size() && case_ignorable(s[k])) ++k;
        final_sigma = k == s.size() || !py_iscased(s[k]);
    }
    return final_sigma ? 0x3C2 : 0x3C3;
}
}  // namespace

void append_lower_at(std::string& out, const std::u32string& s, size_t i) {
    if (s[i] == 0x3A3) {
        utf8_append(out, lower_sigma(s, i));
    } else {
        append_lower(out, s[i]);
    }
}

std::string str_lower(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    bool ascii = true;
    for (char c : s) ascii = ascii && static_cast<uint8_t>(c) < 0x80;
    if (ascii) {
        for (char c : s) out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c);
        return out;
    }
    const std::u32string cps = utf8_decode(s);
    for (size_t i = 0; i < cps.size(); ++i) append_lower_at(out, cps, i);
    return out;
}

std::string str_upper(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : utf8_decode(s)) append_upper(out, c);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Text forms

std::string format_float(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
    char buf[64];
    // Shortest round-trip digits, as Python's repr uses.
    const auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
    std::string out;
    if (sci[0] == '-') {
        out.push_back('-');
        sci.remove_prefix(1);
    }
    const size_t e = sci.find('e');
    std::string digits;
    for (char c : sci.substr(0, e)) {
        if (c != '.') digits.push_back(c);
    }
    const int exp = std::atoi(std::string(sci.substr(e + 1)).c_str());
    if (exp >= -4 && exp < 16) {
        if (exp >= 0) {
            const size_t int_len = static_cast<size_t>(exp) + 1;
            if (digits.size() <= int_len) {
                out += digits + std::string(int_len - digits.size(), '0') + ".0";
            } else {
                out += digits.substr(0, int_len) + "." + digits.substr(int_len);
            }
        } else {
            out += "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
        }
        return out;
    }
    out.push_back(digits[0]);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return out + ebuf;
}

std::string repr_string(std::string_view s) {
    const bool has_single = s.find('\'') != std::string_view::npos;
    const bool has_double = s.find('"') != std::string_view::npos;
    const char quote = (has_single && !has_double) ? '"' : '\'';
    std::string out(1, quote);
    for (char32_t c : utf8_decode(s)) {
        if (c == static_cast<char32_t>(quote) || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (py_isprintable(c)) {
            utf8_append(out, c);
        } else {
            char buf[16];
            if (c < 0x100) {
                std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
            } else if (c < 0x10000) {
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            } else {
                std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
            }
            out += buf;
        }
    }
    out.push_back(quote);
    return out;
}

namespace {
void append_repr(const Value& v, std::string& out, int depth);

void append_entries_repr(const ObjectData& o, std::string& out, int depth) {
    out.push_back('{');
    bool first = true;
    for (const auto& [k, val] : o.entries) {
        if (!first) out += ", ";
        first = false;
        out += repr_string(k);
        out += ": ";
        append_repr(val, out, depth + 1);
    }
    out.push_back('}');
}

void append_repr(const Value& v, std::string& out, int depth) {
    if (depth > 200) {
        out += "...";
        return;
    }
    switch (v.kind()) {
        case Value::Kind::kString:
            if (v.is_markup()) {
                out += "Markup(" + repr_string(v.as_string()) + ")";
            } else {
                out += repr_string(v.as_string());
            }
            return;
        case Value::Kind::kUndefined:
            out += "Undefined";
            return;
        case Value::Kind::kArray: {
            if (v.is_iterator()) {
                out += "<generator object>";
                return;
            }
            const auto& items = v.as_array();
            out.push_back(v.is_tuple() ? '(' : '[');
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += ", ";
                append_repr(items[i], out, depth + 1);
            }
            if (v.is_tuple() && items.size() == 1) out.push_back(',');
            out.push_back(v.is_tuple() ? ')' : ']');
            return;
        }
        case Value::Kind::kObject:
            append_entries_repr(v.as_object(), out, depth);
            return;
        case Value::Kind::kNamespace:
            out += "<Namespace ";
            append_entries_repr(v.as_object(), out, depth);
            out += ">";
            return;
        default:
            out += py_str(v);
    }
}
}  // namespace

std::string py_str(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::kUndefined:
            return "";
        case Value::Kind::kNone:
            return "None";
        case Value::Kind::kBool:
            return v.as_bool() ? "True" : "False";
        case Value::Kind::kInt:
            return std::to_string(v.as_int());
        case Value::Kind::kFloat:
            return format_float(v.as_float());
        case Value::Kind::kString:
            return v.as_string();
        case Value::Kind::kCallable: {
            // Macros print as Jinja's Macro objects do; builtins get a stand-in.
            const std::string& name = v.as_callable()->name;
            return name.rfind('<', 0) == 0 ? name : "<function " + name + ">";
        }
        default: {
            std::string out;
            append_repr(v, out, 0);
            return out;
        }
    }
}

std::string py_repr(const Value& v) {
    std::string out;
    append_repr(v, out, 0);
    return out;
}

std::string type_name(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::kUndefined:
            return "Undefined";
        case Value::Kind::kNone:
            return "NoneType";
        case Value::Kind::kBool:
            return "bool";
        case Value::Kind::kInt:
            return "int";
        case Value::Kind::kFloat:
            return "float";
        case Value::Kind::kString:
            return "str";
        case Value::Kind::kArray:
            return v.is_iterator() ? "generator" : v.is_tuple() ? "tuple" : "list";
        case Value::Kind::kObject:
            return "dict";
        case Value::Kind::kCallable:
            return "function";
        case Value::Kind::kNamespace:
            return "Namespace";
    }
    return "object";
}

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&#34;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out.push_back(c);
        }
    }
    return out;
}

std::string escape_for_markup(const Value& v) {
    return v.is_markup() ? v.as_string() : html_escape(py_str(v));
}

// ---------------------------------------------------------------------------------------------
// Semantics

bool truthy(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::kUndefined:
        case Value::Kind::kNone:
            return false;
        case Value::Kind::kBool:
            return v.as_bool();
        case Value::Kind::kInt:
            return v.as_int() != 0;
        case Value::Kind::kFloat:
            return v.as_float() != 0.0;
        case Value::Kind::kString:
            return !v.as_string().empty();
        case Value::Kind::kArray:
            return v.is_iterator() || !v.as_array().empty();
        case Value::Kind::kObject:
            return !v.as_object().entries.empty();
        default:
            return true;
    }
}

namespace {
bool numeric(const Value& v) { return v.is_number() || v.is_bool(); }

bool equal_depth(const Value& a, const Value& b, int depth) {
    if (depth > 200) return false;
    if (numeric(a) && numeric(b)) {
        if (a.is_float() || b.is_float()) return a.to_double() == b.to_double();
        return (a.is_bool() ? int64_t{a.as_bool()} : a.as_int()) ==
               (b.is_bool() ? int64_t{b.as_bool()} : b.as_int());
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case Value::Kind::kUndefined:
        case Value::Kind::kNone:
            return true;
        case Value::Kind::kString:
            return a.as_string() == b.as_string();
        case Value::Kind::kArray: {
            if (a.is_iterator() || b.is_iterator()) return a.payload() == b.payload();
            if (a.is_tuple() != b.is_tuple()) return false;
            const auto& x = a.as_array();
            const auto& y = b.as_array();
            if (x.size() != y.size()) return false;
            for (size_t i = 0; i < x.size(); ++i) {
                if (!equal_depth(x[i], y[i], depth + 1)) return false;
            }
            return true;
        }
        case Value::Kind::kObject: {
            const auto& x = a.as_object().entries;
            const auto& y = b.as_object();
            if (x.size() != y.entries.size()) return false;
            for (const auto& [k, v] : x) {
                const Value* other = y.find(k);
                if (other == nullptr || !equal_depth(v, *other, depth + 1)) return false;
            }
            return true;
        }
        default:
            return a.payload() == b.payload();
    }
}
}  // namespace

bool py_equal(const Value& a, const Value& b) { return equal_depth(a, b, 0); }

Result<bool> py_less(const Value& a, const Value& b) {
    if (numeric(a) && numeric(b)) {
        if (a.is_float() || b.is_float()) return a.to_double() < b.to_double();
        const int64_t x = a.is_bool() ? a.as_bool() : a.as_int();
        const int64_t y = b.is_bool() ? b.as_bool() : b.as_int();
        return x < y;
    }
    if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();  // code-point order
    if (a.is_array() && b.is_array() && a.is_tuple() == b.is_tuple() && !a.is_iterator() &&
        !b.is_iterator()) {
        const auto& x = a.as_array();
        const auto& y = b.as_array();
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (py_equal(x[i], y[i])) continue;
            return py_less(x[i], y[i]);
        }
        return x.size() < y.size();
    }
    if (a.is_undefined() || b.is_undefined()) {
        const Value& u = a.is_undefined() ? a : b;
        return Status(ErrorCode::kInvalidArgument,
                      u.as_string().empty() ? "undefined value" : u.as_string());
    }
    return Status(ErrorCode::kInvalidArgument, "'<' not supported between instances of '" +
                                                   type_name(a) + "' and '" + type_name(b) + "'");
}

}  // namespace tk::tokenizer::jinja
