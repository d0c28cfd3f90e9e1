// llama-quantize's presets and per-tensor type choice (llama.cpp c392e509, src/llama-quant.cpp),
// restated for the presets tokamak can produce. The rules are kept in llama.cpp's order because
// several of them count tensors as they go (attn_v, ffn_down): the order matters.
#include "model/quant_mix.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstdint>
#include <cstring>

#include "formats/gguf.h"
#include "kernels/kernel_table.h"
#include "kernels/quantize.h"

namespace tk::model {
namespace {

using FT = FileType;

const std::vector<QuantPreset> kPresets = {
    {"Q4_0", FT::kMostlyQ4_0, DType::kQ4_0, "4.34G, +0.4685 ppl @ Llama-3-8B"},
    {"Q4_1", FT::kMostlyQ4_1, DType::kQ4_1, "4.78G, +0.4511 ppl @ Llama-3-8B"},
    {"Q5_0", FT::kMostlyQ5_0, DType::kQ5_0, "5.21G, +0.1316 ppl @ Llama-3-8B"},
    {"Q5_1", FT::kMostlyQ5_1, DType::kQ5_1, "5.65G, +0.1062 ppl @ Llama-3-8B"},
    {"Q2_K", FT::kMostlyQ2_K, DType::kQ2_K, "2.96G, +3.5199 ppl @ Llama-3-8B"},
    {"Q3_K_S", FT::kMostlyQ3_K_S, DType::kQ3_K, "3.41G, +1.6321 ppl @ Llama-3-8B"},
    {"Q3_K_M", FT::kMostlyQ3_K_M, DType::kQ3_K, "3.74G, +0.6569 ppl @ Llama-3-8B"},
    {"Q3_K_L", FT::kMostlyQ3_K_L, DType::kQ3_K, "4.03G, +0.5562 ppl @ Llama-3-8B"},
    {"IQ4_NL", FT::kMostlyIQ4_NL, DType::kIQ4_NL, "4.50 bpw non-linear quantization"},
    {"IQ4_XS", FT::kMostlyIQ4_XS, DType::kIQ4_XS, "4.25 bpw non-linear quantization"},
    {"Q4_K_S", FT::kMostlyQ4_K_S, DType::kQ4_K, "4.37G, +0.2689 ppl @ Llama-3-8B"},
    {"Q4_K_M", FT::kMostlyQ4_K_M, DType::kQ4_K, "4.58G, +0.1754 ppl @ Llama-3-8B"},
    {"Q5_K_S", FT::kMostlyQ5_K_S, DType::kQ5_K, "5.21G, +0.1049 ppl @ Llama-3-8B"},
    {"Q5_K_M", FT::kMostlyQ5_K_M, DType::kQ5_K, "5.33G, +0.0569 ppl @ Llama-3-8B"},
    {"Q6_K", FT::kMostlyQ6_K, DType::kQ6_K, "6.14G, +0.0217 ppl @ Llama-3-8B"},
    {"Q8_0", FT::kMostlyQ8_0, DType::kQ8_0, "7.96G, +0.0026 ppl @ Llama-3-8B"},
    {"F16", FT::kMostlyF16, DType::kF16, "14.00G, +0.0020 ppl @ Mistral-7B"},
    {"BF16", FT::kMostlyBF16, DType::kBF16, "14.00G, -0.0050 ppl @ Mistral-7B"},
    {"F32", FT::kAllF32, DType::kF32, "26.00G @ 7B"},
};

struct Alias {
    std::string_view alias;
    std::string_view target;
};
constexpr Alias kAliases[] = {{"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"}, {"Q5_K", "Q5_K_M"}};

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::toupper(static_cast<unsigned char>(a[i])) !=
            std::toupper(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// sscanf(name, "blk.%d.", &layer): the number after "blk." (leading blanks and a sign allowed,
// the trailing '.' not required), nullopt when there is none.
std::optional<int64_t> layer_of(const std::string& name) {
    if (name.compare(0, 4, "blk.") != 0) return std::nullopt;
    const char* begin = name.c_str() + 4;
    char* end = nullptr;
    const long v = std::strtol(begin, &end, 10);
    if (end == begin) return std::nullopt;
    return static_cast<int64_t>(v);
}

// ggml_n_dims: dimensions up to the outermost one that is larger than 1.
int ggml_n_dims(const std::vector<int64_t>& shape) {
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] > 1) return static_cast<int>(shape.size() - i);
    }
    return 1;
}

