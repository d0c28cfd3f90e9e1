// SentencePiece-style tokenization of llama.cpp's llm_tokenizer_spm: start from single UTF-8
// characters and repeatedly merge the adjacent pair whose concatenation is the vocabulary token
// with the highest score (leftmost on ties); what is left unmerged and not a token falls back to
// byte tokens <0xNN>.
#include <algorithm>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace tk::tokenizer {
namespace {

struct Symbol {
    int32_t prev;
    int32_t next;
    uint32_t start;  // byte offset in the text
    uint32_t n;      // bytes; 0 once merged into the symbol on its left
};

struct Bigram {
    int32_t left;
    int32_t right;
    float score;
    uint32_t size;
};

struct BigramLess {
    bool operator()(const Bigram& l, const Bigram& r) const {
        return l.score < r.score || (l.score == r.score && l.left > r.left);
    }
};

// Buffers reused across the regions of one text.
struct Work {
    std::vector<Symbol> sym;
    std::vector<Bigram> heap;
};

void encode_region(const TokenizerState& s, std::string_view text, Work& w,
                   std::vector<int32_t>& out) {
    std::vector<Symbol>& sym = w.sym;
    std::vector<Bigram>& heap = w.heap;
    if (text.empty()) return;
    sym.clear();
    for (size_t off = 0; off < text.size();) {
        const uint32_t n = static_cast<uint32_t>(
            std::min(utf8_seq_len(static_cast<uint8_t>(text[off])), text.size() - off));
        const int32_t index = static_cast<int32_t>(sym.size());
        sym.push_back(
            {index - 1, off + n == text.size() ? -1 : index + 1, static_cast<uint32_t>(off), n});
        off += n;
    }

    heap.clear();
    auto try_add = [&](int32_t left, int32_t right) {
        if (left == -1 || right == -1) return;
        const uint32_t size = sym[left].n + sym[right].n;
        const int32_t id = s.find(text.substr(sym[left].start, size));
        if (id == kNoToken) return;
        heap.push_back({left, right, s.scores[id], size});
        std::push_heap(heap.begin(), heap.end(), BigramLess{});
    };
    for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), BigramLess{});
        const Bigram b = heap.back();
        heap.pop_back();
        Symbol& l = sym[b.left];
        Symbol& r = sym[b.right];
        // Symbols only grow, so a changed total length means the pair is stale.
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }

    // A symbol that is not a token was never merged (merges only form tokens), so llama.cpp's
    // recursive re-segmentation reduces to byte fallback here.
    for (int32_t i = 0; i != -1; i = sym[i].next) {
        const std::string_view piece = text.substr(sym[i].start, sym[i].n);
        const int32_t id = s.find(piece);
        if (id != kNoToken) {
            out.push_back(id);
            continue;
        }
        for (char c : piece) {
            const int32_t byte_id = s.byte_tokens[static_cast<uint8_t>(c)];
            // llama.cpp throws when a vocabulary lacks the byte; fall back to <unk>.
            if (byte_id != kNoToken) {
                out.push_back(byte_id);
            } else if (s.unk != kNoToken) {
                out.push_back(s.unk);
            }
        }
    }
}

bool is_sp(std::string_view text, size_t off, size_t len) {
    return len == 3 && text.compare(off, 3, "\xE2\x96\x81") == 0;
}

}  // namespace

void spm_encode(const TokenizerState& s, std::string_view text, std::vector<int32_t>& out) {
    Work w;
    if (!s.spm_word_split) {
        encode_region(s, text, w, out);
        return;
    }
    // No vocabulary token has a "▁" right after another character (checked at load), so no
    // merge can join a character with a following "▁": the text splits there into regions
    // that merge independently, with the same result and a far smaller queue.
    size_t region = 0;
    bool prev_char = false;  // previous symbol is one valid character other than "▁"
    for (size_t off = 0; off < text.size();) {
        const size_t n = std::min(utf8_seq_len(static_cast<uint8_t>(text[off])), text.size() - off);
        const bool sp = is_sp(text, off, n);
        if (sp && prev_char) {
            encode_region(s, text.substr(region, off - region), w, out);
            region = off;
        }
        const Utf8Char u = decode_utf8(text, off);
        prev_char = !sp && u.len == n && u.cp != kInvalidCp;
        off += n;
    }
    encode_region(s, text.substr(region), w, out);
}

}  // namespace tk::tokenizer
