#pragma once
// The engine without its thread: block pool, scheduler and runner, advanced one step at a time
// by whoever owns it. Engine (engine.h) runs it on a dedicated loop thread; tests and the bench
// may drive it directly for deterministic schedules. Not thread-safe except where noted.
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "engine/request.h"
#include "engine/runner.h"
#include "engine/scheduler.h"
#include "engine/sequence.h"
#include "engine/stream.h"
#include "kv/block_pool.h"
#include "model/forward.h"
#include "tokenizer/tokenizer.h"

namespace tk::engine {

struct EngineConfig {
    int64_t max_batch_tokens = 512;  // tokens computed per step, over all sequences
    int64_t max_seqs = 32;           // sequences running at once
    int64_t n_ctx = 0;               // longest sequence (prompt + output); <= 0: the model's
    bool prefix_caching = true;
    uint64_t model_identity = 0;  // mixed into prefix hashes (model, adapter)
    // Speculative decoding: up to draft_n tokens proposed per decoding step and verified by the
    // target in the same batched pass. The drafter is the runner's draft model when it has one,
    // else prompt lookup with n-grams of up to lookup_ngram tokens. 0 = off.
    int64_t draft_n = 0;
    int lookup_ngram = 0;
};

struct EngineStats {
    int64_t waiting = 0;
    int64_t running = 0;
    int64_t steps = 0;
    int64_t submitted = 0;
    int64_t finished = 0;  // every final event, cancelled and failed included
    int64_t cancelled = 0;
    int64_t computed_tokens = 0;   // rows through the model, recomputation included
    int64_t generated_tokens = 0;  // tokens sampled
    int64_t preemptions = 0;
    int64_t last_batch_tokens = 0;
    int64_t last_batch_seqs = 0;
    // Speculative decoding: draft tokens verified by the target and of those accepted.
    // acceptance rate = spec_accepted / spec_drafted.
    int64_t spec_steps = 0;  // sequence-steps that verified at least one draft token
    int64_t spec_drafted = 0;
    int64_t spec_accepted = 0;
    kv::BlockPoolStats kv;
};

class EngineCore {
public:
    // `tok` may be null (no text, no end-of-generation detection): the fake runner's case.
    EngineCore(std::unique_ptr<Runner> runner, const tokenizer::Tokenizer* tok,
               const EngineConfig& cfg);
    ~EngineCore();

    // The configuration in effect (n_ctx resolved and capped by the pool, max_seqs by the budget).
    const EngineConfig& config() const { return cfg_; }

    // Thread-safe: checks a request at the boundary (kInvalidArgument, kOutOfRange).
    Status validate(const Request& r) const;
    // Thread-safe: a validated request as a sequence with its stream.
    std::unique_ptr<Sequence> make_sequence(uint64_t id, Request r) const;

    void add(std::unique_ptr<Sequence> seq);
    // Single-threaded convenience: validate, assign the next id, add.
    Result<std::shared_ptr<Stream>> submit(Request r);
    // Ends a request at once: blocks freed, final event "cancelled". False if it is not here.
    bool cancel(uint64_t id);
    void cancel_all();

    // Schedules and runs one batch, emits the events. False when there was nothing to run.
    bool step();
    bool has_work() const { return !scheduler_.empty(); }

    EngineStats stats() const;
    const kv::BlockPool& pool() const { return pool_; }
    Runner& runner() { return *runner_; }
    const Scheduler& scheduler() const { return scheduler_; }
    // The last step's work: (request id, tokens computed) per scheduled sequence, in batch order.
    const std::vector<std::pair<uint64_t, int64_t>>& last_step() const { return last_step_; }

    // Runs after each step's bookkeeping, before the final events of that step are pushed (the
    // Engine refreshes its stats snapshot there, so a reader who saw a final event sees its
    // blocks freed in stats()).
    void set_step_end_hook(std::function<void()> fn) { hook_ = std::move(fn); }

private:
    void finish(Sequence& s, FinishReason reason, Status error = Status::ok());
    void flush_finals();
    void emit_token(Sequence& s, int32_t id, const float* logits, Event::Clock::time_point now);
    void cancel_abandoned();
    bool speculating() const { return cfg_.draft_n > 0; }
    // Fills each scheduled decoding sequence's `draft` (at most its granted n_draft tokens) and,
    // with a draft model, keeps the draft K/V in step with the target's.
    void propose_drafts();
    void draft_with_model();
    // Verifies (or, without drafts, samples) the rows of one sequence starting at `row`; returns
    // the rows consumed. Sets s.finish and queues s in scratch_ids_ when it ends.
    size_t verify(Sequence& s, size_t row, Event::Clock::time_point now);

    std::unique_ptr<Runner> runner_;
    const tokenizer::Tokenizer* tok_;
    EngineConfig cfg_;
    kv::BlockPool pool_;
    Scheduler scheduler_;
    uint64_t next_id_ = 1;

    StepPlan plan_;
    model::Batch batch_;
    std::vector<float> logits_;
    model::Batch draft_batch_;
    std::vector<float> draft_logits_;
    std::vector<float> p_scratch_;
    std::vector<int32_t> hist_scratch_;
    struct Drafting {
        Sequence* seq;
        int64_t n;  // draft tokens granted
        int32_t batch_seq;
    };
    std::vector<Drafting> drafting_;
    std::vector<std::pair<uint64_t, int64_t>> last_step_;
    std::vector<std::pair<std::shared_ptr<Stream>, Event>> finals_;
    std::vector<uint64_t> scratch_ids_;
    std::function<void()> hook_;
    EngineStats counters_;
};

}  // namespace tk::engine
