// config.json: only what a llama-family forward needs. Unknown keys are ignored; the ones
// that change the math (RoPE scaling, head_dim) are honoured or refused, never dropped.
#include "formats/hf_config.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "formats/gguf.h"

namespace tk::formats {
namespace {

using nlohmann::json;

const json* member(const json& obj, const char* key) {
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
}

// Reads an integer field; absent -> fallback (nullopt: required).
Status read_int(const json& j, const char* key, std::optional<int64_t> fallback, int64_t* out,
                const std::string& source) {
    const json* v = member(j, key);
    if (v == nullptr) {
        if (!fallback) {
            return make_error(ErrorCode::kCorruptFile,
                              source + ": missing integer field '" + key + "'");
        }
        *out = *fallback;
        return Status::ok();
    }
    if (!v->is_number_integer()) {
        return make_error(ErrorCode::kCorruptFile,
                          source + ": field '" + key + "' is not an integer");
    }
    *out = v->get<int64_t>();
    return Status::ok();
}

Status read_float(const json& j, const char* key, double* out, const std::string& source) {
    const json* v = member(j, key);
    if (v == nullptr) return Status::ok();
    if (!v->is_number()) {
        return make_error(ErrorCode::kCorruptFile, source + ": field '" + key + "' is not a number");
    }
    *out = v->get<double>();
    return Status::ok();
}

// bos/eos ids may be an integer or (Llama 3.1 eos) a list; the first entry is the main one.
std::optional<int64_t> token_id(const json& j, const char* key) {
    const json* v = member(j, key);
    if (v == nullptr) return std::nullopt;
    if (v->is_number_integer()) return v->get<int64_t>();
    if (v->is_array() && !v->empty() && (*v)[0].is_number_integer()) return (*v)[0].get<int64_t>();
    return std::nullopt;
}

Status read_factor_list(const json& rs, const char* key, size_t n, std::vector<float>* out,
                        const std::string& source) {
    const json* v = member(rs, key);
    if (v == nullptr || !v->is_array() || v->size() != n) {
        return make_error(ErrorCode::kCorruptFile,
                          source + ": rope_scaling." + key + " must be a list of " +
                              std::to_string(n) + " numbers (rotary dimensions / 2)");
    }
    for (const json& x : *v) {
        if (!x.is_number() || !(x.get<double>() > 0)) {
            return make_error(ErrorCode::kCorruptFile,
                              source + ": rope_scaling." + key + " holds a non-positive entry");
        }
        out->push_back(static_cast<float>(x.get<double>()));
    }
    return Status::ok();
}

// Phi-3 LongRoPE: the factor lists, and the attention factor as transformers computes it
// (rope_scaling.attention_factor, else sqrt(1 + ln(s) / ln(original)) for s = max / original
// above 1; convert_hf_to_gguf uses the same formula).
Status read_longrope(const json& rs, HfConfig& c, const std::string& source) {
    const size_t n = static_cast<size_t>(c.n_rot / 2);
    TK_RETURN_IF_ERROR(read_factor_list(rs, "long_factor", n, &c.rope_long_factors, source));
    TK_RETURN_IF_ERROR(read_factor_list(rs, "short_factor", n, &c.rope_short_factors, source));
    if (c.original_context <= 0 || c.max_position_embeddings <= 0) {
        return make_error(ErrorCode::kCorruptFile,
                          source + ": LongRoPE needs original_max_position_embeddings and "
                                   "max_position_embeddings");
    }
    if (const json* a = member(rs, "attention_factor")) {
        if (!a->is_number() || !(a->get<double>() > 0)) {
            return make_error(ErrorCode::kCorruptFile,
                              source + ": rope_scaling.attention_factor must be positive");
        }
        c.rope_attn_factor = a->get<double>();
        return Status::ok();
    }
    const double scale = static_cast<double>(c.max_position_embeddings) /
                         static_cast<double>(c.original_context);
    if (scale > 1.0) {
        c.rope_attn_factor =
            std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(c.original_context)));
    }
    return Status::ok();
}

}  // namespace

