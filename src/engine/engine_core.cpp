#include "engine/engine_core.h"

#include <algorithm>
#include <string>

#include "base/check.h"
#include "base/log.h"
#include "engine/speculative.h"

namespace tk::engine {
namespace {

EngineConfig resolve(EngineConfig c, const Runner& r) {
    const int64_t capacity = r.n_blocks() * r.block_size();
    if (c.n_ctx <= 0) c.n_ctx = std::min(r.max_context(), capacity);
    if (c.n_ctx > capacity) {
        log_warn("context of " + std::to_string(c.n_ctx) + " tokens capped to the KV cache's " +
                 std::to_string(capacity) + " tokens");
        c.n_ctx = capacity;
    }
    c.max_batch_tokens = std::max<int64_t>(1, c.max_batch_tokens);
    // Every running sequence can then decode in every step.
    c.max_seqs = std::clamp<int64_t>(c.max_seqs, 1, c.max_batch_tokens);
    // Speculation needs a drafter: the runner's draft model, else prompt lookup.
    c.draft_n = std::max<int64_t>(0, c.draft_n);
    c.lookup_ngram = std::max(0, c.lookup_ngram);
    if (!r.has_draft() && c.lookup_ngram == 0) c.draft_n = 0;
    return c;
}

SchedulerConfig scheduler_config(const EngineConfig& c) {
    SchedulerConfig s;
    s.max_batch_tokens = c.max_batch_tokens;
    s.max_seqs = c.max_seqs;
    s.prefix_caching = c.prefix_caching;
    s.max_draft = c.draft_n;
    return s;
}

}  // namespace

EngineCore::EngineCore(std::unique_ptr<Runner> runner, const tokenizer::Tokenizer* tok,
                       const EngineConfig& cfg)
    : runner_(std::move(runner)),
      tok_(tok),
      cfg_(resolve(cfg, *runner_)),
      pool_(runner_->n_blocks(), runner_->block_size()),
      scheduler_(scheduler_config(cfg_), pool_) {}

EngineCore::~EngineCore() { cancel_all(); }

Status EngineCore::validate(const Request& r) const {
    const int32_t n_vocab = runner_->n_vocab();
    if (r.prompt.empty())
        return make_error(ErrorCode::kInvalidArgument, "request: the prompt is empty");
    for (size_t i = 0; i < r.prompt.size(); ++i) {
        if (r.prompt[i] < 0 || r.prompt[i] >= n_vocab) {
            return make_error(ErrorCode::kInvalidArgument,
                              "request: prompt token " + std::to_string(i) + " has id " +
                                  std::to_string(r.prompt[i]) + ", outside the vocabulary (0.." +
                                  std::to_string(n_vocab - 1) + ")");
        }
    }
    const int64_t n = static_cast<int64_t>(r.prompt.size());
    if (n >= cfg_.n_ctx) {
        return make_error(ErrorCode::kOutOfRange, "request: the prompt has " + std::to_string(n) +
                                                      " tokens but the context holds " +
                                                      std::to_string(cfg_.n_ctx) +
                                                      " (prompt and at least one generated token)");
    }
    if (r.top_logprobs < 0 || r.top_logprobs > n_vocab) {
        return make_error(ErrorCode::kInvalidArgument,
                          "request: top_logprobs " + std::to_string(r.top_logprobs) +
                              " is outside 0.." + std::to_string(n_vocab));
    }
    return Status::ok();
}

std::unique_ptr<Sequence> EngineCore::make_sequence(uint64_t id, Request r) const {
    auto s = std::make_unique<Sequence>(id, std::move(r));
    s->tokens = std::move(s->req.prompt);
    s->req.prompt.clear();
    s->n_prompt = static_cast<int64_t>(s->tokens.size());
    s->usage.prompt_tokens = s->n_prompt;
    s->root_hash =
        kv::BlockPool::root_hash(cfg_.model_identity ^ (s->req.cache_salt * 0x9E3779B97F4A7C15ull));
    if (tok_ != nullptr) s->decoder.emplace(*tok_);
    s->stream = std::make_shared<Stream>(id);
    return s;
}

void EngineCore::add(std::unique_ptr<Sequence> seq) {
    TK_CHECK(seq && seq->stream);
    ++counters_.submitted;
    scheduler_.add(std::move(seq));
}

Result<std::shared_ptr<Stream>> EngineCore::submit(Request r) {
    TK_RETURN_IF_ERROR(validate(r));
    auto seq = make_sequence(next_id_++, std::move(r));
    auto stream = seq->stream;
    add(std::move(seq));
    return stream;
}

void EngineCore::finish(Sequence& s, FinishReason reason, Status error) {
    Event e;
    e.finish = reason;
    if (s.decoder) e.text = s.decoder->flush();
    e.usage = s.usage;
    e.error = std::move(error);
    e.time = Event::Clock::now();
    ++counters_.finished;
    if (reason == FinishReason::kCancelled) ++counters_.cancelled;
    finals_.emplace_back(s.stream, std::move(e));
    scheduler_.remove(s.id);  // releases the blocks and destroys `s`
}

void EngineCore::flush_finals() {
    if (hook_) hook_();
    for (auto& [stream, e] : finals_) stream->push(std::move(e));
    finals_.clear();
}

bool EngineCore::cancel(uint64_t id) {
    Sequence* s = scheduler_.find(id);
    if (s == nullptr) return false;
    finish(*s, FinishReason::kCancelled);
    flush_finals();
    return true;
}

void EngineCore::cancel_all() {
    scratch_ids_.clear();
    for (const auto& s : scheduler_.running()) scratch_ids_.push_back(s->id);
    for (const auto& s : scheduler_.waiting()) scratch_ids_.push_back(s->id);
    for (uint64_t id : scratch_ids_) finish(*scheduler_.find(id), FinishReason::kCancelled);
    flush_finals();
}

void EngineCore::cancel_abandoned() {
    // The engine holds the only reference left: nobody will read this stream again.
    scratch_ids_.clear();
    for (const auto& s : scheduler_.running())
        if (s->stream.use_count() == 1) scratch_ids_.push_back(s->id);
    for (const auto& s : scheduler_.waiting())
        if (s->stream.use_count() == 1) scratch_ids_.push_back(s->id);
    for (uint64_t id : scratch_ids_) finish(*scheduler_.find(id), FinishReason::kCancelled);
}

void EngineCore::emit_token(Sequence& s, int32_t id, const float* logits,
                            Event::Clock::time_point now) {
    Event e;
    e.token = id;
    if (s.decoder) e.text = s.decoder->push(id);
    const std::span<const float> row(logits, static_cast<size_t>(runner_->n_vocab()));
    if (s.req.logprobs || s.req.top_logprobs > 0) e.logprob = sampling::logprob_of(row, id);
    if (s.req.top_logprobs > 0) e.top_logprobs = sampling::top_logprobs(row, s.req.top_logprobs);
    e.time = now;
    s.stream->push(std::move(e));
}

bool EngineCore::step() {
    cancel_abandoned();
    if (speculating()) {
        for (const auto& s : scheduler_.running()) {
            // Every kept draft token and the one after it join the sequence: stay inside the
            // context and max_tokens.
            int64_t cap = cfg_.n_ctx - static_cast<int64_t>(s->tokens.size()) - 1;
            if (s->req.max_tokens > 0) cap = std::min(cap, s->req.max_tokens - s->n_generated() - 1);
            s->draft_cap = std::max<int64_t>(0, cap);
        }
    }
    scheduler_.schedule(plan_);
    for (Sequence* s : plan_.failed) {
        finish(*s, FinishReason::kError,
               make_error(
                   ErrorCode::kResourceExhausted,
                   "request " + std::to_string(s->id) + ": " + std::to_string(s->tokens.size()) +
                       " tokens do not fit in the KV cache (" + std::to_string(pool_.n_blocks()) +
                       " blocks of " + std::to_string(pool_.block_size()) + ")"));
    }
    if (plan_.seqs.empty() && plan_.failed.empty() && plan_.n_preempted == 0 &&
        scheduler_.n_running() == 0 && scheduler_.n_waiting() > 0) {
        // Nothing runs and the oldest waiting request cannot start: it never will.
        Sequence& s = *scheduler_.waiting().front();
        finish(s, FinishReason::kError,
               make_error(ErrorCode::kResourceExhausted,
                          "request " + std::to_string(s.id) + " does not fit in the KV cache"));
    }
    last_step_.clear();
    if (plan_.seqs.empty()) {
        const bool changed = !finals_.empty() || plan_.n_preempted > 0;
        flush_finals();
        return changed;
    }

    for (const auto& [src, dst] : plan_.copies) runner_->copy_block(src, dst);
    if (speculating()) propose_drafts();
    batch_.clear();
    for (const ScheduledSeq& p : plan_.seqs) {
        Sequence& s = *p.seq;
        const int32_t si = batch_.add_sequence(s.table.blocks());
        const int64_t last = static_cast<int64_t>(s.tokens.size()) - 1;
        for (int64_t j = 0; j < p.n_tokens; ++j) {
            const int64_t pos = s.n_computed + j;
            batch_.add(s.tokens[static_cast<size_t>(pos)], static_cast<int32_t>(pos), si,
                       pos == last);
        }
        // Draft tokens follow the last token; the target scores every one of them at once.
        for (size_t i = 0; i < s.draft.size(); ++i)
            batch_.add(s.draft[i], static_cast<int32_t>(last + 1 + static_cast<int64_t>(i)), si,
                       true);
        last_step_.emplace_back(s.id, p.n_tokens + static_cast<int64_t>(s.draft.size()));
    }
    const int32_t V = runner_->n_vocab();
    const size_t need = batch_.logit_rows.size() * static_cast<size_t>(V);
    if (logits_.size() < need) logits_.resize(need);
    runner_->run(batch_, logits_.data());
    const auto now = Event::Clock::now();

    ++counters_.steps;
    counters_.computed_tokens += batch_.size();
    counters_.last_batch_tokens = batch_.size();
    counters_.last_batch_seqs = static_cast<int64_t>(plan_.seqs.size());
    size_t row = 0;
    scratch_ids_.clear();  // sequences that end in this step
    for (const ScheduledSeq& p : plan_.seqs) {
        Sequence& s = *p.seq;
        s.n_computed += p.n_tokens;
        if (s.n_computed == static_cast<int64_t>(s.tokens.size())) row += verify(s, row, now);
        if (cfg_.prefix_caching) {
            // With a draft model a block is shared only once its draft K/V is written too.
            int64_t n = s.n_computed;
            if (runner_->has_draft()) n = std::min(n, s.n_draft_computed);
            s.table.publish_full(pool_, s.tokens, n, s.root_hash);
        }
    }
    for (uint64_t id : scratch_ids_) {
        Sequence& s = *scheduler_.find(id);
        finish(s, s.finish);
    }
    flush_finals();
    return true;
}

size_t EngineCore::verify(Sequence& s, size_t row, Event::Clock::time_point now) {
    // Row i scores the token after tokens[n_computed - 1 + i]: row 0 follows the last token,
    // row i > 0 follows draft[i - 1], and is used only while every earlier draft was kept.
    const int32_t V = runner_->n_vocab();
    const int64_t n_draft = static_cast<int64_t>(s.draft.size());
    const bool greedy = s.req.sampling.temperature <= 0.0f;
    int64_t kept_total = 0;
    int64_t examined = n_draft;  // drafts the target judged (fewer when the sequence ends)
    for (int64_t i = 0; i <= n_draft; ++i) {
        if (i > 0) ++s.n_computed;  // draft[i - 1] was kept: its K/V is now the sequence's
        const float* lg = logits_.data() + (row + static_cast<size_t>(i)) * static_cast<size_t>(V);
        const std::span<const float> lrow(lg, static_cast<size_t>(V));
        int32_t id;
        bool kept = false;
        if (i < n_draft) {
            const int32_t d = s.draft[static_cast<size_t>(i)];
            if (greedy) {
                // The very choice the non-speculative path makes: identical output by design.
                id = s.sampler.sample(lrow, s.tokens);
                kept = id == d;
            } else {
                sampler_distribution(s.req.sampling, lrow, s.tokens, p_scratch_);
                std::span<const float> q;
                if (!s.draft_q.empty())
                    q = std::span<const float>(s.draft_q.data() + i * V, static_cast<size_t>(V));
                id = accept_or_resample(p_scratch_, q, d, s.spec_rng, kept);
            }
        } else {
            id = s.sampler.sample(lrow, s.tokens);  // all drafts kept (or none): a plain draw
        }
        kept_total += kept ? 1 : 0;
        ++counters_.generated_tokens;
        ++s.usage.completion_tokens;
        const bool eog = tok_ != nullptr && !s.req.ignore_eos && tok_->is_eog(id);
        if (eog || std::find(s.req.stop_tokens.begin(), s.req.stop_tokens.end(), id) !=
                       s.req.stop_tokens.end()) {
            s.finish = FinishReason::kStop;
            scratch_ids_.push_back(s.id);
            examined = std::min(n_draft, i + 1);
            break;
        }
        s.tokens.push_back(id);
        emit_token(s, id, lg, now);
        const bool full = static_cast<int64_t>(s.tokens.size()) >= cfg_.n_ctx;
        if (full || (s.req.max_tokens > 0 && s.n_generated() >= s.req.max_tokens)) {
            s.finish = FinishReason::kLength;
            scratch_ids_.push_back(s.id);
            examined = std::min(n_draft, i + 1);
            break;
        }
        if (!kept) break;
    }
    if (n_draft > 0) {
        ++counters_.spec_steps;
        counters_.spec_drafted += examined;
        counters_.spec_accepted += kept_total;
    }
    s.n_draft_computed = std::min(s.n_draft_computed, s.n_computed);
    s.draft.clear();
    s.draft_q.clear();
    return static_cast<size_t>(n_draft) + 1;
}

void EngineCore::propose_drafts() {
    if (runner_->has_draft()) {
        draft_with_model();
        return;
    }
    for (const ScheduledSeq& p : plan_.seqs) {
        p.seq->draft.clear();
        if (p.n_draft > 0) lookup_draft(p.seq->tokens, cfg_.lookup_ngram, p.n_draft, p.seq->draft);
    }
}

void EngineCore::draft_with_model() {
    const int32_t V = runner_->n_vocab();
    // Pass 1: the draft model computes every row the target computes this step (its K/V must
    // cover the same positions), plus a row it lags behind; drafting sequences want logits.
    draft_batch_.clear();
    drafting_.clear();
    for (const ScheduledSeq& p : plan_.seqs) {
        Sequence& s = *p.seq;
        s.draft.clear();
        s.draft_q.clear();
        s.n_draft_computed = std::min(s.n_draft_computed, s.n_computed);
        const int64_t end = s.n_computed + p.n_tokens;
        const int32_t si = draft_batch_.add_sequence(s.table.blocks());
        for (int64_t pos = s.n_draft_computed; pos < end; ++pos) {
            draft_batch_.add(s.tokens[static_cast<size_t>(pos)], static_cast<int32_t>(pos), si,
                             p.n_draft > 0 && pos == end - 1);
        }
        s.n_draft_computed = end;
        if (p.n_draft > 0) drafting_.push_back({&s, p.n_draft, si});
    }
    // Round 0 runs even when nobody drafts: it keeps the draft K/V in step.
    int64_t rounds = 1;
    for (const Drafting& d : drafting_) rounds = std::max(rounds, d.n);
    for (int64_t r = 0; r < rounds; ++r) {
        if (r > 0) {
            // Round r feeds draft[r - 1] at the position after the last token + r - 1.
            draft_batch_.clear();
            for (Drafting& d : drafting_) {
                if (d.n <= r) continue;
                Sequence& s = *d.seq;
                const int64_t pos = static_cast<int64_t>(s.tokens.size()) + r - 1;
                d.batch_seq = draft_batch_.add_sequence(s.table.blocks());
                draft_batch_.add(s.draft[static_cast<size_t>(r - 1)], static_cast<int32_t>(pos),
                                 d.batch_seq, true);
                s.n_draft_computed = pos + 1;
            }
        }
        const size_t need = draft_batch_.logit_rows.size() * static_cast<size_t>(V);
        if (draft_logits_.size() < need) draft_logits_.resize(need);
        runner_->run_draft(draft_batch_, draft_logits_.data());
        size_t row = 0;
        for (Drafting& d : drafting_) {
            if (d.n <= r) continue;
            Sequence& s = *d.seq;
            const std::span<const float> lrow(draft_logits_.data() + row++ * static_cast<size_t>(V),
                                              static_cast<size_t>(V));
            hist_scratch_.assign(s.tokens.begin(), s.tokens.end());
            hist_scratch_.insert(hist_scratch_.end(), s.draft.begin(), s.draft.end());
            sampler_distribution(s.req.sampling, lrow, hist_scratch_, p_scratch_);
            if (s.req.sampling.temperature <= 0.0f) {
                // Greedy drafting: the point mass is the draft's choice (q is not needed).
                s.draft.push_back(static_cast<int32_t>(
                    std::max_element(p_scratch_.begin(), p_scratch_.end()) - p_scratch_.begin()));
            } else {
                s.draft.push_back(sample_from(p_scratch_, s.spec_rng));
                s.draft_q.insert(s.draft_q.end(), p_scratch_.begin(), p_scratch_.end());
            }
        }
    }
}

EngineStats EngineCore::stats() const {
    EngineStats s = counters_;
    s.waiting = scheduler_.n_waiting();
    s.running = scheduler_.n_running();
    s.preemptions = scheduler_.preemptions();
    s.kv = pool_.stats();
    return s;
}

}  // namespace tk::engine
