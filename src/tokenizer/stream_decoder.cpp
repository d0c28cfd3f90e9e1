// StreamDecoder: detokenize one token at a time without ever emitting broken UTF-8 and with the
// same result as a one-shot detokenize.
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace tk::tokenizer {
namespace {

// BPE detokenization ends with llama.cpp's clean-up-spaces passes, which look at most two
// characters ahead of a space or an apostrophe (and can drop up to two spaces next to one).
// Cutting the text before position p and cleaning both parts separately gives the same result
// as cleaning the whole when the byte before p is neither ' ' nor '\'' and the four bytes
// before p hold no apostrophe.
bool clean_cut_ok(std::string_view raw, size_t p) {
    if (p == 0) return false;
    if (raw[p - 1] == ' ') return false;
    for (size_t k = p >= 4 ? p - 4 : 0; k < p; ++k) {
        if (raw[k] == '\'') return false;
    }
    return true;
}

// True when raw[0, p) does not end inside a UTF-8 sequence that later bytes could complete.
bool utf8_boundary(std::string_view raw, size_t p) {
    for (size_t back = 1; back <= 3 && back <= p; ++back) {
        const uint8_t c = static_cast<uint8_t>(raw[p - back]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
        if (c < 0xC0) return true;         // ASCII
        const size_t need = utf8_seq_len(c);
        return back >= need;
    }
    return true;
}

// Bytes of the valid beginning of a UTF-8 sequence at s[i] (at least 1), for U+FFFD
// replacement of a maximal invalid subpart, as Python's "replace" error handler does.
size_t invalid_span(std::string_view s, size_t i) {
    const uint8_t b0 = static_cast<uint8_t>(s[i]);
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 1;
    }
    size_t n = 1;
    while (n < need && i + n < s.size()) {
        const uint8_t c = static_cast<uint8_t>(s[i + n]);
        if (c < (n == 1 ? lo : 0x80) || c > (n == 1 ? hi : 0xBF)) break;
        ++n;
    }
    return n;
}

void append_sanitized(std::string_view s, std::string& out) {
    size_t i = 0;
    while (i < s.size()) {
        const size_t ok = valid_utf8_prefix(s.substr(i));
        out.append(s.substr(i, ok));
        i += ok;
        if (i < s.size()) {
            out += "\xEF\xBF\xBD";  // U+FFFD
            i += invalid_span(s, i);
        }
    }
}

}  // namespace

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool unparse_special)
    : tok_(tok), unparse_special_(unparse_special) {}

std::string StreamDecoder::push(int32_t id) {
    // As in detokenize, only the first piece loses the dummy-prefix space.
    tok_.append_piece(id, unparse_special_, first_ && tok_.add_space_prefix() ? 1 : 0, raw_);
    first_ = false;
    return take(false);
}

std::string StreamDecoder::flush() { return take(true); }

void StreamDecoder::reset() {
    first_ = true;
    raw_.clear();
}

std::string StreamDecoder::take(bool final) {
    size_t p = raw_.size();
    if (!final) {
        const bool clean = tok_.clean_spaces();
        while (p > 0 && !(utf8_boundary(raw_, p) && (!clean || clean_cut_ok(raw_, p)))) --p;
    }
    std::string out;
    if (p == 0) return out;
    std::string part = raw_.substr(0, p);
    raw_.erase(0, p);
    if (tok_.clean_spaces()) Tokenizer::clean_up_spaces(part);
    append_sanitized(part, out);
    return out;
}

}  // namespace tk::tokenizer