int64_t row_length(const MixTensor& t) { return t.shape.empty() ? 1 : t.shape.back(); }

bool fits(DType type, int64_t n) { return n % dtype_block_elems(type) == 0; }

// The counters llama.cpp's quantize_state_impl keeps while it walks the tensors.
struct MixState {
    const MixModelInfo& info;
    const QuantPreset& preset;
    const MixOptions& opts;
    bool has_output = false;
    int64_t n_attention_wv = 0;
    int64_t i_attention_wv = 0;
    int64_t i_ffn_down = 0, i_ffn_gate = 0, i_ffn_up = 0;
};

bool use_more_bits(int64_t i_layer, int64_t n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 ||
           (i_layer - n_layers / 8) % 3 == 2;
}

// llama.cpp's layer_info: with experts, the layer comes from the name, not from the counter.
Result<int64_t> ffn_layer(const MixState& qs, int64_t counter, const std::string& name) {
    if (qs.info.n_expert <= 1) return counter;
    const std::optional<int64_t> layer = layer_of(name);
    if (!layer) {
        return make_error(ErrorCode::kInvalidArgument,
                          "cannot determine the layer of tensor '" + name + "'");
    }
    if (*layer < 0 || *layer >= qs.info.n_layer) {
        return make_error(ErrorCode::kInvalidArgument,
                          "tensor '" + name + "' is in layer " + std::to_string(*layer) +
                              ", outside [0, " + std::to_string(qs.info.n_layer) + ")");
    }
    return *layer;
}

