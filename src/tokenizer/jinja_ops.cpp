// Python operators and Jinja attribute / item access for the chat-template engine.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_pyutil.h"

namespace tk::tokenizer::jinja {

namespace {
Status type_error(std::string msg) { return Status(ErrorCode::kInvalidArgument, std::move(msg)); }

bool int_like(const Value& v) { return v.is_int() || v.is_bool(); }
int64_t int_of(const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); }

Status unsupported(std::string_view op, const Value& a, const Value& b) {
    return type_error("unsupported operand type(s) for " + std::string(op) + ": '" + type_name(a) +
                      "' and '" + type_name(b) + "'");
}

Result<Value> repeat(const Value& seq, int64_t times) {
    if (times < 0 || seq.size() == 0) times = 0;
    if (seq.is_string()) {
        const std::string& s = seq.as_string();
        if (!s.empty() && static_cast<uint64_t>(times) > (size_t{256} << 20) / s.size()) {
            return type_error("repeated string too large");
        }
        std::string out;
        out.reserve(s.size() * static_cast<size_t>(times));
        for (int64_t i = 0; i < times; ++i) out += s;
        return seq.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
    }
    const auto& items = seq.as_array();
    if (!items.empty() && static_cast<uint64_t>(times) > (size_t{16} << 20) / items.size()) {
        return type_error("repeated list too large");
    }
    std::vector<Value> out;
    for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
    return seq.is_tuple() ? Value::tuple(std::move(out)) : Value::array(std::move(out));
}

// base ** exp for exp >= 0, by squaring.
Result<Value> int_pow(int64_t base, int64_t exp) {
    if (base == 0 || base == 1) return Value(exp == 0 ? int64_t{1} : base);
    if (base == -1) return Value(exp % 2 == 0 ? int64_t{1} : int64_t{-1});
    int64_t result = 1;
    while (exp > 0) {
        if ((exp & 1) && __builtin_mul_overflow(result, base, &result)) {
            return type_error("integer overflow");
        }
        exp >>= 1;
        if (exp > 0 && __builtin_mul_overflow(base, base, &base))
            return type_error("integer overflow");
    }
    return Value(result);
}

// str % args. Markup % args escapes the arguments. Python treats any argument with
// __getitem__ other than a tuple (lists, dicts, undefined) as a mapping: used whole by %s and
// never reported as "not all converted".
Result<Value> string_modulo(const Value& a, const Value& b) {
    if (!a.is_markup()) return percent_format(a.as_string(), b);
    auto esc = [](const Value& v) {
        return v.is_string() || v.is_none() || v.is_undefined()
                   ? Value::markup(escape_for_markup(v))
                   : v;
    };
    Value args = b;
    if (b.is_tuple()) {
        std::vector<Value> items;
        for (const Value& v : b.as_array()) items.push_back(esc(v));
        args = Value::tuple(std::move(items));
    } else if (!b.is_object() && !b.is_undefined()) {
        args = esc(b);
    }
    TK_ASSIGN_OR_RETURN(Value r, percent_format(a.as_string(), args));
    return Value::markup(r.as_string());
}
}  // namespace

Status undefined_error(const Value& v) {
    return type_error(v.as_string().empty() ? "undefined value" : v.as_string());
}

Result<int64_t> py_len(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::kUndefined:
            return int64_t{0};
        case Value::Kind::kString:
            return static_cast<int64_t>(utf8_length(v.as_string()));
        case Value::Kind::kArray:
            if (v.is_iterator()) break;
            return static_cast<int64_t>(v.as_array().size());
        case Value::Kind::kObject:
            return static_cast<int64_t>(v.as_object().entries.size());
        default:
            break;
    }
    return type_error("object of type '" + type_name(v) + "' has no len()");
}

Result<std::vector<Value>> iterate(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::kUndefined:
            return std::vector<Value>{};
        case Value::Kind::kArray:
            return v.as_array();
        case Value::Kind::kString: {
            std::vector<Value> out;
            for (char32_t c : utf8_decode(v.as_string())) {
                std::string s;
                utf8_append(s, c);
                out.emplace_back(std::move(s));
            }
            return out;
        }
        case Value::Kind::kObject: {
            std::vector<Value> out;
            for (const auto& e : v.as_object().entries) out.emplace_back(e.first);
            return out;
        }
        default:
            return type_error("'" + type_name(v) + "' object is not iterable");
    }
}

Result<bool> contains(const Value& container, const Value& item) {
    switch (container.kind()) {
        case Value::Kind::kUndefined:
            return false;
        case Value::Kind::kString:
            if (!item.is_string()) {
                return type_error("'in <string>' requires string as left operand, not " +
                                  type_name(item));
            }
            return container.as_string().find(item.as_string()) != std::string::npos;
        case Value::Kind::kArray:
            for (const Value& v : container.as_array()) {
                if (py_equal(v, item)) return true;
            }
            return false;
        case Value::Kind::kObject:
            if (item.is_array() || item.is_object()) {
                return type_error("unhashable type: '" + type_name(item) + "'");
            }
            return item.is_string() && container.find(item.as_string()) != nullptr;
        default:
            return type_error("argument of type '" + type_name(container) + "' is not iterable");
    }
}

