#pragma once
// Random-weight model writer: any llama-family shape, any tensor type, tokenizer copied from a
// given GGUF. Tests and benchmarks make the models they need with it (`tokamak synth`).
#include <cstdint>
#include <string>

#include "base/status.h"
#include "core/dtype.h"

namespace tk::model {

struct SynthOptions {
    std::string arch = "llama";  // llama | qwen2
    std::string vocab_from;      // GGUF whose tokenizer.* metadata is copied (sets n_vocab)
    int64_t n_embd = 256;
    int64_t n_layer = 2;
    int64_t n_head = 8;
    int64_t n_head_kv = 4;
    int64_t n_ff = 512;
    int64_t n_expert = 0;
    int64_t n_expert_used = 0;
    int64_t n_ctx = 2048;
    bool tied_output = false;
    DType type = DType::kF16;  // weight matrices; norms and biases stay F32
    float scale = 0.05f;       // std of matrix weights
    uint64_t seed = 1234;
    int n_threads = 0;
};

Status write_synthetic_model(const SynthOptions& opts, const std::string& out_path);

}  // namespace tk::model
