#include "model/session.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/check.h"
#include "base/fp16.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "model/layers.h"

namespace tk::model {
namespace {

inline float round_f16(float x) { return fp16_to_f32(f32_to_fp16(x)); }

void add_bias(float* y, const std::vector<float>& b, int64_t n, int64_t dim) {
    if (b.empty()) return;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < dim; ++j) y[i * dim + j] += b[static_cast<size_t>(j)];
}

void grow(std::vector<float>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

// Rows [first, first+count) of a matrix stacked as [n_expert, rows, cols].
TensorView expert_slice(const TensorView& stacked, int64_t e) {
    TensorView v;
    v.type = stacked.type;
    v.n_dims = 2;
    v.shape = {stacked.shape[1], stacked.shape[2], 1, 1};
    const int64_t bytes = v.rows() * v.row_bytes();
    v.data = static_cast<const uint8_t*>(stacked.data) + e * bytes;
    v.nbytes = bytes;
    return v;
}

}  // namespace

Session::Session(const Model& model, int64_t n_ctx, KvType kv_type)
    : model_(model), n_ctx_(n_ctx > 0 ? n_ctx : model.hparams().n_ctx_train), kv_type_(kv_type) {
    const HParams& hp = model.hparams();
    const size_t cells = static_cast<size_t>(n_ctx_ * hp.kv_dim());
    const size_t L = static_cast<size_t>(hp.n_layer);
    if (kv_type_ == KvType::kF16) {
        k16_.assign(L, std::vector<uint16_t>(cells));
        v16_.assign(L, std::vector<uint16_t>(cells));
    } else {
        k32_.assign(L, std::vector<float>(cells));
        v32_.assign(L, std::vector<float>(cells));
    }
}

void Session::truncate(int64_t n) {
    TK_CHECK(n >= 0 && n <= n_past_);
    n_past_ = n;
}

Status Session::decode(const int32_t* tokens, int64_t n, bool all_logits, std::vector<float>& logits) {
    const HParams& hp = model_.hparams();
    if (n <= 0) return make_error(ErrorCode::kInvalidArgument, "decode: no tokens");
    if (n_past_ + n > n_ctx_) {
        return make_error(ErrorCode::kOutOfRange,
                          "context full: " + std::to_string(n_past_) + " + " + std::to_string(n) +
                              " tokens exceed the context size " + std::to_string(n_ctx_));
    }
    for (int64_t i = 0; i < n; ++i) {
        if (tokens[i] < 0 || tokens[i] >= hp.n_vocab) {
            return make_error(ErrorCode::kInvalidArgument,
                              "token id " + std::to_string(tokens[i]) + " is outside the vocabulary (0.." +
                                  std::to_string(hp.n_vocab - 1) + ")");
        }
    }
    logits.resize(static_cast<size_t>((all_logits ? n : 1) * hp.n_vocab));
    forward(tokens, n, all_logits, logits.data());
    n_past_ += n;
    return Status::ok();
}

void Session::forward(const int32_t* tokens, int64_t n, bool all_logits, float* logits) {
    const HParams& hp = model_.hparams();
    const auto& kt = kernels::kernels();
    ThreadPool& pool = model_.pool();
    const int64_t E = hp.n_embd;
    grow(x_, n * E);
    grow(xn_, n * E);
    grow(q_, n * hp.q_dim());
    grow(k_, n * hp.kv_dim());
    grow(v_, n * hp.kv_dim());
    grow(att_, n * hp.q_dim());
    const int64_t ff_width = std::max(hp.n_ff, E);
    grow(ffa_, n * ff_width);
    grow(ffb_, n * ff_width);

    // Embedding lookup.
    const TensorView& emb = model_.token_embd();
    const auto to_float = kt.of(emb.type).to_float;
    for (int64_t i = 0; i < n; ++i) to_float(emb.row(tokens[i]), x_.data() + i * E, E);

    for (int64_t il = 0; il < hp.n_layer; ++il) {
        const LayerWeights& l = model_.layers()[static_cast<size_t>(il)];
        for (int64_t i = 0; i < n; ++i)
            rms_norm(x_.data() + i * E, l.attn_norm.data(), E, hp.norm_eps, xn_.data() + i * E);
        attention(il, n, n_past_);
        kernels::matmul(l.wo, att_.data(), n, xn_.data(), pool, mm_scratch_, kt);
        for (int64_t j = 0; j < n * E; ++j) x_[static_cast<size_t>(j)] += xn_[static_cast<size_t>(j)];

        for (int64_t i = 0; i < n; ++i)
            rms_norm(x_.data() + i * E, l.ffn_norm.data(), E, hp.norm_eps, xn_.data() + i * E);
        if (hp.n_expert > 0) {
            feed_forward_moe(l, n);
        } else {
            feed_forward_dense(l, n);
        }
        for (int64_t j = 0; j < n * E; ++j) x_[static_cast<size_t>(j)] += xn_[static_cast<size_t>(j)];
    }

    const int64_t first = all_logits ? 0 : n - 1;
    const int64_t rows = n - first;
    for (int64_t i = first; i < n; ++i)
        rms_norm(x_.data() + i * E, model_.output_norm().data(), E, hp.norm_eps,
                 xn_.data() + (i - first) * E);
    kernels::matmul(model_.output(), xn_.data(), rows, logits, pool, mm_scratch_, kt);
}

void Session::attention(int64_t il, int64_t n, int64_t pos0) {
    const HParams& hp = model_.hparams();
    const LayerWeights& l = model_.layers()[static_cast<size_t>(il)];
    const auto& kt = kernels::kernels();
    ThreadPool& pool = model_.pool();
    const int64_t Q = hp.q_dim(), KV = hp.kv_dim(), D = hp.head_dim;
    kernels::matmul(l.wq, xn_.data(), n, q_.data(), pool, mm_scratch_, kt);
    kernels::matmul(l.wk, xn_.data(), n, k_.data(), pool, mm_scratch_, kt);
    kernels::matmul(l.wv, xn_.data(), n, v_.data(), pool, mm_scratch_, kt);
    add_bias(q_.data(), l.bq, n, Q);
    add_bias(k_.data(), l.bk, n, KV);
    add_bias(v_.data(), l.bv, n, KV);

    const bool neox = hp.rope_type == RopeType::kNeox;
    const bool f16 = kv_type_ == KvType::kF16;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t pos = pos0 + i;
        for (int64_t h = 0; h < hp.n_head; ++h)
            rope(q_.data() + i * Q + h * D, hp.n_rot, pos, hp.rope_freq_base, hp.rope_freq_scale, neox);
        for (int64_t h = 0; h < hp.n_head_kv; ++h)
            rope(k_.data() + i * KV + h * D, hp.n_rot, pos, hp.rope_freq_base, hp.rope_freq_scale, neox);
        const float* kr = k_.data() + i * KV;
        const float* vr = v_.data() + i * KV;
        const size_t off = static_cast<size_t>(pos * KV);
        if (f16) {
            for (int64_t j = 0; j < KV; ++j) {
                k16_[il][off + j] = f32_to_fp16(kr[j]);
                v16_[il][off + j] = f32_to_fp16(vr[j]);
            }
        } else {
            std::copy(kr, kr + KV, k32_[il].begin() + static_cast<ptrdiff_t>(off));
            std::copy(vr, vr + KV, v32_[il].begin() + static_cast<ptrdiff_t>(off));
        }
    }