Result<Value> get_attr(const Value& obj, std::string_view name) {
    switch (obj.kind()) {
        case Value::Kind::kUndefined:
            return undefined_error(obj);
        case Value::Kind::kObject: {
            Value m = bound_method(obj, name);
            if (!m.is_undefined() || !m.as_string().empty()) return m;
            if (const Value* v = obj.find(name)) return *v;
            return Value::undefined("'dict object' has no attribute '" + std::string(name) + "'");
        }
        case Value::Kind::kNamespace:
            if (const Value* v = obj.find(name)) return *v;
            return Value::undefined("'Namespace' object has no attribute '" + std::string(name) +
                                    "'");
        case Value::Kind::kNone:
            return Value::undefined("'None' has no attribute '" + std::string(name) + "'");
        default: {
            Value m = bound_method(obj, name);
            if (!m.is_undefined() || !m.as_string().empty()) return m;
            return Value::undefined("'" + type_name(obj) + " object' has no attribute '" +
                                    std::string(name) + "'");
        }
    }
}

Result<Value> get_item(const Value& obj, const Value& key) {
    if (obj.is_undefined()) return undefined_error(obj);
    if (obj.is_object() && key.is_string()) {
        if (const Value* v = obj.find(key.as_string())) return *v;
    }
    if ((obj.is_array() && !obj.is_iterator()) || obj.is_string()) {
        if (int_like(key)) {
            int64_t i = int_of(key);
            if (obj.is_array()) {
                const auto& items = obj.as_array();
                const auto n = static_cast<int64_t>(items.size());
                if (i < 0) i += n;
                if (i >= 0 && i < n) return items[static_cast<size_t>(i)];
            } else {
                const std::u32string cps = utf8_decode(obj.as_string());
                const auto n = static_cast<int64_t>(cps.size());
                if (i < 0) i += n;
                if (i >= 0 && i < n) {
                    std::string s;
                    utf8_append(s, cps[static_cast<size_t>(i)]);
                    return obj.is_markup() ? Value::markup(std::move(s)) : Value(std::move(s));
                }
            }
            return Value::undefined("'" + type_name(obj) + " object' has no element " +
                                    std::to_string(int_of(key)));
        }
    }
    // Jinja falls back to attribute lookup for string keys.
    if (key.is_string()) {
        if (obj.is_namespace()) return get_attr(obj, key.as_string());
        Value m = bound_method(obj, key.as_string());
        if (!m.is_undefined() || !m.as_string().empty()) return m;
        return Value::undefined("'" + type_name(obj) + " object' has no attribute '" +
                                key.as_string() + "'");
    }
    return Value::undefined("'" + type_name(obj) + " object' has no element " + py_repr(key));
}

Result<Value> get_slice(const Value& obj, const Value& start, const Value& stop,
                        const Value& step) {
    // Jinja compiles slices to a plain Python subscript (no getitem fallback), so errors raise.
    if (obj.is_undefined()) return undefined_error(obj);
    if (obj.is_object()) return type_error("unhashable type: 'slice'");
    const bool is_seq = (obj.is_array() && !obj.is_iterator()) || obj.is_string();
    if (!is_seq) return type_error("'" + type_name(obj) + "' object is not subscriptable");
    auto ok_index = [](const Value& v) { return v.is_none() || v.is_int() || v.is_bool(); };
    if (!ok_index(start) || !ok_index(stop) || !ok_index(step)) {
        return type_error("slice indices must be integers or None or have an __index__ method");
    }
    const int64_t st = step.is_none() ? 1 : int_of(step);
    if (st == 0) return type_error("slice step cannot be zero");
    std::u32string cps;
    if (obj.is_string()) cps = utf8_decode(obj.as_string());
    const int64_t n = obj.is_string() ? static_cast<int64_t>(cps.size())
                                      : static_cast<int64_t>(obj.as_array().size());
    auto clamp = [&](const Value& v, int64_t dflt) {
        if (v.is_none()) return dflt;
        int64_t i = int_of(v);
        if (i < 0) i += n;
        if (st > 0) return std::clamp<int64_t>(i, 0, n);
        return std::clamp<int64_t>(i, -1, n - 1);
    };
    const int64_t b = clamp(start, st > 0 ? 0 : n - 1);
    const int64_t e = clamp(stop, st > 0 ? n : -1);
    std::vector<int64_t> idx;
    for (int64_t i = b; st > 0 ? i < e : i > e; i += st) idx.push_back(i);
    if (obj.is_string()) {
        std::string out;
        for (int64_t i : idx) utf8_append(out, cps[static_cast<size_t>(i)]);
        return obj.is_markup() ? Value::markup(std::move(out)) : Value(std::move(out));
    }
    std::vector<Value> out;
    out.reserve(idx.size());
    for (int64_t i : idx) out.push_back(obj.as_array()[static_cast<size_t>(i)]);
    return obj.is_tuple() ? Value::tuple(std::move(out)) : Value::array(std::move(out));
}

