// Expression parsing for the Jinja2 parser: precedence climbing exactly as jinja2/parser.py
// (or < and < not < comparisons < + - < ~ < * / // % < ** < unary, with filters and tests
// binding tighter than any binary operator).
#include "tokenizer/jinja_parser_impl.h"

namespace tk::tokenizer::jinja {

Result<ExprPtr> Parser::parse_expression(bool with_condexpr) {
    DepthGuard g(&depth_);
    if (depth_ > kMaxParseDepth) return fail("expression nested too deeply");
    if (!with_condexpr) return parse_or();
    TK_ASSIGN_OR_RETURN(ExprPtr expr, parse_or());
    while (is_name("if")) {
        const size_t off = cur().offset;
        advance();
        TK_ASSIGN_OR_RETURN(ExprPtr test, parse_or());
        ExprPtr other;
        if (skip_name("else")) {
            TK_ASSIGN_OR_RETURN(other, parse_expression(true));
        }
        ExprPtr c = node(ExprKind::kCondExpr, off);
        c->args.push_back(std::move(expr));
        c->args.push_back(std::move(test));
        c->args.push_back(std::move(other));
        expr = std::move(c);
    }
    return expr;
}

Result<ExprPtr> Parser::binary(ExprKind k, std::string op, ExprPtr l, ExprPtr r, size_t off) {
    ExprPtr e = node(k, off);
    e->name = std::move(op);
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return e;
}

Result<ExprPtr> Parser::parse_or() {
    TK_ASSIGN_OR_RETURN(ExprPtr left, parse_and());
    while (is_name("or")) {
        const size_t off = cur().offset;
        advance();
        TK_ASSIGN_OR_RETURN(ExprPtr right, parse_and());
        TK_ASSIGN_OR_RETURN(left,
                            binary(ExprKind::kOr, "or", std::move(left), std::move(right), off));
    }
    return left;
}

Result<ExprPtr> Parser::parse_and() {
    TK_ASSIGN_OR_RETURN(ExprPtr left, parse_not());
    while (is_name("and")) {
        const size_t off = cur().offset;
        advance();
        TK_ASSIGN_OR_RETURN(ExprPtr right, parse_not());
        TK_ASSIGN_OR_RETURN(left,
                            binary(ExprKind::kAnd, "and", std::move(left), std::move(right), off));
    }
    return left;
}

Result<ExprPtr> Parser::parse_not() {
    if (is_name("not")) {
        const size_t off = cur().offset;
        advance();
        DepthGuard g(&depth_);
        if (depth_ > kMaxParseDepth) return fail("expression nested too deeply");
        TK_ASSIGN_OR_RETURN(ExprPtr inner, parse_not());
        ExprPtr e = node(ExprKind::kNot, off);
        e->args.push_back(std::move(inner));
        return e;
    }
    return parse_compare();
}

Result<ExprPtr> Parser::parse_compare() {
    const size_t off = cur().offset;
    TK_ASSIGN_OR_RETURN(ExprPtr first, parse_math1());
    ExprPtr cmp;
    while (true) {
        std::string op;
        if (cur().kind == TokKind::kOp &&
            (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" ||
             cur().text == ">" || cur().text == ">=")) {
            op = cur().text;
            advance();
        } else if (is_name("in")) {
            op = "in";
            advance();
        } else if (is_name("not") && look().kind == TokKind::kName && look().text == "in") {
            op = "notin";
            advance();
            advance();
        } else {
            break;
        }
        if (!cmp) {
            cmp = node(ExprKind::kCompare, off);
            cmp->args.push_back(std::move(first));
        }
        TK_ASSIGN_OR_RETURN(ExprPtr rhs, parse_math1());
        cmp->ops.push_back(op);
        cmp->args.push_back(std::move(rhs));
    }
    return cmp ? std::move(cmp) : std::move(first);
}

Result<ExprPtr> Parser::parse_math1() {
    TK_ASSIGN_OR_RETURN(ExprPtr left, parse_concat());
    while (is_op("+") || is_op("-")) {
        const std::string op = cur().text;
        const size_t off = cur().offset;
        advance();
        TK_ASSIGN_OR_RETURN(ExprPtr right, parse_concat());
        TK_ASSIGN_OR_RETURN(left,
                            binary(ExprKind::kBinary, op, std::move(left), std::move(right), off));
    }
    return left;
}

Result<ExprPtr> Parser::parse_concat() {
    TK_ASSIGN_OR_RETURN(ExprPtr left, parse_math2());
    while (is_op("~")) {
        const size_t off = cur().offset;
        advance();
        TK_ASSIGN_OR_RETURN(ExprPtr right, parse_math2());
        TK_ASSIGN_OR_RETURN(left,
                            binary(ExprKind::kBinary, "~", std::move(left), std::move(right), off));
    }
    return left;
}

Result<ExprPtr> Parser::parse_math2() {
    TK_ASSIGN_OR_RETURN(ExprPtr left, parse_pow());
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
        const std::string op = cur().text;
        const size_t off = cur().offset;
        advance();
        TK_ASSIGN_OR_RETURN(ExprPtr right, parse_pow());
        TK_ASSIGN_OR_RETURN(left,
                            binary(ExprKind::kBinary, op, std::move(left), std::move(right), off));
    }
    return left;
}

