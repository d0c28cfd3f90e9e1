// Tokenizer: special-token partitioning, encode, token pieces and detokenize (llama.cpp's
// llama_vocab::impl::tokenize / token_to_piece / detokenize).
#include "tokenizer/tokenizer.h"

#include <cstdio>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace tk::tokenizer {
namespace {

// A piece of the input: raw text still to tokenize, or a special token matched in it.
struct Fragment {
    int32_t token;  // kNoToken for raw text
    uint32_t off;
    uint32_t len;
};

bool is_c_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Splits raw fragments at every occurrence of each special token, longest tokens first, as
// tokenizer_st_partition. Control and unknown tokens only count when parse_special; user-defined
// tokens always do. LSTRIP/RSTRIP tokens swallow the whitespace beside them.
std::vector<Fragment> partition(const TokenizerState& s, std::string_view text,
                                bool parse_special) {
    std::vector<Fragment> frags;
    if (text.empty()) return frags;
    frags.push_back({kNoToken, 0, static_cast<uint32_t>(text.size())});
    std::vector<Fragment> next;
    for (int32_t id : s.special_tokens) {
        const uint32_t attr = s.attrs[id];
        if (!parse_special && (attr & (kAttrControl | kAttrUnknown))) continue;
        const std::string_view tt = s.text(id);
        next.clear();
        bool changed = false;
        for (const Fragment& f : frags) {
            if (f.token != kNoToken) {
                next.push_back(f);
                continue;
            }
            uint32_t base = f.off;
            uint32_t len = f.len;
            while (len > 0) {
                const size_t pos = text.substr(base, len).find(tt);
                if (pos == std::string_view::npos) break;
                changed = true;
                const uint32_t match = base + static_cast<uint32_t>(pos);
                uint32_t left_len = match - base;
                if (attr & kAttrLstrip) {
                    while (left_len > 0 && is_c_space(text[base + left_len - 1])) --left_len;
                }
                if (left_len > 0) next.push_back({kNoToken, base, left_len});
                next.push_back({id, 0, 0});
                uint32_t right_off = match + static_cast<uint32_t>(tt.size());
                uint32_t right_len = base + len - right_off;
                if (attr & kAttrRstrip) {
                    while (right_len > 0 && is_c_space(text[right_off])) ++right_off, --right_len;
                }
                base = right_off;
                len = right_len;
            }
            if (len > 0) next.push_back({kNoToken, base, len});
        }
        if (changed) frags.swap(next);
    }
    return frags;
}

void escape_spaces(std::string_view in, std::string& out) {
    for (char c : in) {
        if (c == ' ') {
            out += "\xE2\x96\x81";  // U+2581, SentencePiece's visible space
        } else {
            out.push_back(c);
        }
    }
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Byte of an SPM byte token "<0xNN>", read like llama.cpp's strtol(text.substr(3, 2), 16).
char spm_token_byte(std::string_view text) {
    int v = 0;
    for (size_t i = 3; i < text.size() && i < 5; ++i) {
        const int d = hex_digit(text[i]);
        if (d < 0) break;
        v = v * 16 + d;
    }
    return static_cast<char>(v);
}

// llama_decode_text: GPT-2 byte code points back to bytes.
void decode_bpe_text(std::string_view text, std::string& out) {
    for (size_t pos = 0; pos < text.size();) {
        const Utf8Char u = decode_utf8(text, pos);
        const int b = u.cp == kInvalidCp ? -1 : bpe_cp_to_byte(u.cp);
        if (b >= 0) {
            out.push_back(static_cast<char>(b));
        } else {
            out += "[UNK_BYTE_0x";
            char hex[4];
            for (uint32_t k = 0; k < u.len; ++k) {
                std::snprintf(hex, sizeof(hex), "%02x", static_cast<uint8_t>(text[pos + k]));
                out += hex;
            }
            out.append(text);
            out += "]";
        }
        pos += u.len;
    }
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special,
                                       bool parse_special) const {
    const TokenizerState& s = *s_;
    std::vector<int32_t> out;
    const std::vector<Fragment> frags = partition(s, text, parse_special);
    const bool bos = add_special && s.add_bos && s.bos != kNoToken;
    const bool eos = add_special && s.add_eos && s.eos != kNoToken && s.type != VocabType::kWpm;
    if (bos) out.push_back(s.bos);
    if (s.type == VocabType::kSpm) {
        // A raw fragment gets the dummy-prefix space when it starts the text or follows a
        // special token.
        bool prev_special = true;
        std::string buf;
        for (const Fragment& f : frags) {
            if (f.token != kNoToken) {
                out.push_back(f.token);
                prev_special = true;
                continue;
            }
            buf.clear();
            if (s.add_space_prefix && prev_special) buf = "\xE2\x96\x81";
            escape_spaces(text.substr(f.off, f.len), buf);
            spm_encode(s, buf, out);
            prev_special = false;
        }
    } else if (s.type == VocabType::kWpm) {
        // BERT wraps the text in [CLS] ... [SEP] whatever add_bos/add_eos say.
        if (add_special && !bos && s.bos != kNoToken) out.push_back(s.bos);
        for (const Fragment& f : frags) {
            if (f.token != kNoToken) {
                out.push_back(f.token);
            } else {
                wpm_encode(s, text.substr(f.off, f.len), out);
            }
        }
        if (add_special && s.sep != kNoToken) out.push_back(s.sep);
    } else {
        for (const Fragment& f : frags) {
            if (f.token != kNoToken) {
                out.push_back(f.token);
            } else {
                bpe_encode(s, text.substr(f.off, f.len), out);
            }
        }
    }
    if (eos) out.push_back(s.eos);
    return out;
}

void Tokenizer::append_piece(int32_t id, bool special, int lstrip, std::string& out) const {
    const TokenizerState& s = *s_;
    if (!s.valid(id)) return;
    const uint32_t attr = s.attrs[id];
    if (!special && (attr & (kAttrUnknown | kAttrControl))) return;
    const size_t start = out.size();
    const std::string_view text = s.text(id);
    if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) {
        out.append(text);
    } else if (s.type != VocabType::kBpe) {  // SPM and WordPiece write spaces as U+2581
        if (attr & kAttrNormal) {
            for (size_t i = 0; i < text.size();) {
                if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
                    out.push_back(' ');
                    i += 3;
                } else {
                    out.push_back(text[i++]);
                }
            }
        } else if (attr & kAttrByte) {
            out.push_back(spm_token_byte(text));
        }
    } else if (attr & kAttrNormal) {
        decode_bpe_text(text, out);
    }
    size_t strip = 0;
    while (static_cast<int>(strip) < lstrip && start + strip < out.size() &&
           out[start + strip] == ' ') {
        ++strip;
    }
    if (strip > 0) out.erase(start, strip);
}

