// Jinja2 filters on strings and numbers, plus transformers' tojson. Sequence filters are in
// jinja_filters_seq.cpp. Each follows jinja2/filters.py for autoescape=False.
#include "tokenizer/jinja_filters.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tokenizer/jinja_pyutil.h"
#include "tokenizer/unicode.h"

namespace tk::tokenizer::jinja {

namespace {
Status type_error(std::string msg) { return Status(ErrorCode::kInvalidArgument, std::move(msg)); }

bool int_like(const Value& v) { return v.is_int() || v.is_bool(); }
int64_t int_of(const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); }

// soft_str: Markup stays Markup, everything else becomes str().
Value soft_str(const Value& v) { return v.is_markup() ? v : Value(py_str(v)); }
Value keep_markup(const Value& like, std::string s) {
    return like.is_markup() ? Value::markup(std::move(s)) : Value(std::move(s));
}

// Python float(str): surrounding whitespace, '_' between digits, inf / nan words.
bool parse_py_float(const std::string& text, double* out) {
    std::string s = py_strip(text, nullptr, true, true);
    std::string clean;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '_') {
            const bool ok = i > 0 && i + 1 < s.size() &&
                            std::isdigit(static_cast<uint8_t>(s[i - 1])) &&
                            std::isdigit(static_cast<uint8_t>(s[i + 1]));
            if (!ok) return false;
            continue;
        }
        clean.push_back(s[i]);
    }
    if (clean.empty()) return false;
    std::string lower = str_lower(clean);
    const char* body = lower.c_str();
    bool neg = false;
    if (*body == '+' || *body == '-') neg = *body++ == '-';
    if (std::string_view(body) == "inf" || std::string_view(body) == "infinity") {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (std::string_view(body) == "nan") {
        *out = NAN;
        return true;
    }
    // Only decimal syntax: digits, one '.', optional exponent (strtod would also take hex).
    bool digits = false;
    for (const char* p = body; *p; ++p) {
        if (std::isdigit(static_cast<uint8_t>(*p))) {
            digits = true;
        } else if (*p != '.' && *p != 'e' && *p != '+' && *p != '-') {
            return false;
        }
    }
    if (!digits) return false;
    char* end = nullptr;
    const double d = std::strtod(clean.c_str(), &end);
    if (end == nullptr || *end != '\0') return false;
    *out = d;
    return true;
}

// Python int(str, 10).
bool parse_py_int(const std::string& text, int64_t* out) {
    const std::string s = py_strip(text, nullptr, true, true);
    size_t i = 0;
    bool neg = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i >= s.size()) return false;
    int64_t v = 0;
    bool prev_digit = false;
    for (; i < s.size(); ++i) {
        if (s[i] == '_' && prev_digit && i + 1 < s.size() &&
            std::isdigit(static_cast<uint8_t>(s[i + 1]))) {
            prev_digit = false;
            continue;
        }
        if (!std::isdigit(static_cast<uint8_t>(s[i]))) return false;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v)) {
            return false;
        }
        prev_digit = true;
    }
    *out = neg ? -v : v;
    return true;
}

Result<Value> f_int(const Value& v, CallArgs& a) {
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind("int", a, {"default", "base"}));
    const Value dflt = b.has(0) ? b.get(0) : Value(int64_t{0});
    if (v.is_undefined()) return undefined_error(v);
    if (int_like(v)) return Value(int_of(v));
    double d = 0;
    if (v.is_string()) {
        int64_t i = 0;
        if (parse_py_int(v.as_string(), &i)) return Value(i);
        if (!parse_py_float(v.as_string(), &d)) return dflt;
    } else if (v.is_float()) {
        d = v.as_float();
    } else {
        return dflt;
    }
    if (std::isnan(d)) return dflt;
    if (std::isinf(d)) return type_error("cannot convert float infinity to integer");
    if (std::fabs(d) >= 9.2e18) return type_error("integer overflow");
    return Value(static_cast<int64_t>(d));
}

Result<Value> f_float(const Value& v, CallArgs& a) {
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind("float", a, {"default"}));
    const Value dflt = b.has(0) ? b.get(0) : Value(0.0);
    if (v.is_undefined()) return undefined_error(v);
    if (v.is_number() || v.is_bool()) return Value(v.to_double());
    double d = 0;
    if (v.is_string() && parse_py_float(v.as_string(), &d)) return Value(d);
    return dflt;
}

