#include "model/forward.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/check.h"
#include "base/fp16.h"
#include "kernels/kernel_table.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/layers.h"

namespace tk::model {
namespace {

inline float fp16_round(float x) { return fp16_to_f32(f32_to_fp16(x)); }

void add_bias(float* y, const std::vector<float>& b, int64_t n, int64_t dim) {
    if (b.empty()) return;
    for (int64_t i = 0; i < n; ++i) kernels::vec_add(y + i * dim, b.data(), y + i * dim, dim);
}

void grow(std::vector<float>& v, int64_t n) {
    if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
}

// Expert e of a matrix stacked as [n_expert, rows, cols].
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

void Batch::clear() {
    tokens.clear();
    positions.clear();
    seq.clear();
    block_tables.clear();
    logit_rows.clear();
}

int32_t Batch::add_sequence(std::span<const int32_t> block_table) {
    block_tables.push_back(block_table);
    return static_cast<int32_t>(block_tables.size() - 1);
}

void Batch::add(int32_t token, int32_t pos, int32_t seq_index, bool want_logits) {
    if (want_logits) logit_rows.push_back(static_cast<int32_t>(tokens.size()));
    tokens.push_back(token);
    positions.push_back(pos);
    seq.push_back(seq_index);
}

Forward::Forward(const Model& model, int64_t n_ctx)
    : model_(model), rope_factors_(model.rope_factors(n_ctx)) {}

void Forward::norm_rows(const float* x, const std::vector<float>& w, const std::vector<float>& b,
                        int64_t n, float* out) const {
    const HParams& hp = model_.hparams();
    const int64_t E = hp.n_embd;
    for (int64_t i = 0; i < n; ++i) {
        if (hp.norm == NormKind::kLayer) {
            layer_norm(x + i * E, w.data(), b.empty() ? nullptr : b.data(), E, hp.norm_eps,
                       out + i * E);
        } else {
            kernels::rms_norm(x + i * E, w.data(), E, hp.norm_eps, out + i * E);
        }
    }
}

void Forward::run(const Batch& b, kv::KvStorage& kv, float* logits) {
    const HParams& hp = model_.hparams();
    const auto& kt = kernels::kernels();
    ThreadPool& pool = model_.pool();
    const int64_t n = b.size(), E = hp.n_embd;
    TK_CHECK(n > 0);
    grow(x_, n * E);
    grow(xn_, n * E);
    grow(q_, n * hp.q_dim());
    grow(k_, n * hp.kv_dim());
    grow(v_, n * hp.kv_dim());
    grow(att_, n * hp.q_dim());
    grow(ffa_, n * std::max(hp.n_ff, E));
    grow(ffb_, n * std::max(hp.n_ff, E));

    const TensorView& emb = model_.token_embd();
    const auto to_float = kt.of(emb.type).to_float;
    for (int64_t i = 0; i < n; ++i) to_float(emb.row(b.tokens[static_cast<size_t>(i)]), x_.data() + i * E, E);
    if (hp.embd_scale != 1.0f) kernels::vec_scale(x_.data(), hp.embd_scale, x_.data(), n * E);

    for (int64_t il = 0; il < hp.n_layer; ++il) {
        const LayerWeights& l = model_.layers()[static_cast<size_t>(il)];
        norm_rows(x_.data(), l.attn_norm, l.attn_norm_b, n, xn_.data());
        attention(il, b, kv);
        kernels::matmul(l.wo, att_.data(), n, xn_.data(), pool, mm_scratch_, kt);
        add_bias(xn_.data(), l.bo, n, E);
        kernels::vec_add(x_.data(), xn_.data(), x_.data(), n * E);

        norm_rows(x_.data(), l.ffn_norm, l.ffn_norm_b, n, xn_.data());
        if (hp.n_expert > 0) {
            feed_forward_moe(l, n);
        } else {
            feed_forward_dense(l, n);
        }
        kernels::vec_add(x_.data(), xn_.data(), x_.data(), n * E);
    }

    const int64_t rows = static_cast<int64_t>(b.logit_rows.size());
    if (rows == 0) return;
    for (int64_t r = 0; r < rows; ++r)
        norm_rows(x_.data() + b.logit_rows[static_cast<size_t>(r)] * E, model_.output_norm(),
                  model_.output_norm_b(), 1, xn_.data() + r * E);
    kernels::matmul(model_.output(), xn_.data(), rows, logits, pool, mm_scratch_, kt);
}

void Forward::attention(int64_t il, const Batch& b, kv::KvStorage& kv) {
    const HParams& hp = model_.hparams();
    const LayerWeights& l = model_.layers()[static_cast<size_t>(il)];
    const auto& kt = kernels::kernels();
    ThreadPool& pool = model_.pool();
    const int64_t n = b.size();
    const int64_t Q = hp.q_dim(), KV = hp.kv_dim(), D = hp.head_dim;
    const int64_t bs = kv.block_size();
    kernels::matmul(l.wq, xn_.data(), n, q_.data(), pool, mm_scratch_, kt);
    kernels::matmul(l.wk, xn_.data(), n, k_.data(), pool, mm_scratch_, kt);
    kernels::matmul(l.wv, xn_.data(), n, v_.data(), pool, mm_scratch_, kt);
    add_bias(q_.data(), l.bq, n, Q);
    add_bias(k_.data(), l.bk, n, KV);
    add_bias(v_.data(), l.bv, n, KV);

    const bool neox = hp.rope_type == RopeType::kNeox;
    const bool f16 = kv.type() == kv::KvType::kF16;
    const auto& f16k = kt.of(DType::kF16);
    int64_t max_kv = 0;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t pos = b.positions[static_cast<size_t>(i)];
        max_kv = std::max(max_kv, pos + 1);
        for (int64_t h = 0; h < hp.n_head; ++h)
            rope(q_.data() + i * Q + h * D, hp.n_rot, pos, hp.rope_freq_base, hp.rope_freq_scale,
                 neox, rope_factors_, hp.rope_attn_factor);
        for (int64_t h = 0; h < hp.n_head_kv; ++h)
            rope(k_.data() + i * KV + h * D, hp.n_rot, pos, hp.rope_freq_base, hp.rope_freq_scale,
                 neox, rope_factors_, hp.rope_attn_factor);
        const auto& table = b.block_tables[static_cast<size_t>(b.seq[static_cast<size_t>(i)])];
        const int64_t block = table[static_cast<size_t>(pos / bs)], slot = pos % bs;
        if (f16) {
            f16k.from_float(k_.data() + i * KV, kv.k_row(il, block, slot), KV);
            f16k.from_float(v_.data() + i * KV, kv.v_row(il, block, slot), KV);
        } else {
            std::copy_n(k_.data() + i * KV, KV, reinterpret_cast<float*>(kv.k_row(il, block, slot)));
            std::copy_n(v_.data() + i * KV, KV, reinterpret_cast<float*>(kv.v_row(il, block, slot)));
        }
    }

