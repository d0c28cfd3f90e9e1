#include "kv/block_pool.h"

#include <algorithm>

#include "base/check.h"

namespace tk::kv {
namespace {

// splitmix64 finaliser: cheap, and every input bit reaches every output bit.
inline uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

}  // namespace

BlockPool::BlockPool(int64_t n_blocks, int64_t block_size)
    : block_size_(block_size),
      ref_(static_cast<size_t>(n_blocks), 0),
      published_(static_cast<size_t>(n_blocks), 0),
      hash_(static_cast<size_t>(n_blocks), 0),
      prev_hash_(static_cast<size_t>(n_blocks), 0),
      tokens_(static_cast<size_t>(n_blocks * block_size), 0),
      next_(static_cast<size_t>(n_blocks), kNone),
      prev_(static_cast<size_t>(n_blocks), kNone) {
    TK_CHECK(n_blocks > 0 && n_blocks < INT32_MAX && block_size > 0);
    for (int32_t b = 0; b < static_cast<int32_t>(n_blocks); ++b) push_back(free_, b);
    n_free_ = n_blocks;
    by_hash_.reserve(static_cast<size_t>(n_blocks));
}

size_t BlockPool::idx(int32_t block) const {
    TK_DCHECK(block >= 0 && static_cast<size_t>(block) < ref_.size());
    return static_cast<size_t>(block);
}

void BlockPool::push_back(List& l, int32_t b) {
    prev_[idx(b)] = l.tail;
    next_[idx(b)] = kNone;
    if (l.tail != kNone) {
        next_[idx(l.tail)] = b;
    } else {
        l.head = b;
    }
    l.tail = b;
}

void BlockPool::unlink(List& l, int32_t b) {
    const int32_t p = prev_[idx(b)], n = next_[idx(b)];
    if (p != kNone) {
        next_[idx(p)] = n;
    } else {
        l.head = n;
    }
    if (n != kNone) {
        prev_[idx(n)] = p;
    } else {
        l.tail = p;
    }
    prev_[idx(b)] = next_[idx(b)] = kNone;
}

int32_t BlockPool::pop_front(List& l) {
    const int32_t b = l.head;
    if (b != kNone) unlink(l, b);
    return b;
}

BlockPoolStats BlockPool::stats() const {
    BlockPoolStats s;
    s.total = n_blocks();
    s.free = n_free_;
    s.cached = n_cached_;
    s.used = s.total - n_free_ - n_cached_;
    s.prompt_tokens = prompt_tokens_;
    s.hit_tokens = hit_tokens_;
    s.evictions = evictions_;
    s.copies = copies_;
    return s;
}

int32_t BlockPool::allocate() {
    int32_t b = pop_front(free_);
    if (b != kNone) {
        --n_free_;
    } else {
        b = pop_front(lru_);
        if (b == kNone) return kNone;
        --n_cached_;
        ++evictions_;
        by_hash_.erase(hash_[idx(b)]);
        published_[idx(b)] = 0;
    }
    TK_CHECK(ref_[idx(b)] == 0);
    ref_[idx(b)] = 1;
    return b;
}

void BlockPool::retain(int32_t block) {
    int32_t& r = ref_[idx(block)];
    if (r == 0) {
        // Only a cached block can come back from zero: a free one has no hash to be found by.
        TK_CHECK(published_[idx(block)] != 0);
        unlink(lru_, block);
        --n_cached_;
    }
    ++r;
}

void BlockPool::release(int32_t block) {
    int32_t& r = ref_[idx(block)];
    TK_CHECK(r > 0);  // more releases than references: an engine bug
    if (--r > 0) return;
    if (published_[idx(block)]) {
        push_back(lru_, block);
        ++n_cached_;
    } else {
        push_back(free_, block);
        ++n_free_;
    }
}

uint64_t BlockPool::root_hash(uint64_t identity) { return mix64(identity ^ 0x746F6B616D616B00ull); }

uint64_t BlockPool::chain_hash(uint64_t prev, std::span<const int32_t> tokens) {
    uint64_t h = mix64(prev);
    for (int32_t t : tokens) h = mix64(h ^ static_cast<uint32_t>(t));
    return mix64(h ^ tokens.size());
}

bool BlockPool::publish(int32_t block, uint64_t prev, uint64_t hash,
                        std::span<const int32_t> tokens) {
    TK_CHECK(static_cast<int64_t>(tokens.size()) == block_size_);
    TK_CHECK(ref_[idx(block)] > 0);
    if (published_[idx(block)]) return hash_[idx(block)] == hash;
    if (!by_hash_.emplace(hash, block).second) return false;
    published_[idx(block)] = 1;
    hash_[idx(block)] = hash;
    prev_hash_[idx(block)] = prev;
    std::copy(tokens.begin(), tokens.end(),
              tokens_.begin() + static_cast<int64_t>(idx(block)) * block_size_);
    return true;
}

void BlockPool::unpublish(int32_t block) {
    if (!published_[idx(block)]) return;
    TK_CHECK(ref_[idx(block)] > 0);  // cached blocks are only dropped by eviction
    by_hash_.erase(hash_[idx(block)]);
    published_[idx(block)] = 0;
}

int32_t BlockPool::lookup(uint64_t prev, uint64_t hash, std::span<const int32_t> tokens) {
    const auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) return kNone;
    const int32_t b = it->second;
    if (prev_hash_[idx(b)] != prev || static_cast<int64_t>(tokens.size()) != block_size_ ||
        !std::equal(tokens.begin(), tokens.end(),
                    tokens_.begin() + static_cast<int64_t>(idx(b)) * block_size_)) {
        return kNone;
    }
    retain(b);
    return b;
}

int32_t BlockPool::make_writable(int32_t block) {
    TK_CHECK(ref_[idx(block)] > 0);
    if (ref_[idx(block)] == 1) {
        unpublish(block);
        return block;
    }
    const int32_t fresh = allocate();
    if (fresh == kNone) return kNone;
    release(block);
    ++copies_;
    return fresh;
}

void BlockPool::record_lookup(int64_t prompt_tokens, int64_t hit_tokens) {
    prompt_tokens_ += prompt_tokens;
    hit_tokens_ += hit_tokens;
}

}  // namespace tk::kv
