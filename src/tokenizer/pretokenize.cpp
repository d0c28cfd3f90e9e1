#include "tokenizer/pretokenize.h"

#include <algorithm>
#include <utility>

#include "tokenizer/unicode.h"

// Each llama.cpp pre-tokenizer is a list of regexes applied in turn: every regex splits each
// current piece into its matches and the unmatched gaps between them. Two regexes (GPT-2's and
// Llama-3's) have hand-written splitters in llama.cpp, which emit every unmatched character as
// its own piece; the others run through std::regex on a "collapsed" text where each non-ASCII
// code point stands for its category, so \p{L}, \p{N}, \p{P} and \s there mean exactly the
// category flags below. The matchers here reproduce those results without a regex engine.

namespace tk::tokenizer {
namespace {

struct Chars {
    std::vector<uint32_t> cp;
    std::vector<uint8_t> flags;
    std::vector<uint32_t> off;  // byte offset of each code point, plus the text size at the end
};

constexpr uint32_t kNone = 0xFFFFFFFFu;  // past the end of the current piece

// View of one piece [b, e) of the text; out-of-piece positions read as "nothing".
struct Piece {
    const Chars& c;
    size_t b, e;
    uint32_t cp(size_t i) const { return i >= b && i < e ? c.cp[i] : kNone; }
    uint8_t flags(size_t i) const { return i >= b && i < e ? c.flags[i] : 0; }
    bool is_letter(size_t i) const { return flags(i) & kCatLetter; }
    bool is_number(size_t i) const { return flags(i) & kCatNumber; }
    bool is_punct(size_t i) const { return flags(i) & kCatPunct; }
    bool is_space(size_t i) const { return flags(i) & kCatWhitespace; }
    bool is_rn(size_t i) const { return cp(i) == '\r' || cp(i) == '\n'; }
    // [^\s\p{L}\p{N}] in the collapsed regex text.
    bool is_other(size_t i) const {
        return i >= b && i < e && !(flags(i) & (kCatWhitespace | kCatLetter | kCatNumber));
    }
};

using Lens = std::vector<size_t>;  // piece lengths in code points

uint32_t ascii_lower(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// Length of an English contraction ('s 't 're 've 'm 'll 'd) at i, 0 if none.
size_t contraction_len(const Piece& p, size_t i, bool any_case) {
    if (p.cp(i) != '\'' || i + 1 >= p.e) return 0;
    auto low = [&](size_t k) { return any_case ? ascii_lower(p.cp(k)) : p.cp(k); };
    const uint32_t c1 = low(i + 1);
    if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
    if (i + 2 >= p.e) return 0;
    const uint32_t c2 = low(i + 2);
    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
    return 0;
}

// llama.cpp's custom splitter for
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void split_gpt2(const Piece& p, Lens& out) {
    size_t prev = p.b;
    auto emit = [&](size_t end) {
        if (end > prev) out.push_back(end - prev);
        prev = end;
    };
    for (size_t pos = p.b; pos < p.e;) {
        const uint32_t c = p.cp(pos);
        if (size_t n = contraction_len(p, pos, false)) {
            emit(pos += n);
            continue;
        }
        // The optional leading space joins the run that follows it.
        const size_t q = c == ' ' ? pos + 1 : pos;
        const uint8_t f2 = p.flags(q);
        if (f2 & kCatLetter) {
            pos = q;
            while (p.is_letter(pos)) ++pos;
            emit(pos);
            continue;
        }
        if (f2 & kCatNumber) {
            pos = q;
            while (p.is_number(pos)) ++pos;
            emit(pos);
            continue;
        }
        if (!(f2 & (kCatWhitespace | kCatLetter | kCatNumber)) && f2 != 0) {
            pos = q;
            while (!(p.flags(pos) & (kCatWhitespace | kCatLetter | kCatNumber)) &&
                   p.flags(pos) != 0) {
                ++pos;
            }
            emit(pos);
            continue;
        }
        size_t n_ws = 0;
        while (p.is_space(pos + n_ws)) ++n_ws;
        if (n_ws > 1 && p.cp(pos + n_ws) != kNone) {  // \s+(?!\S): leave one for the next word
            emit(pos += n_ws - 1);
            continue;
        }
        if (n_ws > 0) {
            emit(pos += n_ws);
            continue;
        }
        emit(++pos);  // no alternative matched: the character stands alone
    }
}

// llama.cpp's custom splitter for Llama-3's
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+
void split_llama3(const Piece& p, Lens& out) {
    size_t prev = p.b;
    auto emit = [&](size_t end) {
        if (end > prev) out.push_back(end - prev);
        prev = end;
    };
    for (size_t pos = p.b; pos < p.e;) {
        const uint32_t c = p.cp(pos);
        const uint8_t f = p.flags(pos);
        if (size_t n = contraction_len(p, pos, true)) {
            emit(pos += n);
            continue;
        }
        if (!(c == '\r' || c == '\n' || (f & kCatNumber))) {
            if ((f & kCatLetter) || p.is_letter(pos + 1)) {
                ++pos;
                while (p.is_letter(pos)) ++pos;
                emit(pos);
                continue;
            }
        }
        if (f & kCatNumber) {
            size_t ini = pos;
            while (p.is_number(pos)) {
                if (++pos - ini >= 3) {
                    emit(pos);
                    ini = pos;
                }
            }
            emit(pos);
            continue;
        }
        const uint8_t f2 = c == ' ' ? p.flags(pos + 1) : f;
        if (!(f2 & (kCatWhitespace | kCatLetter | kCatNumber)) && f != 0) {
            if (c == ' ') ++pos;
            while (!(p.flags(pos) & (kCatWhitespace | kCatLetter | kCatNumber)) &&
                   p.flags(pos) != 0) {
                ++pos;
            }
            while (p.is_rn(pos)) ++pos;
            emit(pos);
            continue;
        }
        size_t n_ws = 0;
        size_t last_rn_end = 0;
        while (p.is_space(pos + n_ws)) {
            if (p.is_rn(pos + n_ws)) last_rn_end = pos + n_ws + 1;
            ++n_ws;
        }
        if (last_rn_end > 0) {  // \s*[\r\n]+
            emit(pos = last_rn_end);
            continue;
        }
        if (n_ws > 1 && p.cp(pos + n_ws) != kNone) {
            emit(pos += n_ws - 1);
            continue;
        }
        if (n_ws > 0) {
            emit(pos += n_ws);
            continue;
        }
        emit(++pos);
    }
}

// std::regex-style split: leftmost matches, each emitted as a piece, and the unmatched text
// between them as one piece. `match(p, i)` returns the length of the match starting at i, or 0.
template <typename Match>
void split_regex(const Piece& p, Lens& out, Match match) {
    size_t gap = p.b;
    for (size_t i = p.b; i < p.e;) {
        const size_t n = match(p, i);
        if (n == 0) {
            ++i;
            continue;
        }
        if (i > gap) out.push_back(i - gap);
        out.push_back(n);
        i += n;
        gap = i;
    }
    if (p.e > gap) out.push_back(p.e - gap);
}

// X+ for a per-character predicate.
template <typename Pred>
size_t run_len(const Piece& p, size_t i, Pred pred) {
    size_t j = i;
    while (j < p.e && pred(p, j)) ++j;
    return j - i;
}

// \s?X+ : an optional whitespace joins a following run of X.
template <typename Pred>
size_t opt_space_run(const Piece& p, size_t i, Pred pred) {
    if (p.is_space(i)) {
        const size_t n = run_len(p, i + 1, pred);
        if (n > 0) return n + 1;
    }
    return run_len(p, i, pred);
}

bool in_ranges(uint32_t cp, const std::pair<uint32_t, uint32_t>* r, size_t n) {
    const auto* end = r + n;
    const auto* it =
        std::upper_bound(r, end, cp, [](uint32_t v, const auto& range) { return v < range.first; });
    return it != r && cp <= (it - 1)->second;
}

// Regexes without \p{..} run in llama.cpp on the code points with non-ASCII whitespace
// replaced by \v, so explicit ranges never match a whitespace character.
bool in_wide_ranges(const Piece& p, size_t i, const std::pair<uint32_t, uint32_t>* r, size_t n) {
    if (i >= p.e || (p.cp(i) >= 0x80 && p.is_space(i))) return false;
    return in_ranges(p.cp(i), r, n);
}

// [一-龥ࠀ-一가-퟿]
constexpr std::pair<uint32_t, uint32_t> kCjkRanges[] = {
    {0x0800, 0x4E00}, {0x4E00, 0x9FA5}, {0xAC00, 0xD7FF}};

// DeepSeek-LLM's letter class (the Unicode cased letters and a few more).
constexpr std::pair<uint32_t, uint32_t> kDeepseekLetters[] = {
    {0x41, 0x5a},       {0x61, 0x7a},       {0xb5, 0xb5},       {0xc0, 0xd6},
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
    {0x10c80, 0x10cb2}, {0x10cc0, 0x10cf2}, {0x118a0, 0x118df}, {0x1e900, 0x1e943},
};

// DeepSeek-LLM's punctuation class [!-/:-~！-／：-～‘-‟　-。].
constexpr std::pair<uint32_t, uint32_t> kDeepseekPunct[] = {{0x21, 0x2f},     {0x3a, 0x7e},
                                                            {0x2018, 0x201f}, {0x3000, 0x3002},
                                                            {0xff01, 0xff0f}, {0xff1a, 0xff5e}};

// [^(\s|.,!?…。，、।۔،)] of the BLOOM-style pre-tokenizers.
bool is_poro_word(const Piece& p, size_t i) {
    if (i >= p.e || p.is_space(i)) return false;
    switch (p.cp(i)) {
        case '(':
        case '|':
        case '.':
        case ',':
        case '!':
        case '?':
        case ')':
        case 0x2026:
        case 0x3002:
        case 0xFF0C:
        case 0x3001:
        case 0x0964:
        case 0x06D4:
        case 0x060C:
            return false;
        default:
            return true;
    }
}

bool is_ascii_digit(const Piece& p, size_t i) { return p.cp(i) >= '0' && p.cp(i) <= '9'; }

// Qwen2's regex, which llama.cpp runs through std::regex:
// (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
//  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t match_qwen2(const Piece& p, size_t i) {
    if (size_t n = contraction_len(p, i, true)) return n;
    if (p.is_letter(i))
        return run_len(p, i, [](const Piece& q, size_t k) { return q.is_letter(k); });
    if (!p.is_rn(i) && !p.is_number(i) && p.is_letter(i + 1)) {
        return 1 + run_len(p, i + 1, [](const Piece& q, size_t k) { return q.is_letter(k); });
    }
    if (p.is_number(i)) return 1;
    {
        const size_t k = p.cp(i) == ' ' && p.is_other(i + 1) ? i + 1 : i;
        if (p.is_other(k)) {
            size_t j = k;
            while (p.is_other(j)) ++j;
            while (p.is_rn(j)) ++j;
            return j - i;
        }
    }
    if (!p.is_space(i)) return 0;
    size_t j = i;
    size_t last_rn_end = 0;
    for (; p.is_space(j); ++j) {
        if (p.is_rn(j)) last_rn_end = j + 1;
    }
    if (last_rn_end > 0) return last_rn_end - i;
    if (j == p.e || j - i == 1) return j - i;  // \s+(?!\S) or \s+
    return j - 1 - i;
}

size_t match_chameleon_sentinel(const Piece& p, size_t i) {  // <sentinel:[0-9]+>
    static constexpr std::string_view kHead = "<sentinel:";
    for (size_t k = 0; k < kHead.size(); ++k) {
        if (p.cp(i + k) != static_cast<uint32_t>(kHead[k])) return 0;
    }
    size_t j = i + kHead.size();
    const size_t digits = run_len(p, j, is_ascii_digit);
    if (digits == 0 || p.cp(j + digits) != '>') return 0;
    return j + digits + 1 - i;
}

size_t match_chameleon_image(const Piece& p, size_t i) {  // (IMGIMG)((A|B|...|I){1,4})Z
    static constexpr std::string_view kHead = "IMGIMG";
    for (size_t k = 0; k < kHead.size(); ++k) {
        if (p.cp(i + k) != static_cast<uint32_t>(kHead[k])) return 0;
    }
    const size_t j = i + kHead.size();
    const size_t n =
        run_len(p, j, [](const Piece& q, size_t k) { return q.cp(k) >= 'A' && q.cp(k) <= 'I'; });
    if (n == 0 || n > 4 || p.cp(j + n) != 'Z') return 0;
    return j + n + 1 - i;
}

size_t match_chameleon_space(const Piece& p, size_t i) {  // ([\t\n]|    |  )
    if (p.cp(i) == '\t' || p.cp(i) == '\n') return 1;
    auto spaces = [&](size_t n) {
        for (size_t k = 0; k < n; ++k) {
            if (p.cp(i + k) != ' ') return false;
        }
        return true;
    };
    if (spaces(4)) return 4;
    if (spaces(2)) return 2;
    return 0;
}

using Splitter = void (*)(const Piece&, Lens&);

// Single-character and run matchers used by several pre-tokenizers.
void split_gpt2_s(const Piece& p, Lens& o) { split_gpt2(p, o); }
void split_llama3_s(const Piece& p, Lens& o) { split_llama3(p, o); }
void split_qwen2(const Piece& p, Lens& o) { split_regex(p, o, match_qwen2); }
void split_digit_each(const Piece& p, Lens& o) {  // \p{N}
    split_regex(p, o, [](const Piece& q, size_t i) -> size_t { return q.is_number(i) ? 1 : 0; });
}
void split_digit_runs(const Piece& p, Lens& o) {  // \p{N}+
    split_regex(p, o, [](const Piece& q, size_t i) {
        return run_len(q, i, [](const Piece& r, size_t k) { return r.is_number(k); });
    });
}
void split_digit3(const Piece& p, Lens& o) {  // [0-9][0-9][0-9]
    split_regex(p, o, [](const Piece& q, size_t i) -> size_t {
        return is_ascii_digit(q, i) && is_ascii_digit(q, i + 1) && is_ascii_digit(q, i + 2) ? 3 : 0;
    });
}
template <bool kBacktick>
void split_punct_runs(const Piece& p, Lens& o) {  // [\p{P}\$\+<=>\^~\|]+ (falcon adds `)
    split_regex(p, o, [](const Piece& q, size_t i) {
        return run_len(q, i, [](const Piece& r, size_t k) {
            switch (r.cp(k)) {
                case '$':
                case '+':
                case '<':
                case '=':
                case '>':
                case '^':
                case '~':
                case '|':
                    return true;
                case '`':
                    return kBacktick;
                default:
                    return r.is_punct(k);
            }
        });
    });
}
void split_rn_each(const Piece& p, Lens& o) {  // [\r\n]
    split_regex(p, o, [](const Piece& q, size_t i) -> size_t { return q.is_rn(i) ? 1 : 0; });
}
void split_space_letters(const Piece& p, Lens& o) {  // \s?\p{L}+
    split_regex(p, o, [](const Piece& q, size_t i) {
        return opt_space_run(q, i, [](const Piece& r, size_t k) { return r.is_letter(k); });
    });
}
void split_space_punct(const Piece& p, Lens& o) {  // \s?\p{P}+
    split_regex(p, o, [](const Piece& q, size_t i) {
        return opt_space_run(q, i, [](const Piece& r, size_t k) { return r.is_punct(k); });
    });
}
void split_cjk_runs(const Piece& p, Lens& o) {  // [一-龥ࠀ-一가-퟿]+
    split_regex(p, o, [](const Piece& q, size_t i) {
        return run_len(q, i, [](const Piece& r, size_t k) {
            return in_wide_ranges(r, k, kCjkRanges, std::size(kCjkRanges));
        });
    });
}
void split_deepseek_letters(const Piece& p, Lens& o) {
    split_regex(p, o, [](const Piece& q, size_t i) {
        return opt_space_run(q, i, [](const Piece& r, size_t k) {
            return in_wide_ranges(r, k, kDeepseekLetters, std::size(kDeepseekLetters));
        });
    });
}
void split_deepseek_punct(const Piece& p, Lens& o) {
    split_regex(p, o, [](const Piece& q, size_t i) {
        return opt_space_run(q, i, [](const Piece& r, size_t k) {
            return in_wide_ranges(r, k, kDeepseekPunct, std::size(kDeepseekPunct));
        });
    });
}
void split_trailing_space(const Piece& p, Lens& o) {  // \s+$
    size_t k = p.e;
    while (k > p.b && p.is_space(k - 1)) --k;
    if (k > p.b) o.push_back(k - p.b);
    if (p.e > k) o.push_back(p.e - k);
}
void split_poro(const Piece& p, Lens& o) {  //  ?[^(\s|.,!?…。，、।۔،)]+
    split_regex(p, o, [](const Piece& q, size_t i) {
        if (q.cp(i) == ' ') {
            const size_t n = run_len(q, i + 1, is_poro_word);
            if (n > 0) return n + 1;
        }
        return run_len(q, i, is_poro_word);
    });
}
void split_chameleon_sentinel(const Piece& p, Lens& o) {
    split_regex(p, o, match_chameleon_sentinel);
}
void split_chameleon_image(const Piece& p, Lens& o) { split_regex(p, o, match_chameleon_image); }
void split_chameleon_space(const Piece& p, Lens& o) { split_regex(p, o, match_chameleon_space); }
void split_chameleon_punct(const Piece& p, Lens& o) {  // [\p{P}!-/:-@\[-`{-~]
    split_regex(p, o, [](const Piece& q, size_t i) -> size_t {
        const uint32_t c = q.cp(i);
        const bool ascii_ps = (c >= '!' && c <= '/') || (c >= ':' && c <= '@') ||
                              (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
        return ascii_ps || q.is_punct(i) ? 1 : 0;
    });
}

struct SplitterList {
    const Splitter* items;
    size_t n;
};

template <size_t N>
SplitterList list(const Splitter (&a)[N]) {
    return {a, N};
}

SplitterList splitters_for(PreType type) {
    static constexpr Splitter kDefault[] = {split_punct_runs<false>, split_gpt2_s, split_digit_runs,
                                            split_digit3};
    static constexpr Splitter kLlama3[] = {split_llama3_s};
    static constexpr Splitter kDeepseekLlm[] = {split_rn_each,        split_deepseek_letters,
                                                split_deepseek_punct, split_trailing_space,
                                                split_cjk_runs,       split_digit_runs};
    static constexpr Splitter kDeepseekCoder[] = {
        split_rn_each, split_space_letters, split_space_punct, split_cjk_runs, split_digit_each};
    static constexpr Splitter kFalcon[] = {split_punct_runs<true>, split_gpt2_s, split_digit3};
    static constexpr Splitter kStarcoder[] = {split_digit_each, split_gpt2_s};
    static constexpr Splitter kGpt2[] = {split_gpt2_s};
    static constexpr Splitter kQwen2[] = {split_qwen2};
    static constexpr Splitter kPoro[] = {split_poro};
    static constexpr Splitter kViking[] = {split_poro, split_digit_each};
    static constexpr Splitter kChameleon[] = {split_chameleon_sentinel, split_chameleon_image,
                                              split_chameleon_space,    split_digit_each,
                                              split_chameleon_punct,    split_gpt2_s};
    switch (type) {
        case PreType::kDefault:
            return list(kDefault);
        case PreType::kLlama3:
            return list(kLlama3);
        case PreType::kDeepseekLlm:
            return list(kDeepseekLlm);
        case PreType::kDeepseekCoder:
            return list(kDeepseekCoder);
        case PreType::kFalcon:
            return list(kFalcon);
        case PreType::kGpt2:
            return list(kGpt2);
        case PreType::kStarcoder:
            return list(kStarcoder);
        case PreType::kQwen2:
            return list(kQwen2);
        case PreType::kPoro:
            return list(kPoro);
        case PreType::kViking:
            return list(kViking);
        case PreType::kChameleon:
            return list(kChameleon);
    }
    return list(kDefault);
}

}  // namespace

void pretokenize(PreType type, std::string_view text, std::vector<uint32_t>& bounds) {
    bounds.clear();
    if (text.empty()) return;
    Chars c;
    c.cp.reserve(text.size());
    c.flags.reserve(text.size());
    c.off.reserve(text.size() + 1);
    for (size_t pos = 0; pos < text.size();) {
        const Utf8Char u = decode_utf8(text, pos);
        c.cp.push_back(u.cp);
        c.flags.push_back(u.cp == kInvalidCp ? 0 : cpt_flags(u.cp));
        c.off.push_back(static_cast<uint32_t>(pos));
        pos += u.len;
    }
    c.off.push_back(static_cast<uint32_t>(text.size()));

    Lens lens{c.cp.size()};
    Lens next;
    const SplitterList list = splitters_for(type);
    for (size_t s = 0; s < list.n; ++s) {
        next.clear();
        next.reserve(lens.size() * 2);
        size_t start = 0;
        for (size_t len : lens) {
            list.items[s](Piece{c, start, start + len}, next);
            start += len;
        }
        lens.swap(next);
    }

    bounds.reserve(lens.size() + 1);
    size_t start = 0;
    bounds.push_back(0);
    for (size_t len : lens) {
        start += len;
        bounds.push_back(c.off[start]);
    }
}

}  // namespace tk::tokenizer
