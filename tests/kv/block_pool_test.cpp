// Block pool: free list, reference counts, prefix hashing, LRU eviction, copy-on-write, and the
// per-sequence BlockTable built on it.
#include "kv/block_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "kv/block_table.h"
#include "kv/kv_storage.h"

namespace tk::kv {
namespace {

std::vector<int32_t> iota_tokens(int n, int start = 0) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    std::iota(t.begin(), t.end(), start);
    return t;
}

void expect_consistent(const BlockPool& p) {
    const BlockPoolStats s = p.stats();
    EXPECT_EQ(s.free + s.cached + s.used, s.total);
    int64_t used = 0;
    for (int32_t b = 0; b < p.n_blocks(); ++b) used += p.ref_count(b) > 0 ? 1 : 0;
    EXPECT_EQ(used, s.used);
}

TEST(BlockPool, AllocatesEveryBlockOnceThenRunsDry) {
    BlockPool p(8, 16);
    EXPECT_EQ(p.block_size(), 16);
    std::set<int32_t> seen;
    for (int i = 0; i < 8; ++i) {
        const int32_t b = p.allocate();
        ASSERT_NE(b, BlockPool::kNone);
        EXPECT_TRUE(seen.insert(b).second);
        EXPECT_EQ(p.ref_count(b), 1);
        EXPECT_TRUE(p.is_writable(b));
    }
    EXPECT_EQ(p.allocate(), BlockPool::kNone);
    EXPECT_EQ(p.n_available(), 0);
    EXPECT_EQ(p.stats().used, 8);
    for (int32_t b : seen) p.release(b);
    EXPECT_EQ(p.stats().free, 8);
    EXPECT_EQ(p.stats().used, 0);
    expect_consistent(p);
}

TEST(BlockPool, ReferenceCounts) {
    BlockPool p(4, 4);
    const int32_t b = p.allocate();
    p.retain(b);
    p.retain(b);
    EXPECT_EQ(p.ref_count(b), 3);
    EXPECT_FALSE(p.is_writable(b));
    p.release(b);
    p.release(b);
    EXPECT_EQ(p.ref_count(b), 1);
    EXPECT_EQ(p.stats().used, 1);
    p.release(b);
    EXPECT_EQ(p.ref_count(b), 0);
    EXPECT_EQ(p.stats().free, 4);
    expect_consistent(p);
}

TEST(BlockPoolDeathTest, ReleaseBelowZeroAborts) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    BlockPool p(2, 4);
    const int32_t b = p.allocate();
    p.release(b);
    EXPECT_DEATH(p.release(b), "internal check failed");
}

TEST(BlockPool, ChainHashDependsOnOrderAndRoot) {
    const auto a = iota_tokens(4, 0), b = iota_tokens(4, 10);
    const uint64_t r0 = BlockPool::root_hash(0), r1 = BlockPool::root_hash(1);
    EXPECT_NE(r0, r1);
    const uint64_t ab = BlockPool::chain_hash(BlockPool::chain_hash(r0, a), b);
    const uint64_t ba = BlockPool::chain_hash(BlockPool::chain_hash(r0, b), a);
    EXPECT_NE(ab, ba);
    EXPECT_NE(BlockPool::chain_hash(r0, a), BlockPool::chain_hash(r1, a));
    EXPECT_EQ(BlockPool::chain_hash(r0, a), BlockPool::chain_hash(r0, iota_tokens(4, 0)));
}

TEST(BlockPool, PublishedBlockIsCachedAfterReleaseAndFoundAgain) {
    BlockPool p(4, 4);
    const auto toks = iota_tokens(4);
    const uint64_t root = BlockPool::root_hash(0), h = BlockPool::chain_hash(root, toks);
    const int32_t b = p.allocate();
    EXPECT_TRUE(p.publish(b, root, h, toks));
    EXPECT_TRUE(p.is_published(b));
    EXPECT_FALSE(p.is_writable(b));  // visible to others: immutable
    p.release(b);
    EXPECT_EQ(p.stats().cached, 1);
    EXPECT_EQ(p.stats().free, 3);
    EXPECT_EQ(p.n_available(), 4);

    const int32_t again = p.lookup(root, h, toks);
    EXPECT_EQ(again, b);
    EXPECT_EQ(p.ref_count(b), 1);
    EXPECT_EQ(p.stats().cached, 0);
    // A second lookup shares it.
    EXPECT_EQ(p.lookup(root, h, toks), b);
    EXPECT_EQ(p.ref_count(b), 2);
    // Wrong predecessor or tokens under the same hash: no match (collision guard).
    EXPECT_EQ(p.lookup(root + 1, h, toks), BlockPool::kNone);
    EXPECT_EQ(p.lookup(root, h, iota_tokens(4, 1)), BlockPool::kNone);
    EXPECT_EQ(p.lookup(root, h + 1, toks), BlockPool::kNone);
    p.release(b);
    p.release(b);
    expect_consistent(p);
}