    // One task per (row, head). Per-thread scratch: scores [max_kv], q as f16 [D], a V row [D].
    const int64_t group = hp.n_head / hp.n_head_kv;
    const int64_t per_thread = max_kv + 2 * D;
    grow(scratch_, static_cast<int64_t>(pool.size()) * per_thread);
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    pool.parallel_for(n * hp.n_head, [&](int64_t task, int thread) {
        const int64_t i = task / hp.n_head, h = task % hp.n_head;
        const int64_t kvh = h / group;
        const int64_t n_kv = b.positions[static_cast<size_t>(i)] + 1;  // causal
        const auto& table = b.block_tables[static_cast<size_t>(b.seq[static_cast<size_t>(i)])];
        float* sc = scratch_.data() + thread * per_thread;
        float* qbuf = sc + max_kv;  // f16 bits (D/2 floats' worth) or f32
        float* vrow = qbuf + D;
        const float* qsrc = q_.data() + i * Q + h * D;
        // Like llama.cpp with an f16 cache: q is rounded to f16 for K.q, probabilities for V.p.
        if (f16) f16k.from_float(qsrc, qbuf, D);
        for (int64_t t = 0; t < n_kv; ++t) {
            const uint8_t* kr = kv.k_row(il, table[static_cast<size_t>(t / bs)], t % bs) +
                                kvh * D * (f16 ? 2 : 4);
            float s;
            if (f16) {
                f16k.vec_dot(D, &s, kr, qbuf);
            } else {
                s = kernels::vec_dot_f32(qsrc, reinterpret_cast<const float*>(kr), D);
            }
            sc[t] = s * scale;
        }
        kernels::softmax(sc, n_kv);
        float* out = att_.data() + i * Q + h * D;
        std::fill(out, out + D, 0.0f);
        for (int64_t t = 0; t < n_kv; ++t) {
            const uint8_t* vr = kv.v_row(il, table[static_cast<size_t>(t / bs)], t % bs) +
                                kvh * D * (f16 ? 2 : 4);
            if (f16) {
                f16k.to_float(vr, vrow, D);
                kernels::vec_axpy(fp16_round(sc[t]), vrow, out, D);
            } else {
                kernels::vec_axpy(sc[t], reinterpret_cast<const float*>(vr), out, D);
            }
        }
    });
}

void Forward::feed_forward_dense(const LayerWeights& l, int64_t n) {
    const HParams& hp = model_.hparams();
    const auto& kt = kernels::kernels();
    ThreadPool& pool = model_.pool();
    const int64_t F = hp.n_ff;
    if (hp.ffn == FfnKind::kGelu) {  // no gate: gelu(up x + b)
        kernels::matmul(l.ffn_up, xn_.data(), n, ffa_.data(), pool, mm_scratch_, kt);
        add_bias(ffa_.data(), l.ffn_up_b, n, F);
        kernels::gelu(ffa_.data(), ffa_.data(), n * F);
    } else {
        kernels::matmul(l.ffn_gate, xn_.data(), n, ffa_.data(), pool, mm_scratch_, kt);
        kernels::matmul(l.ffn_up, xn_.data(), n, ffb_.data(), pool, mm_scratch_, kt);
        add_bias(ffa_.data(), l.ffn_gate_b, n, F);
        add_bias(ffb_.data(), l.ffn_up_b, n, F);
        if (hp.ffn == FfnKind::kSwiGlu) {
            kernels::silu_mul(ffa_.data(), ffb_.data(), ffa_.data(), n * F);
        } else {  // GeGLU: gelu(gate) * up
            kernels::gelu(ffa_.data(), ffa_.data(), n * F);
            kernels::vec_mul(ffa_.data(), ffb_.data(), ffa_.data(), n * F);
        }
    }
    kernels::matmul(l.ffn_down, ffa_.data(), n, xn_.data(), pool, mm_scratch_, kt);
    add_bias(xn_.data(), l.ffn_down_b, n, hp.n_embd);
}

void Forward::feed_forward_moe(const LayerWeights& l, int64_t n) {
    const HParams& hp = model_.hparams();
    const auto& kt = kernels::kernels();
    ThreadPool& pool = model_.pool();
    const int64_t E = hp.n_embd, X = hp.n_expert, K = hp.n_expert_used, F = hp.n_ff;
    std::vector<float> router(static_cast<size_t>(n * X));
    kernels::matmul(l.ffn_gate_inp, xn_.data(), n, router.data(), pool, mm_scratch_, kt);

    // Per token: softmax over all experts, keep the top K, renormalise their weights to sum 1
    // (Mixtral; llama.cpp's norm_w for llama-arch MoE).
    std::vector<std::vector<int64_t>> rows_of(static_cast<size_t>(X));
    std::vector<std::vector<float>> weight_of(static_cast<size_t>(X));
    std::vector<int64_t> order(static_cast<size_t>(X));
    for (int64_t i = 0; i < n; ++i) {
        float* p = router.data() + i * X;
        kernels::softmax(p, X);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) { return p[a] > p[c]; });
        float sum = 0.0f;
        for (int64_t k = 0; k < K; ++k) sum += p[order[static_cast<size_t>(k)]];
        for (int64_t k = 0; k < K; ++k) {
            const int64_t e = order[static_cast<size_t>(k)];
            rows_of[static_cast<size_t>(e)].push_back(i);
            weight_of[static_cast<size_t>(e)].push_back(p[e] / sum);
        }
    }

    // Each expert runs once over the rows routed to it; only those experts' weights are read.
    std::vector<float> out(static_cast<size_t>(n * E), 0.0f);
    std::vector<float> xin, ga, gb, y;
    for (int64_t e = 0; e < X; ++e) {
        const auto& rows = rows_of[static_cast<size_t>(e)];
        if (rows.empty()) continue;
        const int64_t m = static_cast<int64_t>(rows.size());
        xin.resize(static_cast<size_t>(m * E));
        for (int64_t j = 0; j < m; ++j)
            std::copy_n(xn_.data() + rows[static_cast<size_t>(j)] * E, E, xin.data() + j * E);
        ga.resize(static_cast<size_t>(m * F));
        gb.resize(static_cast<size_t>(m * F));
        y.resize(static_cast<size_t>(m * E));
        kernels::matmul(expert_slice(l.ffn_gate_exps, e), xin.data(), m, ga.data(), pool, mm_scratch_, kt);
        kernels::matmul(expert_slice(l.ffn_up_exps, e), xin.data(), m, gb.data(), pool, mm_scratch_, kt);
        kernels::silu_mul(ga.data(), gb.data(), ga.data(), m * F);
        kernels::matmul(expert_slice(l.ffn_down_exps, e), ga.data(), m, y.data(), pool, mm_scratch_, kt);
        for (int64_t j = 0; j < m; ++j)
            kernels::vec_axpy(weight_of[static_cast<size_t>(e)][static_cast<size_t>(j)], y.data() + j * E,
                              out.data() + rows[static_cast<size_t>(j)] * E, E);
    }
    std::copy(out.begin(), out.end(), xn_.begin());
}

}  // namespace tk::model
