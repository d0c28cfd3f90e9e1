#pragma once
// Speculative decoding options shared by run, serve and bench: a draft model (loaded with its own
// in-place quantization) or prompt lookup, and how many tokens to draft per step.
#include <cstdint>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "base/status.h"
#include "engine/engine_core.h"
#include "model/model.h"

namespace tk::apps {

struct SpecOptions {
    std::string draft_model;
    int64_t draft_n = 5;
    std::string draft_isq;
    int lookup_ngram = 0;

    void add_to(CLI::App& cmd);
    bool enabled() const { return !draft_model.empty() || lookup_ngram > 0; }
    // The draft model, or null when none was asked for. Fails if it cannot draft for `target`
    // (a different vocabulary).
    Result<std::unique_ptr<model::Model>> load_draft(const model::Model& target,
                                                     int n_threads) const;
    // Sets draft_n and lookup_ngram (the runner's draft model, if any, takes precedence).
    void apply(engine::EngineConfig& cfg) const;
};

// kInvalidArgument naming the first differing token when `draft` does not share the target's
// vocabulary (ids and texts).
Status check_draft_compatible(const model::Model& target, const model::Model& draft,
                              const std::string& draft_path);

}  // namespace tk::apps