Result<ExprPtr> Parser::parse_pow() {
    TK_ASSIGN_OR_RETURN(ExprPtr left, parse_unary(true));
    while (is_op("**")) {
        const size_t off = cur().offset;
        advance();
        TK_ASSIGN_OR_RETURN(ExprPtr right, parse_unary(true));
        TK_ASSIGN_OR_RETURN(
            left, binary(ExprKind::kBinary, "**", std::move(left), std::move(right), off));
    }
    return left;
}

Result<ExprPtr> Parser::parse_unary(bool with_filter) {
    DepthGuard g(&depth_);
    if (depth_ > kMaxParseDepth) return fail("expression nested too deeply");
    ExprPtr e;
    const size_t off = cur().offset;
    if (is_op("-") || is_op("+")) {
        const bool neg = is_op("-");
        advance();
        TK_ASSIGN_OR_RETURN(ExprPtr inner, parse_unary(false));
        e = node(neg ? ExprKind::kNeg : ExprKind::kPos, off);
        e->args.push_back(std::move(inner));
    } else {
        TK_ASSIGN_OR_RETURN(e, parse_primary());
    }
    TK_ASSIGN_OR_RETURN(e, parse_postfix(std::move(e)));
    if (with_filter) {
        TK_ASSIGN_OR_RETURN(e, parse_filter_expr(std::move(e)));
    }
    return e;
}

Result<ExprPtr> Parser::parse_primary() {
    const Token& t = cur();
    const size_t off = t.offset;
    if (t.kind == TokKind::kName) {
        ExprPtr e = node(ExprKind::kLiteral, off);
        if (t.text == "true" || t.text == "True") {
            e->literal = Value(true);
        } else if (t.text == "false" || t.text == "False") {
            e->literal = Value(false);
        } else if (t.text == "none" || t.text == "None") {
            e->literal = Value::none();
        } else {
            e->kind = ExprKind::kName;
            e->name = t.text;
            if (t.text == "loop") ++loop_refs_;
        }
        advance();
        return e;
    }
    if (t.kind == TokKind::kString) {
        // Adjacent string literals concatenate, as in Python.
        std::string buf;
        while (cur().kind == TokKind::kString) {
            buf += cur().text;
            advance();
        }
        ExprPtr e = node(ExprKind::kLiteral, off);
        e->literal = Value(std::move(buf));
        return e;
    }
    if (t.kind == TokKind::kInt || t.kind == TokKind::kFloat) {
        ExprPtr e = node(ExprKind::kLiteral, off);
        e->literal = t.kind == TokKind::kInt ? Value(t.int_value) : Value(t.float_value);
        advance();
        return e;
    }
    if (is_op("(")) {
        advance();
        TK_ASSIGN_OR_RETURN(ExprPtr e, parse_tuple(false, true, {}, true));
        TK_RETURN_IF_ERROR(expect_op(")"));
        return e;
    }
    if (is_op("[") || is_op("{")) {
        const bool dict = is_op("{");
        const char* close = dict ? "}" : "]";
        advance();
        ExprPtr e = node(dict ? ExprKind::kDict : ExprKind::kList, off);
        bool first = true;
        while (!is_op(close)) {
            if (!first) {
                TK_RETURN_IF_ERROR(expect_op(","));
                if (is_op(close)) break;
            }
            first = false;
            TK_ASSIGN_OR_RETURN(ExprPtr item, parse_expression(true));
            e->args.push_back(std::move(item));
            if (dict) {
                TK_RETURN_IF_ERROR(expect_op(":"));
                TK_ASSIGN_OR_RETURN(ExprPtr value, parse_expression(true));
                e->args.push_back(std::move(value));
            }
        }
        TK_RETURN_IF_ERROR(expect_op(close));
        return e;
    }
    return fail("unexpected " + describe(t));
}

