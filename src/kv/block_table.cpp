#include "kv/block_table.h"

#include <algorithm>

#include "base/check.h"

namespace tk::kv {

int64_t BlockTable::match_prefix(BlockPool& pool, std::span<const int32_t> tokens, uint64_t root) {
    TK_CHECK(blocks_.empty());
    const int64_t bs = pool.block_size();
    const int64_t n_full = static_cast<int64_t>(tokens.size()) / bs;
    uint64_t prev = root;
    for (int64_t k = 0; k < n_full; ++k) {
        const auto blk = tokens.subspan(static_cast<size_t>(k * bs), static_cast<size_t>(bs));
        const uint64_t h = BlockPool::chain_hash(prev, blk);
        const int32_t b = pool.lookup(prev, h, blk);
        if (b == BlockPool::kNone) break;
        blocks_.push_back(b);
        hashes_.push_back(h);
        prev = h;
    }
    n_published_ = size();
    return size() * bs;
}

int64_t BlockTable::blocks_needed(const BlockPool& pool, int64_t begin, int64_t end) const {
    if (end <= begin) return 0;
    const int64_t bs = pool.block_size();
    const int64_t first = begin / bs, last = (end - 1) / bs;
    int64_t need = std::max<int64_t>(0, last + 1 - size());
    for (int64_t k = first; k <= last && k < size(); ++k)
        if (pool.ref_count(blocks_[static_cast<size_t>(k)]) > 1) ++need;
    return need;
}

bool BlockTable::prepare(BlockPool& pool, int64_t begin, int64_t end,
                         std::vector<BlockCopy>& copies) {
    if (end <= begin) return true;
    const int64_t bs = pool.block_size();
    const int64_t first = begin / bs, last = (end - 1) / bs;
    TK_CHECK(first <= size());  // positions before `begin` must already have blocks
    for (int64_t k = first; k <= last && k < size(); ++k) {
        int32_t& b = blocks_[static_cast<size_t>(k)];
        if (pool.is_writable(b)) continue;
        const int32_t w = pool.make_writable(b);
        if (w == BlockPool::kNone) return false;
        if (w != b) copies.emplace_back(b, w);
        b = w;
        // The block is private now; it is offered to publish() again once full.
        n_published_ = std::min(n_published_, k);
    }
    while (size() <= last) {
        const int32_t b = pool.allocate();
        if (b == BlockPool::kNone) return false;
        blocks_.push_back(b);
    }
    return true;
}

void BlockTable::publish_full(BlockPool& pool, std::span<const int32_t> tokens, int64_t n_computed,
                              uint64_t root) {
    const int64_t bs = pool.block_size();
    const int64_t n_full = std::min(n_computed / bs, size());
    TK_CHECK(n_computed <= static_cast<int64_t>(tokens.size()));
    for (int64_t k = n_published_; k < n_full; ++k) {
        const auto blk = tokens.subspan(static_cast<size_t>(k * bs), static_cast<size_t>(bs));
        const uint64_t prev = k == 0 ? root : hashes_[static_cast<size_t>(k - 1)];
        if (k >= static_cast<int64_t>(hashes_.size()))
            hashes_.push_back(BlockPool::chain_hash(prev, blk));
        pool.publish(blocks_[static_cast<size_t>(k)], prev, hashes_[static_cast<size_t>(k)], blk);
    }
    n_published_ = std::max(n_published_, n_full);
}

void BlockTable::release_all(BlockPool& pool) {
    // Release the tail first so that, among this table's blocks, the prefix's first blocks end
    // up most recently used on the LRU list: they are the likeliest to be shared again.
    for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) pool.release(*it);
    blocks_.clear();
    hashes_.clear();
    n_published_ = 0;
}

}  // namespace tk::kv