Result<HfConfig> parse_hf_config(std::string_view json_text, const std::string& source) {
    const json j = json::parse(json_text.begin(), json_text.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return make_error(ErrorCode::kCorruptFile, source + ": not a JSON object");
    }
    HfConfig c;
    if (const json* mt = member(j, "model_type"); mt && mt->is_string()) {
        c.model_type = mt->get<std::string>();
    }
    if (const json* a = member(j, "architectures"); a && a->is_array() && !a->empty() &&
                                                    (*a)[0].is_string()) {
        c.hf_arch = (*a)[0].get<std::string>();
    }
    struct Known {
        const char* hf_arch;
        const char* model_type;
        const char* gguf_arch;
    };
    static const Known kKnown[] = {
        {"LlamaForCausalLM", "llama", "llama"},
        {"MistralForCausalLM", "mistral", "llama"},
        {"MixtralForCausalLM", "mixtral", "llama"},
        {"Qwen2ForCausalLM", "qwen2", "qwen2"},
        {"Phi3ForCausalLM", "phi3", "phi3"},
        {"GemmaForCausalLM", "gemma", "gemma"},
        {"Starcoder2ForCausalLM", "starcoder2", "starcoder2"},
    };
    for (const Known& k : kKnown) {
        if (c.hf_arch == k.hf_arch || (c.hf_arch.empty() && c.model_type == k.model_type)) {
            c.gguf_arch = k.gguf_arch;
            if (c.model_type.empty()) c.model_type = k.model_type;
        }
    }
    if (c.gguf_arch.empty()) {
        const std::string what = !c.hf_arch.empty()      ? c.hf_arch
                                 : !c.model_type.empty() ? "model_type " + c.model_type
                                                         : "(no architectures or model_type)";
        return make_error(ErrorCode::kUnsupported,
                          source + ": unsupported architecture " + what +
                              " (supported: LlamaForCausalLM, MistralForCausalLM, "
                              "MixtralForCausalLM, Qwen2ForCausalLM, Phi3ForCausalLM, "
                              "GemmaForCausalLM, Starcoder2ForCausalLM)");
    }
    if (c.hf_arch.empty()) c.hf_arch = c.model_type;

    TK_RETURN_IF_ERROR(read_int(j, "hidden_size", std::nullopt, &c.hidden_size, source));
    TK_RETURN_IF_ERROR(read_int(j, "intermediate_size", std::nullopt, &c.intermediate_size, source));
    TK_RETURN_IF_ERROR(read_int(j, "num_hidden_layers", std::nullopt, &c.n_layers, source));
    TK_RETURN_IF_ERROR(read_int(j, "num_attention_heads", std::nullopt, &c.n_heads, source));
    TK_RETURN_IF_ERROR(read_int(j, "num_key_value_heads", c.n_heads, &c.n_kv_heads, source));
    TK_RETURN_IF_ERROR(read_int(j, "vocab_size", std::nullopt, &c.vocab_size, source));
    TK_RETURN_IF_ERROR(read_int(j, "max_position_embeddings", 0, &c.max_position_embeddings,
                                source));
    auto bad = [&](const std::string& msg) {
        return make_error(ErrorCode::kCorruptFile, source + ": " + msg);
    };
    if (c.hidden_size <= 0 || c.hidden_size > (1 << 20) || c.intermediate_size <= 0 ||
        c.intermediate_size > (1 << 22) || c.n_layers <= 0 || c.n_layers > 4096 ||
        c.n_heads <= 0 || c.n_heads > 4096 || c.n_kv_heads <= 0 || c.vocab_size <= 0 ||
        c.vocab_size > (1 << 24) || c.max_position_embeddings < 0) {
        return bad("implausible sizes (hidden_size, intermediate_size, num_hidden_layers, "
                   "num_attention_heads, num_key_value_heads or vocab_size)");
    }
    if (c.n_heads % c.n_kv_heads != 0) {
        return bad("num_attention_heads " + std::to_string(c.n_heads) +
                   " is not a multiple of num_key_value_heads " + std::to_string(c.n_kv_heads));
    }
    TK_RETURN_IF_ERROR(read_int(j, "head_dim", c.hidden_size / c.n_heads, &c.head_dim, source));
    if (c.head_dim <= 0 || c.head_dim % 2 != 0 || c.head_dim > 4096) {
        return bad("head dimension " + std::to_string(c.head_dim) + " must be even and positive");
    }
    if (c.gguf_arch == "starcoder2") {
        TK_RETURN_IF_ERROR(read_float(j, "norm_epsilon", &c.rms_norm_eps, source));
        if (const json* b = member(j, "use_bias"); b && b->is_boolean() && !b->get<bool>()) {
            return make_error(ErrorCode::kUnsupported,
                              source + ": StarCoder2 with use_bias false is not supported");
        }
    } else {
        if (c.gguf_arch == "gemma") c.rms_norm_eps = 1e-6;  // GemmaConfig's default
        TK_RETURN_IF_ERROR(read_float(j, "rms_norm_eps", &c.rms_norm_eps, source));
    }
    TK_RETURN_IF_ERROR(read_float(j, "rope_theta", &c.rope_theta, source));
    c.n_rot = c.head_dim;
    if (const json* p = member(j, "partial_rotary_factor")) {
        if (!p->is_number() || !(p->get<double>() > 0) || p->get<double>() > 1) {
            return bad("partial_rotary_factor must be in (0, 1]");
        }
        c.n_rot = static_cast<int64_t>(static_cast<double>(c.head_dim) * p->get<double>());
        if (c.n_rot <= 0 || c.n_rot % 2 != 0) return bad("partial_rotary_factor gives an odd rotary dimension");
    }
    if (c.model_type == "mixtral" || c.hf_arch == "MixtralForCausalLM") {
        TK_RETURN_IF_ERROR(read_int(j, "num_local_experts", std::nullopt, &c.n_expert, source));
        TK_RETURN_IF_ERROR(read_int(j, "num_experts_per_tok", std::nullopt, &c.n_expert_used, source));
        if (c.n_expert <= 0 || c.n_expert > 1024 || c.n_expert_used <= 0 ||
            c.n_expert_used > c.n_expert) {
            return bad("num_local_experts " + std::to_string(c.n_expert) +
                       " / num_experts_per_tok " + std::to_string(c.n_expert_used) +
                       " are implausible");
        }
    }
    if (c.gguf_arch == "phi3") {
        TK_RETURN_IF_ERROR(read_int(j, "original_max_position_embeddings", 0, &c.original_context,
                                    source));
        if (c.original_context < 0) return bad("original_max_position_embeddings is negative");
    }
    if (!(c.rms_norm_eps > 0) || !(c.rope_theta > 0)) {
        return bad("rms_norm_eps and rope_theta must be positive");
    }
    if (const json* rs = member(j, "rope_scaling")) {
        if (!rs->is_object()) return bad("rope_scaling is not an object");
        std::string type;
        if (const json* t = member(*rs, "rope_type"); t && t->is_string()) type = t->get<std::string>();
        if (const json* t = member(*rs, "type"); type.empty() && t && t->is_string()) {
            type = t->get<std::string>();
        }
        if ((type == "longrope" || type == "su") && c.gguf_arch == "phi3") {
            TK_RETURN_IF_ERROR(read_longrope(*rs, c, source));
        } else if (type == "linear") {
            const json* f = member(*rs, "factor");
            if (f == nullptr || !f->is_number() || !(f->get<double>() > 0)) {
                return bad("rope_scaling.factor must be a positive number");
            }
            c.rope_linear_factor = f->get<double>();
        } else if (type != "default" && !type.empty()) {
            return make_error(ErrorCode::kUnsupported,
                              source + ": rope_scaling type '" + type +
                                  "' is not supported (supported: linear)");
        }
    }
    // transformers' default: PretrainedConfig ties; Llama/Mistral/Mixtral/Qwen2/Phi3 configs
    // untie unless told; Gemma and StarCoder2 keep the tie.
    c.tie_word_embeddings = c.gguf_arch == "gemma" || c.gguf_arch == "starcoder2";
    if (const json* t = member(j, "tie_word_embeddings")) {
        if (!t->is_boolean()) return bad("tie_word_embeddings is not a boolean");
        c.tie_word_embeddings = t->get<bool>();
    }
    c.bos_token_id = token_id(j, "bos_token_id");
    c.eos_token_id = token_id(j, "eos_token_id");
    c.pad_token_id = token_id(j, "pad_token_id");
    if (const json* d = member(j, "torch_dtype"); d && d->is_string()) {
        c.torch_dtype = d->get<std::string>();
    }
    return c;
}

