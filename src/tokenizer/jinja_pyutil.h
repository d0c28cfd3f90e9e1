#pragma once
// Python semantics the chat-template engine needs to match Jinja2's output exactly: str() and
// repr() of values, float repr, json.dumps, ==, <, truthiness, and the str methods that work on
// code points (Python strings) rather than bytes (our UTF-8 strings).
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "tokenizer/jinja_value.h"

namespace tk::tokenizer::jinja {

// ---- UTF-8 <-> code points. Invalid bytes decode as U+FFFD.
std::u32string utf8_decode(std::string_view s);
void utf8_append(std::string& out, char32_t cp);
std::string utf8_encode(std::u32string_view s);
size_t utf8_length(std::string_view s);

bool py_isspace(char32_t cp);      // str.isspace
bool py_isprintable(char32_t cp);  // str.isprintable (decides repr escapes)
// Case mappings of Python 3.11 / Unicode 14 (jinja_unicase.cpp). py_lower / py_upper are the
// single-code-point mappings; append_* write the full mapping ("\u00df" upper is "SS").
char32_t py_lower(char32_t cp);
char32_t py_upper(char32_t cp);
void append_lower(std::string& out, char32_t cp);
void append_upper(std::string& out, char32_t cp);
void append_title(std::string& out, char32_t cp);
bool py_iscased(char32_t cp);
bool py_char_islower(char32_t cp);  // the Unicode Lowercase property
bool py_char_isupper(char32_t cp);  // the Unicode Uppercase property
// str.lower() (with the Greek final-sigma rule) and str.upper().
std::string str_lower(std::string_view s);
std::string str_upper(std::string_view s);
// Lowercase of s[i] in the context of s (final sigma).
void append_lower_at(std::string& out, const std::u32string& s, size_t i);

// ---- Text forms.
std::string format_float(double d);  // repr(float): 1.0, 1e-05, 1e+16, inf, nan
std::string repr_string(std::string_view s);
std::string py_str(const Value& v);  // str(v); undefined prints as ""
std::string py_repr(const Value& v);
std::string type_name(const Value& v);  // "str", "dict", "NoneType", ...

// markupsafe.escape: & < > " ' as entities.
std::string html_escape(std::string_view s);
// Text of v as Markup would hold it: markup stays, anything else is str()-ed and escaped.
std::string escape_for_markup(const Value& v);

// ---- Semantics.
bool truthy(const Value& v);
bool py_equal(const Value& a, const Value& b);
// a < b as Python evaluates it; TypeError text for unorderable pairs.
Result<bool> py_less(const Value& a, const Value& b);

struct JsonOptions {
    bool has_indent = false;
    std::string indent;           // per level, when has_indent
    std::string item_sep = ", ";  // Python switches to "," when an indent is given
    std::string key_sep = ": ";
    bool sort_keys = false;
    bool ensure_ascii = false;
};
// json.dumps(v, ...); appends to *out.
Status json_dump(const Value& v, const JsonOptions& opts, std::string* out);

// ---- str methods on code points.
// chars == nullptr strips whitespace (str.strip()).
std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right);
// str.split / str.rsplit (sep == nullptr: runs of whitespace); maxsplit < 0 means all.
std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit,
                                  bool from_right);
std::vector<std::string> py_splitlines(std::string_view s, bool keepends);
std::string py_replace(std::string_view s, std::string_view old, std::string_view repl,
                       int64_t count);
// Code-point index of the first occurrence at or after `start`, or -1.
int64_t py_find(std::string_view s, std::string_view sub);
std::string py_title(std::string_view s);       // str.title()
std::string py_capitalize(std::string_view s);  // str.capitalize()
std::string py_swapcase(std::string_view s);    // str.swapcase()

}  // namespace tk::tokenizer::jinja
