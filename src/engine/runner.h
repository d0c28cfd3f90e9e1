#pragma once
// What the engine needs from a model: one forward step over a flattened batch, with the K/V of
// every row stored in paged storage that the runner owns and the engine's block pool indexes.
#include <cstdint>
#include <memory>

#include "kv/kv_storage.h"
#include "model/forward.h"
#include "model/model.h"

namespace tk::engine {

class Runner {
public:
    virtual ~Runner() = default;

    virtual int32_t n_vocab() const = 0;
    // Longest sequence the model supports (its training context).
    virtual int64_t max_context() const = 0;
    virtual int64_t n_blocks() const = 0;
    virtual int64_t block_size() const = 0;

    // Stores the K/V of every row at its position in its sequence's blocks and writes
    // batch.logit_rows.size() rows of n_vocab() logits. Same preconditions as model::Forward::run.
    virtual void run(const model::Batch& batch, float* logits) = 0;
    // Copies all K/V of block src into block dst (copy-on-write), the draft model's included.
    virtual void copy_block(int32_t src, int32_t dst) = 0;

    // Speculative decoding with a draft model: same vocabulary, K/V in storage of its own laid
    // out like the target's (same block ids and slots), so one block table serves both.
    virtual bool has_draft() const { return false; }
    virtual void run_draft(const model::Batch& batch, float* logits);
};

// The real thing: model::Forward over a KvStorage of n_blocks x block_size slots.
class ModelRunner final : public Runner {
public:
    // draft: optional draft model (kept by the caller, same vocabulary as `model`).
    ModelRunner(const model::Model& model, int64_t n_blocks, int64_t block_size = 16,
                kv::KvType kv_type = kv::KvType::kF16, const model::Model* draft = nullptr);

    int32_t n_vocab() const override;
    int64_t max_context() const override;
    int64_t n_blocks() const override { return kv_.n_blocks(); }
    int64_t block_size() const override { return kv_.block_size(); }
    void run(const model::Batch& batch, float* logits) override;
    void copy_block(int32_t src, int32_t dst) override;
    bool has_draft() const override { return draft_forward_ != nullptr; }
    void run_draft(const model::Batch& batch, float* logits) override;

    const kv::KvStorage& storage() const { return kv_; }

    // Blocks of block_size tokens that fit in `bytes` of K/V for this model.
    static int64_t blocks_for_bytes(const model::Model& model, int64_t bytes, int64_t block_size,
                                    kv::KvType kv_type);

private:
    model::Forward forward_;
    kv::KvStorage kv_;
    std::unique_ptr<model::Forward> draft_forward_;
    std::unique_ptr<kv::KvStorage> draft_kv_;
};

}  // namespace tk::engine