TEST(BlockPool, DuplicateHashKeepsFirstBlock) {
    BlockPool p(4, 4);
    const auto toks = iota_tokens(4);
    const uint64_t root = BlockPool::root_hash(0), h = BlockPool::chain_hash(root, toks);
    const int32_t a = p.allocate(), b = p.allocate();
    EXPECT_TRUE(p.publish(a, root, h, toks));
    EXPECT_FALSE(p.publish(b, root, h, toks));
    EXPECT_FALSE(p.is_published(b));
    p.release(b);
    EXPECT_EQ(p.stats().free, 3);  // the duplicate goes straight back to the free list
    EXPECT_EQ(p.lookup(root, h, toks), a);
    p.release(a);
    p.release(a);
    EXPECT_EQ(p.stats().cached, 1);
}

TEST(BlockPool, PrefersFreeBlocksThenEvictsLeastRecentlyUsed) {
    BlockPool p(4, 2);
    const uint64_t root = BlockPool::root_hash(0);
    std::vector<int32_t> blocks;
    std::vector<uint64_t> hashes;
    for (int i = 0; i < 3; ++i) {
        const auto toks = iota_tokens(2, 10 * i);
        blocks.push_back(p.allocate());
        hashes.push_back(BlockPool::chain_hash(root, toks));
        ASSERT_TRUE(p.publish(blocks.back(), root, hashes.back(), toks));
    }
    // Released in the order 1, 0, 2: block 1 is the least recently used.
    p.release(blocks[1]);
    p.release(blocks[0]);
    p.release(blocks[2]);
    EXPECT_EQ(p.stats().cached, 3);
    const int32_t fresh = p.allocate();  // the one never-cached block comes first
    EXPECT_EQ(std::count(blocks.begin(), blocks.end(), fresh), 0);
    EXPECT_EQ(p.stats().evictions, 0);
    // Touch block 1 (lookup + release) so block 0 becomes the oldest.
    ASSERT_EQ(p.lookup(root, hashes[1], iota_tokens(2, 10)), blocks[1]);
    p.release(blocks[1]);
    const int32_t evicted = p.allocate();
    EXPECT_EQ(evicted, blocks[0]);
    EXPECT_EQ(p.stats().evictions, 1);
    EXPECT_FALSE(p.is_published(evicted));
    EXPECT_EQ(p.lookup(root, hashes[0], iota_tokens(2, 0)), BlockPool::kNone);
    EXPECT_EQ(p.allocate(), blocks[2]);
    EXPECT_EQ(p.allocate(), blocks[1]);
    EXPECT_EQ(p.allocate(), BlockPool::kNone);
    expect_consistent(p);
}

TEST(BlockPool, MakeWritable) {
    BlockPool p(4, 2);
    const auto toks = iota_tokens(2);
    const uint64_t root = BlockPool::root_hash(0), h = BlockPool::chain_hash(root, toks);
    const int32_t a = p.allocate();
    EXPECT_EQ(p.make_writable(a), a);  // already private
    ASSERT_TRUE(p.publish(a, root, h, toks));
    EXPECT_EQ(p.make_writable(a), a);  // sole owner: unpublished in place, no copy
    EXPECT_FALSE(p.is_published(a));
    EXPECT_EQ(p.lookup(root, h, toks), BlockPool::kNone);
    EXPECT_EQ(p.stats().copies, 0);

    ASSERT_TRUE(p.publish(a, root, h, toks));
    ASSERT_EQ(p.lookup(root, h, toks), a);  // now shared by two
    const int32_t c = p.make_writable(a);
    EXPECT_NE(c, a);
    EXPECT_EQ(p.ref_count(a), 1);
    EXPECT_EQ(p.ref_count(c), 1);
    EXPECT_TRUE(p.is_writable(c));
    EXPECT_TRUE(p.is_published(a));
    EXPECT_EQ(p.stats().copies, 1);
    p.release(a);
    p.release(c);
    EXPECT_EQ(p.stats().used, 0);
    expect_consistent(p);
}