Result<ExprPtr> Parser::parse_tuple(bool simplified, bool with_condexpr,
                                    const std::vector<std::string_view>& end_names,
                                    bool explicit_parens) {
    const size_t off = cur().offset;
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
        if (!args.empty()) TK_RETURN_IF_ERROR(expect_op(","));
        bool at_end =
            cur().kind == TokKind::kVarEnd || cur().kind == TokKind::kBlockEnd || is_op(")");
        for (std::string_view n : end_names) at_end = at_end || is_name(n);
        if (at_end) break;
        if (simplified) {
            TK_ASSIGN_OR_RETURN(ExprPtr e, parse_primary());
            args.push_back(std::move(e));
        } else {
            TK_ASSIGN_OR_RETURN(ExprPtr e, parse_expression(with_condexpr));
            args.push_back(std::move(e));
        }
        if (is_op(",")) {
            is_tuple = true;
        } else {
            break;
        }
    }
    if (!is_tuple) {
        if (!args.empty()) return std::move(args[0]);
        if (!explicit_parens) return fail("expected an expression, got " + describe(cur()));
    }
    ExprPtr t = node(ExprKind::kTuple, off);
    t->args = std::move(args);
    return t;
}

Result<ExprPtr> Parser::parse_postfix(ExprPtr e) {
    while (true) {
        const size_t off = cur().offset;
        if (is_op(".")) {
            advance();
            if (cur().kind == TokKind::kName) {
                ExprPtr g = node(ExprKind::kGetAttr, off);
                g->name = cur().text;
                g->args.push_back(std::move(e));
                e = std::move(g);
            } else if (cur().kind == TokKind::kInt) {
                ExprPtr g = node(ExprKind::kGetItem, off);
                ExprPtr idx = node(ExprKind::kLiteral, cur().offset);
                idx->literal = Value(cur().int_value);
                g->args.push_back(std::move(e));
                g->args.push_back(std::move(idx));
                e = std::move(g);
            } else {
                return fail("expected name or number");
            }
            advance();
        } else if (is_op("[")) {
            advance();
            std::vector<ExprPtr> subs;
            while (!is_op("]")) {
                if (!subs.empty()) TK_RETURN_IF_ERROR(expect_op(","));
                TK_ASSIGN_OR_RETURN(ExprPtr sub, parse_subscribed());
                subs.push_back(std::move(sub));
            }
            TK_RETURN_IF_ERROR(expect_op("]"));
            ExprPtr key;
            for (const auto& sub : subs) {
                if (subs.size() > 1 && sub->kind == ExprKind::kSlice) {
                    return fail("multi-dimensional slicing is not supported");
                }
            }
            if (subs.empty()) return fail("expected a subscript");
            if (subs.size() == 1) {
                key = std::move(subs[0]);
            } else {
                key = node(ExprKind::kTuple, off);
                key->args = std::move(subs);
            }
            if (key && key->kind == ExprKind::kSlice) {
                key->args[0] = std::move(e);
                e = std::move(key);
            } else {
                ExprPtr g = node(ExprKind::kGetItem, off);
                g->args.push_back(std::move(e));
                g->args.push_back(std::move(key));
                e = std::move(g);
            }
        } else if (is_op("(")) {
            ExprPtr c = node(ExprKind::kCall, off);
            c->args.push_back(std::move(e));
            TK_RETURN_IF_ERROR(parse_call_args(c.get()));
            e = std::move(c);
        } else {
            return e;
        }
    }
}

