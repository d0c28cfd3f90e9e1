#pragma once
// A loaded decoder-only transformer (Llama 2/3, Mistral, Mixtral MoE, Qwen2, Phi-3, Gemma,
// StarCoder2; see arch.h): hyperparameters, tokenizer and weights bound by GGUF tensor name,
// plus a thread pool. Weights stay in the file mapping; fused tensors (Phi-3's attn_qkv and
// gate/up) are bound as row ranges of the mapped tensor; only 1-D tensors (norms, biases,
// rope factors) are copied to float. An empty bias vector means "no bias".
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "core/tensor_view.h"
#include "model/hparams.h"

namespace tk::formats {
class GgufFile;
}
namespace tk::tokenizer {
class Tokenizer;
}

namespace tk::model {

struct LayerWeights {
    std::vector<float> attn_norm, attn_norm_b;  // [n_embd]; bias only with LayerNorm
    TensorView wq, wk, wv, wo;                // [q_dim, n_embd], [kv_dim, n_embd] x2, [n_embd, q_dim]
    std::vector<float> bq, bk, bv, bo;        // optional biases (qwen2, starcoder2)
    bool fused_qkv = false;                   // wq/wk/wv are row ranges of attn_qkv
    std::vector<float> ffn_norm, ffn_norm_b;  // [n_embd]
    TensorView ffn_gate, ffn_up, ffn_down;    // [n_ff, n_embd] x2, [n_embd, n_ff]; kGelu: no gate
    std::vector<float> ffn_gate_b, ffn_up_b, ffn_down_b;  // optional biases (starcoder2)
    bool fused_gate_up = false;               // ffn_gate/ffn_up are the halves of ffn_up (phi3)
    TensorView ffn_gate_inp;                  // MoE router [n_expert, n_embd]
    TensorView ffn_gate_exps, ffn_up_exps;    // [n_expert, n_ff, n_embd]
    TensorView ffn_down_exps;                 // [n_expert, n_embd, n_ff]
};

struct LoadOptions {
    int n_threads = 0;           // <= 0: all cores
    std::string isq;             // quantize float weights while loading (preset, e.g. "Q4_K_M")
    std::string tokenizer_path;  // vocabulary for formats without one (llama2.c) or to replace it
};

class Model {
public:
    static Result<std::unique_ptr<Model>> load(const std::string& path, const LoadOptions& opts);
    ~Model();

    const HParams& hparams() const { return hp_; }
    const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
    const formats::GgufFile& gguf() const { return *gguf_; }
    ThreadPool& pool() const { return *pool_; }
    const std::string& path() const { return path_; }

    const TensorView& token_embd() const { return token_embd_; }
    const std::vector<float>& output_norm() const { return output_norm_; }
    const std::vector<float>& output_norm_b() const { return output_norm_b_; }
    const TensorView& output() const { return output_; }  // token_embd when tied
    bool tied_output() const { return tied_output_; }
    const std::vector<LayerWeights>& layers() const { return layers_; }
    // RoPE frequency divisors [n_rot/2] for a context of n_ctx tokens (<= 0: n_ctx_train), as
    // llama.cpp's get_rope_factors: rope_freqs (Llama 3.1) always; else LongRoPE's long
    // factors when n_ctx exceeds rope.scaling.original_context_length, short ones otherwise.
    // nullptr when the model has none.
    const float* rope_factors(int64_t n_ctx) const;
    bool has_rope_freqs() const { return !rope_freqs_.empty(); }
    bool has_longrope() const { return !rope_long_.empty() || !rope_short_.empty(); }

    // Bytes of weights read to generate one token (MoE: only the experts used; tied output read in full).
    int64_t weight_bytes_per_token() const;
    int64_t file_bytes() const;

private:
    Model() = default;
    Status bind_weights();

    std::string path_;
    HParams hp_;
    std::unique_ptr<formats::GgufFile> gguf_;
    std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
    std::unique_ptr<ThreadPool> pool_;
    TensorView token_embd_, output_;
    std::vector<float> output_norm_, output_norm_b_;
    std::vector<float> rope_freqs_, rope_long_, rope_short_;
    bool tied_output_ = false;
    std::vector<LayerWeights> layers_;
};

}  // namespace tk::model
