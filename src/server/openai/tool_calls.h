#pragma once
// Tool calls in generated text, for the three families of chat formats:
//   Hermes (Qwen2.5 and ChatML models): <tool_call>\n{"name": f, "arguments": {...}}\n</tool_call>
//   Mistral/Mixtral: [TOOL_CALLS] [{"name": f, "arguments": {...}}, ...]
//   Llama 3.x: {"name": f, "parameters": {...}} as the whole reply, optionally after
//              <|python_tag|>, several separated by ';'
// The parser is incremental: text goes in as it is generated, and out come the content that is
// safe to show (markup, and anything that may still turn out to be markup, is held back) and
// tool-call deltas in OpenAI's streaming shape (the first delta of a call carries its index, id
// and name; later ones append to its arguments). Concatenating the deltas gives the same calls as
// parsing the whole text at once.
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tk::tokenizer {
class Tokenizer;
}

namespace tk::server::openai {

enum class ToolFormat { kHermes, kMistral, kLlama3 };
const char* tool_format_name(ToolFormat f);

// From the model's special tokens, then its chat template text; Hermes when nothing says.
ToolFormat detect_tool_format(const tokenizer::Tokenizer& tok, std::string_view chat_template);

// A function the request offers ("tools": [{"type": "function", "function": {...}}]).
struct ToolSpec {
    std::string name;
    std::string description;
    std::string parameters;  // JSON Schema text; "" when not given
};

// Grammar (GBNF, start rule "root") that forces one or more well-formed calls in `format`, to
// the function `only` or, when empty, to any of `tools`; arguments follow each function's
// parameter schema. kUnsupported names a schema feature the grammar cannot enforce.
Result<std::string> tool_call_gbnf(ToolFormat format, const std::vector<ToolSpec>& tools,
                                   const std::string& only, bool parallel);

struct ToolCall {
    std::string id;
    std::string name;
    std::string arguments;  // JSON text as generated
};

struct ToolCallDelta {
    int index = 0;
    std::string id;    // first delta of a call only
    std::string name;  // first delta of a call only
    std::string arguments;
};

class ToolCallParser {
public:
    // Call ids are `id_prefix` + the call's index.
    ToolCallParser(ToolFormat format, std::string id_prefix);

    // Feeds generated text; returns the content to show now, appends tool-call deltas.
    std::string push(std::string_view text, std::vector<ToolCallDelta>* deltas);
    // End of generation: releases held-back content; an unfinished call keeps what it has.
    std::string finish(std::vector<ToolCallDelta>* deltas);

    const std::vector<ToolCall>& calls() const { return calls_; }

private:
    enum class Mode { kContent, kCallStart, kHeader, kArgs, kArgsString, kCallEnd, kAfterCall, kWhole };

    std::string run(std::vector<ToolCallDelta>* deltas, bool final);
    void start_call(std::string name, std::vector<ToolCallDelta>* deltas);
    void add_args(const std::string& text, std::vector<ToolCallDelta>* deltas);

    ToolFormat format_;
    std::string id_prefix_;
    Mode mode_ = Mode::kContent;
    std::string buf_;            // text not yet consumed
    bool at_start_ = true;       // nothing but whitespace so far (Llama 3 bare JSON calls)
    bool in_list_ = false;       // Mistral: inside [ ... ]
    bool bare_ = false;          // the call has no start marker (may turn out to be content)
    std::string lead_;           // whitespace before a bare call
    // JSON scanning state for arguments / whole-call objects.
    int depth_ = 0;
    bool in_str_ = false, esc_ = false, started_ = false, primitive_ = false;
    std::vector<ToolCall> calls_;
};

}  // namespace tk::server::openai
