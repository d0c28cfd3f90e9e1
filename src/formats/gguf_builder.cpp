// GgufStorage and GgufBuilder: how SafeTensors, llama2.c and HF tokenizer data become a
// GgufFile without writing one. Metadata is deep-copied into the storage; tensor data is
// referenced (mapped file bytes kept alive by hold()) or alloc()ed where it was transformed.
#include <cstdlib>
#include <cstring>

#include "base/check.h"
#include "formats/gguf.h"

namespace tk::formats {
namespace {

constexpr size_t kAlign = 64;

size_t scalar_bytes(GgufType t) {
    switch (t) {
        case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
        case GgufType::kU16: case GgufType::kI16: return 2;
        case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
        case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
        default: return 0;
    }
}

}  // namespace

void GgufStorage::Free::operator()(uint8_t* p) const { std::free(p); }

GgufStorage::GgufStorage() = default;
GgufStorage::~GgufStorage() = default;

uint8_t* GgufStorage::alloc(size_t n) {
    const size_t rounded = (n + kAlign - 1) / kAlign * kAlign + kAlign;  // never 0
    auto* p = static_cast<uint8_t*>(std::aligned_alloc(kAlign, rounded));
    TK_CHECK(p != nullptr);
    std::memset(p, 0, rounded);
    buffers_.emplace_back(p);
    owned_bytes_ += n;
    return p;
}

std::string_view GgufStorage::copy_string(std::string_view s) {
    uint8_t* p = alloc(s.size());
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    return {reinterpret_cast<const char*>(p), s.size()};
}

void GgufStorage::hold(std::shared_ptr<const void> obj) { held_.push_back(std::move(obj)); }

GgufBuilder::GgufBuilder() : storage_(std::make_unique<GgufStorage>()) {}
GgufBuilder::~GgufBuilder() = default;

void GgufBuilder::put(const std::string& key, GgufValue v) {
    for (GgufKV& kv : kvs_) {
        if (kv.key == key) {
            kv.value = std::move(v);
            return;
        }
    }
    kvs_.push_back(GgufKV{key, std::move(v)});
}

void GgufBuilder::set_u32(const std::string& key, uint32_t v) {
    GgufValue g;
    g.type = GgufType::kU32;
    g.u = v;
    g.i = v;
    put(key, std::move(g));
}

void GgufBuilder::set_i32(const std::string& key, int32_t v) {
    GgufValue g;
    g.type = GgufType::kI32;
    g.i = v;
    if (v >= 0) g.u = static_cast<uint64_t>(v);
    put(key, std::move(g));
}

void GgufBuilder::set_u64(const std::string& key, uint64_t v) {
    GgufValue g;
    g.type = GgufType::kU64;
    g.u = v;
    if (v <= static_cast<uint64_t>(INT64_MAX)) g.i = static_cast<int64_t>(v);
    put(key, std::move(g));
}

void GgufBuilder::set_f32(const std::string& key, float v) {
    GgufValue g;
    g.type = GgufType::kF32;
    g.f = v;
    put(key, std::move(g));
}

void GgufBuilder::set_bool(const std::string& key, bool v) {
    GgufValue g;
    g.type = GgufType::kBool;
    g.u = v ? 1 : 0;
    g.i = static_cast<int64_t>(g.u);
    put(key, std::move(g));
}

void GgufBuilder::set_string(const std::string& key, std::string_view v) {
    GgufValue g;
    g.type = GgufType::kString;
    g.str = storage_->copy_string(v);
    put(key, std::move(g));
}

void GgufBuilder::set_string_array(const std::string& key, const std::vector<std::string>& v) {
    // One buffer for all strings: vocabularies have 10^5 of them.
    size_t total = 0;
    for (const std::string& s : v) total += s.size();
    const char* base = reinterpret_cast<const char*>(storage_->alloc(total));
    char* at = const_cast<char*>(base);
    GgufValue g;
    g.type = GgufType::kArray;
    g.array_type = GgufType::kString;
    g.array_len = v.size();
    g.strings.reserve(v.size());
    for (const std::string& s : v) {
        if (!s.empty()) std::memcpy(at, s.data(), s.size());
        g.strings.emplace_back(at, s.size());
        at += s.size();
    }
    put(key, std::move(g));
}

void GgufBuilder::set_f32_array(const std::string& key, const std::vector<float>& v) {
    GgufValue g;
    g.type = GgufType::kArray;
    g.array_type = GgufType::kF32;
    g.array_len = v.size();
    uint8_t* p = storage_->alloc(v.size() * sizeof(float));
    if (!v.empty()) std::memcpy(p, v.data(), v.size() * sizeof(float));
    g.array_data = p;
    put(key, std::move(g));
}

void GgufBuilder::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
    GgufValue g;
    g.type = GgufType::kArray;
    g.array_type = GgufType::kI32;
    g.array_len = v.size();
    uint8_t* p = storage_->alloc(v.size() * sizeof(int32_t));
    if (!v.empty()) std::memcpy(p, v.data(), v.size() * sizeof(int32_t));
    g.array_data = p;
    put(key, std::move(g));
}

void GgufBuilder::set_value(const std::string& key, const GgufValue& v) {
    GgufValue g = v;
    if (v.type == GgufType::kString) {
        g.str = storage_->copy_string(v.str);
    } else if (v.type == GgufType::kArray && v.array_type == GgufType::kString) {
        std::vector<std::string> copy(v.strings.begin(), v.strings.end());
        set_string_array(key, copy);
        return;
    } else if (v.type == GgufType::kArray) {
        const size_t n = static_cast<size_t>(v.array_len) * scalar_bytes(v.array_type);
        uint8_t* p = storage_->alloc(n);
        if (n != 0) std::memcpy(p, v.array_data, n);
        g.array_data = p;
    }
    put(key, std::move(g));
}

void GgufBuilder::remove(const std::string& key) {
    for (auto it = kvs_.begin(); it != kvs_.end(); ++it) {
        if (it->key == key) {
            kvs_.erase(it);
            return;
        }
    }
}

const GgufValue* GgufBuilder::find(std::string_view key) const {
    for (const GgufKV& kv : kvs_) {
        if (kv.key == key) return &kv.value;
    }
    return nullptr;
}

void GgufBuilder::add_tensor(const std::string& name, DType type,
                             const std::vector<int64_t>& shape, const void* data) {
    GgufTensorInfo ti;
    ti.name = name;
    ti.view.type = type;
    ti.view.n_dims = static_cast<int>(shape.size());
    for (size_t d = 0; d < shape.size() && d < 4; ++d) ti.view.shape[d] = shape[d];
    if (shape.size() > 4) ti.view.n_dims = 5;  // refused by from_parts
    ti.view.data = data;
    tensors_.push_back(std::move(ti));
}

bool GgufBuilder::has_tensor(std::string_view name) const {
    for (const GgufTensorInfo& t : tensors_) {
        if (t.name == name) return true;
    }
    return false;
}

Result<std::unique_ptr<GgufFile>> GgufBuilder::build(const std::string& name,
                                                     const std::string& format,
                                                     uint64_t source_bytes) {
    std::unique_ptr<GgufStorage> storage = std::move(storage_);
    std::vector<GgufKV> kvs = std::move(kvs_);
    std::vector<GgufTensorInfo> tensors = std::move(tensors_);
    storage_ = std::make_unique<GgufStorage>();
    kvs_.clear();
    tensors_.clear();
    return GgufFile::from_parts(name, format, source_bytes, std::move(kvs), std::move(tensors),
                                std::move(storage));
}

}  // namespace tk::formats
