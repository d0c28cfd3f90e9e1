#pragma once
// Internal: the parser class shared by jinja_parser.cpp (statements) and jinja_parser_expr.cpp
// (expressions). Not part of the public API.
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_lexer.h"

namespace tk::tokenizer::jinja {

constexpr int kMaxParseDepth = 200;  // nesting limit so hostile templates cannot exhaust the stack

class Parser {
public:
    Parser(const std::vector<Token>& toks, std::string_view src) : toks_(toks), src_(src) {}

    Result<Body> parse_all();

    // Expression entry point shared by the statement parser.

    // ---- token helpers
    const Token& cur() const { return toks_[i_]; }
    const Token& look() const { return toks_[std::min(i_ + 1, toks_.size() - 1)]; }
    void advance() {
        if (i_ + 1 < toks_.size()) ++i_;
    }
    bool is_op(std::string_view op) const { return cur().kind == TokKind::kOp && cur().text == op; }
    bool is_name(std::string_view n) const {
        return cur().kind == TokKind::kName && cur().text == n;
    }
    bool skip_op(std::string_view op) {
        if (!is_op(op)) return false;
        advance();
        return true;
    }
    bool skip_name(std::string_view n) {
        if (!is_name(n)) return false;
        advance();
        return true;
    }

    static std::string describe(const Token& t) {
        switch (t.kind) {
            case TokKind::kVarEnd:
                return "end of print statement";
            case TokKind::kBlockEnd:
                return "end of statement block";
            case TokKind::kEof:
                return "end of template";
            case TokKind::kData:
                return "template data";
            case TokKind::kVarBegin:
                return "begin of print statement";
            case TokKind::kBlockBegin:
                return "begin of statement block";
            case TokKind::kString:
                return "string";
            default:
                return "'" + t.text + "'";
        }
    }

    Status fail(const std::string& msg) const { return fail_at(cur().offset, msg); }
    Status fail_at(size_t offset, const std::string& msg) const {
        return Status(
            ErrorCode::kInvalidArgument,
            "chat template syntax error at " + describe_location(src_, offset) + ": " + msg);
    }
    Status expect_op(std::string_view op) {
        if (skip_op(op)) return Status::ok();
        return fail("expected '" + std::string(op) + "', got " + describe(cur()));
    }
    Status expect_kind(TokKind k, const char* what) {
        if (cur().kind == k) {
            advance();
            return Status::ok();
        }
        return fail(std::string("expected ") + what + ", got " + describe(cur()));
    }
    Result<std::string> expect_name() {
        if (cur().kind != TokKind::kName) return fail("expected a name, got " + describe(cur()));
        std::string n = cur().text;
        advance();
        return n;
    }

    struct DepthGuard {
        explicit DepthGuard(int* d) : d_(d) { ++*d_; }
        ~DepthGuard() { --*d_; }
        int* d_;
    };

    ExprPtr node(ExprKind k, size_t offset) {
        auto e = std::make_unique<Expr>();
        e->kind = k;
        e->offset = offset;
        return e;
    }

    // ---- statements

    // Parses until a block whose first name is in `end_names`; leaves that name current.
    Result<Body> subparse(const std::vector<std::string_view>& end_names);

    // Block end, body up to one of `end_names`; with drop_needle the end name is consumed.
    Result<Body> parse_statements(const std::vector<std::string_view>& end_names, bool drop_needle);
    Result<StmtPtr> parse_statement();
    Status parse_if(Stmt* s);
    Status parse_for(Stmt* s);
    Status parse_set(Stmt* s);

    // Names, optionally comma-separated or parenthesized (jinja's simplified tuple).
    Status parse_target(Target* t, const std::vector<std::string_view>& end_names);
    Status parse_signature(std::vector<Param>* params);

    // ---- expressions

    Result<ExprPtr> parse_expression(bool with_condexpr);
    Result<ExprPtr> binary(ExprKind k, std::string op, ExprPtr l, ExprPtr r, size_t off);
    Result<ExprPtr> parse_or();
    Result<ExprPtr> parse_and();
    Result<ExprPtr> parse_not();
    Result<ExprPtr> parse_compare();
    Result<ExprPtr> parse_math1();
    Result<ExprPtr> parse_concat();
    Result<ExprPtr> parse_math2();
    Result<ExprPtr> parse_pow();
    Result<ExprPtr> parse_unary(bool with_filter);

    Result<ExprPtr> parse_primary();
    Result<ExprPtr> parse_tuple(bool simplified, bool with_condexpr,
                                const std::vector<std::string_view>& end_names,
                                bool explicit_parens);
    Result<ExprPtr> parse_postfix(ExprPtr e);
    Result<ExprPtr> parse_filter_expr(ExprPtr e);
    Result<ExprPtr> parse_subscribed();
    Status parse_call_args(Expr* call);
    Result<ExprPtr> parse_filter(ExprPtr input, bool start_inline);
    Result<ExprPtr> parse_test(ExprPtr input);

    const std::vector<Token>& toks_;
    std::string_view src_;
    size_t i_ = 0;
    int depth_ = 0;
    int loop_depth_ = 0;
    int loop_refs_ = 0;  // `loop` names parsed so far (decides Stmt::uses_loop)
};

}  // namespace tk::tokenizer::jinja
