#pragma once
// Internal: helpers shared by the filter and test implementations.
#include <string>

#include "base/status.h"
#include "tokenizer/jinja_eval.h"

namespace tk::tokenizer::jinja {

// Filters on sequences (jinja_filters_seq.cpp); fails for unknown filter names.
Result<Value> seq_filter(Interpreter& in, const std::string& name, Value v, CallArgs& a);

// Jinja's make_attribute_getter: "a.b.0" looked up item-first on `item`; `dflt` (when not
// undefined) replaces an undefined result.
Result<Value> attribute_of(const Value& item, const Value& attribute, const Value& dflt);

}  // namespace tk::tokenizer::jinja
