#pragma once
// Parser for the Jinja2 template language (the subset chat templates use), following the
// grammar and operator precedence of jinja2/parser.py.
#include <string>
#include <string_view>

#include "base/status.h"
#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_lexer.h"

namespace tk::tokenizer::jinja {

// Normalizes, lexes and parses `source`. Syntax errors come back as kInvalidArgument with the
// line and column.
Result<TemplateAst> parse_template(std::string_view source, const LexOptions& opts);

}  // namespace tk::tokenizer::jinja
