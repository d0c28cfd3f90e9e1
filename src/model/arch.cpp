#include "model/arch.h"

#include <array>

namespace tk::model {
namespace {

using N = NormKind;
using F = FfnKind;
using R = RopeType;

constexpr bool yes = true, no = false;

// Sorted by name (the error message lists them in this order). Columns: name, norm, ffn,
// rope, default rope base, then the flags in ArchTraits order: sqrt(E) embedding scale, fused
// qkv, fused gate/up, q/k/v bias required, output and FFN biases required, LongRoPE, experts.
constexpr std::array<ArchTraits, 6> kArchs{{
    {"gemma",      N::kRms,   F::kGeGlu,  R::kNeox,   1e4, yes, no,  no,  no,  no,  no,  no},
    {"llama",      N::kRms,   F::kSwiGlu, R::kNormal, 1e4, no,  no,  no,  no,  no,  no,  yes},
    {"mistral",    N::kRms,   F::kSwiGlu, R::kNormal, 1e4, no,  no,  no,  no,  no,  no,  yes},
    {"phi3",       N::kRms,   F::kSwiGlu, R::kNeox,   1e4, no,  yes, yes, no,  no,  yes, no},
    {"qwen2",      N::kRms,   F::kSwiGlu, R::kNeox,   1e6, no,  no,  no,  yes, no,  no,  no},
    {"starcoder2", N::kLayer, F::kGelu,   R::kNeox,   1e4, no,  no,  no,  yes, yes, no,  no},
}};

}  // namespace

const ArchTraits* find_arch(std::string_view name) {
    for (const ArchTraits& a : kArchs)
        if (a.name == name) return &a;
    return nullptr;
}

std::string supported_arch_list() {
    std::string r;
    for (const ArchTraits& a : kArchs) {
        if (!r.empty()) r += ", ";
        r += a.name;
    }
    return r;
}

const char* norm_kind_name(NormKind k) { return k == NormKind::kRms ? "RMSNorm" : "LayerNorm"; }

const char* ffn_kind_name(FfnKind k) {
    switch (k) {
        case FfnKind::kSwiGlu: return "SwiGLU";
        case FfnKind::kGeGlu: return "GeGLU";
        case FfnKind::kGelu: return "GELU";
    }
    return "?";
}

}  // namespace tk::model
