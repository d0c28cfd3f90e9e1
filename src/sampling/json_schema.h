#pragma once
// JSON Schema -> GBNF for constrained decoding. Supported: type (string, number, integer,
// boolean, null, object, array, or a list of them), enum, const, properties, required,
// additionalProperties (false, true or a schema), items, minItems, maxItems, minLength,
// maxLength, anyOf, oneOf (as anyOf: alternatives should be disjoint), $ref to "#/..." (e.g.
// $defs), and annotations (title, description, default, examples, ...). Every other keyword
// (pattern, format, minimum, maximum, allOf, ...) is refused with kUnsupported naming it and its
// place in the schema, never silently ignored.
//
// The grammar only generates what the schema allows: optional properties keep their declared
// order, extra properties are never generated (they are allowed, not required), whitespace is
// bounded so generation cannot wander forever.
#include <string>
#include <string_view>

#include "base/status.h"

namespace tk::sampling {

// Grammar text whose rule `root_rule` matches exactly the JSON values valid for `schema_json`
// (a JSON Schema document). Helper rules are named "j-..." so callers may add rules of their own
// (e.g. a tool-call wrapper) around `root_rule`. kInvalidArgument for malformed schemas.
Result<std::string> json_schema_to_gbnf(std::string_view schema_json,
                                        std::string_view root_rule = "root");

// Grammar for response_format {"type": "json_object"}: any JSON object.
std::string json_object_gbnf(std::string_view root_rule = "root");

}  // namespace tk::sampling
