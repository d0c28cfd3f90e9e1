#pragma once
// A loaded decoder-only transformer (llama family: Llama 2/3, Mistral, Mixtral MoE, Qwen2):
// hyperparameters, tokenizer and weights bound by GGUF tensor name, plus a thread pool.
// Weights stay in the file mapping; only 1-D tensors (norms, biases) are copied to float.
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
    std::vector<float> attn_norm;             // [n_embd]
    TensorView wq, wk, wv, wo;                // [q_dim, n_embd], [kv_dim, n_embd] x2, [n_embd, q_dim]
    std::vector<float> bq, bk, bv;            // optional biases (qwen2)
    std::vector<float> ffn_norm;              // [n_embd]
    TensorView ffn_gate, ffn_up, ffn_down;    // dense: [n_ff, n_embd] x2, [n_embd, n_ff]
    TensorView ffn_gate_inp;                  // MoE router [n_expert, n_embd]
    TensorView ffn_gate_exps, ffn_up_exps;    // [n_expert, n_ff, n_embd]
    TensorView ffn_down_exps;                 // [n_expert, n_embd, n_ff]
};

struct LoadOptions {
    int n_threads = 0;  // <= 0: all cores
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
    const TensorView& output() const { return output_; }  // token_embd when tied
    bool tied_output() const { return tied_output_; }
    const std::vector<LayerWeights>& layers() const { return layers_; }

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
    std::vector<float> output_norm_;
    bool tied_output_ = false;
    std::vector<LayerWeights> layers_;
};

}  // namespace tk::model
