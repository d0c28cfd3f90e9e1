#include "core/dtype.h"

#include <array>
#include <cctype>

#include "base/check.h"

namespace tk {
namespace {

constexpr DTypeInfo kInfos[] = {
#define TK_DTYPE_INFO_(name, id, be, bb) {DType::k##name, #name, be, bb},
    TK_DTYPE_LIST(TK_DTYPE_INFO_)
#undef TK_DTYPE_INFO_
};

}  // namespace

const DTypeInfo* dtype_info_by_id(uint32_t ggml_id) {
    for (const DTypeInfo& i : kInfos)
        if (static_cast<uint32_t>(i.type) == ggml_id) return &i;
    return nullptr;
}

const DTypeInfo& dtype_info(DType t) {
    const DTypeInfo* i = dtype_info_by_id(static_cast<uint32_t>(t));
    TK_CHECK(i != nullptr);
    return *i;
}

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const DTypeInfo& i : kInfos) {
        if (i.name.size() != name.size()) continue;
        bool eq = true;
        for (size_t k = 0; k < name.size() && eq; ++k)
            eq = std::toupper(static_cast<unsigned char>(name[k])) == i.name[k];
        if (eq) return i.type;
    }
    return std::nullopt;
}

bool dtype_is_quantized(DType t) { return dtype_info(t).block_elems > 1; }

}  // namespace tk