// An index or a slice; a slice comes back as kSlice with args[0] left for the sliced object.
Result<ExprPtr> Parser::parse_subscribed() {
    const size_t off = cur().offset;
    ExprPtr start;
    if (!is_op(":")) {
        TK_ASSIGN_OR_RETURN(start, parse_expression(true));
        if (!is_op(":")) return start;
    }
    advance();  // first ':'
    ExprPtr slice = node(ExprKind::kSlice, off);
    ExprPtr stop;
    ExprPtr step;
    if (!is_op(":") && !is_op("]") && !is_op(",")) {
        TK_ASSIGN_OR_RETURN(stop, parse_expression(true));
    }
    if (skip_op(":")) {
        if (!is_op("]") && !is_op(",")) {
            TK_ASSIGN_OR_RETURN(step, parse_expression(true));
        }
    }
    slice->args.push_back(nullptr);
    slice->args.push_back(std::move(start));
    slice->args.push_back(std::move(stop));
    slice->args.push_back(std::move(step));
    return slice;
}

Status Parser::parse_call_args(Expr* call) {
    TK_RETURN_IF_ERROR(expect_op("("));
    bool need_comma = false;
    while (!is_op(")")) {
        if (need_comma) {
            TK_RETURN_IF_ERROR(expect_op(","));
            if (is_op(")")) break;
        }
        if (is_op("*") || is_op("**")) return fail("*args / **kwargs calls are not supported");
        if (cur().kind == TokKind::kName && look().kind == TokKind::kOp && look().text == "=") {
            std::string key = cur().text;
            advance();
            advance();
            TK_ASSIGN_OR_RETURN(ExprPtr v, parse_expression(true));
            call->kwargs.emplace_back(std::move(key), std::move(v));
        } else {
            if (!call->kwargs.empty()) return fail("positional argument follows keyword argument");
            TK_ASSIGN_OR_RETURN(ExprPtr v, parse_expression(true));
            call->args.push_back(std::move(v));
        }
        need_comma = true;
    }
    return expect_op(")");
}

Result<ExprPtr> Parser::parse_filter_expr(ExprPtr e) {
    while (true) {
        if (is_op("|")) {
            TK_ASSIGN_OR_RETURN(e, parse_filter(std::move(e), false));
        } else if (is_name("is")) {
            TK_ASSIGN_OR_RETURN(e, parse_test(std::move(e)));
        } else if (is_op("(")) {
            ExprPtr c = node(ExprKind::kCall, cur().offset);
            c->args.push_back(std::move(e));
            TK_RETURN_IF_ERROR(parse_call_args(c.get()));
            e = std::move(c);
        } else {
            return e;
        }
    }
}

// `| name(args)` chains. With start_inline the first filter has no leading pipe ({% filter %}).
Result<ExprPtr> Parser::parse_filter(ExprPtr input, bool start_inline) {
    while (is_op("|") || start_inline) {
        if (!start_inline) advance();
        start_inline = false;
        const size_t off = cur().offset;
        TK_ASSIGN_OR_RETURN(std::string name, expect_name());
        while (skip_op(".")) {
            TK_ASSIGN_OR_RETURN(std::string part, expect_name());
            name += "." + part;
        }
        ExprPtr f = node(ExprKind::kFilter, off);
        f->name = std::move(name);
        f->args.push_back(std::move(input));
        if (is_op("(")) TK_RETURN_IF_ERROR(parse_call_args(f.get()));
        input = std::move(f);
    }
    return input;
}

Result<ExprPtr> Parser::parse_test(ExprPtr input) {
    const size_t off = cur().offset;
    advance();  // 'is'
    const bool negated = skip_name("not");
    TK_ASSIGN_OR_RETURN(std::string name, expect_name());
    while (skip_op(".")) {
        TK_ASSIGN_OR_RETURN(std::string part, expect_name());
        name += "." + part;
    }
    ExprPtr t = node(ExprKind::kTest, off);
    t->name = std::move(name);
    t->args.push_back(std::move(input));
    if (is_op("(")) {
        TK_RETURN_IF_ERROR(parse_call_args(t.get()));
    } else if ((cur().kind == TokKind::kName || cur().kind == TokKind::kString ||
                cur().kind == TokKind::kInt || cur().kind == TokKind::kFloat || is_op("(") ||
                is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
        // `x is divisibleby 3`: one argument without parentheses.
        if (is_name("is")) return fail("you cannot chain multiple tests with is");
        TK_ASSIGN_OR_RETURN(ExprPtr arg, parse_primary());
        TK_ASSIGN_OR_RETURN(arg, parse_postfix(std::move(arg)));
        t->args.push_back(std::move(arg));
    }
    if (!negated) return t;
    ExprPtr n = node(ExprKind::kNot, off);
    n->args.push_back(std::move(t));
    return n;
}

}  // namespace tk::tokenizer::jinja
