#pragma once
// Ownership of the paged KV cache's blocks: ids 0..n_blocks-1, reference counts, an O(1) free
// list, and prefix caching.
//
// Prefix caching: once every slot of a block holds K/V, its owner may publish it under a hash of
// its tokens chained with the previous block's hash (the first block chains from a root hash that
// carries the model/adapter identity), so equal hashes mean equal token prefixes. A later
// sequence whose prompt starts with the same tokens retains the published blocks instead of
// recomputing them. A published block is immutable: a sequence that must write into one first
// makes it private (copy-on-write when it is shared, unpublish when it is the sole owner).
// When its last reference goes, a published block is not freed but parked on an LRU list, still
// findable by hash, until allocate() runs out of never-cached blocks and evicts the oldest.
//
// Invariants: every block is in exactly one state: free (ref 0, no hash, on the free list),
// cached (ref 0, published, on the LRU list) or used (ref >= 1, published or not).
// Not thread-safe: the engine loop owns the pool.
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace tk::kv {

struct BlockPoolStats {
    int64_t total = 0;
    int64_t free = 0;           // never-cached blocks ready to hand out
    int64_t cached = 0;         // unreferenced published blocks (reusable by hash, evictable)
    int64_t used = 0;           // referenced by at least one sequence
    int64_t prompt_tokens = 0;  // prompt tokens looked up in the prefix cache
    int64_t hit_tokens = 0;     // of those, tokens whose K/V came from the cache
    int64_t evictions = 0;
    int64_t copies = 0;  // copy-on-write block copies

    int64_t available() const { return free + cached; }
    double hit_rate() const {
        return prompt_tokens > 0
                   ? static_cast<double>(hit_tokens) / static_cast<double>(prompt_tokens)
                   : 0.0;
    }
};

class BlockPool {
public:
    static constexpr int32_t kNone = -1;

    BlockPool(int64_t n_blocks, int64_t block_size);

    int64_t n_blocks() const { return static_cast<int64_t>(ref_.size()); }
    int64_t block_size() const { return block_size_; }
    // Blocks allocate() can hand out now: free plus evictable cached ones.
    int64_t n_available() const { return n_free_ + n_cached_; }
    BlockPoolStats stats() const;

    // A block with ref count 1 and no hash, or kNone when every block is in use. Prefers blocks
    // that were never cached; otherwise evicts the least recently used cached block.
    int32_t allocate();
    void retain(int32_t block);
    // Drops one reference (TK_CHECK on underflow). At zero: published -> LRU tail, else free list.
    void release(int32_t block);
    int32_t ref_count(int32_t block) const { return ref_[idx(block)]; }
    bool is_published(int32_t block) const { return published_[idx(block)] != 0; }
    // Writable in place: ours alone and not visible to prefix lookups.
    bool is_writable(int32_t block) const {
        return ref_[idx(block)] == 1 && !published_[idx(block)];
    }

    // Hash chain. `identity` separates caches of different weights (model, adapter); 0 if none.
    static uint64_t root_hash(uint64_t identity);
    static uint64_t chain_hash(uint64_t prev, std::span<const int32_t> tokens);

    // Registers a full block (every slot written) under `hash` = chain_hash(prev, tokens). If
    // another block already holds this hash the call does nothing (the first copy stays the
    // canonical one; this block stays private). Returns whether the block was published.
    bool publish(int32_t block, uint64_t prev, uint64_t hash, std::span<const int32_t> tokens);
    // Removes a block from the hash map (it becomes an ordinary private block).
    void unpublish(int32_t block);
    // The published block for (prev, tokens), retained for the caller, or kNone. Tokens and the
    // predecessor hash are compared too, so a 64-bit hash collision cannot alias two prefixes.
    int32_t lookup(uint64_t prev, uint64_t hash, std::span<const int32_t> tokens);

    // Makes `block` writable for its caller (who holds one reference): returns it unchanged when
    // it already is; unpublishes it when the caller is its only owner; otherwise allocates a
    // fresh block, drops the caller's reference to the old one and returns the new id, and the
    // caller must copy the K/V (KvStorage::copy_block(old, new)). kNone when no block is free.
    int32_t make_writable(int32_t block);

    // Prefix-cache accounting for the hit rate.
    void record_lookup(int64_t prompt_tokens, int64_t hit_tokens);

private:
    // Intrusive doubly-linked lists over block ids: one for free blocks, one for cached (LRU).
    struct List {
        int32_t head = kNone, tail = kNone;
    };
    size_t idx(int32_t block) const;
    void push_back(List& l, int32_t b);
    void unlink(List& l, int32_t b);
    int32_t pop_front(List& l);

    int64_t block_size_;
    std::vector<int32_t> ref_;
    std::vector<uint8_t> published_;
    std::vector<uint64_t> hash_, prev_hash_;
    std::vector<int32_t> tokens_;  // [n_blocks, block_size]: tokens of published blocks
    std::vector<int32_t> next_, prev_;
    List free_, lru_;
    int64_t n_free_ = 0, n_cached_ = 0;
    std::unordered_map<uint64_t, int32_t> by_hash_;
    int64_t prompt_tokens_ = 0, hit_tokens_ = 0, evictions_ = 0, copies_ = 0;
};

}  // namespace tk::kv