Result<Value> binary_op(std::string_view op, const Value& a, const Value& b) {
    if (op == "~") return Value(py_str(a) + py_str(b));
    if (a.is_string() && op == "%") return string_modulo(a, b);
    if (a.is_undefined()) return undefined_error(a);
    if (b.is_undefined()) return undefined_error(b);
    const bool nums = (a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool());
    const bool ints = int_like(a) && int_like(b);
    if (op == "+") {
        if (ints) {
            int64_t r;
            if (__builtin_add_overflow(int_of(a), int_of(b), &r))
                return type_error("integer overflow");
            return Value(r);
        }
        if (nums) return Value(a.to_double() + b.to_double());
        if (a.is_string() && b.is_string()) {
            // Markup + str escapes the plain side (markupsafe's __add__ / __radd__).
            if (a.is_markup() || b.is_markup()) {
                return Value::markup(escape_for_markup(a) + escape_for_markup(b));
            }
            return Value(a.as_string() + b.as_string());
        }
        if (a.is_array() && b.is_array() && !a.is_iterator() && !b.is_iterator() &&
            a.is_tuple() == b.is_tuple()) {
            std::vector<Value> items = a.as_array();
            items.insert(items.end(), b.as_array().begin(), b.as_array().end());
            return a.is_tuple() ? Value::tuple(std::move(items)) : Value::array(std::move(items));
        }
        if (a.is_string()) {
            return type_error("can only concatenate str (not \"" + type_name(b) + "\") to str");
        }
        if (a.is_array() && !a.is_iterator()) {
            return type_error("can only concatenate " + type_name(a) + " (not \"" + type_name(b) +
                              "\") to " + type_name(a));
        }
        return unsupported("+", a, b);
    }
    if (op == "-") {
        if (ints) {
            int64_t r;
            if (__builtin_sub_overflow(int_of(a), int_of(b), &r))
                return type_error("integer overflow");
            return Value(r);
        }
        if (nums) return Value(a.to_double() - b.to_double());
        return unsupported("-", a, b);
    }
    if (op == "*") {
        if (ints) {
            int64_t r;
            if (__builtin_mul_overflow(int_of(a), int_of(b), &r))
                return type_error("integer overflow");
            return Value(r);
        }
        if (nums) return Value(a.to_double() * b.to_double());
        if ((a.is_string() || (a.is_array() && !a.is_iterator())) && int_like(b)) {
            return repeat(a, int_of(b));
        }
        if ((b.is_string() || (b.is_array() && !b.is_iterator())) && int_like(a)) {
            return repeat(b, int_of(a));
        }
        return unsupported("*", a, b);
    }
    if (op == "/" || op == "//" || op == "%") {
        if (!nums) return unsupported(op, a, b);
        if (b.to_double() == 0.0) {
            return type_error(
                ints ? (op == "/" ? "division by zero" : "integer division or modulo by zero")
                     : "float division by zero");
        }
        if (op == "/") return Value(a.to_double() / b.to_double());
        if (ints) {
            const int64_t x = int_of(a);
            const int64_t y = int_of(b);
            if (x == std::numeric_limits<int64_t>::min() && y == -1) {
                return type_error("integer overflow");
            }
            int64_t q = x / y;
            int64_t r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) {
                --q;
                r += y;
            }
            return Value(op == "//" ? q : r);
        }
        // CPython's float divmod, so -7.5 // 2 and -7.5 % 2 match.
        const double x = a.to_double();
        const double y = b.to_double();
        double mod = std::fmod(x, y);
        double div = (x - mod) / y;
        if (mod != 0.0) {
            if ((y < 0) != (mod < 0)) {
                mod += y;
                div -= 1.0;
            }
        } else {
            mod = std::copysign(0.0, y);
        }
        if (op == "%") return Value(mod);
        double floordiv;
        if (div != 0.0) {
            floordiv = std::floor(div);
            if (div - floordiv > 0.5) floordiv += 1.0;
        } else {
            floordiv = std::copysign(0.0, x / y);
        }
        return Value(floordiv);
    }
    if (op == "**") {
        if (ints && int_of(b) >= 0) return int_pow(int_of(a), int_of(b));
        if (nums) {
            const double x = a.to_double();
            const double y = b.to_double();
            if (x == 0.0 && y < 0) return type_error("0.0 cannot be raised to a negative power");
            if (x < 0 && y != std::floor(y)) {
                return type_error("complex results of ** are not supported");
            }
            const double r = std::pow(x, y);
            if (std::isinf(r) && std::isfinite(x) && std::isfinite(y)) {
                return type_error("(34, 'Numerical result out of range')");
            }
            return Value(r);
        }
        return unsupported("** or pow()", a, b);
    }
    return type_error("unknown operator " + std::string(op));
}

}  // namespace tk::tokenizer::jinja