Result<Value> f_round(const Value& v, CallArgs& a) {
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind("round", a, {"precision", "method"}));
    const int64_t prec = b.has(0) && int_like(b.get(0)) ? int_of(b.get(0)) : 0;
    const std::string method = b.has(1) ? py_str(b.get(1)) : "common";
    if (method != "common" && method != "ceil" && method != "floor") {
        return type_error("method must be common, ceil or floor");
    }
    if (!v.is_number() && !v.is_bool()) {
        return type_error("type " + type_name(v) + " doesn't define __round__ method");
    }
    if (method == "common") {
        if (int_like(v) && prec >= 0) return Value(int_of(v));
        // printf rounds the exact binary value half-to-even, like Python's round().
        char buf[512];
        std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::clamp<int64_t>(prec, 0, 300)),
                      v.to_double());
        double r = std::strtod(buf, nullptr);
        if (prec < 0) {
            const double p = std::pow(10.0, static_cast<double>(-prec));
            r = std::nearbyint(v.to_double() / p) * p;
        }
        return Value(r);
    }
    const double p = std::pow(10.0, static_cast<double>(prec));
    const double x = v.to_double() * p;
    return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

Result<Value> f_tojson(const Value& v, CallArgs& a) {
    TK_ASSIGN_OR_RETURN(
        ArgBinder b,
        ArgBinder::bind("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"}));
    JsonOptions o;
    o.ensure_ascii = truthy(b.get(0));
    o.sort_keys = truthy(b.get(3));
    const Value& indent = b.get(1);
    if (!indent.is_undefined() && !indent.is_none()) {
        o.has_indent = true;
        if (indent.is_string()) {
            o.indent = indent.as_string();
        } else if (int_like(indent)) {
            o.indent.assign(static_cast<size_t>(std::clamp<int64_t>(int_of(indent), 0, 256)), ' ');
        } else {
            return type_error("tojson: indent must be an int or a str");
        }
        o.item_sep = ",";
    }
    const Value& seps = b.get(2);
    if (!seps.is_undefined() && !seps.is_none()) {
        const auto& parts = seps.as_array();
        if (!seps.is_array() || parts.size() != 2 || !parts[0].is_string() ||
            !parts[1].is_string()) {
            return type_error("tojson: separators must be a (item, key) pair of strings");
        }
        o.item_sep = parts[0].as_string();
        o.key_sep = parts[1].as_string();
    }
    std::string out;
    TK_RETURN_IF_ERROR(json_dump(v, o, &out));
    return Value(std::move(out));
}

Result<Value> f_indent(const Value& v, CallArgs& a) {
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind("indent", a, {"width", "first", "blank"}));
    if (v.is_undefined()) return undefined_error(v);
    if (!v.is_string()) {
        return type_error("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
    }
    std::string ind = "    ";
    if (b.has(0)) {
        if (b.get(0).is_string()) {
            ind = b.get(0).as_string();
        } else if (int_like(b.get(0))) {
            ind.assign(static_cast<size_t>(std::clamp<int64_t>(int_of(b.get(0)), 0, 4096)), ' ');
        } else {
            return type_error("indent: width must be an int or a str");
        }
    }
    const bool first = truthy(b.get(1));
    const bool blank = truthy(b.get(2));
    const std::vector<std::string> lines = py_splitlines(v.as_string() + "\n", false);
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) {
        if (i > 0) {
            out += "\n";
            if (blank || !lines[i].empty()) out += ind;
        }
        out += lines[i];
    }
    if (first) out = ind + out;
    return keep_markup(v, std::move(out));
}

// Jinja's title filter: re.split(r"([-\s({\[<]+)") and item[0].upper() + item[1:].lower() for
// each piece (separators included; upper/lower are the full Python mappings).
std::string jinja_title(std::string_view s) {
    const std::u32string cps = utf8_decode(s);
    auto is_sep = [](char32_t c) {
        return py_isspace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    };
    std::string out;
    size_t i = 0;
    while (i < cps.size()) {
        size_t j = i + 1;
        while (j < cps.size() && is_sep(cps[j]) == is_sep(cps[i])) ++j;
        append_upper(out, cps[i]);
        out += str_lower(utf8_encode(std::u32string_view(cps).substr(i + 1, j - i - 1)));
        i = j;
    }
    return out;
}

Result<Value> f_truncate(const Value& v, CallArgs& a) {
    TK_ASSIGN_OR_RETURN(ArgBinder b,
                        ArgBinder::bind("truncate", a, {"length", "killwords", "end", "leeway"}));
    const int64_t length = b.has(0) ? int_of(b.get(0)) : 255;
    const std::u32string end = utf8_decode(b.has(2) ? py_str(b.get(2)) : "...");
    const int64_t leeway = b.has(3) ? int_of(b.get(3)) : 5;
    if (!v.is_string()) {
        // Jinja calls len() and returns short values unchanged; longer non-strings fail there.
        TK_ASSIGN_OR_RETURN(int64_t len, py_len(v));
        if (len <= length + leeway) return v;
        return type_error("truncate: expected a string, got " + type_name(v));
    }
    const std::u32string s = utf8_decode(v.as_string());
    if (length < static_cast<int64_t>(end.size())) return type_error("expected length >= len(end)");
    if (static_cast<int64_t>(s.size()) <= length + leeway) return Value(utf8_encode(s));
    std::u32string head = s.substr(0, static_cast<size_t>(length) - end.size());
    if (!truthy(b.get(1))) {
        const size_t sp = head.rfind(U' ');
        if (sp != std::u32string::npos) head.resize(sp);
    }
    return Value(utf8_encode(head + end));
}

}  // namespace