std::string Tokenizer::token_to_piece(int32_t id, bool special) const {
    std::string out;
    append_piece(id, special, 0, out);
    return out;
}

std::string Tokenizer::detokenize(const std::vector<int32_t>& ids, bool remove_special,
                                  bool unparse_special) const {
    const TokenizerState& s = *s_;
    size_t begin = 0;
    size_t end = ids.size();
    // The leading space of the first piece is the tokenizer's own dummy prefix, unless a BOS
    // is being removed (then llama.cpp keeps it).
    bool remove_space = s.add_space_prefix;
    if (remove_special && s.add_bos && end > begin && ids[begin] == s.bos) {
        remove_space = false;
        ++begin;
    }
    if (remove_special && s.add_eos && end > begin && ids[end - 1] == s.eos) --end;
    std::string out;
    for (size_t i = begin; i < end; ++i) {
        append_piece(ids[i], unparse_special, remove_space ? 1 : 0, out);
        remove_space = false;
    }
    if (s.clean_spaces) clean_up_spaces(out);
    return out;
}

// llama.cpp's clean_up_tokenization_spaces, three in-place passes kept literally (including
// the second pass writing a NUL that later passes read as "not a space").
void Tokenizer::clean_up_spaces(std::string& str) {
    char* text = str.data();
    int64_t total = static_cast<int64_t>(str.size());

    const int64_t total1 = total;  // " ?", " !", " .", " ," lose the space
    total = total ? 1 : 0;
    for (int64_t i = 1; i < total1; ++i) {
        const char x = text[i];
        if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
        text[total++] = x;
    }

    const int64_t total2 = total;  // " ' " becomes "'"
    total = total ? 1 : 0;
    for (int64_t i = 1; i < total2; ++i) {
        const char x = text[i];
        if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
            --total;
            text[++i] = '\0';
        }
        text[total++] = x;
    }

    const int64_t total3 = total;  // " 's", " 'm", " 're", " 've" lose the space
    total = total ? 1 : 0;
    for (int64_t i = 1; i < total3; ++i) {
        const char x = text[i];
        if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
            const char x1 = text[i + 1];
            if (x1 == 's' || x1 == 'm') {
                --total;
            } else if (x1 != 't' && x1 != 'd' && i + 2 < total3) {
                const char x2 = text[i + 2];
                if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
            }
        }
        text[total++] = x;
    }
    str.resize(static_cast<size_t>(total));
}

int32_t Tokenizer::n_vocab() const { return s_->n_tokens(); }
VocabType Tokenizer::type() const { return s_->type; }
const std::string& Tokenizer::pre() const { return s_->pre_name; }
int32_t Tokenizer::bos() const { return s_->bos; }
int32_t Tokenizer::eos() const { return s_->eos; }
int32_t Tokenizer::eot() const { return s_->eot; }
int32_t Tokenizer::eom() const { return s_->eom; }
int32_t Tokenizer::unk() const { return s_->unk; }
int32_t Tokenizer::sep() const { return s_->sep; }
int32_t Tokenizer::pad() const { return s_->pad; }
bool Tokenizer::add_bos() const { return s_->add_bos; }
bool Tokenizer::add_eos() const { return s_->add_eos; }
bool Tokenizer::add_space_prefix() const { return s_->add_space_prefix; }
bool Tokenizer::clean_spaces() const { return s_->clean_spaces; }
bool Tokenizer::is_eog(int32_t id) const { return s_->valid(id) && s_->eog[id]; }
bool Tokenizer::is_control(int32_t id) const {
    return s_->valid(id) && (s_->attrs[id] & kAttrControl);
}
std::string_view Tokenizer::token_text(int32_t id) const {
    return s_->valid(id) ? s_->text(id) : std::string_view();
}
float Tokenizer::token_score(int32_t id) const { return s_->valid(id) ? s_->scores[id] : 0.0f; }
uint32_t Tokenizer::token_attr(int32_t id) const { return s_->valid(id) ? s_->attrs[id] : 0; }
int32_t Tokenizer::token_id(std::string_view text) const { return s_->find(text); }

}  // namespace tk::tokenizer