// llama_tensor_get_type for a tensor that will be quantized with a quantized preset type.
Result<DType> tensor_get_type(MixState& qs, const MixTensor& t, bool* fallback) {
    const std::string& name = t.name;
    const FT ftype = qs.preset.ftype;
    const bool falcon = qs.info.arch == "falcon";
    const int64_t n_layer = qs.info.n_layer;
    const int64_t n_expert = qs.info.n_expert;
    const int64_t nx = row_length(t);
    DType new_type = qs.preset.default_type;

    if (name == "output.weight" || (!qs.has_output && name == "token_embd.weight")) {
        // Tied embeddings are quantized like the output matrix they also serve as.
        if (qs.opts.output_type) {
            new_type = *qs.opts.output_type;
        } else if (falcon || !fits(new_type, nx)) {
            new_type = DType::kQ8_0;
        } else if (new_type != DType::kQ8_0) {
            new_type = DType::kQ6_K;
        }
    } else if (name == "token_embd.weight") {
        if (qs.opts.token_embd_type) new_type = *qs.opts.token_embd_type;
    } else if (contains(name, "attn_v.weight")) {
        const int64_t i = qs.i_attention_wv;
        if (ftype == FT::kMostlyQ2_K) {
            new_type = qs.info.n_gqa() >= 4 ? DType::kQ4_K : DType::kQ3_K;
        } else if (ftype == FT::kMostlyQ3_K_M) {
            new_type = i < 2 ? DType::kQ5_K : DType::kQ4_K;
        } else if (ftype == FT::kMostlyQ3_K_L) {
            new_type = DType::kQ5_K;
        } else if ((ftype == FT::kMostlyIQ4_NL || ftype == FT::kMostlyIQ4_XS) &&
                   qs.info.n_gqa() >= 4) {
            new_type = DType::kQ5_K;
        } else if ((ftype == FT::kMostlyQ4_K_M || ftype == FT::kMostlyQ5_K_M) &&
                   use_more_bits(i, qs.n_attention_wv)) {
            new_type = DType::kQ6_K;
        } else if (ftype == FT::kMostlyQ4_K_S && i < 4) {
            new_type = DType::kQ5_K;
        }
        // 70B shares each attn_v among 8 heads, so the tensor is small: more bits are cheap.
        if (qs.info.is_70b && (new_type == DType::kQ3_K || new_type == DType::kQ4_K)) {
            new_type = DType::kQ5_K;
        }
        if (n_expert == 8) new_type = DType::kQ8_0;
        ++qs.i_attention_wv;
    } else if (contains(name, "attn_k.weight")) {
        if (n_expert == 8) new_type = DType::kQ8_0;
    } else if (contains(name, "attn_q.weight")) {
        // Only the IQ3 mixes change attn_q.
    } else if (contains(name, "ffn_down")) {
        auto layer = ffn_layer(qs, qs.i_ffn_down, name);
        if (!layer) return layer.status();
        const int64_t il = *layer;
        if (ftype == FT::kMostlyQ2_K) {
            new_type = DType::kQ3_K;
        } else if (ftype == FT::kMostlyQ3_K_M) {
            new_type = il < n_layer / 16                          ? DType::kQ5_K
                       : !falcon || use_more_bits(il, n_layer) ? DType::kQ4_K
                                                                 : DType::kQ3_K;
        } else if (ftype == FT::kMostlyQ3_K_L) {
            new_type = falcon ? DType::kQ4_K : DType::kQ5_K;
        } else if (ftype == FT::kMostlyQ4_K_M) {
            if (falcon) {
                new_type = il < n_layer / 16            ? DType::kQ6_K
                           : use_more_bits(il, n_layer) ? DType::kQ5_K
                                                        : DType::kQ4_K;
            } else if (use_more_bits(il, n_layer)) {
                new_type = DType::kQ6_K;
            }
        } else if (il < n_layer / 8 &&
                   (ftype == FT::kMostlyIQ4_NL || ftype == FT::kMostlyIQ4_XS)) {
            new_type = DType::kQ5_K;  // llama.cpp: only without an imatrix, which is always here
        } else if (ftype == FT::kMostlyQ5_K_M && use_more_bits(il, n_layer)) {
            new_type = DType::kQ6_K;
        } else if (ftype == FT::kMostlyQ4_K_S && !falcon && il < n_layer / 8) {
            new_type = DType::kQ5_K;
        }
        ++qs.i_ffn_down;
    } else if (contains(name, "attn_output.weight")) {
        if (!falcon) {
            if (n_expert == 8) {
                if (ftype == FT::kMostlyQ2_K || ftype == FT::kMostlyQ3_K_S ||
                    ftype == FT::kMostlyQ3_K_M || ftype == FT::kMostlyIQ4_NL ||
                    ftype == FT::kMostlyQ4_K_S || ftype == FT::kMostlyQ4_K_M ||
                    ftype == FT::kMostlyIQ4_XS) {
                    new_type = DType::kQ5_K;
                }
            } else if (ftype == FT::kMostlyQ2_K) {
                new_type = DType::kQ3_K;
            } else if (ftype == FT::kMostlyQ3_K_M) {
                new_type = DType::kQ4_K;
            } else if (ftype == FT::kMostlyQ3_K_L) {
                new_type = DType::kQ5_K;
            }
        } else if (ftype == FT::kMostlyQ3_K_L) {
            new_type = DType::kQ4_K;
        }
    } else if (contains(name, "attn_qkv.weight")) {
        if (ftype == FT::kMostlyQ3_K_M || ftype == FT::kMostlyQ3_K_L) {
            new_type = DType::kQ4_K;
        } else if (ftype == FT::kMostlyQ4_K_M) {
            new_type = DType::kQ5_K;
        } else if (ftype == FT::kMostlyQ5_K_M) {
            new_type = DType::kQ6_K;
        }
    } else if (contains(name, "ffn_gate")) {
        auto layer = ffn_layer(qs, qs.i_ffn_gate, name);  // only the IQ3_XS mix uses it
        if (!layer) return layer.status();
        ++qs.i_ffn_gate;
    } else if (contains(name, "ffn_up")) {
        auto layer = ffn_layer(qs, qs.i_ffn_up, name);
        if (!layer) return layer.status();
        ++qs.i_ffn_up;
    }

    // Rows must hold whole blocks; llama.cpp falls back to a type with smaller blocks.
    if (!fits(new_type, nx)) {
        DType fb;
        switch (new_type) {
            case DType::kQ2_K:
            case DType::kQ3_K:
            case DType::kIQ4_XS: fb = DType::kIQ4_NL; break;
            case DType::kQ4_K: fb = DType::kQ5_0; break;
            case DType::kQ5_K: fb = DType::kQ5_1; break;
            case DType::kQ6_K: fb = DType::kQ8_0; break;
            default:
                return make_error(ErrorCode::kUnsupported,
                                  "tensor '" + name + "': rows of " + std::to_string(nx) +
                                      " elements do not fit " + std::string(dtype_name(new_type)) +
                                      " blocks of " +
                                      std::to_string(dtype_block_elems(new_type)) +
                                      " and it has no fallback type");
        }
        if (!fits(fb, nx)) fb = DType::kF16;
        new_type = fb;
        *fallback = true;
    }
    return new_type;
}

