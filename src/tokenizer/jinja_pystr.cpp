// Python str methods over UTF-8 text, for the chat-template engine. Substring searches work on
// bytes (valid UTF-8 matches only at character boundaries); anything that depends on character
// classes or positions decodes to code points first.
#include <algorithm>

#include "tokenizer/jinja_pyutil.h"

namespace tk::tokenizer::jinja {

namespace {
// Byte length of the whitespace code point starting at s[i] (0 if none), for fast stripping
// without decoding the whole string.
size_t space_at(std::string_view s, size_t i) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) return py_isspace(c) ? 1 : 0;
    const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (i + len > s.size()) return 0;
    const std::u32string cp = utf8_decode(s.substr(i, len));
    return cp.size() == 1 && py_isspace(cp[0]) ? len : 0;
}
}  // namespace

std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right) {
    if (chars == nullptr) {
        size_t b = 0;
        size_t e = s.size();
        if (left) {
            while (b < e) {
                const size_t n = space_at(s, b);
                if (n == 0) break;
                b += n;
            }
        }
        if (right) {
            while (e > b) {
                size_t start = e - 1;
                while (start > b && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
                if (space_at(s, start) != e - start) break;
                e = start;
            }
        }
        return std::string(s.substr(b, e - b));
    }
    const std::u32string cps = utf8_decode(s);
    const std::u32string set = chars != nullptr ? utf8_decode(*chars) : std::u32string();
    auto strip_it = [&](char32_t c) {
        return chars == nullptr ? py_isspace(c) : set.find(c) != std::u32string::npos;
    };
    size_t b = 0;
    size_t e = cps.size();
    if (left) {
        while (b < e && strip_it(cps[b])) ++b;
    }
    if (right) {
        while (e > b && strip_it(cps[e - 1])) --e;
    }
    return utf8_encode(std::u32string_view(cps).substr(b, e - b));
}

std::vector<std::string> py_split(std::string_view s, const std::string* sep, int64_t maxsplit,
                                  bool from_right) {
    std::vector<std::string> out;
    if (sep != nullptr) {
        const std::string_view d(*sep);
        if (!from_right) {
            size_t pos = 0;
            while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
                const size_t hit = s.find(d, pos);
                if (hit == std::string_view::npos) break;
                out.emplace_back(s.substr(pos, hit - pos));
                pos = hit + d.size();
            }
            out.emplace_back(s.substr(pos));
            return out;
        }
        size_t end = s.size();
        while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
            if (end < d.size()) break;
            const size_t hit = s.rfind(d, end - d.size());
            if (hit == std::string_view::npos) break;
            out.emplace_back(s.substr(hit + d.size(), end - hit - d.size()));
            end = hit;
        }
        out.emplace_back(s.substr(0, end));
        std::reverse(out.begin(), out.end());
        return out;
    }
    // Whitespace runs; leading and trailing whitespace never makes empty fields.
    std::u32string cps = utf8_decode(s);
    if (from_right) std::reverse(cps.begin(), cps.end());
    size_t i = 0;
    const size_t n = cps.size();
    while (true) {
        while (i < n && py_isspace(cps[i])) ++i;
        if (i >= n) break;
        if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
            size_t e = n;
            while (e > i && py_isspace(cps[e - 1])) --e;
            std::u32string rest = cps.substr(i, e - i);
            if (from_right) std::reverse(rest.begin(), rest.end());
            out.push_back(utf8_encode(rest));
            break;
        }
        const size_t b = i;
        while (i < n && !py_isspace(cps[i])) ++i;
        std::u32string word = cps.substr(b, i - b);
        if (from_right) std::reverse(word.begin(), word.end());
        out.push_back(utf8_encode(word));
    }
    if (from_right) std::reverse(out.begin(), out.end());
    return out;
}

std::vector<std::string> py_splitlines(std::string_view s, bool keepends) {
    const std::u32string cps = utf8_decode(s);
    std::vector<std::string> out;
    size_t start = 0;
    size_t i = 0;
    while (i < cps.size()) {
        const char32_t c = cps[i];
        const bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C ||
                         c == 0x1D || c == 0x1E || c == 0x85 || c == 0x2028 || c == 0x2029;
        if (!brk) {
            ++i;
            continue;
        }
        size_t eol = i + 1;
        if (c == '\r' && eol < cps.size() && cps[eol] == '\n') ++eol;
        out.push_back(
            utf8_encode(std::u32string_view(cps).substr(start, (keepends ? eol : i) - start)));
        start = i = eol;
    }
    if (start < cps.size()) out.push_back(utf8_encode(std::u32string_view(cps).substr(start)));
    return out;
}

std::string py_replace(std::string_view s, std::string_view old, std::string_view repl,
                       int64_t count) {
    std::string out;
    int64_t done = 0;
    if (old.empty()) {
        // Python inserts the replacement before every character and at the end.
        const std::u32string cps = utf8_decode(s);
        for (char32_t c : cps) {
            if (count < 0 || done < count) {
                out += repl;
                ++done;
            }
            utf8_append(out, c);
        }
        if (count < 0 || done < count) out += repl;
        return out;
    }
    size_t pos = 0;
    while (count < 0 || done < count) {
        const size_t hit = s.find(old, pos);
        if (hit == std::string_view::npos) break;
        out += s.substr(pos, hit - pos);
        out += repl;
        pos = hit + old.size();
        ++done;
    }
    out += s.substr(pos);
    return out;
}

int64_t py_find(std::string_view s, std::string_view sub) {
    const size_t hit = s.find(sub);
    if (hit == std::string_view::npos) return -1;
    return static_cast<int64_t>(utf8_length(s.substr(0, hit)));
}

std::string py_title(std::string_view s) {
    const std::u32string cps = utf8_decode(s);
    std::string out;
    bool prev_cased = false;
    for (size_t i = 0; i < cps.size(); ++i) {
        if (prev_cased) {
            append_lower_at(out, cps, i);
        } else {
            append_title(out, cps[i]);
        }
        prev_cased = py_iscased(cps[i]);
    }
    return out;
}

std::string py_swapcase(std::string_view s) {
    const std::u32string cps = utf8_decode(s);
    std::string out;
    for (size_t i = 0; i < cps.size(); ++i) {
        if (py_char_isupper(cps[i])) {
            append_lower_at(out, cps, i);
        } else if (py_char_islower(cps[i])) {
            append_upper(out, cps[i]);
        } else {
            utf8_append(out, cps[i]);
        }
    }
    return out;
}

std::string py_capitalize(std::string_view s) {
    const std::u32string cps = utf8_decode(s);
    std::string out;
    for (size_t i = 0; i < cps.size(); ++i) {
        if (i == 0) {
            append_title(out, cps[i]);
        } else {
            append_lower_at(out, cps, i);
        }
    }
    return out;
}

}  // namespace tk::tokenizer::jinja
