#pragma once
// What callers hand the engine (Request) and what comes back on a request's stream (Event).
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "sampling/sampler.h"

namespace tk::engine {

struct Request {
    std::vector<int32_t> prompt;  // token ids, BOS included if the model wants one
    sampling::SamplerParams sampling;
    int64_t max_tokens = 256;  // <= 0: until a stop token or the context is full
    // Extra end tokens (the model's end-of-generation tokens always stop, unless ignore_eos).
    std::vector<int32_t> stop_tokens;
    bool ignore_eos = false;  // benchmarks: only max_tokens and stop_tokens end the request
    bool logprobs = false;    // report the sampled token's log-probability
    int top_logprobs = 0;     // and the k most likely tokens (implies logprobs)
    uint64_t cache_salt = 0;  // requests share cached prefixes only with equal salts
};

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct Usage {
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    int64_t cached_tokens = 0;  // prompt tokens whose K/V came from the prefix cache
};

struct Event {
    using Clock = std::chrono::steady_clock;

    // A token event carries token >= 0; the final event has finish != kNone and may still carry
    // text (what the detokenizer held back until the end).
    int32_t token = -1;
    std::string text;  // UTF-8 piece, possibly empty while a multi-byte character is incomplete
    float logprob = 0.0f;
    std::vector<sampling::TokenProb> top_logprobs;
    FinishReason finish = FinishReason::kNone;
    Usage usage;             // final event only
    Status error;            // final event with kError only
    Clock::time_point time;  // when the engine step that produced it ended

    bool is_final() const { return finish != FinishReason::kNone; }
};

}  // namespace tk::engine
