// Recursive-descent parser mirroring jinja2/parser.py: the same statement set (plus the
// loopcontrols extension and transformers' {% generation %} tag) and the same places where an
// implicit tuple is allowed. Expressions are in jinja_parser_expr.cpp.
#include "tokenizer/jinja_parser.h"

#include "tokenizer/jinja_parser_impl.h"

namespace tk::tokenizer::jinja {

Result<Body> Parser::parse_all() {
    TK_ASSIGN_OR_RETURN(Body body, subparse({}));
    if (cur().kind != TokKind::kEof) return fail("unexpected '" + cur().text + "'");
    return body;
}

Result<Body> Parser::subparse(const std::vector<std::string_view>& end_names) {
    Body body;
    while (cur().kind != TokKind::kEof) {
        const Token& t = cur();
        if (t.kind == TokKind::kData) {
            auto s = std::make_unique<Stmt>();
            s->kind = StmtKind::kData;
            s->offset = t.offset;
            s->text = t.text;
            body.push_back(std::move(s));
            advance();
        } else if (t.kind == TokKind::kVarBegin) {
            advance();
            auto s = std::make_unique<Stmt>();
            s->kind = StmtKind::kOutput;
            s->offset = t.offset;
            TK_ASSIGN_OR_RETURN(s->expr, parse_tuple(false, true, {}, false));
            TK_RETURN_IF_ERROR(expect_kind(TokKind::kVarEnd, "end of print statement"));
            body.push_back(std::move(s));
        } else if (t.kind == TokKind::kBlockBegin) {
            advance();
            for (std::string_view n : end_names) {
                if (is_name(n)) return body;
            }
            TK_ASSIGN_OR_RETURN(StmtPtr s, parse_statement());
            if (s) body.push_back(std::move(s));
            TK_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "end of statement block"));
        } else {
            return fail("unexpected " + describe(t));
        }
    }
    if (!end_names.empty()) {
        std::string names;
        for (std::string_view n : end_names) {
            names += (names.empty() ? "'" : " or '") + std::string(n) + "'";
        }
        return fail("unexpected end of template; looking for " + names);
    }
    return body;
}

Result<Body> Parser::parse_statements(const std::vector<std::string_view>& end_names,
                                      bool drop_needle) {
    TK_RETURN_IF_ERROR(expect_kind(TokKind::kBlockEnd, "end of statement block"));
    DepthGuard g(&depth_);
    if (depth_ > kMaxParseDepth) return fail("blocks nested too deeply");
    TK_ASSIGN_OR_RETURN(Body body, subparse(end_names));
    if (drop_needle) advance();
    return body;
}

