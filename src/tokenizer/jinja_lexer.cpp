// Jinja2 lexer. Mirrors the regular-expression state machine of jinja2/lexer.py (root, comment,
// block, variable and raw states) so that whitespace control is byte-identical.
#include "tokenizer/jinja_lexer.h"

#include <cerrno>
#include <cstdlib>

#include "tokenizer/jinja_pyutil.h"

namespace tk::tokenizer::jinja {

std::string normalize_source(std::string_view src, bool keep_trailing_newline) {
    std::string out;
    out.reserve(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
        if (src[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
        } else {
            out.push_back(src[i]);
        }
    }
    if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

std::string describe_location(std::string_view src, size_t offset) {
    if (offset > src.size()) offset = src.size();
    size_t line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < offset; ++i) {
        if (src[i] == '\n') {
            ++line;
            line_start = i + 1;
        }
    }
    const size_t col = utf8_length(src.substr(line_start, offset - line_start)) + 1;
    return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

class Lexer {
public:
    Lexer(std::string_view src, const LexOptions& opts) : src_(src), opts_(opts) {}

    Result<std::vector<Token>> run() {
        while (pos_ < src_.size()) {
            const size_t tag = find_tag(pos_);
            if (tag == std::string_view::npos) {
                emit_data(src_.substr(pos_), pos_);
                break;
            }
            const char kind = src_[tag + 1];
            size_t after = tag + 2;
            char sign = 0;
            if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) {
                sign = src_[after++];
            }
            size_t raw_body = 0;
            const bool raw = kind == '%' && match_raw_begin(after, &raw_body);
            emit_data(strip_before(src_.substr(pos_, tag - pos_), sign, kind != '{'), pos_);
            if (raw) {
                line_starting_ = src_[raw_body - 1] == '\n';
                TK_RETURN_IF_ERROR(lex_raw(tag, raw_body));
            } else if (kind == '#') {
                TK_RETURN_IF_ERROR(lex_comment(tag, after));
            } else {
                TK_RETURN_IF_ERROR(lex_tag(kind, tag, after));
            }
        }
        tokens_.push_back(Token{TokKind::kEof, "", 0, 0.0, src_.size()});
        return std::move(tokens_);
    }

private:
    Status error(size_t offset, const std::string& msg) const {
        return Status(
            ErrorCode::kInvalidArgument,
            "chat template syntax error at " + describe_location(src_, offset) + ": " + msg);
    }

    size_t find_tag(size_t from) const {
        for (size_t i = from; i + 1 < src_.size(); ++i) {
            if (src_[i] == '{' &&
                (src_[i + 1] == '%' || src_[i + 1] == '{' || src_[i + 1] == '#')) {
                return i;
            }
        }
        return std::string_view::npos;
    }

    static size_t char_len(std::string_view s, size_t i) {
        const auto c = static_cast<uint8_t>(s[i]);
        const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return i + len <= s.size() ? len : 1;
    }

    // Bytes of the whitespace code point at s[i], or 0 if it is not Python whitespace.
    static size_t ws_in(std::string_view s, size_t i) {
        if (static_cast<uint8_t>(s[i]) < 0x80)
            return py_isspace(static_cast<uint8_t>(s[i])) ? 1 : 0;
        const size_t len = char_len(s, i);
        const std::u32string cp = utf8_decode(s.substr(i, len));
        return (cp.size() == 1 && py_isspace(cp[0])) ? len : 0;
    }

    // Length in bytes of the Python-whitespace run starting at `pos`.
    size_t ws_run(size_t pos) const {
        size_t i = pos;
        while (i < src_.size()) {
            const size_t ws = ws_in(src_, i);
            if (ws == 0) break;
            i += ws;
        }
        return i - pos;
    }

    // Whitespace control for the text before a tag (jinja2 OptionalLStrip).
    std::string_view strip_before(std::string_view text, char sign, bool lstrip_ok) const {
        if (sign == '-') {
            // Python's str.rstrip(): drop trailing whitespace code points.
            size_t keep = 0;
            size_t i = 0;
            while (i < text.size()) {
                const size_t ws = ws_in(text, i);
                if (ws > 0) {
                    i += ws;
                } else {
                    i += char_len(text, i);
                    keep = i;
                }
            }
            return text.substr(0, keep);
        }
        if (sign != '+' && opts_.lstrip_blocks && lstrip_ok) {
            const size_t nl = text.rfind('\n');
            const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
            // jinja2 3.1: whitespace_re (\s+) must match all of the line's tail before the tag.
            if ((l_pos > 0 || line_starting_) && l_pos < text.size()) {
                size_t i = l_pos;
                while (i < text.size()) {
                    const size_t ws = ws_in(text, i);
                    if (ws == 0) break;
                    i += ws;
                }
                if (i == text.size()) return text.substr(0, l_pos);
            }
        }
        return text;
    }

    void emit_data(std::string_view text, size_t offset) {
        if (!text.empty())
            tokens_.push_back(Token{TokKind::kData, std::string(text), 0, 0, offset});
    }

    // `{%-? raw -?%}`; on success *body is the offset just past it.
    bool match_raw_begin(size_t pos, size_t* body) const {
        pos += ws_run(pos);
        if (src_.substr(pos, 3) != "raw") return false;
        pos += 3;
        if (pos < src_.size() && is_name_char(src_[pos])) return false;
        pos += ws_run(pos);
        if (src_.substr(pos, 3) == "-%}") {
            pos += 3;
            pos += ws_run(pos);
        } else if (src_.substr(pos, 2) == "%}") {
            pos += 2;
        } else {
            return false;
        }
        *body = pos;
        return true;
    }

    Status lex_raw(size_t tag, size_t body) {
        for (size_t i = body; i + 1 < src_.size(); ++i) {
            if (src_[i] != '{' || src_[i + 1] != '%') continue;
            size_t p = i + 2;
            char sign = 0;
            if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) sign = src_[p++];
            p += ws_run(p);
            if (src_.substr(p, 6) != "endraw") continue;
            p += 6;
            p += ws_run(p);
            size_t end;
            if (!end_of_block(p, &end)) continue;
            emit_data(strip_before(src_.substr(body, i - body), sign, true), body);
            pos_ = end;
            line_starting_ = src_[end - 1] == '\n';
            return Status::ok();
        }
        return error(tag, "missing end of raw directive");
    }

    // Matches `+%}`, `-%}\s*` or `%}\n?` at pos.
    bool end_of_block(size_t pos, size_t* end) const {
        if (src_.substr(pos, 3) == "+%}") {
            *end = pos + 3;
        } else if (src_.substr(pos, 3) == "-%}") {
            *end = pos + 3 + ws_run(pos + 3);
        } else if (src_.substr(pos, 2) == "%}") {
            *end = pos + 2;
            if (opts_.trim_blocks && *end < src_.size() && src_[*end] == '\n') ++*end;
        } else {
            return false;
        }
        return true;
    }

    Status lex_comment(size_t tag, size_t from) {
        for (size_t i = from; i + 1 < src_.size(); ++i) {
            size_t end = 0;
            if ((src_[i] == '+' || src_[i] == '-') && src_.substr(i + 1, 2) == "#}") {
                end = i + 3;
                if (src_[i] == '-') end += ws_run(end);
            } else if (src_.substr(i, 2) == "#}") {
                end = i + 2;
                if (opts_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
            } else {
                continue;
            }
            pos_ = end;
            line_starting_ = src_[end - 1] == '\n';
            return Status::ok();
        }
        return error(tag, "missing end of comment tag");
    }

    Status lex_tag(char kind, size_t tag, size_t pos) {
        const bool block = kind == '%';
        tokens_.push_back(
            Token{block ? TokKind::kBlockBegin : TokKind::kVarBegin, "", 0, 0.0, tag});
        std::string balance;  // expected closing brackets
        while (true) {
            if (pos >= src_.size()) {
                return error(tag, block ? "unexpected end of template, expected end of block"
                                        : "unexpected end of template, expected '}}'");
            }
            if (balance.empty()) {
                size_t end = 0;
                bool done = false;
                if (block) {
                    done = end_of_block(pos, &end);
                } else if (src_.substr(pos, 3) == "-}}") {
                    end = pos + 3 + ws_run(pos + 3);
                    done = true;
                } else if (src_.substr(pos, 2) == "}}") {
                    end = pos + 2;
                    done = true;
                }
                if (done) {
                    tokens_.push_back(
                        Token{block ? TokKind::kBlockEnd : TokKind::kVarEnd, "", 0, 0.0, pos});
                    pos_ = end;
                    line_starting_ = src_[end - 1] == '\n';
                    return Status::ok();
                }
            }
            const size_t ws = ws_run(pos);
            if (ws > 0) {
                pos += ws;
                continue;
            }
            const char c = src_[pos];
            if (is_digit(c)) {
                TK_RETURN_IF_ERROR(lex_number(&pos));
            } else if (is_name_start(c)) {
                size_t e = pos;
                while (e < src_.size() && is_name_char(src_[e])) ++e;
                tokens_.push_back(
                    Token{TokKind::kName, std::string(src_.substr(pos, e - pos)), 0, 0.0, pos});
                pos = e;
            } else if (c == '\'' || c == '"') {
                TK_RETURN_IF_ERROR(lex_string(&pos));
            } else {
                TK_RETURN_IF_ERROR(lex_operator(&pos, &balance));
            }
        }
    }

    // Digits with optional '_' separators between them.
    size_t digit_run(size_t pos) const {
        size_t e = pos;
        if (e >= src_.size() || !is_digit(src_[e])) return 0;
        while (e < src_.size()) {
            if (is_digit(src_[e])) {
                ++e;
            } else if (src_[e] == '_' && e + 1 < src_.size() && is_digit(src_[e + 1])) {
                ++e;
            } else {
                break;
            }
        }
        return e - pos;
    }

    // jinja2's float_re, then integer_re (0b / 0o / 0x prefixes, no leading zeros).
    Status lex_number(size_t* pos) {
        const size_t start = *pos;
        size_t e = start + digit_run(start);
        bool is_float = false;
        size_t f = e;
        if (f < src_.size() && src_[f] == '.' && digit_run(f + 1) > 0) f += 1 + digit_run(f + 1);
        if (f < src_.size() && (src_[f] == 'e' || src_[f] == 'E')) {
            size_t p = f + 1;
            if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
            if (digit_run(p) > 0) {
                f = p + digit_run(p);
                is_float = true;
            }
        }
        if (f > e && src_[e] == '.') is_float = true;
        int base = 10;
        if (is_float) {
            e = f;
        } else if (src_[start] == '0') {
            const char x = start + 1 < src_.size() ? src_[start + 1] : '\0';
            base = (x == 'b' || x == 'B')   ? 2
                   : (x == 'o' || x == 'O') ? 8
                   : (x == 'x' || x == 'X') ? 16
                                            : 10;
            if (base != 10) {
                e = start + 2;
                while (e < src_.size() &&
                       (src_[e] == '_' || (hex_value(src_[e]) >= 0 && hex_value(src_[e]) < base))) {
                    ++e;
                }
                if (e == start + 2) return error(start, "invalid integer literal");
            } else {
                e = start + 1;  // 0(_?0)*
                while (e < src_.size()) {
                    if (src_[e] == '0') {
                        ++e;
                    } else if (src_[e] == '_' && e + 1 < src_.size() && src_[e + 1] == '0') {
                        e += 2;
                    } else {
                        break;
                    }
                }
            }
        }
        std::string text;
        for (char ch : src_.substr(start, e - start)) {
            if (ch != '_') text.push_back(ch);
        }
        Token t{is_float ? TokKind::kFloat : TokKind::kInt, text, 0, 0.0, start};
        if (is_float) {
            t.float_value = std::strtod(text.c_str(), nullptr);
        } else {
            errno = 0;
            t.int_value = std::strtoll(base == 10 ? text.c_str() : text.c_str() + 2, nullptr, base);
            if (errno == ERANGE) return error(start, "integer literal too large");
        }
        tokens_.push_back(std::move(t));
        *pos = e;
        return Status::ok();
    }

    static int hex_value(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    // Python string literal with unicode-escape decoding (what jinja2 applies).
    Status lex_string(size_t* pos) {
        const size_t start = *pos;
        const char quote = src_[start];
        std::string value;
        size_t i = start + 1;
        while (true) {
            if (i >= src_.size()) return error(start, "unterminated string literal");
            const char c = src_[i];
            if (c == quote) break;
            if (c != '\\') {
                value.push_back(c);
                ++i;
                continue;
            }
            if (i + 1 >= src_.size()) return error(start, "unterminated string literal");
            const char n = src_[i + 1];
            i += 2;
            switch (n) {
                case '\n':
                    break;
                case '\\':
                case '\'':
                case '"':
                    value.push_back(n);
                    break;
                case 'a':
                    value.push_back('\a');
                    break;
                case 'b':
                    value.push_back('\b');
                    break;
                case 'f':
                    value.push_back('\f');
                    break;
                case 'n':
                    value.push_back('\n');
                    break;
                case 'r':
                    value.push_back('\r');
                    break;
                case 't':
                    value.push_back('\t');
                    break;
                case 'v':
                    value.push_back('\v');
                    break;
                case 'x':
                case 'u':
                case 'U': {
                    const size_t digits = n == 'x' ? 2 : n == 'u' ? 4 : 8;
                    uint32_t cp = 0;
                    for (size_t k = 0; k < digits; ++k) {
                        const int h = i + k < src_.size() ? hex_value(src_[i + k]) : -1;
                        if (h < 0) return error(start, std::string("truncated \\") + n + " escape");
                        cp = cp * 16 + static_cast<uint32_t>(h);
                    }
                    if (cp > 0x10FFFF) return error(start, "illegal Unicode character");
                    i += digits;
                    utf8_append(value, cp);
                    break;
                }
                default:
                    if (n >= '0' && n <= '7') {
                        uint32_t cp = static_cast<uint32_t>(n - '0');
                        for (int k = 0;
                             k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) {
                            cp = cp * 8 + static_cast<uint32_t>(src_[i++] - '0');
                        }
                        utf8_append(value, cp);
                    } else if (n == 'N') {
                        return error(start, "\\N{...} escapes are not supported");
                    } else {
                        // Unknown escapes stay as written.
                        value.push_back('\\');
                        --i;
                    }
            }
        }
        tokens_.push_back(Token{TokKind::kString, std::move(value), 0, 0.0, start});
        *pos = i + 1;
        return Status::ok();
    }

    Status lex_operator(size_t* pos, std::string* balance) {
        static const char* const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
        static const std::string_view kOne = "+-/*%~[](){}><=.:|,;";
        const size_t p = *pos;
        for (const char* op : kTwo) {
            if (src_.substr(p, 2) == op) {
                tokens_.push_back(Token{TokKind::kOp, op, 0, 0.0, p});
                *pos = p + 2;
                return Status::ok();
            }
        }
        const char c = src_[p];
        if (kOne.find(c) == std::string_view::npos) {
            return error(p, std::string("unexpected char '") + c + "'");
        }
        if (c == '(' || c == '[' || c == '{') {
            balance->push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
        } else if (c == ')' || c == ']' || c == '}') {
            if (balance->empty()) return error(p, std::string("unexpected '") + c + "'");
            if (balance->back() != c) {
                return error(
                    p, std::string("unexpected '") + c + "', expected '" + balance->back() + "'");
            }
            balance->pop_back();
        }
        tokens_.push_back(Token{TokKind::kOp, std::string(1, c), 0, 0.0, p});
        *pos = p + 1;
        return Status::ok();
    }

    std::string_view src_;
    LexOptions opts_;
    std::vector<Token> tokens_;
    size_t pos_ = 0;
    bool line_starting_ = true;
};

}  // namespace

Result<std::vector<Token>> lex(std::string_view src, const LexOptions& opts) {
    return Lexer(src, opts).run();
}

}  // namespace tk::tokenizer::jinja
