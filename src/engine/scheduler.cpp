#include "engine/scheduler.h"

#include <algorithm>

#include "base/check.h"

namespace tk::engine {

void StepPlan::clear() {
    seqs.clear();
    copies.clear();
    failed.clear();
    n_tokens = 0;
    n_preempted = 0;
}

Scheduler::Scheduler(const SchedulerConfig& cfg, kv::BlockPool& pool) : cfg_(cfg), pool_(pool) {
    TK_CHECK(cfg_.max_batch_tokens > 0 && cfg_.max_seqs > 0);
}

void Scheduler::add(std::unique_ptr<Sequence> seq) {
    seq->running = false;
    waiting_.push_back(std::move(seq));
}

Sequence* Scheduler::find(uint64_t id) {
    for (auto& s : running_)
        if (s->id == id) return s.get();
    for (auto& s : waiting_)
        if (s->id == id) return s.get();
    return nullptr;
}

std::unique_ptr<Sequence> Scheduler::remove(uint64_t id) {
    std::unique_ptr<Sequence> out;
    const auto match = [id](const std::unique_ptr<Sequence>& s) { return s->id == id; };
    if (auto it = std::find_if(running_.begin(), running_.end(), match); it != running_.end()) {
        out = std::move(*it);
        running_.erase(it);
    } else if (auto wt = std::find_if(waiting_.begin(), waiting_.end(), match);
               wt != waiting_.end()) {
        out = std::move(*wt);
        waiting_.erase(wt);
    }
    if (out) {
        out->table.release_all(pool_);
        out->running = false;
    }
    return out;
}

int64_t Scheduler::tokens_that_fit(const Sequence& s, int64_t n) const {
    const int64_t avail = pool_.n_available();
    const auto fits = [&](int64_t m) {
        return s.table.blocks_needed(pool_, s.n_computed, s.n_computed + m) <= avail;
    };
    if (fits(n)) return n;
    // blocks_needed grows with m: binary search the largest m that fits.
    int64_t lo = 0, hi = n;  // fits(lo) holds, fits(hi) does not
    while (hi - lo > 1) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (fits(mid)) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void Scheduler::preempt(size_t index, StepPlan& plan, int64_t& budget) {
    Sequence* v = running_[index].get();
    // A victim already given work in this step gives its tokens back.
    for (auto it = plan.seqs.begin(); it != plan.seqs.end(); ++it) {
        if (it->seq == v) {
            budget += it->n_tokens + it->n_draft;
            plan.n_tokens -= it->n_tokens + it->n_draft;
            plan.seqs.erase(it);
            break;
        }
    }
    v->table.release_all(pool_);
    v->n_computed = 0;
    v->n_draft_computed = 0;
    v->running = false;
    ++v->preemptions;
    ++preemptions_;
    ++plan.n_preempted;
    waiting_.push_front(std::move(running_[index]));
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(index));
}

int64_t Scheduler::reserve(Sequence& s, int64_t n, bool decoding, StepPlan& plan, int64_t& budget) {
    // Each round either succeeds or removes one sequence from running_: bounded.
    for (;;) {
        const int64_t m = tokens_that_fit(s, n);
        if (m == n || (m > 0 && !decoding)) {
            const bool ok = s.table.prepare(pool_, s.n_computed, s.n_computed + m, plan.copies);
            TK_CHECK(ok);
            return m;
        }
        if (running_.size() == 1) {
            // Alone with every block available and still no room: it can never run.
            plan.failed.push_back(&s);
            return 0;
        }
        size_t newest = 0;
        for (size_t i = 1; i < running_.size(); ++i)
            if (running_[i]->id > running_[newest]->id) newest = i;
        const bool self = running_[newest].get() == &s;
        preempt(newest, plan, budget);
        if (self) return 0;
    }
}

int64_t Scheduler::reserve_draft(Sequence& s, StepPlan& plan, int64_t& budget) {
    const int64_t want = std::min({cfg_.max_draft, s.draft_cap, budget});
    if (want <= 0) return 0;
    // The decoding token's slot is already writable; extend past it with what fits as is.
    const int64_t m = tokens_that_fit(s, 1 + want) - 1;
    if (m <= 0) return 0;
    const bool ok = s.table.prepare(pool_, s.n_computed, s.n_computed + 1 + m, plan.copies);
    TK_CHECK(ok);
    plan.n_tokens += m;
    budget -= m;
    return m;
}

void Scheduler::schedule(StepPlan& plan) {
    plan.clear();
    int64_t budget = cfg_.max_batch_tokens;

    // Passes 1 and 2 over a snapshot: preemption reorders running_ while we walk.
    snapshot_.clear();
    for (auto& s : running_) snapshot_.push_back(s.get());
    for (int pass = 0; pass < 2; ++pass) {
        for (Sequence* s : snapshot_) {
            if (budget == 0) break;
            if (!s->running) continue;  // preempted earlier in this step
            const bool decoding = s->n_pending() == 1;
            if (decoding != (pass == 0)) continue;
            if (std::find(plan.failed.begin(), plan.failed.end(), s) != plan.failed.end()) continue;
            const int64_t n = std::min(s->n_pending(), budget);
            const int64_t got = reserve(*s, n, decoding, plan, budget);
            if (got > 0) {
                plan.seqs.push_back({s, got, 0});
                plan.n_tokens += got;
                budget -= got;
            }
        }
    }
    // Draft slots come last among running sequences: they use only what decoding and prefill
    // left, so speculation never causes a preemption or delays a prompt.
    if (cfg_.max_draft > 0) {
        for (ScheduledSeq& p : plan.seqs)
            if (p.seq->n_pending() == 1) p.n_draft = reserve_draft(*p.seq, plan, budget);
    }

    // Pass 3: admit waiting sequences, unless this step had to preempt (memory is tight).
    if (plan.n_preempted > 0 || !plan.failed.empty()) return;
    while (!waiting_.empty() && budget > 0 &&
           static_cast<int64_t>(running_.size()) < cfg_.max_seqs) {
        Sequence& s = *waiting_.front();
        int64_t matched = 0;
        if (cfg_.prefix_caching) matched = s.table.match_prefix(pool_, s.tokens, s.root_hash);
        // At least the last token is computed: its logits give the next token. When the whole
        // prompt is cached, that token's slot is rewritten (copy-on-write if shared).
        s.n_computed = std::min(matched, static_cast<int64_t>(s.tokens.size()) - 1);
        // Cached blocks hold the draft model's K/V too (published only once it is written).
        s.n_draft_computed = s.n_computed;
        const int64_t n = std::min(s.n_pending(), budget);
        if (tokens_that_fit(s, n) < n) {
            s.table.release_all(pool_);
            s.n_computed = 0;
            break;  // first come, first served: later arrivals wait too
        }
        const bool ok = s.table.prepare(pool_, s.n_computed, s.n_computed + n, plan.copies);
        TK_CHECK(ok);
        if (!s.admitted_once) {
            s.admitted_once = true;
            s.usage.cached_tokens = s.n_computed;
            pool_.record_lookup(s.n_prompt, s.n_computed);
        }
        s.running = true;
        plan.seqs.push_back({&s, n, 0});
        plan.n_tokens += n;
        budget -= n;
        running_.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
    }
}

}  // namespace tk::engine
