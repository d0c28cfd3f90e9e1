// Methods of str / dict / list values, the template globals, and printf-style formatting.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <unordered_map>

#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_pyutil.h"
#include "tokenizer/unicode.h"

namespace tk::tokenizer::jinja {

namespace {
Status type_error(std::string msg) { return Status(ErrorCode::kInvalidArgument, std::move(msg)); }

bool int_like(const Value& v) { return v.is_int() || v.is_bool(); }
int64_t int_of(const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); }

Result<std::string> str_arg(std::string_view fn, const Value& v) {
    if (!v.is_string()) {
        return type_error(std::string(fn) + "() argument must be str, not " + type_name(v));
    }
    return v.as_string();
}

Value str_list(const std::vector<std::string>& parts) {
    std::vector<Value> out;
    out.reserve(parts.size());
    for (const auto& p : parts) out.emplace_back(p);
    return Value::array(std::move(out));
}

// ---- str

Result<Value> m_strip(std::string_view fn, const Value& self, CallArgs& a, bool l, bool r) {
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(fn, a, {"chars"}));
    if (!b.has(0) || b.get(0).is_none()) return Value(py_strip(self.as_string(), nullptr, l, r));
    TK_ASSIGN_OR_RETURN(std::string chars, str_arg(fn, b.get(0)));
    return Value(py_strip(self.as_string(), &chars, l, r));
}

Result<Value> m_split(std::string_view fn, const Value& self, CallArgs& a, bool right) {
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(fn, a, {"sep", "maxsplit"}));
    const int64_t maxsplit = b.has(1) && int_like(b.get(1)) ? int_of(b.get(1)) : -1;
    if (!b.has(0) || b.get(0).is_none()) {
        return str_list(py_split(self.as_string(), nullptr, maxsplit, right));
    }
    TK_ASSIGN_OR_RETURN(std::string sep, str_arg(fn, b.get(0)));
    if (sep.empty()) return type_error("empty separator");
    return str_list(py_split(self.as_string(), &sep, maxsplit, right));
}

// startswith / endswith: a str or a tuple of str.
Result<Value> m_affix(std::string_view fn, const Value& self, CallArgs& a, bool end) {
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(fn, a, {"prefix"}));
    const std::string& s = self.as_string();
    std::vector<Value> options =
        b.get(0).is_tuple() ? b.get(0).as_array() : std::vector<Value>{b.get(0)};
    for (const Value& o : options) {
        TK_ASSIGN_OR_RETURN(std::string x, str_arg(fn, o));
        if (x.size() <= s.size() && (end ? s.compare(s.size() - x.size(), x.size(), x) == 0
                                         : s.compare(0, x.size(), x) == 0)) {
            return Value(true);
        }
    }
    return Value(false);
}

Result<Value> m_find(std::string_view fn, const Value& self, CallArgs& a, bool right, bool raise) {
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(fn, a, {"sub"}));
    TK_ASSIGN_OR_RETURN(std::string sub, str_arg(fn, b.get(0)));
    const std::string& s = self.as_string();
    const size_t hit = right ? s.rfind(sub) : s.find(sub);
    if (hit == std::string::npos) {
        if (raise) return type_error("substring not found");
        return Value(int64_t{-1});
    }
    return Value(static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, hit))));
}

Result<Value> m_pad(std::string_view fn, const Value& self, CallArgs& a, int where) {
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(fn, a, {"width", "fillchar"}));
    if (!int_like(b.get(0))) return type_error(std::string(fn) + "() width must be an integer");
    const std::string fill = b.has(1) ? b.get(1).as_string() : " ";
    const auto len = static_cast<int64_t>(utf8_length(self.as_string()));
    const int64_t total = std::max<int64_t>(0, int_of(b.get(0)) - len);
    // CPython's center() puts the odd space on the left when the width is odd.
    const int64_t left = where < 0   ? 0
                         : where > 0 ? total
                                     : total / 2 + (total & int_of(b.get(0)) & 1);
    std::string out;
    for (int64_t i = 0; i < left; ++i) out += fill;
    out += self.as_string();
    for (int64_t i = left; i < total; ++i) out += fill;
    return Value(std::move(out));
}