TEST(BlockTable, SharesPrefixBlocksWithRefCounts) {
    BlockPool pool(16, 4);
    const uint64_t root = BlockPool::root_hash(7);
    const auto prompt = iota_tokens(10);  // 2 full blocks + 2 tokens
    std::vector<BlockCopy> copies;

    BlockTable a;
    EXPECT_EQ(a.match_prefix(pool, prompt, root), 0);
    EXPECT_EQ(a.blocks_needed(pool, 0, 10), 3);
    ASSERT_TRUE(a.prepare(pool, 0, 10, copies));
    EXPECT_TRUE(copies.empty());
    EXPECT_EQ(a.size(), 3);
    a.publish_full(pool, prompt, 10, root);
    EXPECT_TRUE(pool.is_published(a.blocks()[0]));
    EXPECT_TRUE(pool.is_published(a.blocks()[1]));
    EXPECT_FALSE(pool.is_published(a.blocks()[2]));  // partial block: never published

    // Same first 8 tokens, different tail.
    std::vector<int32_t> prompt_b(prompt.begin(), prompt.begin() + 8);
    prompt_b.insert(prompt_b.end(), {100, 101, 102});
    BlockTable b;
    EXPECT_EQ(b.match_prefix(pool, prompt_b, root), 8);
    EXPECT_EQ(b.blocks()[0], a.blocks()[0]);
    EXPECT_EQ(b.blocks()[1], a.blocks()[1]);
    EXPECT_EQ(pool.ref_count(a.blocks()[0]), 2);
    EXPECT_EQ(pool.ref_count(a.blocks()[1]), 2);
    EXPECT_EQ(pool.ref_count(a.blocks()[2]), 1);
    ASSERT_TRUE(b.prepare(pool, 8, 11, copies));
    EXPECT_TRUE(copies.empty());
    EXPECT_NE(b.blocks()[2], a.blocks()[2]);

    // A different identity shares nothing.
    BlockTable c;
    EXPECT_EQ(c.match_prefix(pool, prompt, BlockPool::root_hash(8)), 0);

    a.release_all(pool);
    EXPECT_EQ(pool.ref_count(b.blocks()[0]), 1);
    b.release_all(pool);
    const BlockPoolStats s = pool.stats();
    EXPECT_EQ(s.used, 0);
    EXPECT_EQ(s.cached, 2);  // the two published prefix blocks stay findable
    EXPECT_EQ(s.available(), s.total);
    expect_consistent(pool);
}

TEST(BlockTable, RewritingASharedBlockCopiesIt) {
    BlockPool pool(8, 4);
    const uint64_t root = BlockPool::root_hash(0);
    const auto prompt = iota_tokens(8);  // exactly 2 blocks
    std::vector<BlockCopy> copies;
    BlockTable a;
    ASSERT_TRUE(a.prepare(pool, 0, 8, copies));
    a.publish_full(pool, prompt, 8, root);

    BlockTable b;
    ASSERT_EQ(b.match_prefix(pool, prompt, root), 8);
    // b recomputes its last token (position 7) to get logits: that block is shared -> COW.
    EXPECT_EQ(b.blocks_needed(pool, 7, 8), 1);
    ASSERT_TRUE(b.prepare(pool, 7, 8, copies));
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_EQ(copies[0].first, a.blocks()[1]);
    EXPECT_EQ(copies[0].second, b.blocks()[1]);
    EXPECT_NE(b.blocks()[1], a.blocks()[1]);
    EXPECT_EQ(b.blocks()[0], a.blocks()[0]);
    EXPECT_EQ(pool.ref_count(a.blocks()[1]), 1);
    EXPECT_TRUE(pool.is_writable(b.blocks()[1]));
    // Once full again, b's copy would duplicate a's hash: it stays private.
    b.publish_full(pool, prompt, 8, root);
    EXPECT_FALSE(pool.is_published(b.blocks()[1]));

    // Sole owner of a published block: unpublished in place, no copy.
    a.release_all(pool);
    b.release_all(pool);
    BlockTable c;
    ASSERT_EQ(c.match_prefix(pool, prompt, root), 8);
    copies.clear();
    EXPECT_EQ(c.blocks_needed(pool, 7, 8), 0);
    ASSERT_TRUE(c.prepare(pool, 7, 8, copies));
    EXPECT_TRUE(copies.empty());
    c.publish_full(pool, prompt, 8, root);
    EXPECT_TRUE(pool.is_published(c.blocks()[1]));  // published again after the rewrite
    c.release_all(pool);
    EXPECT_EQ(pool.stats().used, 0);
    expect_consistent(pool);
}

