#pragma once
// Unicode helpers for the tokenizer: UTF-8 decoding with llama.cpp's leniency, category flags
// (the regex classes \p{L}, \p{N}, \p{P}, ... and \s), and GPT-2's byte <-> character mapping.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tk::tokenizer {

// Category bits; every code point below 0x110000 has exactly one of the first seven.
enum : uint8_t {
    kCatNumber = 0x01,      // \p{N}
    kCatLetter = 0x02,      // \p{L}
    kCatSeparator = 0x04,   // \p{Z}
    kCatMark = 0x08,        // \p{M}
    kCatPunct = 0x10,       // \p{P}
    kCatSymbol = 0x20,      // \p{S}
    kCatControl = 0x40,     // \p{C} (includes unassigned)
    kCatWhitespace = 0x80,  // \s (Unicode White_Space), in addition to the category
};

// Flags of a code point; 0 outside Unicode (and for the invalid-byte marker below).
uint8_t cpt_flags(uint32_t cp);

// Marks a byte that does not start a valid UTF-8 sequence. llama.cpp throws on such input for
// BPE models; we keep the byte as its own "character" with no category instead.
constexpr uint32_t kInvalidCp = 0xFFFFFFFFu;

struct Utf8Char {
    uint32_t cp;   // kInvalidCp if the bytes at `pos` do not decode
    uint32_t len;  // bytes consumed (1 for invalid)
};

// Decodes like llama.cpp's unicode_cpt_from_utf8 (which accepts overlong forms and surrogates),
// but code points above 0x10FFFF and malformed sequences come back as kInvalidCp, length 1.
Utf8Char decode_utf8(std::string_view s, size_t pos);

// Length of a UTF-8 sequence from its first byte, as llama.cpp's unicode_len_utf8 (1 for
// continuation bytes).
inline size_t utf8_seq_len(uint8_t lead) {
    static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLen[lead >> 4];
}

void append_utf8(std::string& out, uint32_t cp);

// GPT-2 byte-level BPE: each byte is written as one printable code point (bytes 0x21-0x7E,
// 0xA1-0xAC, 0xAE-0xFF as themselves, the rest as 0x100 + n).
uint32_t byte_to_bpe_cp(uint8_t b);
int bpe_cp_to_byte(uint32_t cp);  // -1 if `cp` is not one of the 256 byte code points

// First code point of the lowercase form (llama.cpp's unicode_tolower).
uint32_t cpt_tolower(uint32_t cp);

// First code point of the NFD decomposition (llama.cpp's unicode_cpts_normalize_nfd): the base
// letter of an accented letter, the leading jamo of a Hangul syllable.
uint32_t cpt_nfd_first(uint32_t cp);

// Number of bytes of the longest prefix of `s` that is complete, valid UTF-8 (strict: no
// overlong forms, surrogates or values above 0x10FFFF).
size_t valid_utf8_prefix(std::string_view s);

}  // namespace tk::tokenizer