void add_hf_config_metadata(const HfConfig& c, GgufBuilder& out) {
    const std::string a = c.gguf_arch + ".";
    out.set_string("general.architecture", c.gguf_arch);
    if (c.max_position_embeddings > 0) {
        out.set_u32(a + "context_length", static_cast<uint32_t>(c.max_position_embeddings));
    }
    out.set_u32(a + "embedding_length", static_cast<uint32_t>(c.hidden_size));
    out.set_u32(a + "feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
    out.set_u32(a + "block_count", static_cast<uint32_t>(c.n_layers));
    out.set_u32(a + "attention.head_count", static_cast<uint32_t>(c.n_heads));
    out.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
    out.set_f32(a + "rope.freq_base", static_cast<float>(c.rope_theta));
    out.set_f32(a + (c.gguf_arch == "starcoder2" ? "attention.layer_norm_epsilon"
                                                 : "attention.layer_norm_rms_epsilon"),
                static_cast<float>(c.rms_norm_eps));
    out.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(c.n_rot));
    if (c.n_expert > 0) {
        out.set_u32(a + "expert_count", static_cast<uint32_t>(c.n_expert));
        out.set_u32(a + "expert_used_count", static_cast<uint32_t>(c.n_expert_used));
    }
    if (c.original_context > 0) {
        out.set_u32(a + "rope.scaling.original_context_length",
                    static_cast<uint32_t>(c.original_context));
    }
    if (c.rope_attn_factor) {
        out.set_f32(a + "rope.scaling.attn_factor", static_cast<float>(*c.rope_attn_factor));
    }
    if (c.head_dim != c.hidden_size / c.n_heads) {
        out.set_u32(a + "attention.key_length", static_cast<uint32_t>(c.head_dim));
        out.set_u32(a + "attention.value_length", static_cast<uint32_t>(c.head_dim));
    }
    if (c.rope_linear_factor) {
        out.set_string(a + "rope.scaling.type", "linear");
        out.set_f32(a + "rope.scaling.factor", static_cast<float>(*c.rope_linear_factor));
    }
}

}  // namespace tk::formats
