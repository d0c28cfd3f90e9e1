#include "kv/kv_storage.h"

#include <cstring>

#include "base/check.h"

namespace tk::kv {

const char* kv_type_name(KvType t) { return t == KvType::kF16 ? "f16" : "f32"; }

KvStorage::KvStorage(const KvConfig& cfg) : cfg_(cfg) {
    TK_CHECK(cfg.n_layer > 0 && cfg.kv_dim > 0 && cfg.block_size > 0 && cfg.n_blocks > 0);
    const size_t bytes = static_cast<size_t>(cfg.n_layer * cfg.n_blocks * cfg.block_size * row_bytes());
    k_.resize(bytes);
    v_.resize(bytes);
}

void KvStorage::copy_block(int64_t src, int64_t dst) {
    const size_t block_bytes = static_cast<size_t>(cfg_.block_size * row_bytes());
    for (int64_t l = 0; l < cfg_.n_layer; ++l) {
        std::memcpy(k_row(l, dst, 0), k_row(l, src, 0), block_bytes);
        std::memcpy(v_row(l, dst, 0), v_row(l, src, 0), block_bytes);
    }
}

}  // namespace tk::kv
