// Template globals (Jinja's defaults plus transformers' raise_exception / strftime_now) and
// Python's printf-style string formatting.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <unordered_map>

#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_pyutil.h"

namespace tk::tokenizer::jinja {

namespace {
Status type_error(std::string msg) { return Status(ErrorCode::kInvalidArgument, std::move(msg)); }

bool int_like(const Value& v) { return v.is_int() || v.is_bool(); }
int64_t int_of(const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); }

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

Result<Value> g_range(Interpreter&, CallArgs& a) {
    if (!a.kwargs.empty()) return type_error("range() takes no keyword arguments");
    if (a.args.empty() || a.args.size() > 3) return type_error("range expected 1 to 3 arguments");
    for (const Value& v : a.args) {
        if (!int_like(v)) {
            return type_error("'" + type_name(v) + "' object cannot be interpreted as an integer");
        }
    }
    int64_t start = 0;
    int64_t stop = int_of(a.args[0]);
    int64_t step = 1;
    if (a.args.size() >= 2) {
        start = int_of(a.args[0]);
        stop = int_of(a.args[1]);
    }
    if (a.args.size() == 3) step = int_of(a.args[2]);
    if (step == 0) return type_error("range() arg 3 must not be zero");
    int64_t len = 0;
    if (step > 0 && start < stop) len = (stop - start - 1) / step + 1;
    if (step < 0 && start > stop) len = (start - stop - 1) / -step + 1;
    if (len > kMaxRange) {
        return type_error(
            "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    }
    std::vector<Value> out;
    out.reserve(static_cast<size_t>(len));
    for (int64_t i = 0; i < len; ++i) out.emplace_back(start + i * step);
    return Value::array(std::move(out));
}

// dict(mapping, **kw) / namespace(mapping, **kw).
Result<std::vector<std::pair<std::string, Value>>> mapping_args(std::string_view fn, CallArgs& a) {
    std::vector<std::pair<std::string, Value>> entries;
    if (a.args.size() > 1) return type_error(std::string(fn) + " expected at most 1 argument");
    if (a.args.size() == 1) {
        const Value& m = a.args[0];
        if (m.is_object()) {
            entries = m.as_object().entries;
        } else {
            TK_ASSIGN_OR_RETURN(std::vector<Value> pairs, iterate(m));
            for (const Value& p : pairs) {
                const auto& kv = p.as_array();
                if (!p.is_array() || kv.size() != 2 || !kv[0].is_string()) {
                    return type_error(std::string(fn) + ": expected (str, value) pairs");
                }
                entries.emplace_back(kv[0].as_string(), kv[1]);
            }
        }
    }
    for (auto& [k, v] : a.kwargs) entries.emplace_back(k, v);
    return entries;
}

Result<Value> g_strftime_now(Interpreter& in, CallArgs& a) {
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind("strftime_now", a, {"format"}));
    if (!b.get(0).is_string()) return type_error("strftime_now() argument must be str");
    std::tm tm{};
    if (in.env().now) {
        tm = *in.env().now;
    } else {
        const std::time_t t = std::time(nullptr);
        localtime_r(&t, &tm);
    }
    const std::string& fmt = b.get(0).as_string();
    if (fmt.empty()) return Value("");
    std::string buf(fmt.size() * 8 + 64, '\0');
    const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
    buf.resize(n);
    return Value(std::move(buf));
}

const std::unordered_map<std::string_view, Value>& globals() {
    static const auto* kGlobals = new std::unordered_map<std::string_view, Value>{
        {"range", make_callable("range", g_range)},
        {"dict", make_callable("dict",
                               [](Interpreter&, CallArgs& a) -> Result<Value> {
                                   TK_ASSIGN_OR_RETURN(auto e, mapping_args("dict", a));
                                   return Value::object(std::move(e));
                               })},
        {"namespace", make_callable("namespace",
                                    [](Interpreter&, CallArgs& a) -> Result<Value> {
                                        TK_ASSIGN_OR_RETURN(auto e, mapping_args("namespace", a));
                                        return Value::make_namespace(std::move(e));
                                    })},
        {"raise_exception", make_callable("raise_exception",
                                          [](Interpreter& in, CallArgs& a) -> Result<Value> {
                                              TK_ASSIGN_OR_RETURN(
                                                  ArgBinder b, ArgBinder::bind("raise_exception", a,
                                                                               {"message"}));
                                              return in.raise(py_str(b.get(0)));
                                          })},
        {"strftime_now", make_callable("strftime_now", g_strftime_now)},
        {"joiner",
         make_callable("joiner",
                       [](Interpreter&, CallArgs& a) -> Result<Value> {
                           TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind("joiner", a, {"sep"}));
                           const std::string sep = b.has(0) ? py_str(b.get(0)) : ", ";
                           auto used = std::make_shared<bool>(false);
                           return make_callable("joiner", [sep, used](Interpreter&, CallArgs&) {
                               const bool first = !*used;
                               *used = true;
                               return Result<Value>(Value(first ? "" : sep));
                           });
                       })},
    };
    return *kGlobals;
}

// One %-conversion of Python's printf-style formatting.
Result<std::string> convert(char conv, const std::string& flags, int width, int precision,
                            const Value& v) {
    std::string body;
    if (conv == 's' || conv == 'r' || conv == 'a') {
        body = conv == 's' ? py_str(v) : py_repr(v);
        if (precision >= 0) {
            const std::u32string cps = utf8_decode(body);
            if (cps.size() > static_cast<size_t>(precision)) {
                body =
                    utf8_encode(std::u32string_view(cps).substr(0, static_cast<size_t>(precision)));
            }
        }
    } else if (conv == 'c') {
        if (v.is_string() && utf8_length(v.as_string()) == 1) {
            body = v.as_string();
        } else if (int_like(v)) {
            utf8_append(body, static_cast<char32_t>(int_of(v)));
        } else {
            return type_error("%c requires int or char");
        }
    } else {
        if (!v.is_number() && !v.is_bool()) {
            return type_error(std::string("%") + conv + " format: a real number is required, not " +
                              type_name(v));
        }
        std::string spec = "%" + flags;
        if (width > 0) spec += std::to_string(width);
        if (precision >= 0) spec += "." + std::to_string(precision);
        width = 0;  // numbers are padded by snprintf ('0' flag included)
        char buf[512];
        if (conv == 'd' || conv == 'i' || conv == 'u' || conv == 'x' || conv == 'X' ||
            conv == 'o') {
            if (std::isnan(v.to_double()) || std::isinf(v.to_double())) {
                return type_error("cannot convert float to integer");
            }
            const long long iv = v.is_float() ? static_cast<long long>(v.as_float()) : int_of(v);
            const char c = (conv == 'i' || conv == 'u') ? 'd' : conv;
            std::snprintf(buf, sizeof buf, (spec + "ll" + c).c_str(), iv);
        } else if (conv == 'f' || conv == 'F' || conv == 'e' || conv == 'E' || conv == 'g' ||
                   conv == 'G') {
            std::snprintf(buf, sizeof buf, (spec + conv).c_str(), v.to_double());
        } else {
            return type_error(std::string("unsupported format character '") + conv + "'");
        }
        body = buf;
    }
    const auto len = static_cast<int>(utf8_length(body));
    if (width > len) {
        const bool left = flags.find('-') != std::string::npos;
        const std::string pad(static_cast<size_t>(width - len), ' ');
        body = left ? body + pad : pad + body;
    }
    return body;
}

}  // namespace

