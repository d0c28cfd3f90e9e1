#include "model/synth.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <functional>
#include <vector>

#include "base/progress.h"
#include "base/thread_pool.h"
#include "formats/gguf.h"
#include "kernels/quantize.h"
#include "model/arch.h"

namespace tk::model {
namespace {

uint64_t splitmix64(uint64_t& s) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t hash_name(const std::string& s, uint64_t seed) {
    uint64_t h = 1469598103934665603ull ^ seed;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

// Approximately normal values (sum of four uniforms), deterministic per (name, seed, row).
void fill_random(float* dst, int64_t n, uint64_t state, float mean, float stddev) {
    // Sum of 4 U(0,1) has variance 4/12; rescale to the requested std.
    const float k = stddev * std::sqrt(3.0f);
    for (int64_t i = 0; i < n; ++i) {
        const uint64_t r = splitmix64(state);
        float s = 0.0f;
        for (int j = 0; j < 4; ++j) s += static_cast<float>((r >> (16 * j)) & 0xFFFF) * (1.0f / 65536.0f);
        dst[i] = mean + (s - 2.0f) * k;
    }
}

}  // namespace

Status write_synthetic_model(const SynthOptions& o, const std::string& out_path) {
    const ArchTraits* arch = find_arch(o.arch);
    if (arch == nullptr) {
        return make_error(ErrorCode::kInvalidArgument,
                          "synth: unknown --arch '" + o.arch +
                              "' (supported: " + supported_arch_list() + ")");
    }
    if (o.n_embd <= 0 || o.n_layer <= 0 || o.n_head <= 0 || o.n_head_kv <= 0 || o.n_ff <= 0 ||
        o.head_dim < 0 || (o.head_dim == 0 && o.n_embd % o.n_head != 0) ||
        o.n_head % o.n_head_kv != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "synth: need n_head % n_head_kv == 0 and, without --head-dim, "
                          "n_embd % n_head == 0");
    }
    const int64_t D = o.head_dim > 0 ? o.head_dim : o.n_embd / o.n_head;
    if (D % 2 != 0) return make_error(ErrorCode::kInvalidArgument, "synth: head_dim must be even");
    if (o.n_expert > 0 && !arch->experts) {
        return make_error(ErrorCode::kInvalidArgument,
                          "synth: experts need --arch llama or mistral");
    }
    if (o.n_expert > 0 && (o.n_expert_used <= 0 || o.n_expert_used > o.n_expert)) {
        return make_error(ErrorCode::kInvalidArgument, "synth: need 0 < n_expert_used <= n_expert");
    }
    if (o.longrope_orig_ctx < 0 || (o.longrope_orig_ctx > 0 && !arch->rope_factors)) {
        return make_error(ErrorCode::kInvalidArgument, "synth: LongRoPE factors need --arch phi3");
    }
    if (!kernels::can_quantize(o.type) && o.type != DType::kF32) {
        return make_error(ErrorCode::kInvalidArgument,
                          "synth: cannot write tensors of type " + std::string(dtype_name(o.type)));
    }
    const int64_t blk = dtype_block_elems(o.type);
    if (o.n_embd % blk != 0 || o.n_ff % blk != 0 || (o.n_head * D) % blk != 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          "synth: n_embd, n_ff and n_head * head_dim must be multiples of " +
                              std::to_string(blk) + " for " + std::string(dtype_name(o.type)));
    }
    TK_ASSIGN_OR_RETURN(auto vocab, formats::GgufFile::open(o.vocab_from));
    const auto* tokens = vocab->get_string_array("tokenizer.ggml.tokens");
    if (tokens == nullptr) {
        return make_error(ErrorCode::kInvalidArgument,
                          o.vocab_from + ": has no tokenizer.ggml.tokens to copy");
    }
    const int64_t n_vocab = static_cast<int64_t>(tokens->size());

