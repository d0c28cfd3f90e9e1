// Jinja2 evaluator: statements and expressions. Scoping follows Jinja2's generated code:
// every loop iteration, macro call, {% with %} and block-set body gets a fresh scope whose
// reads fall through to the enclosing one; {% if %} does not open a scope.
#include "tokenizer/jinja_eval.h"

#include "tokenizer/jinja_lexer.h"
#include "tokenizer/jinja_pyutil.h"

namespace tk::tokenizer::jinja {

namespace {
constexpr int kMaxCallDepth = 100;         // macro recursion (Python's limit trips near here)
constexpr uint64_t kMaxSteps = 5'000'000;  // loop iterations + macro calls per render
constexpr size_t kMaxOutput = size_t{256} << 20;  // bytes of rendered text

Status runtime_error(std::string msg) {
    return Status(ErrorCode::kInvalidArgument, std::move(msg));
}
}  // namespace

Value make_callable(std::string name, std::function<Result<Value>(Interpreter&, CallArgs&)> fn) {
    auto c = std::make_shared<Callable>();
    c->name = std::move(name);
    c->fn = std::move(fn);
    return Value::callable(std::move(c));
}

void Scope::set(std::string_view name, Value v) {
    for (auto& [k, val] : vars) {
        if (k == name) {
            val = std::move(v);
            return;
        }
    }
    vars.emplace_back(std::string(name), std::move(v));
}

std::shared_ptr<Scope> Interpreter::new_scope(Scope* parent) {
    auto s = std::make_shared<Scope>();
    if (parent != nullptr) s->parent = parent->shared_from_this();
    return s;
}

Value Interpreter::lookup(Scope* scope, std::string_view name) const {
    for (const Scope* s = scope; s != nullptr; s = s->parent.get()) {
        for (const auto& [k, v] : s->vars) {
            if (k == name) return v;
        }
    }
    if (env_.context != nullptr) {
        if (const Value* v = env_.context->find(name)) return *v;
    }
    if (const Value* g = global_function(name)) return *g;
    return Value::undefined("'" + std::string(name) + "' is undefined");
}

Status Interpreter::raise(std::string message) {
    raised_ = true;
    return Status(ErrorCode::kInvalidArgument, std::move(message));
}

Status Interpreter::located(Status st, size_t offset) {
    if (st.is_ok() || raised_ || error_located_) return st;
    error_located_ = true;
    return Status(st.code(), "chat template error at " + describe_location(ast_.source, offset) +
                                 ": " + st.message());
}

Result<std::string> Interpreter::render() {
    std::string out;
    std::shared_ptr<Scope> root = new_scope(nullptr);
    Status st = exec(ast_.body, root.get(), &out);
    for (auto& s : captured_) s->vars.clear();
    captured_.clear();
    TK_RETURN_IF_ERROR(st);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Statements

Status Interpreter::exec(const Body& body, Scope* scope, std::string* out) {
    for (const StmtPtr& s : body) {
        TK_RETURN_IF_ERROR(exec_stmt(*s, scope, out));
        if (out->size() > kMaxOutput) {
            return located(runtime_error("rendered text exceeds 256 MiB"), s->offset);
        }
        if (flow_ != Flow::kNormal) break;
    }
    return Status::ok();
}

Status Interpreter::exec_stmt(const Stmt& s, Scope* scope, std::string* out) {
    switch (s.kind) {
        case StmtKind::kData:
            *out += s.text;
            return Status::ok();
        case StmtKind::kOutput: {
            if (auto folded = fold(*s.expr, true)) {
                *out += py_str(*folded);
                return Status::ok();
            }
            TK_ASSIGN_OR_RETURN(Value v, eval(*s.expr, scope));
            if (v.is_string()) {
                *out += v.as_string();
            } else {
                *out += py_str(v);
            }
            return Status::ok();
        }
        case StmtKind::kIf:
            for (const auto& [cond, body] : s.branches) {
                TK_ASSIGN_OR_RETURN(Value c, eval(*cond, scope));
                if (truthy(c)) return exec(body, scope, out);
            }
            return exec(s.else_body, scope, out);
        case StmtKind::kFor:
            return exec_for(s, scope, out);
        case StmtKind::kSet: {
            TK_ASSIGN_OR_RETURN(Value v, eval(*s.expr, scope));
            return located(assign(s.target, std::move(v), scope), s.offset);
        }
        case StmtKind::kSetBlock: {
            std::string text;
            TK_RETURN_IF_ERROR(exec(s.body, new_scope(scope).get(), &text));
            // Jinja renders the body inline: a break/continue inside skips the assignment.
            if (flow_ != Flow::kNormal) return Status::ok();
            Value v(std::move(text));
            if (s.expr) {
                TK_ASSIGN_OR_RETURN(v, eval_filter_chain(*s.expr, scope, &v));
            }
            return located(assign(s.target, std::move(v), scope), s.offset);
        }
        case StmtKind::kFilterBlock: {
            std::string text;
            TK_RETURN_IF_ERROR(exec(s.body, new_scope(scope).get(), &text));
            if (flow_ != Flow::kNormal) return Status::ok();  // the buffered body is dropped
            const Value input(std::move(text));
            TK_ASSIGN_OR_RETURN(Value v, eval_filter_chain(*s.expr, scope, &input));
            *out += py_str(v);
            return Status::ok();
        }
        case StmtKind::kMacro: {
            const Stmt* m = &s;
            std::shared_ptr<Scope> closure = scope->shared_from_this();
            captured_.push_back(closure);
            scope->set(s.text, make_callable("<Macro '" + s.text + "'>",
                                             [m, closure](Interpreter& in, CallArgs& a) {
                                                 return in.call_macro(*m, closure.get(), a);
                                             }));
            return Status::ok();
        }
        case StmtKind::kCallBlock: {
            const Stmt* blk = &s;
            std::shared_ptr<Scope> closure = scope->shared_from_this();
            captured_.push_back(closure);
            Value caller =
                make_callable("<Macro 'caller'>", [blk, closure](Interpreter& in, CallArgs& a) {
                    return in.call_macro(*blk, closure.get(), a);
                });
            const Expr& call_expr = *s.expr;
            TK_ASSIGN_OR_RETURN(Value fn, eval(*call_expr.args[0], scope));
            CallArgs args;
            for (size_t i = 1; i < call_expr.args.size(); ++i) {
                TK_ASSIGN_OR_RETURN(Value v, eval(*call_expr.args[i], scope));
                args.args.push_back(std::move(v));
            }
            for (const auto& [k, e] : call_expr.kwargs) {
                TK_ASSIGN_OR_RETURN(Value v, eval(*e, scope));
                args.kwargs.emplace_back(k, std::move(v));
            }
            args.kwargs.emplace_back("caller", std::move(caller));
            auto r = call(fn, args);
            if (!r.is_ok()) return located(r.status(), s.offset);
            *out += py_str(r.value());
            return Status::ok();
        }
        case StmtKind::kWith: {
            std::shared_ptr<Scope> inner = new_scope(scope);
            for (const Param& p : s.params) {
                TK_ASSIGN_OR_RETURN(Value v, eval(*p.default_value, scope));
                inner->set(p.name, std::move(v));
            }
            return exec(s.body, inner.get(), out);
        }
        case StmtKind::kBreak:
            flow_ = Flow::kBreak;
            return Status::ok();
        case StmtKind::kContinue:
            flow_ = Flow::kContinue;
            return Status::ok();
        case StmtKind::kScope:
            return exec(s.body, scope, out);
    }
    return Status::ok();
}

Status Interpreter::assign(const Target& t, Value v, Scope* scope) {
    if (!t.attr.empty()) {
        Value ns = lookup(scope, t.names[0]);
        if (!ns.is_namespace()) {
            return runtime_error("cannot assign attribute on non-namespace object");
        }
        ns.namespace_data().set(t.attr, std::move(v));
        return Status::ok();
    }
    if (!t.unpack) {
        scope->set(t.names[0], std::move(v));
        return Status::ok();
    }
    if (!v.is_array() && !v.is_string() && !v.is_object()) {
        return runtime_error("cannot unpack non-iterable " + type_name(v) + " object");
    }
    TK_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(v));
    if (items.size() != t.names.size()) {
        return runtime_error(
            items.size() > t.names.size()
                ? "too many values to unpack (expected " + std::to_string(t.names.size()) + ")"
                : "not enough values to unpack (expected " + std::to_string(t.names.size()) +
                      ", got " + std::to_string(items.size()) + ")");
    }
    for (size_t i = 0; i < items.size(); ++i) scope->set(t.names[i], std::move(items[i]));
    return Status::ok();
}

Status Interpreter::exec_for(const Stmt& s, Scope* scope, std::string* out) {
    TK_ASSIGN_OR_RETURN(Value seq, eval(*s.expr, scope));
    auto listed = iterate(seq);
    if (!listed.is_ok()) return located(listed.status(), s.expr->offset);
    std::vector<Value> items = std::move(listed).value();
    if (s.cond) {
        // Jinja filters before counting, so loop.length / loop.last see only kept items.
        std::vector<Value> kept;
        for (Value& item : items) {
            if (++steps_ > kMaxSteps)
                return located(runtime_error("template runs too long"), s.offset);
            std::shared_ptr<Scope> probe = new_scope(scope);
            TK_RETURN_IF_ERROR(located(assign(s.target, item, probe.get()), s.offset));
            TK_ASSIGN_OR_RETURN(Value c, eval(*s.cond, probe.get()));
            if (truthy(c)) kept.push_back(std::move(item));
        }
        items = std::move(kept);
    }
    const auto n = static_cast<int64_t>(items.size());
    // loop.cycle / loop.changed are made once per loop; they read the shared position.
    auto index = std::make_shared<int64_t>(0);
    auto changed_last = std::make_shared<std::optional<Value>>();
    Value cycle, changed;
    if (s.uses_loop) {
        cycle = make_callable("cycle", [index](Interpreter&, CallArgs& a) -> Result<Value> {
            if (a.args.empty()) return runtime_error("no items for cycling given");
            return a.args[static_cast<size_t>(*index) % a.args.size()];
        });
        changed =
            make_callable("changed", [changed_last](Interpreter&, CallArgs& a) -> Result<Value> {
                Value now = Value::tuple(a.args);
                if (changed_last->has_value() && py_equal(**changed_last, now)) return Value(false);
                *changed_last = std::move(now);
                return Value(true);
            });
    }
    bool completed = false;
    for (int64_t i = 0; i < n; ++i) {
        if (++steps_ > kMaxSteps) return located(runtime_error("template runs too long"), s.offset);
        *index = i;
        std::shared_ptr<Scope> iter = new_scope(scope);
        TK_RETURN_IF_ERROR(
            located(assign(s.target, items[static_cast<size_t>(i)], iter.get()), s.offset));
        if (s.uses_loop) {
            iter->set("loop",
                      Value::object({
                          {"index", Value(i + 1)},
                          {"index0", Value(i)},
                          {"revindex", Value(n - i)},
                          {"revindex0", Value(n - i - 1)},
                          {"first", Value(i == 0)},
                          {"last", Value(i == n - 1)},
                          {"length", Value(n)},
                          {"depth", Value(1)},
                          {"depth0", Value(0)},
                          {"previtem", i > 0 ? items[static_cast<size_t>(i - 1)]
                                             : Value::undefined("there is no previous item")},
                          {"nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)]
                                                 : Value::undefined("there is no next item")},
                          {"cycle", cycle},
                          {"changed", changed},
                      }));
        }
        TK_RETURN_IF_ERROR(exec(s.body, iter.get(), out));
        if (flow_ == Flow::kBreak) {
            flow_ = Flow::kNormal;
            break;
        }
        // Jinja clears its "no iteration" flag at the end of the body, so iterations that all
        // end in continue (or a break) still run the else block.
        if (flow_ == Flow::kNormal) completed = true;
        flow_ = Flow::kNormal;
    }
    if (!completed) return exec(s.else_body, new_scope(scope).get(), out);
    return Status::ok();
}

Result<Value> Interpreter::call_macro(const Stmt& m, Scope* closure, CallArgs& args) {
    if (call_depth_ >= kMaxCallDepth) return runtime_error("maximum recursion depth exceeded");
    if (++steps_ > kMaxSteps) return runtime_error("template runs too long");
    const std::string& name = m.kind == StmtKind::kMacro ? m.text : std::string("caller");
    if (args.args.size() > m.params.size()) {
        return runtime_error("macro '" + name + "' takes not more than " +
                             std::to_string(m.params.size()) + " argument(s)");
    }
    std::shared_ptr<Scope> holder = new_scope(closure);
    Scope* s = holder.get();
    std::vector<bool> bound(m.params.size(), false);
    for (size_t i = 0; i < args.args.size(); ++i) {
        s->set(m.params[i].name, args.args[i]);
        bound[i] = true;
    }
    for (auto& [k, v] : args.kwargs) {
        size_t idx = m.params.size();
        for (size_t i = 0; i < m.params.size(); ++i) {
            if (m.params[i].name == k) idx = i;
        }
        if (idx == m.params.size()) {
            if (k == "caller") {
                s->set("caller", v);
                continue;
            }
            return runtime_error("macro '" + name + "' takes no keyword argument '" + k + "'");
        }
        if (bound[idx]) {
            return runtime_error("macro '" + name + "' got multiple values for argument '" + k +
                                 "'");
        }
        s->set(k, v);
        bound[idx] = true;
    }
    for (size_t i = 0; i < m.params.size(); ++i) {
        if (bound[i]) continue;
        if (m.params[i].default_value) {
            TK_ASSIGN_OR_RETURN(Value v, eval(*m.params[i].default_value, s));
            s->set(m.params[i].name, std::move(v));
        } else {
            s->set(m.params[i].name,
                   Value::undefined("parameter '" + m.params[i].name + "' was not provided"));
        }
    }
    ++call_depth_;
    std::string out;
    Status st = exec(m.body, s, &out);
    --call_depth_;
    flow_ = Flow::kNormal;
    TK_RETURN_IF_ERROR(st);
    return Value(std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Expressions

namespace {
// jinja2.compiler.has_safe_repr: what a folded constant may hold.
bool safe_constant(const Value& v) {
    switch (v.kind()) {
        case Value::Kind::kNone:
        case Value::Kind::kBool:
        case Value::Kind::kInt:
        case Value::Kind::kFloat:
        case Value::Kind::kString:
            return true;
        case Value::Kind::kArray:
            if (v.is_iterator()) return false;
            for (const Value& x : v.as_array()) {
                if (!safe_constant(x)) return false;
            }
            return true;
        case Value::Kind::kObject:
            for (const auto& kv : v.as_object().entries) {
                if (!safe_constant(kv.second)) return false;
            }
            return true;
        default:
            return false;
    }
}
}  // namespace

// The optimizer replaces a constant expression by its value when evaluating it succeeds and
// the value has a safe repr; {{ }} output takes any value that evaluates.
std::optional<Value> Interpreter::fold(const Expr& e, bool any_value) {
    if (!e.constant || e.kind == ExprKind::kLiteral || folding_) return std::nullopt;
    const bool raised = raised_;
    const bool located_before = error_located_;
    folding_ = true;
    auto r = eval_inner(e, nullptr);
    folding_ = false;
    raised_ = raised;
    error_located_ = located_before;
    if (!r.is_ok() || (!any_value && !safe_constant(r.value()))) return std::nullopt;
    return std::move(r).value();
}

Result<Value> Interpreter::eval(const Expr& e, Scope* scope) {
    if (e.constant && !folding_ && e.kind != ExprKind::kLiteral) {
        if (auto v = fold(e, false)) return std::move(*v);
    }
    auto r = eval_inner(e, scope);
    if (!r.is_ok()) return located(r.status(), e.offset);
    return r;
}

Result<Value> Interpreter::call(const Value& fn, CallArgs& args) {
    if (fn.is_undefined()) return undefined_error(fn);
    const Callable* c = fn.as_callable();
    if (c == nullptr) return runtime_error("'" + type_name(fn) + "' object is not callable");
    return c->fn(*this, args);
}

Result<Value> Interpreter::eval_call(const Expr& e, Scope* scope) {
    TK_ASSIGN_OR_RETURN(Value fn, eval(*e.args[0], scope));
    CallArgs args;
    for (size_t i = 1; i < e.args.size(); ++i) {
        TK_ASSIGN_OR_RETURN(Value v, eval(*e.args[i], scope));
        args.args.push_back(std::move(v));
    }
    for (const auto& [k, ke] : e.kwargs) {
        TK_ASSIGN_OR_RETURN(Value v, eval(*ke, scope));
        args.kwargs.emplace_back(k, std::move(v));
    }
    return call(fn, args);
}

// A filter chain whose innermost input is `block_input` ({% filter %} and {% set %} blocks) or
// an ordinary expression.
Result<Value> Interpreter::eval_filter_chain(const Expr& e, Scope* scope,
                                             const Value* block_input) {
    Value input;
    if (e.args[0]) {
        TK_ASSIGN_OR_RETURN(input, e.args[0]->kind == ExprKind::kFilter
                                       ? eval_filter_chain(*e.args[0], scope, block_input)
                                       : eval(*e.args[0], scope));
    } else if (block_input != nullptr) {
        input = *block_input;
    }
    CallArgs args;
    for (size_t i = 1; i < e.args.size(); ++i) {
        TK_ASSIGN_OR_RETURN(Value v, eval(*e.args[i], scope));
        args.args.push_back(std::move(v));
    }
    for (const auto& [k, ke] : e.kwargs) {
        TK_ASSIGN_OR_RETURN(Value v, eval(*ke, scope));
        args.kwargs.emplace_back(k, std::move(v));
    }
    auto r = apply_filter(e.name, std::move(input), args);
    if (!r.is_ok()) return located(r.status(), e.offset);
    return r;
}

Result<Value> Interpreter::eval_inner(const Expr& e, Scope* scope) {
    if (folding_ && !e.constant && e.kind != ExprKind::kAnd && e.kind != ExprKind::kOr &&
        e.kind != ExprKind::kCondExpr) {
        return runtime_error("not foldable");  // a name, call or context filter
    }
    switch (e.kind) {
        case ExprKind::kLiteral:
            return e.literal;
        case ExprKind::kName:
            return lookup(scope, e.name);
        case ExprKind::kList:
        case ExprKind::kTuple: {
            std::vector<Value> items;
            items.reserve(e.args.size());
            for (const auto& a : e.args) {
                TK_ASSIGN_OR_RETURN(Value v, eval(*a, scope));
                items.push_back(std::move(v));
            }
            return e.kind == ExprKind::kList ? Value::array(std::move(items))
                                             : Value::tuple(std::move(items));
        }
        case ExprKind::kDict: {
            Value obj = Value::object();
            for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
                TK_ASSIGN_OR_RETURN(Value k, eval(*e.args[i], scope));
                TK_ASSIGN_OR_RETURN(Value v, eval(*e.args[i + 1], scope));
                if (!k.is_string()) return runtime_error("only string dict keys are supported");
                obj.set(k.as_string(), std::move(v));
            }
            return obj;
        }
        case ExprKind::kGetAttr: {
            TK_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0], scope));
            return get_attr(obj, e.name);
        }
        case ExprKind::kGetItem: {
            TK_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0], scope));
            TK_ASSIGN_OR_RETURN(Value key, eval(*e.args[1], scope));
            return get_item(obj, key);
        }
        case ExprKind::kSlice: {
            TK_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0], scope));
            Value parts[3];
            for (int i = 0; i < 3; ++i) {
                if (e.args[i + 1]) {
                    TK_ASSIGN_OR_RETURN(parts[i], eval(*e.args[i + 1], scope));
                } else {
                    parts[i] = Value::none();
                }
            }
            auto r = get_slice(obj, parts[0], parts[1], parts[2]);
            // Folding goes through environment.getitem, which turns TypeErrors into undefined
            // (an undefined object still raises).
            if (!r.is_ok() && folding_ && !obj.is_undefined()) {
                return Value::undefined(r.status().message());
            }
            return r;
        }
        case ExprKind::kCall:
            return eval_call(e, scope);
        case ExprKind::kFilter:
            return eval_filter_chain(e, scope, nullptr);
        case ExprKind::kTest: {
            TK_ASSIGN_OR_RETURN(Value input, eval(*e.args[0], scope));
            CallArgs args;
            for (size_t i = 1; i < e.args.size(); ++i) {
                TK_ASSIGN_OR_RETURN(Value v, eval(*e.args[i], scope));
                args.args.push_back(std::move(v));
            }
            for (const auto& [k, ke] : e.kwargs) {
                TK_ASSIGN_OR_RETURN(Value v, eval(*ke, scope));
                args.kwargs.emplace_back(k, std::move(v));
            }
            TK_ASSIGN_OR_RETURN(bool b, apply_test(e.name, input, args));
            return Value(b);
        }
        case ExprKind::kNot: {
            TK_ASSIGN_OR_RETURN(Value v, eval(*e.args[0], scope));
            return Value(!truthy(v));
        }
        case ExprKind::kNeg:
        case ExprKind::kPos: {
            TK_ASSIGN_OR_RETURN(Value v, eval(*e.args[0], scope));
            if (v.is_undefined()) return undefined_error(v);
            const bool neg = e.kind == ExprKind::kNeg;
            if (v.is_int() || v.is_bool()) {
                const int64_t i = v.is_bool() ? int64_t{v.as_bool()} : v.as_int();
                return Value(neg ? -i : i);
            }
            if (v.is_float()) return Value(neg ? -v.as_float() : v.as_float());
            return runtime_error(std::string("bad operand type for unary ") + (neg ? "-" : "+") +
                                 ": '" + type_name(v) + "'");
        }
        case ExprKind::kBinary: {
            TK_ASSIGN_OR_RETURN(Value a, eval(*e.args[0], scope));
            TK_ASSIGN_OR_RETURN(Value b, eval(*e.args[1], scope));
            return binary_op(e.name, a, b);
        }
        case ExprKind::kAnd:
        case ExprKind::kOr: {
            TK_ASSIGN_OR_RETURN(Value a, eval(*e.args[0], scope));
            if (truthy(a) == (e.kind == ExprKind::kOr)) return a;
            return eval(*e.args[1], scope);
        }
        case ExprKind::kCompare: {
            TK_ASSIGN_OR_RETURN(Value left, eval(*e.args[0], scope));
            for (size_t i = 0; i < e.ops.size(); ++i) {
                TK_ASSIGN_OR_RETURN(Value right, eval(*e.args[i + 1], scope));
                const std::string& op = e.ops[i];
                bool ok;
                if (op == "==" || op == "!=") {
                    ok = py_equal(left, right) == (op == "==");
                } else if (op == "in" || op == "notin") {
                    TK_ASSIGN_OR_RETURN(bool has, contains(right, left));
                    ok = has == (op == "in");
                } else if (op == "<" || op == ">=") {
                    TK_ASSIGN_OR_RETURN(bool lt, py_less(left, right));
                    ok = lt == (op == "<");
                } else {
                    TK_ASSIGN_OR_RETURN(bool gt, py_less(right, left));
                    ok = gt == (op == ">");
                }
                if (!ok) return Value(false);
                left = std::move(right);
            }
            return Value(true);
        }
        case ExprKind::kCondExpr: {
            TK_ASSIGN_OR_RETURN(Value c, eval(*e.args[1], scope));
            if (truthy(c)) return eval(*e.args[0], scope);
            if (e.args[2]) return eval(*e.args[2], scope);
            if (folding_) return runtime_error("not foldable");
            return Value::undefined(
                "the inline if-expression evaluated to false and no else "
                "section was defined");
        }
    }
    return runtime_error("unknown expression");
}

}  // namespace tk::tokenizer::jinja
