#pragma once
// Internal state of a Tokenizer, shared by tokenizer.cpp, spm.cpp, bpe.cpp and
// stream_decoder.cpp. Not part of the public API.
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

namespace tk::tokenizer {

constexpr int32_t kNoToken = -1;

inline uint64_t hash_text(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then a final avalanche
    for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

// Token text -> id, open addressing over the token ids; texts live in the owner's pool.
class TokenIndex {
public:
    template <typename TextOf>
    void build(int32_t n, TextOf text_of) {
        size_t cap = 16;
        while (cap < static_cast<size_t>(n) * 2) cap <<= 1;
        mask_ = cap - 1;
        slots_.assign(cap, Slot{});
        // Hash a block ahead and prefetch its slots: the table is far larger than the cache,
        // so overlapping the misses is most of the load time.
        constexpr int32_t kBlock = 16;
        uint64_t hashes[kBlock];
        for (int32_t base = 0; base < n; base += kBlock) {
            const int32_t m = std::min(kBlock, n - base);
            for (int32_t k = 0; k < m; ++k) {
                hashes[k] = hash_text(text_of(base + k));
                prefetch(hashes[k]);
            }
            for (int32_t k = 0; k < m; ++k) {
                const int32_t id = base + k;
                const uint64_t h = hashes[k];
                size_t i = h & mask_;
                while (slots_[i].id != kNoToken) {
                    if (slots_[i].hash == static_cast<uint32_t>(h) &&
                        text_of(slots_[i].id) == text_of(id)) {
                        break;  // duplicate text: the later id wins, as in llama.cpp's token_to_id
                    }
                    i = (i + 1) & mask_;
                }
                slots_[i] = Slot{static_cast<uint32_t>(h), id};
            }
        }
    }

    template <typename TextOf>
    int32_t find(std::string_view key, TextOf text_of) const {
        return find_hashed(key, hash_text(key), text_of);
    }

    // find() with the key's hash_text already computed.
    template <typename TextOf>
    int32_t find_hashed(std::string_view key, uint64_t h, TextOf text_of) const {
        if (slots_.empty()) return kNoToken;
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.id == kNoToken) return kNoToken;
            if (s.hash == static_cast<uint32_t>(h) && text_of(s.id) == key) return s.id;
        }
    }

    void prefetch(uint64_t h) const {
        if (!slots_.empty()) __builtin_prefetch(&slots_[h & mask_]);
    }

private:
    struct Slot {
        uint32_t hash = 0;
        int32_t id = kNoToken;
    };
    std::vector<Slot> slots_;
    size_t mask_ = 0;
};

// (left id, right id) -> merge rank; the first occurrence of a pair keeps its rank. One slot
// holds key and value so a probe touches one cache line.
class MergeIndex {
public:
    void reserve(size_t n) {
        size_t cap = 16;
        while (cap < n + n / 2) cap <<= 1;  // load factor <= 2/3
        mask_ = cap - 1;
        slots_.assign(cap, Slot{});
        size_ = 0;
    }
    void insert(int32_t left, int32_t right, int32_t rank) {
        if ((size_ + 1) * 3 > slots_.size() * 2) grow();
        for (size_t i = hash(left, right) & mask_;; i = (i + 1) & mask_) {
            Slot& s = slots_[i];
            if (s.rank < 0) {
                s = Slot{left, right, rank};
                ++size_;
                return;
            }
            if (s.left == left && s.right == right) return;
        }
    }
    void prefetch(int32_t left, int32_t right) const {
        __builtin_prefetch(&slots_[hash(left, right) & mask_], 1);
    }
    int32_t find(int32_t left, int32_t right) const {
        if (size_ == 0) return -1;
        for (size_t i = hash(left, right) & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.rank < 0) return -1;
            if (s.left == left && s.right == right) return s.rank;
        }
    }
    size_t size() const { return size_; }

private:
    struct Slot {
        int32_t left = 0;
        int32_t right = 0;
        int32_t rank = -1;  // -1: empty
    };
    static uint64_t hash(int32_t l, int32_t r) {
        uint64_t k =
            (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
        k ^= k >> 33;  // murmur3's finalizer: every input bit reaches the low bits
        k *= 0xff51afd7ed558ccdull;
        k ^= k >> 33;
        k *= 0xc4ceb9fe1a85ec53ull;
        k ^= k >> 33;
        return k;
    }
    void grow() {
        std::vector<Slot> old = std::move(slots_);
        reserve(old.size());
        for (const Slot& s : old) {
            if (s.rank >= 0) insert(s.left, s.right, s.rank);
        }
    }
    std::vector<Slot> slots_;
    size_t mask_ = 0;
    size_t size_ = 0;
};

struct TokenizerState {
    VocabType type = VocabType::kSpm;
    PreType pre_type = PreType::kDefault;
    std::string pre_name;

    std::string pool;               // all token texts back to back
    std::vector<uint32_t> offsets;  // token i is pool[offsets[i], offsets[i + 1])
    std::vector<float> scores;
    std::vector<uint32_t> attrs;  // TokenAttr bits
    TokenIndex index;

    MergeIndex merges;
    // Merges whose sides are not both vocabulary tokens (rare), by text.
    std::map<std::pair<std::string, std::string>, int32_t> merges_by_text;

    int32_t bos = kNoToken, eos = kNoToken, eot = kNoToken, eom = kNoToken, unk = kNoToken;
    int32_t sep = kNoToken, pad = kNoToken, mask = kNoToken;
    int32_t fim_pre = kNoToken, fim_suf = kNoToken, fim_mid = kNoToken;
    int32_t fim_pad = kNoToken, fim_rep = kNoToken, fim_sep = kNoToken;

    bool add_space_prefix = false;
    bool add_bos = false;
    bool add_eos = false;
    bool ignore_merges = false;
    bool clean_spaces = false;
    bool remove_extra_whitespaces = false;
    bool spm_word_split = false;  // SPM text may be split before each "▁" (see spm.cpp)
    size_t max_token_len = 0;     // bytes of the longest token text (WordPiece search bound)

    std::vector<int32_t> special_tokens;  // control/user-defined/unknown, longest text first
    std::vector<uint8_t> eog;             // per token: ends generation
    int32_t byte_tokens[256];             // SPM byte fallback (<0xNN> or the byte itself)

    int32_t n_tokens() const { return static_cast<int32_t>(attrs.size()); }
    bool valid(int32_t id) const { return id >= 0 && id < n_tokens(); }
    std::string_view text(int32_t id) const {
        return std::string_view(pool).substr(offsets[id], offsets[id + 1] - offsets[id]);
    }
    int32_t find(std::string_view s) const {
        return index.find(s, [this](int32_t id) { return text(id); });
    }
    int32_t find_hashed(std::string_view s, uint64_t h) const {
        return index.find_hashed(s, h, [this](int32_t id) { return text(id); });
    }
};

// Model-specific encoders; both append to `out`.
void spm_encode(const TokenizerState& s, std::string_view escaped_text, std::vector<int32_t>& out);
void bpe_encode(const TokenizerState& s, std::string_view text, std::vector<int32_t>& out);
void wpm_encode(const TokenizerState& s, std::string_view text, std::vector<int32_t>& out);

}  // namespace tk::tokenizer