// llama-quantize's test for "this tensor is a weight matrix to quantize".
bool is_quantizable(const MixTensor& t, const MixOptions& opts) {
    const std::string& name = t.name;
    if (!ends_with(name, "weight")) return false;
    if (ggml_n_dims(t.shape) < 2) return false;
    if (contains(name, "_norm.weight")) return false;
    if (opts.leave_output && name == "output.weight") return false;
    if (contains(name, "ffn_gate_inp.weight")) return false;  // MoE routers stay exact
    if (name == "position_embd.weight" || name == "token_types.weight") return false;
    static const char* const kSmall[] = {
        "ssm_conv1d.weight",  "time_mix_first.weight",    "time_mix_w1.weight",
        "time_mix_w2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight", "attn_rel_b.weight",
    };
    for (const char* s : kSmall) {
        if (contains(name, s)) return false;
    }
    return true;
}

Status check_fits(const MixTensor& t, DType type, const char* why) {
    const int64_t nx = row_length(t);
    if (fits(type, nx)) return Status::ok();
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(why) + ": tensor '" + t.name + "' has rows of " +
                          std::to_string(nx) + " elements, not a multiple of the " +
                          std::string(dtype_name(type)) + " block size " +
                          std::to_string(dtype_block_elems(type)));
}

}  // namespace

const std::vector<QuantPreset>& quant_presets() { return kPresets; }

std::optional<QuantPreset> parse_quant_preset(std::string_view name) {
    for (const Alias& a : kAliases) {
        if (iequals(name, a.alias)) name = a.target;
    }
    for (const QuantPreset& p : kPresets) {
        if (iequals(name, p.name)) return p;
    }
    if (!name.empty() && name.size() <= 3 &&
        std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        const uint32_t v = static_cast<uint32_t>(std::atoi(std::string(name).c_str()));
        for (const QuantPreset& p : kPresets) {
            if (static_cast<uint32_t>(p.ftype) == v) return p;
        }
    }
    return std::nullopt;
}

std::string quant_preset_list() {
    std::string out;
    for (const QuantPreset& p : kPresets) {
        if (!out.empty()) out += ", ";
        out += p.name;
    }
    out += " (aliases: ";
    for (size_t i = 0; i < std::size(kAliases); ++i) {
        if (i != 0) out += ", ";
        out += std::string(kAliases[i].alias) + " = " + std::string(kAliases[i].target);
    }
    return out + ")";
}

