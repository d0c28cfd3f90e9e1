// WordPiece (BERT) tokenization of llama.cpp's llm_tokenizer_wpm: split into words at whitespace
// and around punctuation, ASCII symbols and CJK ideographs (after lowercasing and reducing each
// character to the first code point of its NFD form), then cover each "▁"-prefixed word with the
// longest vocabulary tokens from the left; a word that cannot be covered becomes [UNK].
#include <algorithm>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace tk::tokenizer {
namespace {

bool is_chinese_char(uint32_t cp) {
    return (cp >= 0x04E00 && cp <= 0x09FFF) || (cp >= 0x03400 && cp <= 0x04DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) ||
           (cp >= 0x2B920 && cp <= 0x2CEAF) ||  // llama.cpp (like HF) starts at 0x2B920
           (cp >= 0x0F900 && cp <= 0x0FAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

std::vector<std::string> split_words(std::string_view text) {
    std::vector<std::string> words(1);
    for (size_t pos = 0; pos < text.size();) {
        const Utf8Char u = decode_utf8(text, pos);
        pos += u.len;
        // llama.cpp throws on invalid UTF-8; an invalid byte is dropped like U+FFFD here.
        if (u.cp == kInvalidCp) continue;
        const uint32_t cp = cpt_nfd_first(u.cp);
        const uint8_t flags = cpt_flags(cp);
        if (flags & kCatWhitespace) {
            if (!words.back().empty()) words.emplace_back();
            continue;
        }
        if (cp == 0 || cp == 0xFFFD || (flags & kCatControl)) continue;
        std::string s;
        append_utf8(s, cpt_tolower(cp));
        if ((flags & kCatPunct) || (cp < 0x7F && (flags & kCatSymbol)) || is_chinese_char(cp)) {
            if (!words.back().empty()) words.emplace_back();
            words.back() = std::move(s);  // a word of its own
            words.emplace_back();
        } else {
            words.back() += s;
        }
    }
    if (words.back().empty()) words.pop_back();
    return words;
}

}  // namespace

void wpm_encode(const TokenizerState& s, std::string_view text, std::vector<int32_t>& out) {
    for (const std::string& word : split_words(text)) {
        if (word.empty()) continue;
        const std::string w = "\xE2\x96\x81" + word;  // phantom space marks a word start
        const size_t n = w.size();
        const size_t before = out.size();
        for (size_t i = 0; i < n; ++i) {
            bool matched = false;
            for (size_t j = std::min(n, i + s.max_token_len + 1); j > i; --j) {
                const int32_t id = s.find(std::string_view(w).substr(i, j - i));
                if (id != kNoToken) {
                    out.push_back(id);
                    matched = true;
                    i = j - 1;
                    break;
                }
            }
            if (!matched) {  // the whole word becomes [UNK]
                out.resize(before);
                break;
            }
        }
        if (out.size() == before && s.unk != kNoToken) out.push_back(s.unk);
    }
}

}  // namespace tk::tokenizer
