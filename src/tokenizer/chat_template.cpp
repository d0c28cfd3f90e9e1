// ChatTemplate: parse once, render per request.
#include "tokenizer/chat_template.h"

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_parser.h"

namespace tk::tokenizer {

Result<ChatTemplate> ChatTemplate::parse(std::string source, const ChatTemplateOptions& opts) {
    jinja::LexOptions lex;
    lex.trim_blocks = opts.trim_blocks;
    lex.lstrip_blocks = opts.lstrip_blocks;
    lex.keep_trailing_newline = opts.keep_trailing_newline;
    TK_ASSIGN_OR_RETURN(jinja::TemplateAst ast, jinja::parse_template(source, lex));
    ChatTemplate t;
    t.ast_ = std::make_shared<const jinja::TemplateAst>(std::move(ast));
    return t;
}

Result<std::string> ChatTemplate::render(const Value& context, const RenderOptions& opts) const {
    if (!context.is_object()) {
        return Status(ErrorCode::kInvalidArgument, "chat template context must be an object");
    }
    jinja::RenderEnv env;
    env.context = &context;
    env.now = opts.now;
    jinja::Interpreter interp(*ast_, env);
    return interp.render();
}

const std::string& ChatTemplate::source() const { return ast_->source; }

Value chat_context(Value messages, Value tools, bool add_generation_prompt, std::string bos_token,
                   std::string eos_token) {
    Value ctx = Value::object();
    ctx.set("messages", std::move(messages));
    ctx.set("tools", tools.is_undefined() ? Value::none() : std::move(tools));
    ctx.set("documents", Value::none());
    ctx.set("add_generation_prompt", Value(add_generation_prompt));
    ctx.set("bos_token", Value(std::move(bos_token)));
    ctx.set("eos_token", Value(std::move(eos_token)));
    return ctx;
}

}  // namespace tk::tokenizer