Result<MixModelInfo> mix_model_info_from_gguf(const formats::GgufFile& f) {
    MixModelInfo info;
    const auto arch = f.get_string("general.architecture");
    if (!arch) {
        return make_error(ErrorCode::kCorruptFile,
                          f.path() + ": missing general.architecture");
    }
    info.arch = std::string(*arch);
    const std::string p = info.arch + ".";
    // A per-layer array or a scalar; llama.cpp's hparams of layer 0.
    auto first_int = [&](const std::string& key) -> std::optional<int64_t> {
        if (auto v = f.get_int(key)) return v;
        if (auto a = f.get_int_array(key); a && !a->empty()) return a->front();
        return std::nullopt;
    };
    const auto n_layer = first_int(p + "block_count");
    if (!n_layer || *n_layer < 0) {
        return make_error(ErrorCode::kCorruptFile,
                          f.path() + ": missing or invalid " + p + "block_count");
    }
    info.n_layer = *n_layer;
    info.n_head = first_int(p + "attention.head_count").value_or(0);
    info.n_head_kv = first_int(p + "attention.head_count_kv").value_or(info.n_head);
    info.n_expert = first_int(p + "expert_count").value_or(0);
    if (info.n_head < 0 || info.n_head_kv < 0 || info.n_expert < 0) {
        return make_error(ErrorCode::kCorruptFile, f.path() + ": negative head or expert count");
    }
    if (info.arch == "llama") {
        info.is_70b = info.n_expert != 8 && info.n_layer == 80 && info.n_head != info.n_head_kv;
    } else if (info.arch == "qwen2" || info.arch == "deci") {
        info.is_70b = info.n_layer == 80;
    }
    return info;
}

std::vector<MixTensor> mix_tensors_from_gguf(const formats::GgufFile& f) {
    std::vector<MixTensor> out;
    out.reserve(f.tensors().size());
    for (const formats::GgufTensorInfo& t : f.tensors()) {
        MixTensor m;
        m.name = t.name;
        m.type = t.view.type;
        m.shape.assign(t.view.shape.begin(), t.view.shape.begin() + t.view.n_dims);
        out.push_back(std::move(m));
    }
    return out;
}

std::vector<size_t> llama_tensor_order(const std::vector<std::string>& names) {
    std::vector<size_t> order(names.size());
    std::vector<int64_t> layer(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
        order[i] = i;
        layer[i] = layer_of(names[i]).value_or(-1);
    }
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        if (layer[a] != layer[b]) return layer[a] < layer[b];
        return names[a] < names[b];
    });
    return order;
}

Result<std::vector<MixDecision>> plan_quant_mix(const std::vector<MixTensor>& tensors,
                                                const MixModelInfo& info,
                                                const QuantPreset& preset,
                                                const MixOptions& opts) {
    MixState qs{info, preset, opts};
    std::vector<std::string> names;
    names.reserve(tensors.size());
    for (const MixTensor& t : tensors) {
        names.push_back(t.name);
        if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight") ||
            contains(t.name, "attn_kv_b.weight")) {
            ++qs.n_attention_wv;
        } else if (t.name == "output.weight") {
            qs.has_output = true;
        }
    }

    std::vector<MixDecision> out;
    out.reserve(tensors.size());
    for (size_t idx : llama_tensor_order(names)) {
        const MixTensor& t = tensors[idx];
        MixDecision d;
        d.index = idx;
        d.type = t.type;
        if (is_quantizable(t, opts)) {
            DType new_type = preset.default_type;
            if (!opts.pure && dtype_is_quantized(preset.default_type)) {
                auto chosen = tensor_get_type(qs, t, &d.fallback);
                if (!chosen) return chosen.status();
                new_type = *chosen;
            }
            if (opts.token_embd_type && t.name == "token_embd.weight") {
                new_type = *opts.token_embd_type;
            }
            if (opts.output_type && t.name == "output.weight") new_type = *opts.output_type;
            if (new_type != t.type) {
                // llama.cpp would assert inside ggml_quantize_chunk; say why instead.
                TK_RETURN_IF_ERROR(check_fits(t, new_type, opts.pure ? "--pure" : "quantize"));
                if (!kernels::can_quantize(new_type)) {
                    return make_error(ErrorCode::kUnsupported,
                                      "tensor '" + t.name + "': cannot quantize to " +
                                          std::string(dtype_name(new_type)));
                }
                if (dtype_is_quantized(t.type) && !opts.allow_requantize) {
                    return make_error(ErrorCode::kInvalidArgument,
                                      "tensor '" + t.name + "' is already " +
                                          std::string(dtype_name(t.type)) +
                                          ": requantizing is disabled (--allow-requantize "
                                          "enables it, at a loss of quality)");
                }
                if (t.type != DType::kF32 && t.type != DType::kF16 && t.type != DType::kBF16 &&
                    !dtype_is_quantized(t.type)) {
                    return make_error(ErrorCode::kUnsupported,
                                      "tensor '" + t.name + "': cannot convert from " +
                                          std::string(dtype_name(t.type)));
                }
                d.convert = true;
                d.type = new_type;
            }
        }
        out.push_back(d);
    }
    return out;
}