    // One task per (token, head). Scores scratch: one row of n_ctx per thread.
    const int64_t group = hp.n_head / hp.n_head_kv;
    grow(scores_, static_cast<int64_t>(pool.size()) * (n_ctx_ + D));
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    pool.parallel_for(n * hp.n_head, [&](int64_t task, int thread) {
        const int64_t i = task / hp.n_head, h = task % hp.n_head;
        const int64_t kvh = h / group;
        const int64_t n_kv = pos0 + i + 1;  // causal: positions 0..pos
        float* sc = scores_.data() + thread * (n_ctx_ + D);
        float* qh = sc + n_ctx_;  // q of this head, rounded like llama.cpp when the cache is f16
        const float* qsrc = q_.data() + i * Q + h * D;
        for (int64_t d = 0; d < D; ++d) qh[d] = f16 ? round_f16(qsrc[d]) : qsrc[d];
        for (int64_t t = 0; t < n_kv; ++t) {
            const size_t off = static_cast<size_t>(t * KV + kvh * D);
            float s = 0.0f;
            if (f16) {
                const uint16_t* kr = k16_[il].data() + off;
                for (int64_t d = 0; d < D; ++d) s += qh[d] * fp16_to_f32(kr[d]);
            } else {
                const float* kr = k32_[il].data() + off;
                for (int64_t d = 0; d < D; ++d) s += qh[d] * kr[d];
            }
            sc[t] = s * scale;
        }
        softmax(sc, n_kv);
        float* out = att_.data() + i * Q + h * D;
        std::fill(out, out + D, 0.0f);
        for (int64_t t = 0; t < n_kv; ++t) {
            const size_t off = static_cast<size_t>(t * KV + kvh * D);
            if (f16) {
                const float p = round_f16(sc[t]);
                const uint16_t* vr = v16_[il].data() + off;
                for (int64_t d = 0; d < D; ++d) out[d] += p * fp16_to_f32(vr[d]);
            } else {
                const float p = sc[t];
                const float* vr = v32_[il].data() + off;
                for (int64_t d = 0; d < D; ++d) out[d] += p * vr[d];
            }
        }
    });
}