    formats::GgufWriter w;
    const std::string a = o.arch + ".";
    w.set_string("general.architecture", o.arch);
    w.set_string("general.name", "tokamak-synth-" + o.arch);
    w.set_u32("general.file_type", o.type == DType::kF32 ? 0u : 1u);
    w.set_u32(a + "context_length", static_cast<uint32_t>(o.n_ctx));
    w.set_u32(a + "embedding_length", static_cast<uint32_t>(o.n_embd));
    w.set_u32(a + "block_count", static_cast<uint32_t>(o.n_layer));
    w.set_u32(a + "feed_forward_length", static_cast<uint32_t>(o.n_ff));
    w.set_u32(a + "attention.head_count", static_cast<uint32_t>(o.n_head));
    w.set_u32(a + "attention.head_count_kv", static_cast<uint32_t>(o.n_head_kv));
    w.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(D));
    w.set_f32(a + "rope.freq_base", static_cast<float>(arch->default_rope_base));
    const bool layer_norm = arch->norm == NormKind::kLayer;
    if (layer_norm) {
        w.set_f32(a + "attention.layer_norm_epsilon", 1e-5f);
    } else {
        w.set_f32(a + "attention.layer_norm_rms_epsilon",
                  o.arch == "qwen2" || o.arch == "gemma" ? 1e-6f : 1e-5f);
    }
    if (o.head_dim > 0) {
        w.set_u32(a + "attention.key_length", static_cast<uint32_t>(D));
        w.set_u32(a + "attention.value_length", static_cast<uint32_t>(D));
    }
    if (arch->rope_factors) {
        // As convert_hf_to_gguf's Phi3MiniModel: the original context, and with LongRoPE the
        // attention factor sqrt(1 + ln(n_ctx / orig) / ln(orig)).
        const int64_t orig = o.longrope_orig_ctx > 0 ? o.longrope_orig_ctx : o.n_ctx;
        w.set_u32(a + "rope.scaling.original_context_length", static_cast<uint32_t>(orig));
        if (o.longrope_orig_ctx > 0 && o.n_ctx > orig) {
            const double scale = static_cast<double>(o.n_ctx) / static_cast<double>(orig);
            const double attn = std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(orig)));
            w.set_f32(a + "rope.scaling.attn_factor", static_cast<float>(attn));
        }
    }
    if (o.n_expert > 0) {
        w.set_u32(a + "expert_count", static_cast<uint32_t>(o.n_expert));
        w.set_u32(a + "expert_used_count", static_cast<uint32_t>(o.n_expert_used));
    }
    for (const formats::GgufKV& kv : vocab->metadata())
        if (kv.key.rfind("tokenizer.", 0) == 0) w.set_value(kv.key, kv.value);

    auto pool = std::make_shared<ThreadPool>(o.n_threads);
    auto matrix = [&](const std::string& name, std::vector<int64_t> shape, DType type) {
        const uint64_t seed = hash_name(name, o.seed);
        const float scale = o.scale;
        w.add_tensor(name, type, shape, [=](uint8_t* dst, size_t) -> Status {
            const int64_t cols = shape.back();
            int64_t rows = 1;
            for (size_t i = 0; i + 1 < shape.size(); ++i) rows *= shape[i];
            const int64_t row_bytes = dtype_row_bytes(type, cols);
            constexpr int64_t kRowsPerTask = 64;
            const int64_t n_tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
            std::vector<std::vector<float>> buf(static_cast<size_t>(pool->size()));
            std::vector<Status> errs(static_cast<size_t>(pool->size()));
            pool->parallel_for(n_tasks, [&](int64_t t, int thread) {
                const int64_t r0 = t * kRowsPerTask, r1 = std::min(rows, r0 + kRowsPerTask);
                auto& b = buf[static_cast<size_t>(thread)];
                b.resize(static_cast<size_t>((r1 - r0) * cols));
                for (int64_t r = r0; r < r1; ++r)
                    fill_random(b.data() + (r - r0) * cols, cols, seed + static_cast<uint64_t>(r) * 0x9E37ull,
                                0.0f, scale);
                if (type == DType::kF32) {
                    std::memcpy(dst + r0 * row_bytes, b.data(), static_cast<size_t>((r1 - r0) * row_bytes));
                } else {
                    Status s = kernels::quantize_rows(type, b.data(), dst + r0 * row_bytes, r1 - r0, cols);
                    if (!s.is_ok()) errs[static_cast<size_t>(thread)] = s;
                }
            });
            for (const Status& s : errs) TK_RETURN_IF_ERROR(s);
            return Status::ok();
        });
    };
    auto vec = [&](const std::string& name, int64_t n, float mean, float stddev) {
        const uint64_t seed = hash_name(name, o.seed);
        w.add_tensor(name, DType::kF32, {n}, [=](uint8_t* dst, size_t) -> Status {
            fill_random(reinterpret_cast<float*>(dst), n, seed, mean, stddev);
            return Status::ok();
        });
    };

    const int64_t E = o.n_embd, F = o.n_ff;
    const int64_t Q = o.n_head * D, KV = o.n_head_kv * D;
    const bool tied = o.tied_output || o.arch == "gemma";
    auto norm = [&](const std::string& base) {
        vec(base + ".weight", E, 1.0f, 0.2f);
        if (layer_norm) vec(base + ".bias", E, 0.0f, 0.2f);
    };
    matrix("token_embd.weight", {n_vocab, E}, o.type);
    norm("output_norm");
    if (!tied) matrix("output.weight", {n_vocab, E}, o.type);
    if (o.longrope_orig_ctx > 0) {
        // Positive frequency divisors; long ones larger, as in Phi-3's configs.
        vec("rope_factors_long.weight", D / 2, 4.0f, 1.0f);
        vec("rope_factors_short.weight", D / 2, 1.5f, 0.2f);
    }
    const bool fused_qkv = arch->fused_qkv && !o.separate_qkv;
    for (int64_t i = 0; i < o.n_layer; ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        norm(p + "attn_norm");
        if (fused_qkv) {
            matrix(p + "attn_qkv.weight", {Q + 2 * KV, E}, o.type);
        } else {
            matrix(p + "attn_q.weight", {Q, E}, o.type);
            matrix(p + "attn_k.weight", {KV, E}, o.type);
            matrix(p + "attn_v.weight", {KV, E}, o.type);
        }
        matrix(p + "attn_output.weight", {E, Q}, o.type);
        if (arch->qkv_bias_required) {
            vec(p + "attn_q.bias", Q, 0.0f, 0.2f);
            vec(p + "attn_k.bias", KV, 0.0f, 0.2f);
            vec(p + "attn_v.bias", KV, 0.0f, 0.2f);
        }
        if (arch->other_bias_required) vec(p + "attn_output.bias", E, 0.0f, 0.2f);
        norm(p + "ffn_norm");
        if (arch->ffn == FfnKind::kGelu) {
            matrix(p + "ffn_up.weight", {F, E}, o.type);
            matrix(p + "ffn_down.weight", {E, F}, o.type);
        } else if (arch->fused_gate_up) {
            matrix(p + "ffn_up.weight", {2 * F, E}, o.type);  // gate rows, then up rows
            matrix(p + "ffn_down.weight", {E, F}, o.type);
        } else if (o.n_expert > 0) {
            matrix(p + "ffn_gate_inp.weight", {o.n_expert, E}, DType::kF32);
            matrix(p + "ffn_gate_exps.weight", {o.n_expert, F, E}, o.type);
            matrix(p + "ffn_up_exps.weight", {o.n_expert, F, E}, o.type);
            matrix(p + "ffn_down_exps.weight", {o.n_expert, E, F}, o.type);
        } else {
            matrix(p + "ffn_gate.weight", {F, E}, o.type);
            matrix(p + "ffn_up.weight", {F, E}, o.type);
            matrix(p + "ffn_down.weight", {E, F}, o.type);
        }
        if (arch->other_bias_required) {
            vec(p + "ffn_up.bias", F, 0.0f, 0.2f);
            vec(p + "ffn_down.bias", E, 0.0f, 0.2f);
        }
    }
    std::unique_ptr<ProgressBar> bar;
    return w.write(out_path, [&](size_t done, size_t total) {
        if (!bar) bar = std::make_unique<ProgressBar>("writing " + out_path, static_cast<int64_t>(total));
        bar->update(static_cast<int64_t>(done));
    });
}

}  // namespace tk::model