Result<StmtPtr> Parser::parse_statement() {
    if (cur().kind != TokKind::kName) return fail("tag name expected");
    const std::string tag = cur().text;
    auto s = std::make_unique<Stmt>();
    s->offset = cur().offset;
    advance();
    if (tag == "if") {
        TK_RETURN_IF_ERROR(parse_if(s.get()));
    } else if (tag == "for") {
        TK_RETURN_IF_ERROR(parse_for(s.get()));
    } else if (tag == "set") {
        TK_RETURN_IF_ERROR(parse_set(s.get()));
    } else if (tag == "macro") {
        s->kind = StmtKind::kMacro;
        TK_ASSIGN_OR_RETURN(s->text, expect_name());
        TK_RETURN_IF_ERROR(parse_signature(&s->params));
        const int saved_loops = loop_depth_;
        loop_depth_ = 0;
        TK_ASSIGN_OR_RETURN(s->body, parse_statements({"endmacro"}, true));
        loop_depth_ = saved_loops;
    } else if (tag == "call") {
        s->kind = StmtKind::kCallBlock;
        if (is_op("(")) TK_RETURN_IF_ERROR(parse_signature(&s->params));
        TK_ASSIGN_OR_RETURN(s->expr, parse_expression(true));
        if (s->expr->kind != ExprKind::kCall) return fail_at(s->offset, "expected call");
        // The body becomes a function (caller), so break/continue cannot reach an outer loop.
        const int saved_loops = loop_depth_;
        loop_depth_ = 0;
        TK_ASSIGN_OR_RETURN(s->body, parse_statements({"endcall"}, true));
        loop_depth_ = saved_loops;
    } else if (tag == "filter") {
        s->kind = StmtKind::kFilterBlock;
        TK_ASSIGN_OR_RETURN(s->expr, parse_filter(nullptr, true));
        TK_ASSIGN_OR_RETURN(s->body, parse_statements({"endfilter"}, true));
    } else if (tag == "with") {
        s->kind = StmtKind::kWith;
        while (cur().kind != TokKind::kBlockEnd) {
            if (!s->params.empty()) TK_RETURN_IF_ERROR(expect_op(","));
            Param p;
            TK_ASSIGN_OR_RETURN(p.name, expect_name());
            TK_RETURN_IF_ERROR(expect_op("="));
            TK_ASSIGN_OR_RETURN(p.default_value, parse_expression(true));
            s->params.push_back(std::move(p));
        }
        TK_ASSIGN_OR_RETURN(s->body, parse_statements({"endwith"}, true));
    } else if (tag == "break" || tag == "continue") {
        if (loop_depth_ == 0) return fail_at(s->offset, "'" + tag + "' outside of a loop");
        s->kind = tag == "break" ? StmtKind::kBreak : StmtKind::kContinue;
    } else if (tag == "generation") {
        s->kind = StmtKind::kScope;
        TK_ASSIGN_OR_RETURN(s->body, parse_statements({"endgeneration"}, true));
    } else if (tag == "block") {
        s->kind = StmtKind::kScope;
        TK_ASSIGN_OR_RETURN(s->text, expect_name());
        skip_name("scoped");
        skip_name("required");
        TK_ASSIGN_OR_RETURN(s->body, parse_statements({"endblock"}, true));
        if (cur().kind == TokKind::kName) advance();  // {% endblock name %}
    } else {
        return fail_at(s->offset, "encountered unknown tag '" + tag + "'");
    }
    return s;
}

Status Parser::parse_if(Stmt* s) {
    s->kind = StmtKind::kIf;
    while (true) {
        TK_ASSIGN_OR_RETURN(ExprPtr cond, parse_tuple(false, false, {}, false));
        TK_ASSIGN_OR_RETURN(Body body, parse_statements({"elif", "else", "endif"}, false));
        s->branches.emplace_back(std::move(cond), std::move(body));
        const std::string which = cur().text;
        advance();
        if (which == "elif") continue;
        if (which == "else") {
            TK_ASSIGN_OR_RETURN(s->else_body, parse_statements({"endif"}, true));
        }
        return Status::ok();
    }
}

Status Parser::parse_for(Stmt* s) {
    s->kind = StmtKind::kFor;
    TK_RETURN_IF_ERROR(parse_target(&s->target, {"in"}));
    if (!skip_name("in")) return fail("expected 'in', got " + describe(cur()));
    TK_ASSIGN_OR_RETURN(s->expr, parse_tuple(false, false, {"recursive"}, false));
    if (skip_name("if")) {
        TK_ASSIGN_OR_RETURN(s->cond, parse_expression(true));
    }
    if (is_name("recursive")) return fail("recursive loops are not supported");
    ++loop_depth_;
    const int refs_before = loop_refs_;
    auto body = parse_statements({"endfor", "else"}, false);
    s->uses_loop = loop_refs_ != refs_before;
    --loop_depth_;
    if (!body.is_ok()) return body.status();
    s->body = std::move(body).value();
    const std::string which = cur().text;
    advance();
    if (which == "else") {
        TK_ASSIGN_OR_RETURN(s->else_body, parse_statements({"endfor"}, true));
    }
    return Status::ok();
}

Status Parser::parse_set(Stmt* s) {
    if (cur().kind == TokKind::kName && look().kind == TokKind::kOp && look().text == ".") {
        s->target.names.push_back(cur().text);
        advance();
        advance();
        TK_ASSIGN_OR_RETURN(s->target.attr, expect_name());
    } else {
        TK_RETURN_IF_ERROR(parse_target(&s->target, {}));
    }
    if (skip_op("=")) {
        s->kind = StmtKind::kSet;
        TK_ASSIGN_OR_RETURN(s->expr, parse_tuple(false, true, {}, false));
        return Status::ok();
    }
    s->kind = StmtKind::kSetBlock;
    if (is_op("|")) {
        TK_ASSIGN_OR_RETURN(s->expr, parse_filter(nullptr, false));
    }
    TK_ASSIGN_OR_RETURN(s->body, parse_statements({"endset"}, true));
    return Status::ok();
}