Status convert_tensor(const TensorView& src, DType type, void* dst, ThreadPool* pool) {
    const int64_t cols = src.cols();
    const int64_t rows = src.rows();
    if (!fits(type, cols)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "rows of " + std::to_string(cols) + " elements do not fit " +
                              std::string(dtype_name(type)) + " blocks");
    }
    const kernels::TypeKernels& k = kernels::kernels_for(kernels::Isa::kRef).of(src.type);
    if (src.type != DType::kF32 && k.to_float == nullptr) {
        return make_error(ErrorCode::kUnsupported,
                          "cannot dequantize " + std::string(dtype_name(src.type)));
    }
    if (rows == 0) return Status::ok();
    // Like llama-quantize: chunks of at least 32 * 512 elements per task.
    constexpr int64_t kMinChunk = 32 * 512;
    const int64_t rows_per_task = std::max<int64_t>(1, (kMinChunk + cols - 1) / cols);
    const int64_t n_tasks = (rows + rows_per_task - 1) / rows_per_task;
    const int64_t src_row_bytes = src.row_bytes();
    const int64_t dst_row_bytes = dtype_row_bytes(type, cols);
    const int n_threads = pool == nullptr ? 1 : pool->size();
    std::vector<std::vector<float>> scratch(static_cast<size_t>(n_threads));
    std::vector<Status> errors(static_cast<size_t>(n_tasks));

    auto task = [&](int64_t t, int thread) {
        const int64_t r0 = t * rows_per_task;
        const int64_t nr = std::min(rows_per_task, rows - r0);
        const uint8_t* in = static_cast<const uint8_t*>(src.data) + r0 * src_row_bytes;
        const float* x = reinterpret_cast<const float*>(in);
        if (src.type == DType::kF32 && reinterpret_cast<uintptr_t>(in) % alignof(float) != 0) {
            // Files with general.alignment < 4 may hold misaligned F32 data.
            std::vector<float>& buf = scratch[static_cast<size_t>(thread)];
            buf.resize(static_cast<size_t>(nr * cols));
            std::memcpy(buf.data(), in, static_cast<size_t>(nr * cols) * sizeof(float));
            x = buf.data();
        } else if (src.type != DType::kF32) {
            std::vector<float>& buf = scratch[static_cast<size_t>(thread)];
            buf.resize(static_cast<size_t>(nr * cols));
            for (int64_t r = 0; r < nr; ++r) {
                k.to_float(in + r * src_row_bytes, buf.data() + r * cols, cols);
            }
            x = buf.data();
        }
        uint8_t* out = static_cast<uint8_t*>(dst) + r0 * dst_row_bytes;
        errors[static_cast<size_t>(t)] = kernels::quantize_rows(type, x, out, nr, cols);
    };
    if (pool == nullptr) {
        for (int64_t t = 0; t < n_tasks; ++t) task(t, 0);
    } else {
        pool->parallel_for(n_tasks, task);
    }
    for (const Status& s : errors) TK_RETURN_IF_ERROR(s);
    return Status::ok();
}

}  // namespace tk::model
