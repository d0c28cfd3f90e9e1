#pragma once
// Syntax tree of a parsed Jinja2 template. Nodes own their children; the tree is immutable
// after parsing, so one parsed template can be rendered by many threads at once.
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace tk::tokenizer::jinja {

enum class ExprKind : uint8_t {
    kLiteral,   // literal
    kName,      // name
    kList,      // args = items
    kTuple,     // args = items
    kDict,      // args = key0, value0, key1, value1, ...
    kGetAttr,   // args[0] . name
    kGetItem,   // args[0] [ args[1] ]
    kSlice,     // args[0] [ args[1] : args[2] : args[3] ] (null parts omitted)
    kCall,      // args[0] ( args[1..] , kwargs )
    kFilter,    // args[0] | name ( args[1..], kwargs ); args[0] null inside {% filter %}
    kTest,      // args[0] is name ( args[1..], kwargs )
    kNot,       // not args[0]
    kNeg,       // - args[0]
    kPos,       // + args[0]
    kBinary,    // args[0] name args[1]; name is + - * / // % ** ~
    kAnd,       // args[0] and args[1]
    kOr,        // args[0] or args[1]
    kCompare,   // args[0] ops[0] args[1] ops[1] args[2] ... (Python chaining)
    kCondExpr,  // args[0] if args[1] else args[2] (args[2] null: undefined)
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
    ExprKind kind;
    size_t offset = 0;  // source position, for error messages
    std::string name;
    Value literal;
    std::vector<ExprPtr> args;
    std::vector<std::pair<std::string, ExprPtr>> kwargs;
    std::vector<std::string> ops;  // kCompare: == != < <= > >= in notin
    // Built from literals only (no names or calls), so Jinja's optimizer folds it at compile
    // time. Folding evaluates slices through environment.getitem (a failing slice gives
    // undefined rather than raising); the evaluator reproduces that.
    bool constant = false;
};

// Assignment target of set / for / with: a name, a tuple of names, or namespace.attr.
struct Target {
    std::vector<std::string> names;  // one name, or several to unpack
    bool unpack = false;             // written as a tuple (a, b)
    std::string attr;                // non-empty: names[0].attr on a namespace
};

enum class StmtKind : uint8_t {
    kData,         // text
    kOutput,       // {{ expr }}
    kIf,           // branches, else_body
    kFor,          // target in expr [if cond] body [else else_body]
    kSet,          // target = expr
    kSetBlock,     // {% set target [| filters] %}body{% endset %}; expr = filter chain or null
    kMacro,        // name(params) body
    kCallBlock,    // {% call(params) expr %}body{% endcall %}
    kFilterBlock,  // {% filter expr %}body (expr is a filter chain over a null input)
    kWith,         // params as assignments, body
    kBreak,
    kContinue,
    kScope,  // body rendered in place: {% generation %}, {% block %}
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Param {
    std::string name;
    ExprPtr default_value;  // may be null
};

struct Stmt {
    StmtKind kind;
    size_t offset = 0;
    std::string text;  // kData text; kMacro name
    ExprPtr expr;
    ExprPtr cond;  // kFor filter
    Target target;
    std::vector<std::pair<ExprPtr, Body>> branches;  // kIf
    Body body;
    Body else_body;
    std::vector<Param> params;  // kMacro / kCallBlock parameters; kWith assignments
    bool uses_loop = false;     // kFor: the body mentions `loop` (else it is not built)
};

// A parsed template: the tree plus the normalized source for error locations.
struct TemplateAst {
    std::string source;
    Body body;
};

}  // namespace tk::tokenizer::jinja
