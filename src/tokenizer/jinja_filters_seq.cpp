// Jinja2 filters over sequences (jinja2/filters.py). Filters that are generators in Jinja
// (map, select, items, reverse, ...) return iterator Values: truthy, no length.
#include <algorithm>

#include "tokenizer/jinja_filters.h"
#include "tokenizer/jinja_pyutil.h"

namespace tk::tokenizer::jinja {

namespace {
Status type_error(std::string msg) { return Status(ErrorCode::kInvalidArgument, std::move(msg)); }

bool int_like(const Value& v) { return v.is_int() || v.is_bool(); }
int64_t int_of(const Value& v) { return v.is_bool() ? int64_t{v.as_bool()} : v.as_int(); }

Value ignore_case(const Value& v) { return v.is_string() ? Value(str_lower(v.as_string())) : v; }

// Stable sort of `items` by `keys` (Python's sorted with key=; reverse keeps ties in order).
Result<std::vector<Value>> sorted_by(const std::vector<Value>& items,
                                     const std::vector<Value>& keys, bool reverse) {
    std::vector<size_t> idx(items.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    Status err;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t x, size_t y) {
        if (!err.is_ok()) return false;
        auto r = reverse ? py_less(keys[y], keys[x]) : py_less(keys[x], keys[y]);
        if (!r.is_ok()) {
            err = r.status();
            return false;
        }
        return r.value();
    });
    TK_RETURN_IF_ERROR(err);
    std::vector<Value> out;
    out.reserve(items.size());
    for (size_t i : idx) out.push_back(items[i]);
    return out;
}

// Keys for sort/unique/min/max: an attribute (comma-separated for sort) then case folding.
Result<std::vector<Value>> keys_of(const std::vector<Value>& items, const Value& attribute,
                                   bool case_sensitive, bool multi) {
    std::vector<Value> attrs;
    if (!attribute.is_undefined() && !attribute.is_none()) {
        if (multi && attribute.is_string()) {
            const std::string sep = ",";
            for (const std::string& part : py_split(attribute.as_string(), &sep, -1, false)) {
                attrs.emplace_back(part);
            }
        } else {
            attrs.push_back(attribute);
        }
    }
    std::vector<Value> keys;
    keys.reserve(items.size());
    for (const Value& item : items) {
        if (attrs.empty()) {
            keys.push_back(case_sensitive ? item : ignore_case(item));
            continue;
        }
        std::vector<Value> parts;
        for (const Value& at : attrs) {
            TK_ASSIGN_OR_RETURN(Value k, attribute_of(item, at, Value()));
            parts.push_back(case_sensitive ? k : ignore_case(k));
        }
        keys.push_back(parts.size() == 1 ? parts[0] : Value::array(std::move(parts)));
    }
    return keys;
}

// select / reject / selectattr / rejectattr.
Result<Value> select_or_reject(Interpreter& in, const Value& v, CallArgs& a, bool select,
                               bool by_attr) {
    size_t off = 0;
    Value attr;
    if (by_attr) {
        if (a.args.empty()) return type_error("Missing parameter for attribute name");
        attr = a.args[0];
        off = 1;
    }
    const bool has_test = a.args.size() > off;
    const std::string test = has_test ? py_str(a.args[off]) : "";
    std::vector<Value> out;
    if (truthy(v)) {
        TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
        for (const Value& item : items) {
            Value x = item;
            if (by_attr) {
                TK_ASSIGN_OR_RETURN(x, attribute_of(item, attr, Value()));
            }
            bool ok;
            if (has_test) {
                CallArgs ta;
                ta.args.assign(a.args.begin() + static_cast<std::ptrdiff_t>(off + 1), a.args.end());
                ta.kwargs = a.kwargs;
                TK_ASSIGN_OR_RETURN(ok, in.apply_test(test, x, ta));
            } else {
                ok = truthy(x);
            }
            if (ok == select) out.push_back(item);
        }
    }
    return Value::iterator(std::move(out));
}

Result<Value> f_map(Interpreter& in, const Value& v, CallArgs& a) {
    if (!truthy(v)) return Value::iterator({});  // jinja: `if value:` before iterating
    TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
    std::vector<Value> out;
    if (a.args.empty()) {
        Value attr;
        Value dflt;
        for (const auto& [k, kv] : a.kwargs) {
            if (k == "attribute") {
                attr = kv;
            } else if (k == "default") {
                dflt = kv;
            } else {
                return type_error("Unexpected keyword argument '" + k + "'");
            }
        }
        if (attr.is_undefined()) return type_error("map requires a filter argument");
        for (const Value& item : items) {
            TK_ASSIGN_OR_RETURN(Value x, attribute_of(item, attr, dflt));
            out.push_back(std::move(x));
        }
        return Value::iterator(std::move(out));
    }
    const std::string filter = py_str(a.args[0]);
    for (const Value& item : items) {
        CallArgs fa;
        fa.args.assign(a.args.begin() + 1, a.args.end());
        fa.kwargs = a.kwargs;
        TK_ASSIGN_OR_RETURN(Value x, in.apply_filter(filter, item, fa));
        out.push_back(std::move(x));
    }
    return Value::iterator(std::move(out));
}

Result<Value> min_max(const Value& v, CallArgs& a, bool want_max) {
    TK_ASSIGN_OR_RETURN(
        ArgBinder b, ArgBinder::bind(want_max ? "max" : "min", a, {"case_sensitive", "attribute"}));
    TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    TK_ASSIGN_OR_RETURN(std::vector<Value> keys, keys_of(items, b.get(1), truthy(b.get(0)), false));
    size_t best = 0;
    for (size_t i = 1; i < items.size(); ++i) {
        TK_ASSIGN_OR_RETURN(bool better,
                            want_max ? py_less(keys[best], keys[i]) : py_less(keys[i], keys[best]));
        if (better) best = i;
    }
    return items[best];
}
}  // namespace

