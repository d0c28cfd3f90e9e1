#pragma once
// Tree-walking evaluator for parsed Jinja2 templates, with the semantics of Jinja2's
// ImmutableSandboxedEnvironment as Hugging Face transformers configures it for chat templates:
// default Undefined, immutable lists/dicts (namespace() is the only mutable object), the
// loopcontrols extension, and the raise_exception / strftime_now globals.
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_value.h"

namespace tk::tokenizer::jinja {

class Interpreter;

struct CallArgs {
    std::vector<Value> args;
    std::vector<std::pair<std::string, Value>> kwargs;
};

struct Callable {
    std::string name;
    std::function<Result<Value>(Interpreter&, CallArgs&)> fn;
};

Value make_callable(std::string name, std::function<Result<Value>(Interpreter&, CallArgs&)> fn);

// Binds call arguments to a Python-style parameter list for builtins, filters and methods.
class ArgBinder {
public:
    // `params` in positional order; fails on too many positionals or unknown keywords.
    static Result<ArgBinder> bind(std::string_view fn_name, CallArgs& args,
                                  std::vector<std::string_view> params);
    // The bound value, or undefined when not given.
    const Value& get(size_t i) const { return values_[i]; }
    bool has(size_t i) const { return given_[i]; }

private:
    std::vector<Value> values_;
    std::vector<bool> given_;
};

// Variables of one scope. Scopes are shared because macros keep the scope they were defined in
// (and its parents) alive.
struct Scope : std::enable_shared_from_this<Scope> {
    std::shared_ptr<Scope> parent;
    std::vector<std::pair<std::string, Value>> vars;

    void set(std::string_view name, Value v);
};

struct RenderEnv {
    const Value* context = nullptr;  // the render() arguments (an object)
    std::optional<std::tm> now;      // strftime_now; local time when empty
};

class Interpreter {
public:
    Interpreter(const TemplateAst& ast, const RenderEnv& env) : ast_(ast), env_(env) {}

    // Renders the whole template. raise_exception() messages come back verbatim; other runtime
    // errors are prefixed with their template location.
    Result<std::string> render();

    Result<Value> eval(const Expr& e, Scope* scope);
    Result<Value> call(const Value& fn, CallArgs& args);
    // Error raised by raise_exception(): its text is the user-facing message.
    Status raise(std::string message);

    const RenderEnv& env() const { return env_; }
    Result<Value> apply_filter(const std::string& name, Value input, CallArgs& args);
    Result<bool> apply_test(const std::string& name, const Value& input, CallArgs& args);
    // Lookup of a variable (scopes, then context, then globals).
    Value lookup(Scope* scope, std::string_view name) const;

private:
    enum class Flow { kNormal, kBreak, kContinue };

    std::shared_ptr<Scope> new_scope(Scope* parent);
    Status exec(const Body& body, Scope* scope, std::string* out);
    Status exec_stmt(const Stmt& s, Scope* scope, std::string* out);
    Status exec_for(const Stmt& s, Scope* scope, std::string* out);
    Status assign(const Target& t, Value v, Scope* scope);
    Result<Value> eval_inner(const Expr& e, Scope* scope);
    Result<Value> eval_call(const Expr& e, Scope* scope);
    Result<Value> eval_filter_chain(const Expr& e, Scope* scope, const Value* block_input);
    Result<Value> call_macro(const Stmt& m, Scope* closure, CallArgs& args);
    Status located(Status st, size_t offset);
    // Jinja's compile-time folding of a constant expression; empty if it would not fold.
    std::optional<Value> fold(const Expr& e, bool any_value);

    const TemplateAst& ast_;
    const RenderEnv& env_;
    // Scopes captured by macros; render() empties them at the end to break the reference cycle
    // scope -> macro -> scope.
    std::vector<std::shared_ptr<Scope>> captured_;
    Flow flow_ = Flow::kNormal;
    int call_depth_ = 0;
    uint64_t steps_ = 0;
    bool raised_ = false;         // the pending error came from raise_exception()
    bool error_located_ = false;  // the pending error already names its location
    bool folding_ = false;        // evaluating as Jinja's optimizer would (Expr::constant)
};

// ---- Python/Jinja operations shared by the evaluator, filters and methods.

// obj.name (Jinja getattr: attributes/methods first, then items).
Result<Value> get_attr(const Value& obj, std::string_view name);
// obj[key] (Jinja getitem: items first, then attributes).
Result<Value> get_item(const Value& obj, const Value& key);
// obj[start:stop:step] (none for an omitted part).
Result<Value> get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);
// Items a for-loop (or list()) visits: list items, string characters, dict keys.
Result<std::vector<Value>> iterate(const Value& v);
// Raises the error an undefined value stands for.
Status undefined_error(const Value& v);
// Methods of str / dict / list as bound callables, or undefined.
Value bound_method(const Value& self, std::string_view name);
// range, dict, namespace, raise_exception, strftime_now, joiner, cycler.
const Value* global_function(std::string_view name);
// Binary operators + - * / // % ** ~.
Result<Value> binary_op(std::string_view op, const Value& a, const Value& b);
// Python's printf-style `fmt % args` (tuple args spread; %s %r %d %i %f %e %g %x %o %c %%).
Result<Value> percent_format(const std::string& fmt, const Value& args);
// `a in b`.
Result<bool> contains(const Value& container, const Value& item);
// len(v), or a TypeError.
Result<int64_t> py_len(const Value& v);

}  // namespace tk::tokenizer::jinja
