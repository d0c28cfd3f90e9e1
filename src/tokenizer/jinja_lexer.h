#pragma once
// Lexer for the Jinja2 template language, reproducing jinja2.lexer's whitespace rules exactly:
// `-` strips all whitespace on that side of a tag, trim_blocks drops the first newline after a
// block or comment tag, lstrip_blocks drops spaces/tabs between a line start and a block or
// comment tag, and one trailing newline of the template is removed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tk::tokenizer::jinja {

enum class TokKind : uint8_t {
    kData,        // literal template text (already whitespace-controlled)
    kVarBegin,    // {{
    kVarEnd,      // }}
    kBlockBegin,  // {%
    kBlockEnd,    // %}
    kName,
    kString,  // text holds the decoded value
    kInt,
    kFloat,
    kOp,  // text holds the operator: + - * / // % ** ~ == != < <= > >= = . : | , ( ) [ ] { }
    kEof,
};

struct Token {
    TokKind kind;
    std::string text;
    int64_t int_value = 0;
    double float_value = 0.0;
    size_t offset = 0;  // into the normalized source
};

struct LexOptions {
    bool trim_blocks = true;
    bool lstrip_blocks = true;
    bool keep_trailing_newline = false;
};

// Jinja normalizes \r\n and \r to \n and (unless keep_trailing_newline) drops one final newline
// before lexing; offsets in tokens refer to this normalized text.
std::string normalize_source(std::string_view src, bool keep_trailing_newline);

// Tokenizes normalized source. Errors carry "line L, column C".
Result<std::vector<Token>> lex(std::string_view src, const LexOptions& opts);

// 1-based line and column (in code points) of a byte offset.
std::string describe_location(std::string_view src, size_t offset);

}  // namespace tk::tokenizer::jinja
