#pragma once
// Byte-by-byte GGUF builder for tests: lets a test write exactly the bytes it wants,
// including the broken ones the writer would never produce.
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace tk::formats::testing {

// GGUF metadata type ids.
enum : uint32_t {
    kTU8 = 0, kTI8 = 1, kTU16 = 2, kTI16 = 3, kTU32 = 4, kTI32 = 5, kTF32 = 6, kTBool = 7,
    kTString = 8, kTArray = 9, kTU64 = 10, kTI64 = 11, kTF64 = 12,
};

class Bytes {
public:
    template <typename T>
    Bytes& put(T v) {
        const size_t at = b_.size();
        b_.resize(at + sizeof(T));
        std::memcpy(b_.data() + at, &v, sizeof(T));
        return *this;
    }
    Bytes& u8(uint8_t v) { return put(v); }
    Bytes& u16(uint16_t v) { return put(v); }
    Bytes& u32(uint32_t v) { return put(v); }
    Bytes& u64(uint64_t v) { return put(v); }
    Bytes& i64(int64_t v) { return put(v); }
    Bytes& f32(float v) { return put(v); }
    Bytes& raw(std::string_view s) {
        b_.insert(b_.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& str(std::string_view s) { return u64(s.size()).raw(s); }
    Bytes& zeros(size_t n) {
        b_.resize(b_.size() + n, 0);
        return *this;
    }
    Bytes& pad_to(size_t align) {
        while (b_.size() % align != 0) b_.push_back(0);
        return *this;
    }
    Bytes& append(const Bytes& o) {
        b_.insert(b_.end(), o.b_.begin(), o.b_.end());
        return *this;
    }

    // "GGUF", version, n_tensors, n_kv.
    Bytes& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
        return raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
    }
    // Key and type id; the caller appends the value.
    Bytes& key(std::string_view k, uint32_t type) { return str(k).u32(type); }
    // name, n_dims, ne (innermost first), ggml type, offset.
    Bytes& tensor(std::string_view name, const std::vector<int64_t>& ne, uint32_t type,
                  uint64_t offset) {
        str(name).u32(static_cast<uint32_t>(ne.size()));
        for (int64_t d : ne) i64(d);
        return u32(type).u64(offset);
    }

    const uint8_t* data() const { return b_.data(); }
    size_t size() const { return b_.size(); }
    std::vector<uint8_t>& vec() { return b_; }

private:
    std::vector<uint8_t> b_;
};

}  // namespace tk::formats::testing
