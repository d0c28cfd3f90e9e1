#pragma once
// Chat templates: the Jinja2 subset that models' `chat_template` strings use, rendered exactly as
// Hugging Face transformers' apply_chat_template renders them (an ImmutableSandboxedEnvironment
// with trim_blocks and lstrip_blocks on, the loopcontrols extension, a json.dumps-based tojson,
// and the raise_exception / strftime_now globals). Output is byte-identical to Jinja2 3.1 for
// the templates under shared/models/chat_templates and the tokenizer_config.json files.
//
// A parsed ChatTemplate is immutable; render() may be called from many threads at once.
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "tokenizer/jinja_value.h"

namespace tk::tokenizer {

namespace jinja {
struct TemplateAst;
}

struct ChatTemplateOptions {
    // Jinja2's own defaults are all false; transformers turns the first two on.
    bool trim_blocks = true;
    bool lstrip_blocks = true;
    bool keep_trailing_newline = false;
};

struct RenderOptions {
    // The moment strftime_now() formats (Llama 3.x templates print today's date); local time now
    // when empty. Tests pin it.
    std::optional<std::tm> now;
};

class ChatTemplate {
public:
    // Syntax errors: kInvalidArgument, "chat template syntax error at line L, column C: ...".
    static Result<ChatTemplate> parse(std::string source, const ChatTemplateOptions& opts = {});

    // `context` is an object of template variables; see chat_context() for the usual ones.
    // Errors are kInvalidArgument: a template's raise_exception("msg") comes back with exactly
    // "msg" as the message (the server returns it to the client); other runtime errors (a method
    // called on an undefined value, a type error) read "chat template error at line L, column C:
    // ...".
    Result<std::string> render(const Value& context, const RenderOptions& opts = {}) const;

    const std::string& source() const;

private:
    std::shared_ptr<const jinja::TemplateAst> ast_;
};

// The variables transformers' apply_chat_template passes: messages, tools (none when the request
// has none), documents (none), add_generation_prompt, and the special tokens. Add any extra
// template kwargs (e.g. enable_thinking) with Value::set.
Value chat_context(Value messages, Value tools, bool add_generation_prompt, std::string bos_token,
                   std::string eos_token);

}  // namespace tk::tokenizer
