#pragma once
// The engine's state for one request. Owned by the scheduler, touched only by the engine loop.
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "engine/request.h"
#include "engine/stream.h"
#include "kv/block_table.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace tk::engine {

struct Sequence {
    Sequence(uint64_t id_, Request r) : id(id_), req(std::move(r)), sampler(req.sampling) {}

    uint64_t id;  // increasing with arrival: a larger id is a newer request
    Request req;  // req.prompt is moved into `tokens`
    // Prompt, then every generated token. After preemption all of them are recomputed, so the
    // generated ones become part of the "prompt" the scheduler prefills, and the stream goes on.
    std::vector<int32_t> tokens;
    int64_t n_prompt = 0;
    int64_t n_computed = 0;  // tokens[0 .. n_computed) have K/V in `table`
    kv::BlockTable table;
    uint64_t root_hash = 0;  // prefix-cache chain root (model identity + cache salt)
    sampling::Sampler sampler;
    std::optional<tokenizer::StreamDecoder> decoder;
    std::shared_ptr<Stream> stream;
    Usage usage;
    bool admitted_once = false;
    bool running = false;                       // in the scheduler's running list (else waiting)
    FinishReason finish = FinishReason::kNone;  // decided during a step, applied at its end
    int64_t preemptions = 0;

    // Speculative decoding. The draft model's K/V lives in the same blocks as the target's;
    // tokens[0 .. n_draft_computed) have draft K/V (it may lag the target by one token).
    int64_t n_draft_computed = 0;
    int64_t draft_cap = 0;       // most draft tokens worth proposing now (context, max_tokens)
    std::vector<int32_t> draft;  // this step's proposal, verified by the target
    std::vector<float> draft_q;  // [draft.size(), n_vocab] draft distributions (sampling only)
    std::mt19937_64 spec_rng{req.sampling.seed ^ 0x5BEC0DEull};

    int64_t n_generated() const { return static_cast<int64_t>(tokens.size()) - n_prompt; }
    // Tokens to compute before the next token can be sampled (1 while decoding).
    int64_t n_pending() const { return static_cast<int64_t>(tokens.size()) - n_computed; }
};

}  // namespace tk::engine