TEST(BlockTable, RandomTablesNeverLeak) {
    std::mt19937 rng(1234);
    BlockPool pool(40, 4);
    const uint64_t root = BlockPool::root_hash(0);
    std::vector<BlockTable> tables(6);
    std::vector<std::vector<int32_t>> toks(6);
    std::vector<int64_t> computed(6, 0);
    std::vector<BlockCopy> copies;
    for (int iter = 0; iter < 2000; ++iter) {
        const size_t i = rng() % tables.size();
        const int action = static_cast<int>(rng() % 4);
        if (action == 0) {
            tables[i].release_all(pool);
            computed[i] = 0;
            toks[i].clear();
            const int n = 1 + static_cast<int>(rng() % 20);
            for (int k = 0; k < n; ++k)
                toks[i].push_back(static_cast<int32_t>(rng() % 3));  // many shared prefixes
            computed[i] = std::min<int64_t>(tables[i].match_prefix(pool, toks[i], root), n - 1);
        } else if (!toks[i].empty()) {
            const int64_t end = std::min<int64_t>(computed[i] + 1 + static_cast<int64_t>(rng() % 6),
                                                  static_cast<int64_t>(toks[i].size()));
            if (end > computed[i] &&
                tables[i].blocks_needed(pool, computed[i], end) <= pool.n_available()) {
                ASSERT_TRUE(tables[i].prepare(pool, computed[i], end, copies));
                computed[i] = end;
                tables[i].publish_full(pool, toks[i], computed[i], root);
            }
            if (computed[i] == static_cast<int64_t>(toks[i].size()) && toks[i].size() < 40)
                toks[i].push_back(static_cast<int32_t>(rng() % 3));
        }
        expect_consistent(pool);
    }
    for (auto& t : tables) t.release_all(pool);
    const BlockPoolStats s = pool.stats();
    EXPECT_EQ(s.used, 0);
    EXPECT_EQ(s.available(), s.total);
    for (int32_t b = 0; b < pool.n_blocks(); ++b) EXPECT_EQ(pool.ref_count(b), 0);
}

TEST(KvStorage, CopyBlockCopiesEveryLayer) {
    KvConfig c;
    c.n_layer = 3;
    c.kv_dim = 8;
    c.block_size = 4;
    c.n_blocks = 3;
    c.type = KvType::kF32;
    KvStorage kv(c);
    for (int64_t l = 0; l < 3; ++l)
        for (int64_t s = 0; s < 4; ++s) {
            float* k = reinterpret_cast<float*>(kv.k_row(l, 1, s));
            float* v = reinterpret_cast<float*>(kv.v_row(l, 1, s));
            for (int j = 0; j < 8; ++j) {
                k[j] = static_cast<float>(l * 100 + s * 10 + j);
                v[j] = -k[j];
            }
        }
    kv.copy_block(1, 2);
    for (int64_t l = 0; l < 3; ++l)
        for (int64_t s = 0; s < 4; ++s) {
            EXPECT_EQ(std::memcmp(kv.k_row(l, 1, s), kv.k_row(l, 2, s), 32), 0);
            EXPECT_EQ(std::memcmp(kv.v_row(l, 1, s), kv.v_row(l, 2, s), 32), 0);
        }
}

}  // namespace
}  // namespace tk::kv
