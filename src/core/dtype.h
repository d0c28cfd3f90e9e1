#pragma once
// The one list of tensor element types. Ids are GGUF/ggml type ids (stable on disk).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tk {

// X(name, ggml_id, block_elems, block_bytes)
#define TK_DTYPE_LIST(X)          \
    X(F32, 0, 1, 4)               \
    X(F16, 1, 1, 2)               \
    X(Q4_0, 2, 32, 18)            \
    X(Q4_1, 3, 32, 20)            \
    X(Q5_0, 6, 32, 22)            \
    X(Q5_1, 7, 32, 24)            \
    X(Q8_0, 8, 32, 34)            \
    X(Q8_1, 9, 32, 36)            \
    X(Q2_K, 10, 256, 84)          \
    X(Q3_K, 11, 256, 110)         \
    X(Q4_K, 12, 256, 144)         \
    X(Q5_K, 13, 256, 176)         \
    X(Q6_K, 14, 256, 210)         \
    X(Q8_K, 15, 256, 292)         \
    X(IQ4_NL, 20, 32, 18)         \
    X(IQ4_XS, 23, 256, 136)       \
    X(I8, 24, 1, 1)               \
    X(I16, 25, 1, 2)              \
    X(I32, 26, 1, 4)              \
    X(I64, 27, 1, 8)              \
    X(F64, 28, 1, 8)              \
    X(BF16, 30, 1, 2)

enum class DType : uint32_t {
#define TK_DTYPE_ENUM_(name, id, be, bb) k##name = id,
    TK_DTYPE_LIST(TK_DTYPE_ENUM_)
#undef TK_DTYPE_ENUM_
};

struct DTypeInfo {
    DType type;
    std::string_view name;  // "Q4_K"
    int64_t block_elems;
    int64_t block_bytes;
};

// nullptr for ids tokamak does not know.
const DTypeInfo* dtype_info_by_id(uint32_t ggml_id);
const DTypeInfo& dtype_info(DType t);
std::optional<DType> dtype_from_name(std::string_view name);  // case-insensitive
inline std::string_view dtype_name(DType t) { return dtype_info(t).name; }
inline int64_t dtype_block_elems(DType t) { return dtype_info(t).block_elems; }
inline int64_t dtype_block_bytes(DType t) { return dtype_info(t).block_bytes; }
// Bytes of a row of n elements; n must be a multiple of the block size.
inline int64_t dtype_row_bytes(DType t, int64_t n) {
    const DTypeInfo& i = dtype_info(t);
    return n / i.block_elems * i.block_bytes;
}
bool dtype_is_quantized(DType t);

}  // namespace tk
