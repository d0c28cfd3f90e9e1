#pragma once
// Options shared by every subcommand that loads a model.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "model/model.h"
#include "model/session.h"

namespace tk::apps {

struct ModelOptions {
    std::string model_path;  // a local path or hf://OWNER/REPO/FILE (downloaded on load)
    std::string hf_repo;     // --hf-repo OWNER/REPO (with --hf-file), instead of -m
    std::string hf_file;
    std::string hf_revision = "main";
    bool offline = false;
    int n_threads = 0;
    int64_t n_ctx = 0;
    std::string kv_type = "f16";
    std::string isq;
    std::string tokenizer_path;

    // positional: also accept the model path as the first positional argument (`tokamak info MODEL`).
    void add_to(CLI::App& cmd, bool with_ctx = true, bool positional = false);
    model::KvType kv() const { return kv_type == "f32" ? model::KvType::kF32 : model::KvType::kF16; }
    // The local file to open: model_path itself, or the hub file (-m hf://..., --hf-repo/
    // --hf-file) after downloading it into the cache (see formats/hub.h).
    Result<std::string> resolve() const;
    // A name for the model: the file name of -m or --hf-file.
    std::string display_name() const;
    Result<std::unique_ptr<model::Model>> load() const;
};

}  // namespace tk::apps
