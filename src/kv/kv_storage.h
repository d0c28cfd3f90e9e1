#pragma once
// Paged KV storage: per layer, K and V rows for n_blocks blocks of block_size token slots.
// A sequence's block table maps position p to (block_table[p / block_size], p % block_size).
// Block ownership (allocation, reference counts, prefix sharing) lives in the block pool; this
// class only holds the numbers.
#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"

namespace tk::kv {

enum class KvType { kF16, kF32 };
const char* kv_type_name(KvType t);

struct KvConfig {
    int64_t n_layer = 0;
    int64_t kv_dim = 0;  // n_head_kv * head_dim
    int64_t block_size = 16;
    int64_t n_blocks = 0;
    KvType type = KvType::kF16;

    int64_t bytes_per_token() const { return 2 * n_layer * kv_dim * (type == KvType::kF16 ? 2 : 4); }
    int64_t total_bytes() const { return bytes_per_token() * block_size * n_blocks; }
};

class KvStorage {
public:
    explicit KvStorage(const KvConfig& cfg);

    const KvConfig& config() const { return cfg_; }
    int64_t block_size() const { return cfg_.block_size; }
    int64_t n_blocks() const { return cfg_.n_blocks; }
    KvType type() const { return cfg_.type; }
    int64_t row_bytes() const { return cfg_.kv_dim * (cfg_.type == KvType::kF16 ? 2 : 4); }

    // Row of kv_dim elements (f16 bits or f32) for one token slot.
    uint8_t* k_row(int64_t layer, int64_t block, int64_t slot) { return k_.data() + offset(layer, block, slot); }
    uint8_t* v_row(int64_t layer, int64_t block, int64_t slot) { return v_.data() + offset(layer, block, slot); }
    const uint8_t* k_row(int64_t layer, int64_t block, int64_t slot) const {
        return k_.data() + offset(layer, block, slot);
    }
    const uint8_t* v_row(int64_t layer, int64_t block, int64_t slot) const {
        return v_.data() + offset(layer, block, slot);
    }
    // Copies every layer's K and V of one block into another (copy-on-write of shared blocks).
    void copy_block(int64_t src, int64_t dst);

private:
    int64_t offset(int64_t layer, int64_t block, int64_t slot) const {
        return ((layer * cfg_.n_blocks + block) * cfg_.block_size + slot) * row_bytes();
    }
    KvConfig cfg_;
    std::vector<uint8_t> k_, v_;
};

}  // namespace tk::kv
