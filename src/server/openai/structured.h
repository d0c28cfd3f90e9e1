#pragma once
// Structured output and tools on the OpenAI API: `response_format`, `tools`, `tool_choice`,
// `parallel_tool_calls`, and the tool fields of messages (assistant `tool_calls`, tool
// `tool_call_id`/`name`). Parsed and checked at the request boundary (schema features that cannot
// be enforced are refused there), turned into a grammar per request, and rendered for the model's
// chat template.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "sampling/grammar.h"
#include "server/openai/tool_calls.h"

namespace tk::tokenizer {
class Tokenizer;
}

namespace tk::server::openai {

struct ChatMessage;

struct StructuredRequest {
    enum class Format { kText, kJsonObject, kJsonSchema };
    enum class ToolChoice { kAuto, kNone, kRequired, kNamed };

    Format format = Format::kText;
    std::string schema_gbnf;  // kJsonSchema: the schema's grammar (checked at parse time)
    std::vector<ToolSpec> tools;
    std::string tools_json;  // "tools" for the chat template (function objects), "" if none
    ToolChoice tool_choice = ToolChoice::kAuto;
    std::string tool_choice_name;  // kNamed
    bool parallel_tool_calls = true;
    // Per message (same order as ApiRequest::messages): a JSON object with its tool fields
    // (tool_calls with arguments as objects where they parse, tool_call_id, name), or "".
    std::vector<std::string> message_extras;

    // The output is parsed for tool calls.
    bool tools_active() const { return !tools.empty() && tool_choice != ToolChoice::kNone; }
};

struct StructuredError {
    std::string param;
    std::string message;
};

// Reads the fields above from a chat/completions request body (already known to be a JSON
// object). `chat` false: tools are refused (completions has none).
std::optional<StructuredError> parse_structured(std::string_view body, bool chat,
                                                StructuredRequest& out);

// The grammar for a request in the model's tool format; "" when output is unconstrained.
Result<std::string> request_gbnf(const StructuredRequest& s, ToolFormat format);

// The grammar vocabulary of a tokenizer, built once per tokenizer and shared. Control tokens are
// left out except tool-call markers ([TOOL_CALLS], <|python_tag|>, ...), which grammars may
// force; every end-of-generation token is an end id.
std::shared_ptr<const sampling::GrammarVocab> grammar_vocab(const tokenizer::Tokenizer& tok);

// The "messages" array for a chat template: role and content plus the tool fields.
std::string template_messages_json(const std::vector<ChatMessage>& msgs,
                                   const StructuredRequest& s);

// For models without a chat template (ChatML fallback): a system block that lists the tools and
// asks for Hermes-style calls; "" without tools.
std::string fallback_tools_prompt(const StructuredRequest& s);

// OpenAI JSON for tool calls: the "tool_calls" array of a message, or of a streamed delta.
std::string tool_calls_json(const std::vector<ToolCall>& calls);
std::string tool_call_deltas_json(const std::vector<ToolCallDelta>& deltas);

}  // namespace tk::server::openai
