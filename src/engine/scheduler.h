#pragma once
// vLLM-style scheduler. Each step hands out at most max_batch_tokens tokens of work:
//   1. every running sequence that is decoding gets its one token (in admission order);
//   2. running sequences still prefilling get chunks of their prompt from what is left;
//   3. waiting sequences are admitted in arrival order (preempted ones are at the front) while
//      budget, the sequence cap and free blocks allow, each with its first chunk.
// A long prompt therefore never stalls the decoding streams: it is prefilled over several steps.
// When a running sequence needs a block and none is available, the newest running sequence is
// preempted: its blocks are released (published ones stay cached, so its recompute often hits
// the prefix cache) and it goes back to the front of the waiting queue to be recomputed.
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "engine/sequence.h"
#include "kv/block_pool.h"
#include "kv/block_table.h"

namespace tk::engine {

struct SchedulerConfig {
    int64_t max_batch_tokens = 512;
    int64_t max_seqs = 32;
    bool prefix_caching = true;
    // Speculative decoding: a decoding sequence may also get up to this many draft positions
    // (budget and free blocks permitting; never at the cost of a preemption).
    int64_t max_draft = 0;
};

struct ScheduledSeq {
    Sequence* seq;
    int64_t n_tokens;  // compute tokens[seq->n_computed .. + n_tokens)
    int64_t n_draft = 0;  // decoding only: slots reserved for draft tokens after the last one
};

struct StepPlan {
    std::vector<ScheduledSeq> seqs;
    std::vector<kv::BlockCopy> copies;  // perform in order before the forward pass
    std::vector<Sequence*> failed;      // cannot ever fit in the pool: finish with an error
    int64_t n_tokens = 0;
    int64_t n_preempted = 0;

    void clear();
};

class Scheduler {
public:
    Scheduler(const SchedulerConfig& cfg, kv::BlockPool& pool);

    const SchedulerConfig& config() const { return cfg_; }
    void add(std::unique_ptr<Sequence> seq);  // joins the waiting queue's tail
    void schedule(StepPlan& plan);

    // Takes a sequence out (finished, cancelled or failed) and releases its blocks.
    std::unique_ptr<Sequence> remove(uint64_t id);
    Sequence* find(uint64_t id);

    int64_t n_waiting() const { return static_cast<int64_t>(waiting_.size()); }
    int64_t n_running() const { return static_cast<int64_t>(running_.size()); }
    bool empty() const { return waiting_.empty() && running_.empty(); }
    int64_t preemptions() const { return preemptions_; }
    const std::vector<std::unique_ptr<Sequence>>& running() const { return running_; }
    const std::deque<std::unique_ptr<Sequence>>& waiting() const { return waiting_; }

private:
    // Largest m <= n such that computing m more tokens of `s` fits in the available blocks.
    int64_t tokens_that_fit(const Sequence& s, int64_t n) const;
    // Reserves blocks for n tokens of running sequence s, preempting newer sequences as needed
    // and shrinking a prefill chunk when only part fits. Returns the tokens granted (0: s was
    // preempted or failed).
    int64_t reserve(Sequence& s, int64_t n, bool decoding, StepPlan& plan, int64_t& budget);
    // Draft slots for decoding sequence s after its token was reserved: up to min(max_draft,
    // s.draft_cap, budget), only what fits without preempting. Returns the slots granted.
    int64_t reserve_draft(Sequence& s, StepPlan& plan, int64_t& budget);
    void preempt(size_t running_index, StepPlan& plan, int64_t& budget);

    SchedulerConfig cfg_;
    kv::BlockPool& pool_;
    std::deque<std::unique_ptr<Sequence>> waiting_;
    std::vector<std::unique_ptr<Sequence>> running_;  // admission order
    std::vector<Sequence*> snapshot_;                 // reused each step
    int64_t preemptions_ = 0;
};

}  // namespace tk::engine
