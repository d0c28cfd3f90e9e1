// Byte-level BPE of llama.cpp's llm_tokenizer_bpe: pre-tokenize into words, write each byte as its
// GPT-2 code point, then repeatedly apply the lowest-ranked merge among adjacent symbols (leftmost
// on ties), each word on its own.
#include <algorithm>
#include <queue>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

namespace tk::tokenizer {
namespace {

struct Symbol {
    int32_t prev;
    int32_t next;
    uint32_t start;  // byte offset in the encoded word
    uint32_t n;      // bytes; 0 once merged into the symbol on its left
    int32_t id;      // vocabulary id of the symbol's text, kNoToken if none
};

struct Bigram {
    int32_t left;
    int32_t right;
    int32_t rank;
    uint32_t size;
};

struct BigramGreater {
    bool operator()(const Bigram& l, const Bigram& r) const {
        return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
    }
};

class BpeSession {
public:
    explicit BpeSession(const TokenizerState& s) : s_(s) {}

    void encode_word(std::string_view word, std::vector<int32_t>& out) {
        enc_.clear();
        for (char c : word) append_utf8(enc_, byte_to_bpe_cp(static_cast<uint8_t>(c)));
        const std::string_view enc(enc_);

        if (s_.ignore_merges) {
            const int32_t id = s_.find(enc);
            if (id != kNoToken) {
                out.push_back(id);
                return;
            }
        }

        sym_.clear();
        for (size_t off = 0; off < enc.size();) {
            const uint32_t n = static_cast<uint32_t>(
                std::min(utf8_seq_len(static_cast<uint8_t>(enc[off])), enc.size() - off));
            const int32_t index = static_cast<int32_t>(sym_.size());
            sym_.push_back({index - 1, off + n == enc.size() ? -1 : index + 1,
                            static_cast<uint32_t>(off), n, s_.find(enc.substr(off, n))});
            off += n;
        }
        queue_ = {};
        for (int32_t i = 1; i < static_cast<int32_t>(sym_.size()); ++i) add_bigram(enc, i - 1, i);

        while (!queue_.empty()) {
            const Bigram b = queue_.top();
            queue_.pop();
            Symbol& l = sym_[b.left];
            Symbol& r = sym_[b.right];
            // Symbols only grow, so a changed total length means the pair is stale.
            if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
            l.n += r.n;
            r.n = 0;
            l.next = r.next;
            if (r.next >= 0) sym_[r.next].prev = b.left;
            l.id = s_.find(enc.substr(l.start, l.n));
            add_bigram(enc, l.prev, b.left);
            add_bigram(enc, b.left, l.next);
        }

        for (const Symbol& sm : sym_) {
            if (sm.n == 0) continue;
            if (sm.id != kNoToken) {
                out.push_back(sm.id);
                continue;
            }
            // Not a token: emit the tokens of its single bytes, where they exist.
            for (char c : enc.substr(sm.start, sm.n)) {
                const int32_t id = s_.find(std::string_view(&c, 1));
                if (id != kNoToken) out.push_back(id);
            }
        }
    }

private:
    void add_bigram(std::string_view enc, int32_t left, int32_t right) {
        if (left == -1 || right == -1) return;
        const Symbol& l = sym_[left];
        const Symbol& r = sym_[right];
        int32_t rank = -1;
        if (l.id != kNoToken && r.id != kNoToken) {
            rank = s_.merges.find(l.id, r.id);
        } else if (!s_.merges_by_text.empty()) {
            const auto it = s_.merges_by_text.find(
                {std::string(enc.substr(l.start, l.n)), std::string(enc.substr(r.start, r.n))});
            if (it != s_.merges_by_text.end()) rank = it->second;
        }
        if (rank < 0) return;
        queue_.push({left, right, rank, l.n + r.n});
    }

    const TokenizerState& s_;
    std::string enc_;
    std::vector<Symbol> sym_;
    std::priority_queue<Bigram, std::vector<Bigram>, BigramGreater> queue_;
};

}  // namespace

void bpe_encode(const TokenizerState& s, std::string_view text, std::vector<int32_t>& out) {
    std::vector<uint32_t> bounds;
    pretokenize(s.pre_type, text, bounds);
    BpeSession session(s);
    for (size_t k = 0; k + 1 < bounds.size(); ++k) {
        session.encode_word(text.substr(bounds[k], bounds[k + 1] - bounds[k]), out);
    }
}

}  // namespace tk::tokenizer