Result<Value> attribute_of(const Value& item, const Value& attribute, const Value& dflt) {
    Value cur = item;
    if (int_like(attribute)) {
        TK_ASSIGN_OR_RETURN(cur, get_item(cur, attribute));
    } else {
        const std::string sep = ".";
        for (const std::string& part : py_split(py_str(attribute), &sep, -1, false)) {
            const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
                return c >= '0' && c <= '9';
            });
            const Value key = digits ? Value(static_cast<int64_t>(std::stoll(part))) : Value(part);
            TK_ASSIGN_OR_RETURN(cur, get_item(cur, key));
        }
    }
    if (cur.is_undefined() && !dflt.is_undefined()) return dflt;
    return cur;
}

Result<Value> seq_filter(Interpreter& in, const std::string& name, Value v, CallArgs& a) {
    if (name == "length" || name == "count") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        TK_ASSIGN_OR_RETURN(int64_t n, py_len(v));
        return Value(n);
    }
    if (name == "list") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
        return Value::array(std::move(items));
    }
    if (name == "first" || name == "last") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        if (name == "last" && v.is_iterator())
            return type_error("'generator' object is not reversible");
        TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
        if (items.empty()) {
            return Value::undefined(std::string("No ") + name + " item, sequence was empty.");
        }
        return name == "first" ? items.front() : items.back();
    }
    if (name == "join") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"d", "attribute"}));
        TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
        const std::string sep = b.has(0) ? py_str(b.get(0)) : "";
        std::string out;
        for (size_t i = 0; i < items.size(); ++i) {
            Value x = items[i];
            if (b.has(1) && !b.get(1).is_none()) {
                TK_ASSIGN_OR_RETURN(x, attribute_of(x, b.get(1), Value()));
            }
            if (i) out += sep;
            out += py_str(x);
        }
        return Value(std::move(out));
    }
    if (name == "items") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        if (v.is_undefined()) return Value::iterator({});
        if (!v.is_object()) return type_error("Can only get item pairs from a mapping.");
        std::vector<Value> out;
        for (const auto& [k, x] : v.as_object().entries) out.push_back(Value::tuple({Value(k), x}));
        return Value::iterator(std::move(out));
    }
    if (name == "map") return f_map(in, v, a);
    if (name == "select" || name == "reject")
        return select_or_reject(in, v, a, name == "select", false);
    if (name == "selectattr" || name == "rejectattr") {
        return select_or_reject(in, v, a, name == "selectattr", true);
    }
    if (name == "sort") {
        TK_ASSIGN_OR_RETURN(ArgBinder b,
                            ArgBinder::bind(name, a, {"reverse", "case_sensitive", "attribute"}));
        TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
        TK_ASSIGN_OR_RETURN(std::vector<Value> keys,
                            keys_of(items, b.get(2), truthy(b.get(1)), true));
        TK_ASSIGN_OR_RETURN(std::vector<Value> out, sorted_by(items, keys, truthy(b.get(0))));
        return Value::array(std::move(out));
    }
    if (name == "dictsort") {
        TK_ASSIGN_OR_RETURN(ArgBinder b,
                            ArgBinder::bind(name, a, {"case_sensitive", "by", "reverse"}));
        if (!v.is_object()) return type_error("dictsort: value must be a mapping");
        const std::string by = b.has(1) ? py_str(b.get(1)) : "key";
        if (by != "key" && by != "value") {
            return type_error("You can only sort by either \"key\" or \"value\"");
        }
        std::vector<Value> items;
        std::vector<Value> keys;
        for (const auto& [k, x] : v.as_object().entries) {
            items.push_back(Value::tuple({Value(k), x}));
            const Value key = by == "key" ? Value(k) : x;
            keys.push_back(truthy(b.get(0)) ? key : ignore_case(key));
        }
        TK_ASSIGN_OR_RETURN(std::vector<Value> out, sorted_by(items, keys, truthy(b.get(2))));
        return Value::array(std::move(out));
    }
    if (name == "unique") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"case_sensitive", "attribute"}));
        TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
        TK_ASSIGN_OR_RETURN(std::vector<Value> keys,
                            keys_of(items, b.get(1), truthy(b.get(0)), false));
        std::vector<Value> out;
        std::vector<Value> seen;
        for (size_t i = 0; i < items.size(); ++i) {
            if (keys[i].is_array() || keys[i].is_object()) {
                return type_error("unhashable type: '" + type_name(keys[i]) + "'");
            }
            const bool dup = std::any_of(seen.begin(), seen.end(),
                                         [&](const Value& s) { return py_equal(s, keys[i]); });
            if (dup) continue;
            seen.push_back(keys[i]);
            out.push_back(items[i]);
        }
        return Value::iterator(std::move(out));
    }
    if (name == "min" || name == "max") return min_max(v, a, name == "max");
    if (name == "sum") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"attribute", "start"}));
        TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
        Value total = b.has(1) ? b.get(1) : Value(int64_t{0});
        for (const Value& item : items) {
            Value x = item;
            if (b.has(0) && !b.get(0).is_none()) {
                TK_ASSIGN_OR_RETURN(x, attribute_of(item, b.get(0), Value()));
            }
            TK_ASSIGN_OR_RETURN(total, binary_op("+", total, x));
        }
        return total;
    }
    if (name == "reverse") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        if (v.is_string()) {
            std::u32string cps = utf8_decode(v.as_string());
            std::reverse(cps.begin(), cps.end());
            return v.is_markup() ? Value::markup(utf8_encode(cps)) : Value(utf8_encode(cps));
        }
        TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
        std::reverse(items.begin(), items.end());
        // reversed() gives an iterator; a generator input falls back to a reversed list.
        return v.is_iterator() ? Value::array(std::move(items)) : Value::iterator(std::move(items));
    }
    if (name == "batch") {
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"linecount", "fill_with"}));
        if (!int_like(b.get(0)) || int_of(b.get(0)) <= 0)
            return type_error("batch: linecount must be > 0");
        const auto n = static_cast<size_t>(int_of(b.get(0)));
        TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
        std::vector<Value> out;
        for (size_t i = 0; i < items.size(); i += n) {
            std::vector<Value> row(
                items.begin() + static_cast<std::ptrdiff_t>(i),
                items.begin() + static_cast<std::ptrdiff_t>(std::min(items.size(), i + n)));
            if (row.size() < n && b.has(1) && !b.get(1).is_none()) row.resize(n, b.get(1));
            out.push_back(Value::array(std::move(row)));
        }
        return Value::iterator(std::move(out));
    }
    return type_error("No filter named '" + name + "'.");
}

}  // namespace tk::tokenizer::jinja
