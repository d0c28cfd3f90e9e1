#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>

namespace tk::tokenizer {

namespace unicode_data {
extern const uint32_t kCategoryRanges[];
extern const size_t kNumCategoryRanges;
extern const uint32_t kWhitespace[];
extern const size_t kNumWhitespace;
extern const int32_t kLowerRuns[][4];
extern const size_t kNumLowerRuns;
extern const uint32_t kNfdRanges[][2];
extern const size_t kNumNfdRanges;
}  // namespace unicode_data

namespace {

uint8_t lookup_flags(uint32_t cp) {
    using unicode_data::kCategoryRanges;
    using unicode_data::kNumCategoryRanges;
    // Last range whose start is <= cp.
    const uint32_t key = (cp << 8) | 0xFF;
    const uint32_t* end = kCategoryRanges + kNumCategoryRanges;
    const uint32_t* it = std::upper_bound(kCategoryRanges, end, key);
    uint8_t flags = it == kCategoryRanges ? 0 : static_cast<uint8_t>(*(it - 1) & 0xFF);
    if (std::binary_search(unicode_data::kWhitespace,
                           unicode_data::kWhitespace + unicode_data::kNumWhitespace, cp)) {
        flags |= kCatWhitespace;
    }
    return flags;
}

// Flags of the Basic Multilingual Plane, where nearly all text lives, precomputed once.
struct BmpTable {
    std::array<uint8_t, 0x10000> flags;
    BmpTable() {
        for (uint32_t cp = 0; cp < 0x10000; ++cp) flags[cp] = lookup_flags(cp);
    }
};

const BmpTable& bmp() {
    static const BmpTable table;
    return table;
}

struct ByteMap {
    std::array<uint32_t, 256> to_cp{};
    std::array<int16_t, 512> from_cp{};  // every mapped code point is below 0x144
    ByteMap() {
        from_cp.fill(-1);
        auto printable = [](int b) {
            return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        };
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            to_cp[b] = printable(b) ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
            from_cp[to_cp[b]] = static_cast<int16_t>(b);
        }
    }
};

const ByteMap& byte_map() {
    static const ByteMap map;
    return map;
}

}  // namespace

uint8_t cpt_flags(uint32_t cp) {
    if (cp < 0x10000) return bmp().flags[cp];
    if (cp >= 0x110000) return 0;
    return lookup_flags(cp);
}

Utf8Char decode_utf8(std::string_view s, size_t pos) {
    const auto at = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
    const auto cont = [&](size_t i) { return i < s.size() && (at(i) & 0xC0) == 0x80; };
    const uint8_t b0 = at(pos);
    if (b0 < 0x80) return {b0, 1};
    if ((b0 & 0x40) == 0) return {kInvalidCp, 1};
    if ((b0 & 0x20) == 0) {
        if (!cont(pos + 1)) return {kInvalidCp, 1};
        return {((b0 & 0x1Fu) << 6) | (at(pos + 1) & 0x3Fu), 2};
    }
    if ((b0 & 0x10) == 0) {
        if (!cont(pos + 1) || !cont(pos + 2)) return {kInvalidCp, 1};
        return {((b0 & 0x0Fu) << 12) | ((at(pos + 1) & 0x3Fu) << 6) | (at(pos + 2) & 0x3Fu), 3};
    }
    if ((b0 & 0x08) == 0) {
        if (!cont(pos + 1) || !cont(pos + 2) || !cont(pos + 3)) return {kInvalidCp, 1};
        const uint32_t cp = ((b0 & 0x07u) << 18) | ((at(pos + 1) & 0x3Fu) << 12) |
                            ((at(pos + 2) & 0x3Fu) << 6) | (at(pos + 3) & 0x3Fu);
        if (cp > 0x10FFFF) return {kInvalidCp, 1};
        return {cp, 4};
    }
    return {kInvalidCp, 1};
}

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | ((cp >> 18) & 0x07)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

uint32_t cpt_tolower(uint32_t cp) {
    using unicode_data::kLowerRuns;
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    // Last run starting at or before cp.
    size_t lo = 0, hi = unicode_data::kNumLowerRuns;
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if (static_cast<uint32_t>(kLowerRuns[mid][0]) <= cp) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == 0) return cp;
    const int32_t* run = kLowerRuns[lo - 1];
    const uint32_t off = cp - static_cast<uint32_t>(run[0]);
    const uint32_t stride = static_cast<uint32_t>(run[2]);
    if (off % stride != 0 || off / stride >= static_cast<uint32_t>(run[1])) return cp;
    return static_cast<uint32_t>(static_cast<int64_t>(cp) + run[3]);
}

uint32_t cpt_nfd_first(uint32_t cp) {
    using unicode_data::kNfdRanges;
    if (cp < 0xC0 || cp >= 0x110000) return cp;
    const uint32_t key = (cp << 11) | 0x7FF;
    size_t lo = 0, hi = unicode_data::kNumNfdRanges;
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if (kNfdRanges[mid][0] <= key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == 0) return cp;
    const uint32_t* r = kNfdRanges[lo - 1];
    const uint32_t first = r[0] >> 11;
    const uint32_t count = (r[0] & 0x7FF) + 1;
    return cp - first < count ? r[1] : cp;
}

uint32_t byte_to_bpe_cp(uint8_t b) { return byte_map().to_cp[b]; }

int bpe_cp_to_byte(uint32_t cp) { return cp < 512 ? byte_map().from_cp[cp] : -1; }

size_t valid_utf8_prefix(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const uint8_t b0 = static_cast<uint8_t>(s[i]);
        size_t n;
        uint32_t min_cp;
        if (b0 < 0x80) {
            ++i;
            continue;
        } else if (b0 >= 0xC2 && b0 <= 0xDF) {
            n = 2, min_cp = 0x80;
        } else if (b0 >= 0xE0 && b0 <= 0xEF) {
            n = 3, min_cp = 0x800;
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
            n = 4, min_cp = 0x10000;
        } else {
            return i;
        }
        if (i + n > s.size()) return i;
        uint32_t cp = b0 & (0x7F >> n);
        for (size_t k = 1; k < n; ++k) {
            const uint8_t c = static_cast<uint8_t>(s[i + k]);
            if ((c & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (c & 0x3F);
        }
        if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += n;
    }
    return i;
}

}  // namespace tk::tokenizer