Result<Value> m_join(const Value& self, CallArgs& a) {
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind("join", a, {"iterable"}));
    TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(b.get(0)));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (!items[i].is_string()) {
            return type_error("sequence item " + std::to_string(i) + ": expected str instance, " +
                              type_name(items[i]) + " found");
        }
        if (i) out += self.as_string();
        out += items[i].as_string();
    }
    return Value(std::move(out));
}

template <typename Pred>
Value all_cps(const Value& self, Pred p) {
    const std::u32string cps = utf8_decode(self.as_string());
    if (cps.empty()) return Value(false);
    for (char32_t c : cps) {
        if (!p(c)) return Value(false);
    }
    return Value(true);
}

// str.format with positional / named fields and no format specs.
Result<Value> m_format(const Value& self, CallArgs& a) {
    const std::string& f = self.as_string();
    std::string out;
    size_t auto_idx = 0;
    for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] == '}' && i + 1 < f.size() && f[i + 1] == '}') {
            out.push_back('}');
            ++i;
            continue;
        }
        if (f[i] != '{') {
            out.push_back(f[i]);
            continue;
        }
        if (i + 1 < f.size() && f[i + 1] == '{') {
            out.push_back('{');
            ++i;
            continue;
        }
        const size_t close = f.find('}', i);
        if (close == std::string::npos)
            return type_error("Single '{' encountered in format string");
        std::string field = f.substr(i + 1, close - i - 1);
        bool repr = false;
        if (field.size() >= 2 && field[field.size() - 2] == '!') {
            repr = field.back() == 'r';
            field.resize(field.size() - 2);
        }
        if (field.find(':') != std::string::npos)
            return type_error("format specs are not supported");
        Value v;
        if (field.empty()) {
            if (auto_idx >= a.args.size()) return type_error("Replacement index out of range");
            v = a.args[auto_idx++];
        } else if (std::all_of(field.begin(), field.end(),
                               [](char c) { return c >= '0' && c <= '9'; })) {
            const size_t k = std::stoul(field);
            if (k >= a.args.size()) return type_error("Replacement index out of range");
            v = a.args[k];
        } else {
            bool found = false;
            for (const auto& [k, kv] : a.kwargs) {
                if (k == field) {
                    v = kv;
                    found = true;
                }
            }
            if (!found) return type_error("'" + field + "'");
        }
        out += repr ? py_repr(v) : py_str(v);
        i = close;
    }
    return Value(std::move(out));
}