void Session::feed_forward_dense(const LayerWeights& l, int64_t n) {
    const HParams& hp = model_.hparams();
    const auto& kt = kernels::kernels();
    ThreadPool& pool = model_.pool();
    kernels::matmul(l.ffn_gate, xn_.data(), n, ffa_.data(), pool, mm_scratch_, kt);
    kernels::matmul(l.ffn_up, xn_.data(), n, ffb_.data(), pool, mm_scratch_, kt);
    swiglu(ffa_.data(), ffb_.data(), n * hp.n_ff, ffa_.data());
    kernels::matmul(l.ffn_down, ffa_.data(), n, xn_.data(), pool, mm_scratch_, kt);
}

void Session::feed_forward_moe(const LayerWeights& l, int64_t n) {
    const HParams& hp = model_.hparams();
    const auto& kt = kernels::kernels();
    ThreadPool& pool = model_.pool();
    const int64_t E = hp.n_embd, X = hp.n_expert, K = hp.n_expert_used, F = hp.n_ff;
    std::vector<float> router(static_cast<size_t>(n * X));
    kernels::matmul(l.ffn_gate_inp, xn_.data(), n, router.data(), pool, mm_scratch_, kt);

    // Per token: softmax over all experts, keep the top K, renormalise their weights to sum 1.
    std::vector<std::vector<int64_t>> tokens_of(static_cast<size_t>(X));
    std::vector<std::vector<float>> weight_of(static_cast<size_t>(X));
    std::vector<int64_t> order(static_cast<size_t>(X));
    for (int64_t i = 0; i < n; ++i) {
        float* p = router.data() + i * X;
        softmax(p, X);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
        float sum = 0.0f;
        for (int64_t k = 0; k < K; ++k) sum += p[order[static_cast<size_t>(k)]];
        for (int64_t k = 0; k < K; ++k) {
            const int64_t e = order[static_cast<size_t>(k)];
            tokens_of[static_cast<size_t>(e)].push_back(i);
            weight_of[static_cast<size_t>(e)].push_back(p[e] / sum);
        }
    }

    // Each expert runs once over the tokens routed to it; only those experts' weights are read.
    std::vector<float> out(static_cast<size_t>(n * E), 0.0f);
    std::vector<float> xin, ga, gb, y;
    for (int64_t e = 0; e < X; ++e) {
        const auto& toks = tokens_of[static_cast<size_t>(e)];
        if (toks.empty()) continue;
        const int64_t m = static_cast<int64_t>(toks.size());
        xin.resize(static_cast<size_t>(m * E));
        for (int64_t j = 0; j < m; ++j)
            std::copy_n(xn_.data() + toks[static_cast<size_t>(j)] * E, E, xin.data() + j * E);
        ga.resize(static_cast<size_t>(m * F));
        gb.resize(static_cast<size_t>(m * F));
        y.resize(static_cast<size_t>(m * E));
        kernels::matmul(expert_slice(l.ffn_gate_exps, e), xin.data(), m, ga.data(), pool, mm_scratch_, kt);
        kernels::matmul(expert_slice(l.ffn_up_exps, e), xin.data(), m, gb.data(), pool, mm_scratch_, kt);
        swiglu(ga.data(), gb.data(), m * F, ga.data());
        kernels::matmul(expert_slice(l.ffn_down_exps, e), ga.data(), m, y.data(), pool, mm_scratch_, kt);
        for (int64_t j = 0; j < m; ++j) {
            const float w = weight_of[static_cast<size_t>(e)][static_cast<size_t>(j)];
            float* o = out.data() + toks[static_cast<size_t>(j)] * E;
            for (int64_t d = 0; d < E; ++d) o[d] += w * y[static_cast<size_t>(j * E + d)];
        }
    }
    std::copy(out.begin(), out.end(), xn_.begin());
}

}  // namespace tk::model
