// Differential test of the hand-written pre-tokenizers against the way llama.cpp runs the same
// regexes: std::regex on text where each non-ASCII code point is collapsed to one byte standing
// for its category (regexes using \p{..}), std::wregex on code points otherwise (non-ASCII
// whitespace replaced by \v). std::regex serves only as the oracle here.
#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <string>
#include <vector>

#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode.h"

namespace tk::tokenizer {
namespace {

std::vector<uint32_t> code_points(const std::string& s) {
    std::vector<uint32_t> out;
    for (size_t p = 0; p < s.size();) {
        const Utf8Char u = decode_utf8(s, p);
        out.push_back(u.cp);
        p += u.len;
    }
    return out;
}

// std::regex_iterator over each piece: matches and the gaps between them become pieces.
template <typename Char>
std::vector<size_t> split_with(const std::basic_string<Char>& text,
                               const std::basic_regex<Char>& re, const std::vector<size_t>& lens) {
    using Iter = std::regex_iterator<const Char*>;
    std::vector<size_t> out;
    size_t start = 0;
    for (size_t len : lens) {
        int64_t done = 0;
        for (Iter it(text.data() + start, text.data() + start + len, re), end; it != end; ++it) {
            if (it->position() > done) out.push_back(it->position() - done);
            out.push_back(it->length());
            done = it->position() + it->length();
        }
        if (done < static_cast<int64_t>(len)) out.push_back(len - done);
        start += len;
    }
    return out;
}

// \p{N} / \p{L} / \p{P} -> the collapsed byte plus the ASCII members, as llama.cpp rewrites them.
std::string collapse_regex(const std::string& re) {
    std::string out;
    bool inside = false;
    for (size_t i = 0; i < re.size(); ++i) {
        if (re[i] == '[' && (i == 0 || re[i - 1] != '\\')) {
            out += '[';
            inside = true;
            continue;
        }
        if (inside && re[i] == ']' && re[i - 1] != '\\') {
            out += ']';
            inside = false;
            continue;
        }
        if (re[i] == '\\' && i + 4 < re.size() && re[i + 1] == 'p' && re[i + 2] == '{' &&
            re[i + 4] == '}') {
            std::string cls;
            switch (re[i + 3]) {
                case 'N':
                    cls =
                        "\xD1"
                        "0-9";
                    break;
                case 'L':
                    cls =
                        "\xD2"
                        "A-Za-z";
                    break;
                default:
                    cls = "\xD3!-#%-*,-/:-;?-@\\[-\\]_\\{\\}";
                    break;
            }
            out += inside ? cls : "[" + cls + "]";
            i += 4;
            continue;
        }
        out += re[i];
    }
    return out;
}

// One compiled regex of a pre-tokenizer's list, in the form llama.cpp would run it.
struct Step {
    bool collapsed;
    std::regex narrow;
    std::wregex wide;
};

std::vector<Step> compile(const std::vector<std::string>& regexes) {
    std::vector<Step> steps;
    for (const std::string& re : regexes) {
        Step st{re.find("\\p{") != std::string::npos, {}, {}};
        if (st.collapsed) {
            st.narrow = std::regex(collapse_regex(re));
        } else {
            std::wstring wre;
            for (uint32_t c : code_points(re)) wre.push_back(static_cast<wchar_t>(c));
            st.wide = std::wregex(wre);
        }
        steps.push_back(std::move(st));
    }
    return steps;
}

std::vector<uint32_t> oracle(const std::vector<Step>& steps, const std::string& text) {
    const std::vector<uint32_t> cp = code_points(text);
    std::string collapsed(cp.size(), '\0');
    std::wstring wide;
    for (size_t i = 0; i < cp.size(); ++i) {
        const uint8_t f = cpt_flags(cp[i]);
        const bool ws = cp[i] >= 0x80 && (f & kCatWhitespace);
        wide.push_back(ws ? 0x0B : static_cast<wchar_t>(cp[i]));
        if (cp[i] < 0x80) {
            collapsed[i] = static_cast<char>(cp[i]);
        } else {
            collapsed[i] = ws                 ? '\x0B'
                           : (f & kCatNumber) ? '\xD1'
                           : (f & kCatLetter) ? '\xD2'
                           : (f & kCatPunct)  ? '\xD3'
                                              : '\xD0';
        }
    }
    std::vector<size_t> lens{cp.size()};
    for (const Step& st : steps) {
        lens =
            st.collapsed ? split_with(collapsed, st.narrow, lens) : split_with(wide, st.wide, lens);
    }
    std::vector<uint32_t> offsets;  // byte offset of each code point
    for (size_t p = 0; p < text.size(); p += decode_utf8(text, p).len) {
        offsets.push_back(static_cast<uint32_t>(p));
    }
    offsets.push_back(static_cast<uint32_t>(text.size()));
    std::vector<uint32_t> bounds{0};
    size_t at = 0;
    for (size_t len : lens) bounds.push_back(offsets[at += len]);
    return bounds;
}

std::string ranges_class(const std::vector<std::pair<uint32_t, uint32_t>>& ranges) {
    std::string cls = "[";
    for (const auto& [lo, hi] : ranges) {
        append_utf8(cls, lo);
        if (hi != lo) {
            cls += '-';
            append_utf8(cls, hi);
        }
    }
    return cls + "]";
}

struct Pre {
    PreType type;
    const char* name;
    std::vector<std::string> regexes;  // llama.cpp's list for this pre-tokenizer
};

std::vector<Pre> pre_tokenizers() {
    const std::string gpt2 =
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    const std::string tail = "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    const std::string contractions = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
    const std::string cjk = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
    const std::string poro = " ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+";
    const std::string ds_letters =
        "\\s?" +
        ranges_class(
            {{0x41, 0x5a},       {0x61, 0x7a},       {0xb5, 0xb5},       {0xc0, 0xd6},
             {0xd8, 0xf6},       {0xf8, 0x1ba},      {0x1bc, 0x1bf},     {0x1c4, 0x293},
             {0x295, 0x2af},     {0x370, 0x373},     {0x376, 0x377},     {0x37b, 0x37d},
             {0x37f, 0x37f},     {0x386, 0x386},     {0x388, 0x38a},     {0x38c, 0x38c},
             {0x38e, 0x3a1},     {0x3a3, 0x3f5},     {0x3f7, 0x481},     {0x48a, 0x52f},
             {0x531, 0x556},     {0x10a0, 0x10c5},   {0x13a0, 0x13f5},   {0x13f8, 0x13fd},
             {0x1c90, 0x1cba},   {0x1cbd, 0x1cbf},   {0x1d00, 0x1d2b},   {0x1d6b, 0x1d77},
             {0x1d79, 0x1d9a},   {0x1e00, 0x1f15},   {0x1f18, 0x1f1d},   {0x1f20, 0x1f45},
             {0x1f48, 0x1f4d},   {0x1f50, 0x1f57},   {0x1f59, 0x1f59},   {0x1f5b, 0x1f5b},
             {0x1f5d, 0x1f5d},   {0x1f5f, 0x1f7d},   {0x1f80, 0x1fb4},   {0x1fb6, 0x1fbc},
             {0x1fbe, 0x1fbe},   {0x1fc2, 0x1fc4},   {0x1fc6, 0x1fcc},   {0x1fd0, 0x1fd3},
             {0x1fd6, 0x1fdb},   {0x1fe0, 0x1fec},   {0x1ff2, 0x1ff4},   {0x1ff6, 0x1ffc},
             {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210a, 0x2113},   {0x2115, 0x2115},
             {0x2119, 0x211d},   {0x2124, 0x2124},   {0x2126, 0x2126},   {0x2128, 0x2128},
             {0x212a, 0x212d},   {0x212f, 0x2134},   {0x2139, 0x2139},   {0x213c, 0x213f},
             {0x2145, 0x2149},   {0x214e, 0x214e},   {0x2183, 0x2184},   {0x2c00, 0x2c7b},
             {0x2c7e, 0x2ce4},   {0x2ceb, 0x2cee},   {0x2cf2, 0x2cf3},   {0xa640, 0xa66d},
             {0xa680, 0xa69b},   {0xa722, 0xa76f},   {0xa771, 0xa787},   {0xa78b, 0xa78e},
             {0xab70, 0xabbf},   {0xfb00, 0xfb06},   {0xfb13, 0xfb17},   {0xff21, 0xff3a},
             {0xff41, 0xff5a},   {0x10400, 0x1044f}, {0x104b0, 0x104d3}, {0x104d8, 0x104fb},
             {0x10c80, 0x10cb2}, {0x10cc0, 0x10cf2}, {0x118a0, 0x118df}, {0x1e900, 0x1e943}}) +
        "+";
    const std::string ds_punct =
        "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+";
    return {
        {PreType::kDefault,
         "default",
         {"[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"}},
        {PreType::kFalcon, "falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2, "[0-9][0-9][0-9]"}},
        {PreType::kStarcoder, "starcoder", {"\\p{N}", gpt2}},
        {PreType::kGpt2, "gpt2", {gpt2}},
        {PreType::kQwen2, "qwen2", {contractions + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" + tail}},
        {PreType::kLlama3,
         "llama3",
         {contractions + "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" + tail}},
        {PreType::kDeepseekCoder,
         "deepseek-coder",
         {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", cjk, "\\p{N}"}},
        {PreType::kDeepseekLlm,
         "deepseek-llm",
         {"[\r\n]", ds_letters, ds_punct, "\\s+$", cjk, "\\p{N}+"}},
        {PreType::kPoro, "poro", {poro}},
        {PreType::kViking, "viking", {poro, "\\p{N}"}},
        {PreType::kChameleon,
         "chameleon",
         {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
          "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", gpt2}},
    };
}

std::string printable(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 32 && c < 127) {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\x%02x", c);
            out += buf;
        }
    }
    return out;
}

TEST(PretokenizeOracle, MatchesStdRegexSplits) {
    // Characters that exercise every class boundary: contractions, digits, \r\n, ASCII
    // punctuation vs symbols, non-ASCII letters/digits/punctuation/whitespace, CJK, emoji, marks.
    const std::vector<uint32_t> alphabet = {
        ' ',    ' ',    ' ',    'a',     'b',      'Z',    's',    't',    'r',    'e',    'v',
        'l',    'm',    'd',    'S',     'T',      'R',    'E',    '\'',   '\'',   '0',    '1',
        '9',    '\r',   '\n',   '\t',    '.',      ',',    '!',    '?',    '(',    ')',    '|',
        '$',    '+',    '<',    '>',     '=',      '^',    '~',    '`',    '-',    '_',    '"',
        '#',    0xE9,   0xC0,   0x3A9,   0x436,    0x4E00, 0x4E2D, 0x3042, 0x30A2, 0xAC00, 0x660,
        0x2160, 0xFF11, 0x3000, 0x3001,  0x3002,   0xA0,   0x2003, 0x85,   0x1680, 0x2026, 0xFF0C,
        0x964,  0x6D4,  0x60C,  0x1F600, 0x200D,   0x301,  0x2018, 0x201C, 0xFF01, 0xFF21, 0x1F5F,
        0x1FBE, 0x212A, 0xB5,   0xE000,  0x10FFFD, 0x800,  0xD7FF};
    const std::vector<std::string> chunks = {
        "<sentinel:12>", "IMGIMGABZ", "IMGIMGABCDEZ", "    ", "  ", "'re", "'LL", "333"};
    const std::vector<Pre> pres = pre_tokenizers();
    std::vector<std::vector<Step>> compiled;
    for (const Pre& p : pres) compiled.push_back(compile(p.regexes));
    std::mt19937 rng(12345);
    int failures = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        std::string s;
        const int n = static_cast<int>(rng() % 24);
        for (int k = 0; k < n; ++k) {
            if (rng() % 10 == 0) {
                s += chunks[rng() % chunks.size()];
            } else {
                append_utf8(s, alphabet[rng() % alphabet.size()]);
            }
        }
        for (size_t k = 0; k < pres.size(); ++k) {
            const Pre& p = pres[k];
            std::vector<uint32_t> mine;
            pretokenize(p.type, s, mine);
            std::vector<uint32_t> want =
                s.empty() ? std::vector<uint32_t>{} : oracle(compiled[k], s);
            if (mine != want && ++failures <= 10) {
                ADD_FAILURE() << p.name << " splits '" << printable(s) << "' differently";
            }
        }
    }
    EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace tk::tokenizer
