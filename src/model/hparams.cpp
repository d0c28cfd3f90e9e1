#include "model/hparams.h"

#include <cmath>

#include "formats/gguf.h"

namespace tk::model {
namespace {

Status missing(const formats::GgufFile& f, const std::string& key) {
    return make_error(ErrorCode::kCorruptFile, f.path() + ": missing metadata key '" + key + "'");
}

}  // namespace

Result<HParams> hparams_from_gguf(const formats::GgufFile& f) {
    HParams hp;
    auto arch = f.get_string("general.architecture");
    if (!arch) return missing(f, "general.architecture");
    hp.arch = std::string(*arch);
    hp.traits = find_arch(hp.arch);
    if (hp.traits == nullptr) {
        return make_error(ErrorCode::kUnsupported,
                          f.path() + ": unsupported architecture '" + hp.arch +
                              "' (general.architecture; supported: " + supported_arch_list() + ")");
    }
    const ArchTraits& t = *hp.traits;
    hp.norm = t.norm;
    hp.ffn = t.ffn;
    if (auto n = f.get_string("general.name")) hp.name = std::string(*n);
    const std::string a = hp.arch + ".";
    auto req = [&](const std::string& key, int64_t& out) -> Status {
        auto v = f.get_int(a + key);
        if (!v) return missing(f, a + key);
        out = *v;
        return Status::ok();
    };
    TK_RETURN_IF_ERROR(req("embedding_length", hp.n_embd));
    TK_RETURN_IF_ERROR(req("block_count", hp.n_layer));
    TK_RETURN_IF_ERROR(req("attention.head_count", hp.n_head));
    TK_RETURN_IF_ERROR(req("feed_forward_length", hp.n_ff));
    hp.n_head_kv = f.get_int(a + "attention.head_count_kv").value_or(hp.n_head);
    hp.n_ctx_train = f.get_int(a + "context_length").value_or(2048);
    hp.n_expert = f.get_int(a + "expert_count").value_or(0);
    hp.n_expert_used = f.get_int(a + "expert_used_count").value_or(0);
    const char* eps_key = hp.norm == NormKind::kRms ? "attention.layer_norm_rms_epsilon"
                                                    : "attention.layer_norm_epsilon";
    hp.norm_eps = static_cast<float>(f.get_float(a + eps_key).value_or(1e-5));
    if (!(hp.norm_eps >= 0.0f && hp.norm_eps < 1.0f)) {
        return make_error(ErrorCode::kCorruptFile, f.path() + ": invalid " + a + eps_key);
    }
    hp.rope_freq_base =
        static_cast<float>(f.get_float(a + "rope.freq_base").value_or(t.default_rope_base));
    if (auto type = f.get_string(a + "rope.scaling.type")) {
        if (*type == "linear") {
            const double factor = f.get_float(a + "rope.scaling.factor").value_or(1.0);
            if (!(factor > 0)) {
                return make_error(ErrorCode::kCorruptFile,
                                  f.path() + ": rope.scaling.factor must be > 0");
            }
            hp.rope_freq_scale = static_cast<float>(1.0 / factor);
        } else if (*type != "none") {
            return make_error(ErrorCode::kUnsupported,
                              f.path() + ": rope scaling type '" + std::string(*type) +
                                  "' is not supported (supported: none, linear)");
        }
    } else if (auto scale = f.get_float(a + "rope.scale_linear")) {
        if (*scale > 0) hp.rope_freq_scale = static_cast<float>(1.0 / *scale);
    }
    hp.rope_type = t.rope;
    hp.rope_attn_factor =
        static_cast<float>(f.get_float(a + "rope.scaling.attn_factor").value_or(1.0));
    hp.n_ctx_orig = f.get_int(a + "rope.scaling.original_context_length").value_or(hp.n_ctx_train);
    if (!(hp.rope_freq_base > 0.0f) || !(hp.rope_attn_factor > 0.0f) || hp.n_ctx_orig <= 0) {
        return make_error(ErrorCode::kCorruptFile,
                          f.path() + ": invalid rope.freq_base, rope.scaling.attn_factor or "
                                     "rope.scaling.original_context_length");
    }
    // Gemma scales the looked-up embeddings by sqrtf(n_embd) in float, as llama.cpp does.
    if (t.embd_scale_sqrt) hp.embd_scale = std::sqrt(static_cast<float>(hp.n_embd));

    if (hp.n_embd <= 0 || hp.n_layer <= 0 || hp.n_head <= 0 || hp.n_head_kv <= 0 || hp.n_ff <= 0 ||
        hp.n_embd > (1 << 20) || hp.n_layer > 4096 || hp.n_head > 4096) {
        return make_error(ErrorCode::kCorruptFile, f.path() + ": implausible hyperparameters");
    }
    if (hp.n_head % hp.n_head_kv != 0) {
        return make_error(ErrorCode::kCorruptFile,
                          f.path() + ": head_count " + std::to_string(hp.n_head) +
                              " is not a multiple of head_count_kv " + std::to_string(hp.n_head_kv));
    }
    hp.head_dim = f.get_int(a + "attention.key_length").value_or(hp.n_embd / hp.n_head);
    if (auto v = f.get_int(a + "attention.value_length"); v && *v != hp.head_dim) {
        return make_error(ErrorCode::kUnsupported,
                          f.path() + ": attention.value_length " + std::to_string(*v) +
                              " differs from key_length " + std::to_string(hp.head_dim));
    }
    if (hp.head_dim <= 0 || hp.head_dim % 2 != 0) {
        return make_error(ErrorCode::kCorruptFile, f.path() + ": head dimension must be even and > 0");
    }
    hp.n_rot = f.get_int(a + "rope.dimension_count").value_or(hp.head_dim);
    if (hp.n_rot <= 0 || hp.n_rot > hp.head_dim || hp.n_rot % 2 != 0) {
        return make_error(ErrorCode::kCorruptFile, f.path() + ": invalid rope.dimension_count");
    }
    if (hp.n_expert > 0 && !t.experts) {
        return make_error(ErrorCode::kUnsupported,
                          f.path() + ": " + a + "expert_count is " + std::to_string(hp.n_expert) +
                              ", but tokamak runs experts only for llama/mistral (Mixtral)");
    }
    if (hp.n_expert > 0 && (hp.n_expert_used <= 0 || hp.n_expert_used > hp.n_expert)) {
        return make_error(ErrorCode::kCorruptFile, f.path() + ": invalid expert_used_count");
    }
    return hp;
}

}  // namespace tk::model