const Value* global_function(std::string_view name) {
    const auto& g = globals();
    const auto it = g.find(name);
    return it == g.end() ? nullptr : &it->second;
}

Result<Value> percent_format(const std::string& fmt, const Value& args) {
    const std::vector<Value> items = args.is_tuple() ? args.as_array() : std::vector<Value>{args};
    const bool mapping = args.is_object();
    size_t next = 0;
    std::string out;
    for (size_t i = 0; i < fmt.size(); ++i) {
        if (fmt[i] != '%') {
            out.push_back(fmt[i]);
            continue;
        }
        ++i;
        const Value* mapped = nullptr;
        if (i < fmt.size() && fmt[i] == '(') {
            const size_t close = fmt.find(')', i);
            if (close == std::string::npos) return type_error("incomplete format key");
            if (!mapping) return type_error("format requires a mapping");
            mapped = args.find(fmt.substr(i + 1, close - i - 1));
            if (mapped == nullptr) return type_error("'" + fmt.substr(i + 1, close - i - 1) + "'");
            i = close + 1;
        }
        std::string flags;
        while (i < fmt.size() && std::string_view("-+ #0").find(fmt[i]) != std::string_view::npos) {
            flags.push_back(fmt[i++]);
        }
        int width = 0;
        while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9' && width < 10000) {
            width = width * 10 + (fmt[i++] - '0');
        }
        int precision = -1;
        if (i < fmt.size() && fmt[i] == '.') {
            ++i;
            precision = 0;
            while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9' && precision < 10000) {
                precision = precision * 10 + (fmt[i++] - '0');
            }
        }
        while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
        if (i >= fmt.size()) return type_error("incomplete format");
        const char conv = fmt[i];
        if (conv == '%') {
            out.push_back('%');
            continue;
        }
        const Value* v = mapped;
        if (v == nullptr) {
            if (mapping) {
                v = &args;
            } else {
                if (next >= items.size())
                    return type_error("not enough arguments for format string");
                v = &items[next++];
            }
        }
        std::string num_flags;
        for (char f : flags) {
            if (f != '-') num_flags.push_back(f);
        }
        TK_ASSIGN_OR_RETURN(
            std::string piece,
            convert(conv, flags.find('-') != std::string::npos ? "-" + num_flags : num_flags, width,
                    precision, *v));
        out += piece;
    }
    // Python only checks leftovers for tuples and plain values; lists and dicts count as
    // mappings there.
    const bool mapping_like = (args.is_array() && !args.is_tuple()) || args.is_undefined();
    if (!mapping && !mapping_like && next < items.size()) {
        return type_error("not all arguments converted during string formatting");
    }
    return Value(std::move(out));
}

}  // namespace tk::tokenizer::jinja
