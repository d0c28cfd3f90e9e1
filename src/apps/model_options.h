#pragma once
// Options shared by every subcommand that loads a model.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "model/model.h"
#include "model/session.h"

namespace tk::apps {

struct ModelOptions {
    std::string model_path;
    int n_threads = 0;
    int64_t n_ctx = 0;
    std::string kv_type = "f16";
    std::string isq;
    std::string tokenizer_path;

    // positional: also accept the model path as the first positional argument (`tokamak info MODEL`).
    void add_to(CLI::App& cmd, bool with_ctx = true, bool positional = false);
    model::KvType kv() const { return kv_type == "f32" ? model::KvType::kF32 : model::KvType::kF16; }
    Result<std::unique_ptr<model::Model>> load() const;
};

}  // namespace tk::apps