Result<Value> str_method(std::string_view name, const Value& self, CallArgs& a) {
    const std::string& s = self.as_string();
    if (name == "strip") return m_strip(name, self, a, true, true);
    if (name == "lstrip") return m_strip(name, self, a, true, false);
    if (name == "rstrip") return m_strip(name, self, a, false, true);
    if (name == "split") return m_split(name, self, a, false);
    if (name == "rsplit") return m_split(name, self, a, true);
    if (name == "startswith") return m_affix(name, self, a, false);
    if (name == "endswith") return m_affix(name, self, a, true);
    if (name == "find") return m_find(name, self, a, false, false);
    if (name == "rfind") return m_find(name, self, a, true, false);
    if (name == "index") return m_find(name, self, a, false, true);
    if (name == "rindex") return m_find(name, self, a, true, true);
    if (name == "ljust") return m_pad(name, self, a, -1);
    if (name == "rjust") return m_pad(name, self, a, 1);
    if (name == "center") return m_pad(name, self, a, 0);
    if (name == "join") return m_join(self, a);
    if (name == "format") return m_format(self, a);
    if (name == "upper") return Value(str_upper(s));
    if (name == "lower" || name == "casefold") return Value(str_lower(s));
    if (name == "title") return Value(py_title(s));
    if (name == "capitalize") return Value(py_capitalize(s));
    if (name == "swapcase") return Value(py_swapcase(s));
    if (name == "isspace") return all_cps(self, py_isspace);
    // Character classes from the tokenizer's Unicode tables (\p{N}, \p{L}); Python's digit /
    // decimal distinctions within \p{N} are not kept.
    if (name == "isdigit" || name == "isdecimal" || name == "isnumeric") {
        return all_cps(self, [](char32_t c) { return (cpt_flags(c) & kCatNumber) != 0; });
    }
    if (name == "isalpha") {
        return all_cps(self, [](char32_t c) { return (cpt_flags(c) & kCatLetter) != 0; });
    }
    if (name == "isalnum") {
        return all_cps(self,
                       [](char32_t c) { return (cpt_flags(c) & (kCatLetter | kCatNumber)) != 0; });
    }
    if (name == "islower" || name == "isupper") {
        // At least one cased character, and every cased one lowercase (uppercase).
        const bool want_lower = name == "islower";
        bool cased = false;
        for (char32_t c : utf8_decode(s)) {
            if (!py_iscased(c)) continue;
            cased = true;
            if (want_lower ? !py_char_islower(c) : !py_char_isupper(c)) return Value(false);
        }
        return Value(cased);
    }
    if (name == "replace") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"old", "new", "count"}));
        TK_ASSIGN_OR_RETURN(std::string old, str_arg(name, b.get(0)));
        TK_ASSIGN_OR_RETURN(std::string repl, str_arg(name, b.get(1)));
        const int64_t count = b.has(2) && int_like(b.get(2)) ? int_of(b.get(2)) : -1;
        return Value(py_replace(s, old, repl, count));
    }
    if (name == "count") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"sub"}));
        TK_ASSIGN_OR_RETURN(std::string sub, str_arg(name, b.get(0)));
        if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(s) + 1));
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value(n);
    }
    if (name == "splitlines") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"keepends"}));
        return str_list(py_splitlines(s, truthy(b.get(0))));
    }
    if (name == "removeprefix" || name == "removesuffix") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"affix"}));
        TK_ASSIGN_OR_RETURN(std::string x, str_arg(name, b.get(0)));
        if (name == "removeprefix" && s.compare(0, x.size(), x) == 0)
            return Value(s.substr(x.size()));
        if (name == "removesuffix" && x.size() <= s.size() && !x.empty() &&
            s.compare(s.size() - x.size(), x.size(), x) == 0) {
            return Value(s.substr(0, s.size() - x.size()));
        }
        return self;
    }
    if (name == "zfill") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"width"}));
        const auto len = static_cast<int64_t>(utf8_length(s));
        const int64_t pad = int_like(b.get(0)) ? int_of(b.get(0)) - len : 0;
        if (pad <= 0) return self;
        const bool sign = !s.empty() && (s[0] == '-' || s[0] == '+');
        return Value(s.substr(0, sign ? 1 : 0) + std::string(static_cast<size_t>(pad), '0') +
                     s.substr(sign ? 1 : 0));
    }
    return type_error("unknown str method " + std::string(name));
}

bool is_str_method(std::string_view n) {
    static const char* const kNames[] = {
        "strip",     "lstrip",    "rstrip",     "split",        "rsplit",       "startswith",
        "endswith",  "find",      "rfind",      "index",        "rindex",       "ljust",
        "rjust",     "center",    "join",       "format",       "upper",        "lower",
        "casefold",  "title",     "capitalize", "swapcase",     "isspace",      "isdigit",
        "isdecimal", "isnumeric", "isalpha",    "isalnum",      "islower",      "isupper",
        "replace",   "count",     "splitlines", "removeprefix", "removesuffix", "zfill"};
    return std::find(std::begin(kNames), std::end(kNames), n) != std::end(kNames);
}

// Methods markupsafe.Markup overrides to return Markup.
bool is_markup_method(std::string_view n) {
    static const char* const kNames[] = {
        "capitalize",   "title",        "lower",  "upper",  "swapcase",   "replace", "ljust",
        "rjust",        "lstrip",       "rstrip", "center", "strip",      "zfill",   "casefold",
        "removeprefix", "removesuffix", "split",  "rsplit", "splitlines", "join",    "format"};
    return std::find(std::begin(kNames), std::end(kNames), n) != std::end(kNames);
}

// ---- dict / list

Result<Value> dict_method(std::string_view name, const Value& self, CallArgs& a) {
    const auto& entries = self.as_object().entries;
    if (name == "get") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"key", "default"}));
        if (b.get(0).is_string()) {
            if (const Value* v = self.find(b.get(0).as_string())) return *v;
        }
        return b.has(1) ? b.get(1) : Value::none();
    }
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
    if (name == "copy") return Value::object(entries);
    std::vector<Value> out;
    out.reserve(entries.size());
    for (const auto& [k, v] : entries) {
        if (name == "items") {
            out.push_back(Value::tuple({Value(k), v}));
        } else {
            out.push_back(name == "keys" ? Value(k) : v);
        }
    }
    return Value::array(std::move(out));
}

