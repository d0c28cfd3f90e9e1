#pragma once
// Internal state of a Tokenizer, shared by tokenizer.cpp, spm.cpp, bpe.cpp and
// stream_decoder.cpp. Not part of the public API.
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
        for (int32_t id = 0; id < n; ++id) {
            const std::string_view key = text_of(id);
            const uint64_t h = hash_text(key);
            size_t i = h & mask_;
            while (slots_[i].id != kNoToken) {
                if (slots_[i].hash == static_cast<uint32_t>(h) && text_of(slots_[i].id) == key) {
                    break;  // duplicate text: the later id wins, as in llama.cpp's token_to_id
                }
                i = (i + 1) & mask_;
            }
            slots_[i] = Slot{static_cast<uint32_t>(h), id};
        }
    }

    template <typename TextOf>
    int32_t find(std::string_view key, TextOf text_of) const {
        if (slots_.empty()) return kNoToken;
        const uint64_t h = hash_text(key);
        for (size_t i = h & mask_;; i = (i + 1) & mask_) {
            const Slot& s = slots_[i];
            if (s.id == kNoToken) return kNoToken;
            if (s.hash == static_cast<uint32_t>(h) && text_of(s.id) == key) return s.id;
        }
    }

private:
    struct Slot {
        uint32_t hash = 0;
        int32_t id = kNoToken;
    };
    std::vector<Slot> slots_;
    size_t mask_ = 0;
};

// (left id, right id) -> merge rank; the first occurrence of a pair keeps its rank.
class MergeIndex {
public:
    void reserve(size_t n) {
        size_t cap = 16;
        while (cap < n * 2) cap <<= 1;
        mask_ = cap - 1;
        keys_.assign(cap, kEmpty);
        ranks_.assign(cap, 0);
        size_ = 0;
    }
    void insert(int32_t left, int32_t right, int32_t rank) {
        if ((size_ + 1) * 2 > keys_.size()) grow();
        const uint64_t key = pack(left, right);
        size_t i = mix(key) & mask_;
        while (keys_[i] != kEmpty) {
            if (keys_[i] == key) return;
            i = (i + 1) & mask_;
        }
        keys_[i] = key;
        ranks_[i] = rank;
        ++size_;
    }
    int32_t find(int32_t left, int32_t right) const {
        if (size_ == 0) return -1;
        const uint64_t key = pack(left, right);
        for (size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
            if (keys_[i] == key) return ranks_[i];
            if (keys_[i] == kEmpty) return -1;
        }
    }
    size_t size() const { return size_; }

private:
    static constexpr uint64_t kEmpty = ~0ull;
    static uint64_t pack(int32_t l, int32_t r) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
    }
    static uint64_t mix(uint64_t k) {
        k ^= k >> 31;
        k *= 0x9e3779b97f4a7c15ull;
        k ^= k >> 29;
        return k;
    }
    void grow() {
        std::vector<uint64_t> keys = std::move(keys_);
        std::vector<int32_t> ranks = std::move(ranks_);
        reserve(keys.size());
        for (size_t i = 0; i < keys.size(); ++i) {
            if (keys[i] != kEmpty) {
                insert(static_cast<int32_t>(keys[i] >> 32), static_cast<int32_t>(keys[i]),
                       ranks[i]);
            }
        }
    }
    std::vector<uint64_t> keys_;
    std::vector<int32_t> ranks_;
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
    std::vector<uint32_t> attrs;    // TokenAttr bits
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
};

// Model-specific encoders; both append to `out`.
void spm_encode(const TokenizerState& s, std::string_view escaped_text, std::vector<int32_t>& out);
void bpe_encode(const TokenizerState& s, std::string_view text, std::vector<int32_t>& out);

}  // namespace tk::tokenizer
