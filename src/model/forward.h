#pragma once
// The forward pass over a flattened batch: rows of (token, position, sequence) from any number
// of sequences, K/V written into paged storage through each sequence's block table, logits
// computed only for the rows that ask for them. Weights are read once per call for all rows.
#include <cstdint>
#include <span>
#include <vector>

#include "kv/kv_storage.h"
#include "model/model.h"

namespace tk::model {

struct Batch {
    std::vector<int32_t> tokens;     // per row
    std::vector<int32_t> positions;  // per row
    std::vector<int32_t> seq;        // per row: index into block_tables
    std::vector<std::span<const int32_t>> block_tables;  // per sequence
    std::vector<int32_t> logit_rows;  // rows whose logits are wanted, ascending

    int64_t size() const { return static_cast<int64_t>(tokens.size()); }
    void clear();
    // Adds a sequence and returns its index.
    int32_t add_sequence(std::span<const int32_t> block_table);
    void add(int32_t token, int32_t pos, int32_t seq_index, bool want_logits);
};

// One pass for every architecture in arch.h: what differs (norm kind and biases, FFN kind,
// embedding scale, RoPE style and factors, fused tensors) is read from HParams and the bound
// weights, never from the architecture's name.
class Forward {
public:
    // n_ctx: the context this forward serves (<= 0: the model's n_ctx_train). It only picks
    // LongRoPE's long or short factors (Model::rope_factors), fixed for the KV cache's life.
    explicit Forward(const Model& model, int64_t n_ctx = 0);

    // Preconditions (checked by the callers at their boundary): token ids valid; every sequence's
    // block table covers its positions; within a sequence, rows come in increasing position
    // order and every earlier position is already in `kv` or earlier in this batch.
    // Writes logit_rows.size() x n_vocab floats to `logits`.
    void run(const Batch& batch, kv::KvStorage& kv, float* logits);

    const Model& model() const { return model_; }

private:
    void attention(int64_t layer, const Batch& b, kv::KvStorage& kv);
    void feed_forward_dense(const LayerWeights& l, int64_t n);
    // Row-wise norm of hp.norm kind: out[i] = norm(x[i]) * w (+ b), for n rows of n_embd.
    void norm_rows(const float* x, const std::vector<float>& w, const std::vector<float>& b,
                   int64_t n, float* out) const;
    void feed_forward_moe(const LayerWeights& l, int64_t n);

    const Model& model_;
    const float* rope_factors_;  // [n_rot/2] or null
    std::vector<float> x_, xn_, q_, k_, v_, att_, ffa_, ffb_, scratch_;
    std::vector<uint8_t> mm_scratch_;
};

}  // namespace tk::model
