#pragma once
// A model-free Runner for tests: its "K/V" of a slot is a fingerprint of (token, position), and
// the logits of a row are a deterministic function of the fingerprints of positions 0..pos read
// through the sequence's block table. So logits depend on the whole token history exactly as
// far as the paged storage holds it correctly: a wrong block table, a missed copy-on-write or a
// stale cached block changes the output, as it would with a real model.
#include <cstdint>
#include <vector>

#include "engine/runner.h"

namespace tk::engine {

class FakeRunner final : public Runner {
public:
    FakeRunner(int32_t n_vocab, int64_t n_blocks, int64_t block_size = 16,
               int64_t max_context = 4096);

    int32_t n_vocab() const override { return n_vocab_; }
    int64_t max_context() const override { return max_context_; }
    int64_t n_blocks() const override { return n_blocks_; }
    int64_t block_size() const override { return block_size_; }
    void run(const model::Batch& batch, float* logits) override;
    void copy_block(int32_t src, int32_t dst) override;

    // A fake draft model with storage of its own: its logits equal the target's for the same
    // history in `agree_percent` of histories (a deterministic pick), else unrelated ones. Like
    // run(), it checks that every position it reads was written through the block table.
    void enable_draft(int agree_percent);
    bool has_draft() const override { return draft_agree_ >= 0; }
    void run_draft(const model::Batch& batch, float* logits) override;
    int64_t draft_rows() const { return draft_rows_; }

    // What the runner has seen, for tests.
    struct Counters {
        int64_t steps = 0;
        int64_t rows = 0;
        int64_t logit_rows = 0;
        int64_t max_rows = 0;  // largest batch
        int64_t copies = 0;
    };
    const Counters& counters() const { return counters_; }

    // Logits the fake produces for the history `tokens` (positions 0..n-1): the reference a
    // test compares against without any engine.
    void reference_logits(const std::vector<int32_t>& tokens, float* logits) const;

private:
    struct Slot {
        uint64_t fingerprint = 0;
        int32_t pos = -1;
    };
    static uint64_t fingerprint(int32_t token, int32_t pos);
    void run_on(std::vector<Slot>& slots, const model::Batch& b, float* logits, bool draft);
    void logits_from_state(uint64_t h, float* logits) const;

    int32_t n_vocab_;
    int64_t n_blocks_, block_size_, max_context_;
    std::vector<Slot> slots_;  // [n_blocks, block_size]
    std::vector<Slot> draft_slots_;
    int draft_agree_ = -1;
    int64_t draft_rows_ = 0;
    Counters counters_;
};

}  // namespace tk::engine
