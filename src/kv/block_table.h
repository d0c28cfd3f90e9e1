#pragma once
// One sequence's view of the block pool: its blocks in position order (position p lives in
// blocks()[p / block_size] at slot p % block_size) and the hash chain of its full blocks.
// The table holds one reference on each of its blocks; release_all() gives them back.
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "kv/block_pool.h"

namespace tk::kv {

// K/V of block `src` must be copied to block `dst` before anything is written to `dst`.
using BlockCopy = std::pair<int32_t, int32_t>;

class BlockTable {
public:
    BlockTable() = default;
    BlockTable(const BlockTable&) = delete;
    BlockTable& operator=(const BlockTable&) = delete;
    BlockTable(BlockTable&&) = default;
    BlockTable& operator=(BlockTable&&) = default;

    std::span<const int32_t> blocks() const { return blocks_; }
    int64_t size() const { return static_cast<int64_t>(blocks_.size()); }
    bool empty() const { return blocks_.empty(); }

    // On an empty table: retains the published blocks that hold the longest run of leading full
    // blocks of `tokens` and returns how many tokens they cover (a multiple of the block size).
    int64_t match_prefix(BlockPool& pool, std::span<const int32_t> tokens, uint64_t root);

    // Blocks prepare(begin, end) would take from the pool: new blocks past the table's end, plus
    // one per shared block in the range (copy-on-write).
    int64_t blocks_needed(const BlockPool& pool, int64_t begin, int64_t end) const;
    // Makes positions [begin, end) writable: appends blocks up to `end` and makes the existing
    // blocks in the range private (copy-on-write, recorded in `copies`, which the caller must
    // perform in order before the forward pass). Returns false, with the table still valid but
    // possibly partly extended, only when the pool ran dry; check blocks_needed() first.
    bool prepare(BlockPool& pool, int64_t begin, int64_t end, std::vector<BlockCopy>& copies);

    // Publishes the full blocks among the first n_computed positions of `tokens` (whose K/V are
    // written) that are not yet published, extending the hash chain.
    void publish_full(BlockPool& pool, std::span<const int32_t> tokens, int64_t n_computed,
                      uint64_t root);

    // Drops every reference and empties the table.
    void release_all(BlockPool& pool);

private:
    std::vector<int32_t> blocks_;
    std::vector<uint64_t> hashes_;  // chain hash of blocks_[0 .. hashes_.size())
    int64_t n_published_ = 0;       // blocks_[0 .. n_published_) were offered to publish()
};

}  // namespace tk::kv