Result<Value> Interpreter::apply_filter(const std::string& name, Value v, CallArgs& a) {
    if (name == "safe") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        return v.is_markup() ? v : Value::markup(py_str(v));
    }
    if (name == "e" || name == "escape" || name == "forceescape") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        if (v.is_markup() && name != "forceescape") return v;
        return Value::markup(html_escape(py_str(v)));
    }
    if (name == "string") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        return soft_str(v);
    }
    if (name == "trim") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"chars"}));
        const Value s = soft_str(v);
        if (b.get(0).is_undefined() || b.get(0).is_none()) {
            return keep_markup(s, py_strip(s.as_string(), nullptr, true, true));
        }
        const std::string chars = py_str(b.get(0));
        return keep_markup(s, py_strip(s.as_string(), &chars, true, true));
    }
    if (name == "upper" || name == "lower" || name == "capitalize" || name == "title") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        const Value s = soft_str(v);
        const std::string& t = s.as_string();
        return keep_markup(s, name == "upper"        ? str_upper(t)
                              : name == "lower"      ? str_lower(t)
                              : name == "capitalize" ? py_capitalize(t)
                                                     : jinja_title(t));
    }
    if (name == "replace") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"old", "new", "count"}));
        const int64_t count = int_like(b.get(2)) ? int_of(b.get(2)) : -1;
        return Value(py_replace(py_str(v), py_str(b.get(0)), py_str(b.get(1)), count));
    }
    if (name == "center") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"width"}));
        const Value s = soft_str(v);
        CallArgs ca;
        ca.args.push_back(b.has(0) ? b.get(0) : Value(int64_t{80}));
        TK_ASSIGN_OR_RETURN(Value r, call(bound_method(Value(s.as_string()), "center"), ca));
        return keep_markup(s, r.as_string());
    }
    if (name == "format") {
        if (!a.args.empty() && !a.kwargs.empty()) {
            return type_error("can't handle positional and keyword arguments at the same time");
        }
        const Value s = soft_str(v);
        Value args;
        if (!a.kwargs.empty()) {
            args = Value::object(a.kwargs);
        } else {
            args = Value::tuple(a.args);
        }
        return binary_op("%", s, args);
    }
    if (name == "wordcount") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        int64_t n = 0;
        bool in_word = false;
        for (char32_t c : utf8_decode(py_str(v))) {
            // \w: letters, digits and underscore (Python's re word class).
            const bool w = c == '_' || (cpt_flags(c) & (kCatLetter | kCatNumber)) != 0;
            if (w && !in_word) ++n;
            in_word = w;
        }
        return Value(n);
    }
    if (name == "int") return f_int(v, a);
    if (name == "float") return f_float(v, a);
    if (name == "round") return f_round(v, a);
    if (name == "tojson") return f_tojson(v, a);
    if (name == "indent") return f_indent(v, a);
    if (name == "truncate") return f_truncate(v, a);
    if (name == "abs") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        if (int_like(v)) return Value(std::abs(int_of(v)));
        if (v.is_float()) return Value(std::fabs(v.as_float()));
        return type_error("bad operand type for abs(): '" + type_name(v) + "'");
    }
    if (name == "default" || name == "d") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"default_value", "boolean"}));
        const bool use_default = v.is_undefined() || (truthy(b.get(1)) && !truthy(v));
        if (!use_default) return v;
        return b.has(0) ? b.get(0) : Value("");
    }
    if (name == "attr") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"name"}));
        if (v.is_undefined()) return undefined_error(v);
        const std::string attr = py_str(b.get(0));
        if (v.is_namespace()) {
            if (const Value* x = v.find(attr)) return *x;
            return Value::undefined("'Namespace' object has no attribute '" + attr + "'");
        }
        Value m = bound_method(v, attr);
        if (!m.is_undefined() || !m.as_string().empty()) return m;
        return Value::undefined("'" + type_name(v) + " object' has no attribute '" + attr + "'");
    }
    if (name == "pprint") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        return Value(py_repr(v));
    }
    return seq_filter(*this, name, std::move(v), a);
}

}  // namespace tk::tokenizer::jinja