Result<Value> list_method(std::string_view name, const Value& self, CallArgs& a) {
    if (name == "copy") return Value::array(self.as_array());
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"value"}));
    const auto& items = self.as_array();
    int64_t count = 0;
    for (size_t i = 0; i < items.size(); ++i) {
        if (!py_equal(items[i], b.get(0))) continue;
        if (name == "index") return Value(static_cast<int64_t>(i));
        ++count;
    }
    if (name == "index") return type_error(py_repr(b.get(0)) + " is not in list");
    return Value(count);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Result<ArgBinder> ArgBinder::bind(std::string_view fn_name, CallArgs& args,
                                  std::vector<std::string_view> params) {
    ArgBinder b;
    b.values_.resize(params.size());
    b.given_.assign(params.size(), false);
    if (args.args.size() > params.size()) {
        return type_error(std::string(fn_name) + "() takes at most " +
                          std::to_string(params.size()) + " argument(s) (" +
                          std::to_string(args.args.size()) + " given)");
    }
    for (size_t i = 0; i < args.args.size(); ++i) {
        b.values_[i] = args.args[i];
        b.given_[i] = true;
    }
    for (auto& [k, v] : args.kwargs) {
        const auto it = std::find(params.begin(), params.end(), k);
        if (it == params.end()) {
            return type_error(std::string(fn_name) + "() got an unexpected keyword argument '" + k +
                              "'");
        }
        const auto idx = static_cast<size_t>(it - params.begin());
        if (b.given_[idx]) {
            return type_error(std::string(fn_name) + "() got multiple values for argument '" + k +
                              "'");
        }
        b.values_[idx] = v;
        b.given_[idx] = true;
    }
    return b;
}

Value bound_method(const Value& self, std::string_view name) {
    auto unsafe = [&] {
        return Value::undefined("access to attribute '" + std::string(name) + "' of '" +
                                type_name(self) + "' object is unsafe.");
    };
    const std::string n(name);
    if (self.is_string() && is_str_method(name)) {
        return make_callable(n, [self, n](Interpreter&, CallArgs& a) -> Result<Value> {
            if (!self.is_markup() || !is_markup_method(n)) return str_method(n, self, a);
            // markupsafe.Markup: string arguments are escaped and strings come back as Markup.
            for (auto& v : a.args) {
                if (v.is_string()) {
                    v = Value(escape_for_markup(v));
                } else if (n == "join" && v.is_array()) {
                    std::vector<Value> items;
                    for (const Value& item : v.as_array())
                        items.emplace_back(escape_for_markup(item));
                    v = Value::array(std::move(items));
                }
            }
            for (auto& kv : a.kwargs) {
                if (kv.second.is_string()) kv.second = Value(escape_for_markup(kv.second));
            }
            TK_ASSIGN_OR_RETURN(Value r, str_method(n, self, a));
            if (r.is_string()) return Value::markup(r.as_string());
            if (!r.is_array()) return r;
            std::vector<Value> parts;
            for (const Value& p : r.as_array()) parts.push_back(Value::markup(p.as_string()));
            return Value::array(std::move(parts));
        });
    }
    if (self.is_object()) {
        if (name == "items" || name == "keys" || name == "values" || name == "get" ||
            name == "copy") {
            return make_callable(
                n, [self, n](Interpreter&, CallArgs& a) { return dict_method(n, self, a); });
        }
        if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" ||
            name == "clear") {
            return unsafe();
        }
    }
    if (self.is_array() && !self.is_iterator()) {
        if (name == "index" || name == "count" || (name == "copy" && !self.is_tuple())) {
            return make_callable(
                n, [self, n](Interpreter&, CallArgs& a) { return list_method(n, self, a); });
        }
        if (!self.is_tuple() &&
            (name == "append" || name == "extend" || name == "insert" || name == "pop" ||
             name == "remove" || name == "reverse" || name == "sort" || name == "clear")) {
            return unsafe();
        }
    }
    return Value();
}

}  // namespace tk::tokenizer::jinja
