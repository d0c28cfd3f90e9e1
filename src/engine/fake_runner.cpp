#include "engine/fake_runner.h"

#include <algorithm>

#include "base/check.h"

namespace tk::engine {
namespace {

inline uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

constexpr uint64_t kSeed = 0x5EEDF00Dull;

}  // namespace

FakeRunner::FakeRunner(int32_t n_vocab, int64_t n_blocks, int64_t block_size, int64_t max_context)
    : n_vocab_(n_vocab),
      n_blocks_(n_blocks),
      block_size_(block_size),
      max_context_(max_context),
      slots_(static_cast<size_t>(n_blocks * block_size)) {
    TK_CHECK(n_vocab > 0 && n_blocks > 0 && block_size > 0);
}

uint64_t FakeRunner::fingerprint(int32_t token, int32_t pos) {
    return mix64((static_cast<uint64_t>(static_cast<uint32_t>(pos)) << 32) |
                 static_cast<uint32_t>(token));
}

void FakeRunner::logits_from_state(uint64_t h, float* logits) const {
    for (int32_t v = 0; v < n_vocab_; ++v)
        logits[v] =
            static_cast<float>(mix64(h ^ (0xA5A5ull + static_cast<uint64_t>(v))) >> 40) * 0x1p-20f;
}

void FakeRunner::run(const model::Batch& b, float* logits) {
    ++counters_.steps;
    counters_.rows += b.size();
    counters_.logit_rows += static_cast<int64_t>(b.logit_rows.size());
    counters_.max_rows = std::max(counters_.max_rows, b.size());
    run_on(slots_, b, logits, false);
}

void FakeRunner::enable_draft(int agree_percent) {
    draft_agree_ = std::clamp(agree_percent, 0, 100);
    draft_slots_.assign(slots_.size(), Slot{});
}

void FakeRunner::run_draft(const model::Batch& b, float* logits) {
    TK_CHECK(has_draft());
    draft_rows_ += b.size();
    run_on(draft_slots_, b, logits, true);
}

void FakeRunner::run_on(std::vector<Slot>& slots, const model::Batch& b, float* logits,
                        bool draft) {
    const int64_t n = b.size();
    TK_CHECK(n > 0);
    // Like the real forward: every row's K/V is stored before any row attends.
    for (int64_t i = 0; i < n; ++i) {
        const int32_t tok = b.tokens[static_cast<size_t>(i)],
                      pos = b.positions[static_cast<size_t>(i)];
        TK_CHECK(tok >= 0 && tok < n_vocab_ && pos >= 0 && pos < max_context_);
        const auto& table = b.block_tables[static_cast<size_t>(b.seq[static_cast<size_t>(i)])];
        TK_CHECK(pos / block_size_ < static_cast<int64_t>(table.size()));
        const int32_t blk = table[static_cast<size_t>(pos / block_size_)];
        TK_CHECK(blk >= 0 && blk < n_blocks_);
        slots[static_cast<size_t>(blk * block_size_ + pos % block_size_)] = {fingerprint(tok, pos),
                                                                             pos};
    }
    for (size_t r = 0; r < b.logit_rows.size(); ++r) {
        const size_t i = static_cast<size_t>(b.logit_rows[r]);
        const int32_t pos = b.positions[i];
        const auto& table = b.block_tables[static_cast<size_t>(b.seq[i])];
        uint64_t h = kSeed;
        for (int32_t t = 0; t <= pos; ++t) {
            const Slot& s = slots[static_cast<size_t>(
                table[static_cast<size_t>(t / block_size_)] * block_size_ + t % block_size_)];
            TK_CHECK(s.pos == t);  // a slot never written for this position: broken block table
            h = mix64(h ^ s.fingerprint);
        }
        // The draft disagrees with the target on a fixed subset of histories.
        if (draft && static_cast<int>(mix64(h ^ 0xD4AF7ull) % 100) >= draft_agree_)
            h = mix64(h ^ 0xBADull);
        logits_from_state(h, logits + r * static_cast<size_t>(n_vocab_));
    }
}

void FakeRunner::copy_block(int32_t src, int32_t dst) {
    TK_CHECK(src >= 0 && src < n_blocks_ && dst >= 0 && dst < n_blocks_ && src != dst);
    std::copy_n(slots_.begin() + src * block_size_, block_size_,
                slots_.begin() + dst * block_size_);
    if (has_draft()) {
        std::copy_n(draft_slots_.begin() + src * block_size_, block_size_,
                    draft_slots_.begin() + dst * block_size_);
    }
    ++counters_.copies;
}

void FakeRunner::reference_logits(const std::vector<int32_t>& tokens, float* logits) const {
    uint64_t h = kSeed;
    for (size_t t = 0; t < tokens.size(); ++t)
        h = mix64(h ^ fingerprint(tokens[t], static_cast<int32_t>(t)));
    logits_from_state(h, logits);
}

}  // namespace tk::engine
