// Jinja2 tests (`x is name`), as jinja2/tests.py defines them.
#include "tokenizer/jinja_filters.h"
#include "tokenizer/jinja_pyutil.h"

namespace tk::tokenizer::jinja {

namespace {
Status type_error(std::string msg) { return Status(ErrorCode::kInvalidArgument, std::move(msg)); }

bool int_like(const Value& v) { return v.is_int() || v.is_bool(); }

// Python `a is b` for the values where identity is predictable: singletons, small cached ints
// and shared payloads.
bool same_object(const Value& a, const Value& b) {
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
        case Value::Kind::kNone:
            return true;
        case Value::Kind::kBool:
            return a.as_bool() == b.as_bool();
        case Value::Kind::kInt:
            return a.as_int() == b.as_int() && a.as_int() >= -5 && a.as_int() <= 256;
        case Value::Kind::kUndefined:
        case Value::Kind::kFloat:
            return false;
        default:
            return a.payload() == b.payload();
    }
}
}  // namespace

Result<bool> Interpreter::apply_test(const std::string& name, const Value& v, CallArgs& a) {
    // Tests taking no argument.
    static const char* const kUnary[] = {"defined", "undefined", "none",     "boolean",  "false",
                                         "true",    "integer",   "float",    "number",   "string",
                                         "mapping", "sequence",  "iterable", "callable", "lower",
                                         "upper",   "escaped",   "odd",      "even"};
    for (const char* u : kUnary) {
        if (name != u) continue;
        TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {}));
        if (name == "defined") return !v.is_undefined();
        if (name == "undefined") return v.is_undefined();
        if (name == "none") return v.is_none();
        if (name == "boolean") return v.is_bool();
        if (name == "false") return v.is_bool() && !v.as_bool();
        if (name == "true") return v.is_bool() && v.as_bool();
        if (name == "integer") return v.is_int();
        if (name == "float") return v.is_float();
        if (name == "number") return v.is_number() || v.is_bool();
        if (name == "string") return v.is_string();
        if (name == "mapping") return v.is_object();
        if (name == "sequence") {
            return v.is_string() || v.is_object() || v.is_undefined() ||
                   (v.is_array() && !v.is_iterator());
        }
        if (name == "iterable") {
            return v.is_string() || v.is_object() || v.is_undefined() || v.is_array();
        }
        if (name == "callable") return v.is_callable() || v.is_undefined();
        if (name == "lower" || name == "upper") {
            CallArgs none;
            TK_ASSIGN_OR_RETURN(Value r, call(bound_method(Value(py_str(v)),
                                                           name == "lower" ? "islower" : "isupper"),
                                              none));
            return r.as_bool();
        }
        if (name == "escaped") return v.is_markup();
        if (v.is_undefined()) return undefined_error(v);
        if (!int_like(v) && !v.is_float()) {
            return type_error("unsupported operand type(s) for %: '" + type_name(v) +
                              "' and 'int'");
        }
        TK_ASSIGN_OR_RETURN(Value m, binary_op("%", v, Value(int64_t{2})));
        return py_equal(m, Value(int64_t{name == "odd" ? 1 : 0}));
    }
    if (name == "filter" || name == "test") {
        return type_error("the '" + name + "' test is not supported");
    }
    TK_ASSIGN_OR_RETURN(ArgBinder b, ArgBinder::bind(name, a, {"other"}));
    const Value& o = b.get(0);
    if (name == "divisibleby") {
        TK_ASSIGN_OR_RETURN(Value m, binary_op("%", v, o));
        return py_equal(m, Value(int64_t{0}));
    }
    if (name == "==" || name == "eq" || name == "equalto") return py_equal(v, o);
    if (name == "!=" || name == "ne") return !py_equal(v, o);
    if (name == "<" || name == "lt" || name == "lessthan") return py_less(v, o);
    if (name == ">" || name == "gt" || name == "greaterthan") return py_less(o, v);
    if (name == "<=" || name == "le") {
        TK_ASSIGN_OR_RETURN(bool gt, py_less(o, v));
        return !gt;
    }
    if (name == ">=" || name == "ge") {
        TK_ASSIGN_OR_RETURN(bool lt, py_less(v, o));
        return !lt;
    }
    if (name == "in") return contains(o, v);
    if (name == "sameas") return same_object(v, o);
    return type_error("No test named '" + name + "'.");
}

}  // namespace tk::tokenizer::jinja
