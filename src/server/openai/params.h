#pragma once
// OpenAI request bodies (chat completions, completions) checked and mapped to plain structs.
// Unknown fields are ignored; a known field of the wrong type or out of range is an ApiError
// naming it (param).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sampling/sampler.h"
#include "server/openai/structured.h"

namespace tk::server::openai {

struct ApiError {
    int status = 400;
    std::string message;
    std::string type = "invalid_request_error";
    std::string param;  // "" when not about one field
    std::string code;   // "" when none
};

struct ChatMessage {
    std::string role;
    std::string content;  // content-part arrays joined (text parts only)
};

// One prompt of a completions request: text, or token ids as given.
struct PromptInput {
    std::string text;
    std::vector<int32_t> ids;
    bool is_ids = false;
};

struct ApiRequest {
    bool chat = false;
    std::string model;
    std::vector<ChatMessage> messages;  // chat
    std::vector<PromptInput> prompts;   // completions: each gets n choices
    int64_t max_tokens = -1;            // -1: not given
    sampling::SamplerParams sampling;
    bool seed_given = false;
    std::vector<std::string> stop;
    int n = 1;
    bool stream = false;
    bool include_usage = false;
    bool logprobs = false;
    int top_logprobs = 0;
    bool ignore_eos = false;  // extension (llama.cpp's server has it): only max_tokens ends
    bool echo = false;        // completions: prepend the prompt text
    std::string user;
    StructuredRequest structured;  // response_format, tools, tool_choice (structured.h)
};

// OpenAI's defaults: temperature 1, top_p 1, no top-k/min-p, no penalties.
sampling::SamplerParams openai_default_sampling();

std::optional<ApiError> parse_request(std::string_view body, bool chat, ApiRequest& out);

// Body of an error reply: {"error": {"message", "type", "param", "code"}}.
std::string error_json(const ApiError& e);

}  // namespace tk::server::openai
