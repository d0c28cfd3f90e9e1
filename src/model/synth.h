#pragma once
// Random-weight model writer: any supported architecture (arch.h) and shape, any tensor type,
// tokenizer copied from a given GGUF. Tests and benchmarks make the models they need with it
// (`tokamak synth`). Matrices ~ N(0, scale); norm weights ~ 1 + N(0, 0.2) (Gemma's as stored
// in GGUF, i.e. with the +1 that convert_hf_to_gguf adds); biases ~ N(0, 0.2).
#include <cstdint>
#include <string>

#include "base/status.h"
#include "core/dtype.h"

namespace tk::model {

struct SynthOptions {
    std::string arch = "llama";  // llama | mistral | qwen2 | phi3 | gemma | starcoder2
    std::string vocab_from;      // GGUF whose tokenizer.* metadata is copied (sets n_vocab)
    int64_t n_embd = 256;
    int64_t n_layer = 2;
    int64_t n_head = 8;
    int64_t n_head_kv = 4;
    int64_t n_ff = 512;
    int64_t head_dim = 0;           // 0: n_embd / n_head (Gemma's key_length may differ)
    bool separate_qkv = false;      // phi3: attn_q/k/v instead of the fused attn_qkv
    int64_t longrope_orig_ctx = 0;  // phi3: > 0 writes LongRoPE factors for this original context
    int64_t n_expert = 0;
    int64_t n_expert_used = 0;
    int64_t n_ctx = 2048;
    bool tied_output = false;  // always for gemma (llama.cpp never reads its output.weight)
    DType type = DType::kF16;  // weight matrices; norms and biases stay F32
    float scale = 0.05f;       // std of matrix weights
    uint64_t seed = 1234;
    int n_threads = 0;
};

Status write_synthetic_model(const SynthOptions& opts, const std::string& out_path);

}  // namespace tk::model
