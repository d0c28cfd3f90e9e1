#pragma once
// The supported decoder architectures as data. One generic forward pass and one binder read
// these traits, so adding a family is a table row, not another copy of the forward pass.
// Each row follows llama.cpp (commit c392e509: llm_build_<arch> and its tensor list) and what
// convert_hf_to_gguf.py stores for that family.
#include <string>
#include <string_view>

namespace tk::model {

enum class RopeType {
    kNormal,
    kNeox
};  // adjacent pairs (x[2i], x[2i+1]) vs halves (x[i], x[i+d/2])

// RMSNorm: x / sqrt(mean(x^2) + eps) * w. LayerNorm: (x - mean) / sqrt(var + eps) * w + b.
enum class NormKind { kRms, kLayer };

// kSwiGlu: down(silu(gate x) * up x). kGeGlu: down(gelu(gate x) * up x).
// kGelu: down(gelu(up x + b_up)) + b_down, no gate (StarCoder2's c_fc/c_proj MLP).
enum class FfnKind { kSwiGlu, kGeGlu, kGelu };

struct ArchTraits {
    std::string_view name;
    NormKind norm;
    FfnKind ffn;
    RopeType rope;
    double default_rope_base;  // when <arch>.rope.freq_base is absent
    bool embd_scale_sqrt;      // embeddings * sqrt(n_embd) after lookup (Gemma)
    bool fused_qkv;            // blk.N.attn_qkv [q_dim + 2 kv_dim, n_embd] may replace q/k/v
    bool fused_gate_up;        // blk.N.ffn_up is [2 n_ff, n_embd]: gate rows, then up rows
    bool qkv_bias_required;    // attn_{q,k,v}.bias must be present (else optional)
    bool other_bias_required;  // attn_output, ffn_up, ffn_down biases must be present
    bool rope_factors;         // rope_factors_{long,short} (Phi-3 LongRoPE) are read
    bool experts;              // <arch>.expert_count may be > 0 (Mixtral-style MoE)
};

// nullptr when the architecture is not supported.
const ArchTraits* find_arch(std::string_view name);
// "gemma, llama, mistral, phi3, qwen2, starcoder2" (for error messages).
std::string supported_arch_list();

const char* norm_kind_name(NormKind k);  // "RMSNorm", "LayerNorm"
const char* ffn_kind_name(FfnKind k);    // "SwiGLU", "GeGLU", "GELU"

}  // namespace tk::model