Status Parser::parse_target(Target* t, const std::vector<std::string_view>& end_names) {
    const bool paren = skip_op("(");
    while (true) {
        if (!t->names.empty()) {
            if (!skip_op(",")) break;
            t->unpack = true;
        }
        if (paren && is_op(")")) break;
        bool at_end = cur().kind == TokKind::kBlockEnd;
        for (std::string_view n : end_names) at_end = at_end || is_name(n);
        if (at_end && !t->names.empty()) break;
        if (cur().kind != TokKind::kName) return fail("can't assign to " + describe(cur()));
        const std::string& n = cur().text;
        if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" ||
            n == "None") {
            return fail("can't assign to constant '" + n + "'");
        }
        t->names.push_back(n);
        advance();
    }
    if (paren) {
        t->unpack = true;
        TK_RETURN_IF_ERROR(expect_op(")"));
    }
    return Status::ok();
}

Status Parser::parse_signature(std::vector<Param>* params) {
    TK_RETURN_IF_ERROR(expect_op("("));
    bool defaults = false;
    while (!is_op(")")) {
        if (!params->empty()) TK_RETURN_IF_ERROR(expect_op(","));
        if (is_op(")")) break;
        Param p;
        TK_ASSIGN_OR_RETURN(p.name, expect_name());
        if (skip_op("=")) {
            TK_ASSIGN_OR_RETURN(p.default_value, parse_expression(true));
            defaults = true;
        } else if (defaults) {
            return fail("non-default argument follows default argument");
        }
        params->push_back(std::move(p));
    }
    return expect_op(")");
}

namespace {
// Marks the expressions Jinja's optimizer may evaluate at compile time: no names, no calls
// (never folded in the sandbox), no filters that need the context, no filter-block input --
// except in the branches and/or/if-else can skip, which the evaluator checks as it folds.
bool mark_constant(Expr& e) {
    bool c = e.kind != ExprKind::kName && e.kind != ExprKind::kCall;
    if (e.kind == ExprKind::kFilter &&
        (!e.args[0] || e.name == "map" || e.name == "select" || e.name == "reject" ||
         e.name == "selectattr" || e.name == "rejectattr")) {
        c = false;
    }
    std::vector<bool> arg_const;
    for (auto& a : e.args) arg_const.push_back(!a || mark_constant(*a));
    for (auto& kv : e.kwargs) {
        if (!mark_constant(*kv.second)) c = false;
    }
    // as_const short-circuits like evaluation, so `false and name` still folds.
    if (e.kind == ExprKind::kAnd || e.kind == ExprKind::kOr) {
        c = arg_const[0];
    } else if (e.kind == ExprKind::kCondExpr) {
        c = arg_const[1] && (arg_const[0] || arg_const[2]);
    } else {
        for (bool b : arg_const) c = c && b;
    }
    e.constant = c;
    return c;
}

void mark_constants(Body& body) {
    for (auto& s : body) {
        for (ExprPtr* e : {&s->expr, &s->cond}) {
            if (*e) mark_constant(**e);
        }
        for (auto& [cond, b] : s->branches) {
            mark_constant(*cond);
            mark_constants(b);
        }
        for (auto& p : s->params) {
            if (p.default_value) mark_constant(*p.default_value);
        }
        mark_constants(s->body);
        mark_constants(s->else_body);
    }
}
}  // namespace

Result<TemplateAst> parse_template(std::string_view source, const LexOptions& opts) {
    TemplateAst ast;
    ast.source = normalize_source(source, opts.keep_trailing_newline);
    TK_ASSIGN_OR_RETURN(std::vector<Token> toks, lex(ast.source, opts));
    Parser p(toks, ast.source);
    TK_ASSIGN_OR_RETURN(ast.body, p.parse_all());
    mark_constants(ast.body);
    return ast;
}

}  // namespace tk::tokenizer::jinja
