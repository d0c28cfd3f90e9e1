#include "model/model.h"

#include <cmath>
#include <initializer_list>

#include "formats/gguf.h"
#include "formats/model_file.h"
#include "model/isq.h"
#include "kernels/kernel_table.h"
#include "tokenizer/tokenizer.h"

namespace tk::model {
namespace {

std::string shape_str(std::initializer_list<int64_t> s) {
    std::string r = "[";
    bool first = true;
    for (int64_t v : s) {
        if (!first) r += ", ";
        r += std::to_string(v);
        first = false;
    }
    return r + "]";
}

// Rows [r0, r1) of a 2-D tensor, as a view into the same bytes (a fused tensor's part).
TensorView row_range(const TensorView& t, int64_t r0, int64_t r1) {
    TensorView v = t;
    v.n_dims = 2;
    v.shape = {r1 - r0, t.cols(), 1, 1};
    v.data = t.row(r0);
    v.nbytes = (r1 - r0) * t.row_bytes();
    return v;
}

// Looks up a tensor and checks its shape (outermost first) and that kernels exist for its type.
// A missing tensor's error lists what the file has beside it (same block, or the globals).
class Binder {
public:
    explicit Binder(const formats::GgufFile& f) : f_(f) {}

    Status matrix(const std::string& name, std::initializer_list<int64_t> shape, TensorView& out,
                  bool optional = false, const std::string& alternative = "") {
        const formats::GgufTensorInfo* t = f_.find_tensor(name);
        if (t == nullptr) {
            if (optional) return Status::ok();
            return missing(name, shape_str(shape), alternative);
        }
        TK_RETURN_IF_ERROR(check_shape(*t, shape));
        const auto& k = kernels::kernels().of(t->view.type);
        if (k.to_float == nullptr || k.vec_dot == nullptr) {
            return make_error(ErrorCode::kUnsupported,
                              f_.path() + ": tensor '" + name + "' has type " +
                                  std::string(dtype_name(t->view.type)) +
                                  ", which tokamak cannot compute with yet");
        }
        out = t->view;
        return Status::ok();
    }

    Status vector(const std::string& name, int64_t n, std::vector<float>& out, bool optional = false) {
        const formats::GgufTensorInfo* t = f_.find_tensor(name);
        if (t == nullptr) {
            if (optional) return Status::ok();
            return missing(name, "[" + std::to_string(n) + "]", "");
        }
        TK_RETURN_IF_ERROR(check_shape(*t, {n}));
        const auto& k = kernels::kernels().of(t->view.type);
        if (k.to_float == nullptr) {
            return make_error(ErrorCode::kUnsupported, f_.path() + ": tensor '" + name +
                                                           "' has unsupported type " +
                                                           std::string(dtype_name(t->view.type)));
        }
        out.resize(static_cast<size_t>(n));
        k.to_float(t->view.data, out.data(), n);
        return Status::ok();
    }

    Status missing(const std::string& name, const std::string& shape,
                   const std::string& alternative) const {
        // "blk.3.attn_q.weight" -> prefix "blk.3."; globals are compared with other globals.
        std::string prefix;
        if (name.rfind("blk.", 0) == 0) prefix = name.substr(0, name.find('.', 4) + 1);
        std::string found;
        int listed = 0, more = 0;
        for (const formats::GgufTensorInfo& t : f_.tensors()) {
            const bool same = prefix.empty() ? t.name.rfind("blk.", 0) != 0
                                             : t.name.rfind(prefix, 0) == 0;
            if (!same) continue;
            if (listed == kMaxListed) {
                ++more;
                continue;
            }
            found += (listed++ == 0 ? "" : ", ") + t.name.substr(prefix.size()) + " " +
                     shape_to_string(t.view);
        }
        if (more > 0) found += ", ... (" + std::to_string(more) + " more)";
        const std::string where =
            prefix.empty() ? "outside the blocks" : "in " + prefix.substr(0, prefix.size() - 1);
        return make_error(ErrorCode::kCorruptFile,
                          f_.path() + ": missing tensor '" + name + "' (expected shape " + shape +
                              (alternative.empty() ? "" : ", or " + alternative) + "); found " +
                              where + ": " + (found.empty() ? "nothing" : found));
    }

private:
    static constexpr int kMaxListed = 24;

    Status check_shape(const formats::GgufTensorInfo& t, std::initializer_list<int64_t> shape) {
        bool ok = t.view.n_dims == static_cast<int>(shape.size());
        int i = 0;
        for (int64_t s : shape) ok = ok && t.view.shape[i++] == s;
        if (!ok) {
            return make_error(ErrorCode::kCorruptFile,
                              f_.path() + ": tensor '" + t.name + "' has shape " +
                                  shape_to_string(t.view) + ", expected " + shape_str(shape));
        }
        return Status::ok();
    }
    const formats::GgufFile& f_;
};

}  // namespace

Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::load(const std::string& path, const LoadOptions& opts) {
    std::unique_ptr<Model> m(new Model());
    m->path_ = path;
    m->pool_ = std::make_unique<ThreadPool>(opts.n_threads);
    formats::OpenModelOptions oo;
    oo.tokenizer_path = opts.tokenizer_path;
    TK_ASSIGN_OR_RETURN(m->gguf_, formats::open_model(path, oo));
    if (!opts.isq.empty()) {
        TK_ASSIGN_OR_RETURN(m->gguf_, quantize_in_memory(std::move(m->gguf_), opts.isq, m->pool_.get()));
    }
    TK_ASSIGN_OR_RETURN(m->hp_, hparams_from_gguf(*m->gguf_));
    TK_ASSIGN_OR_RETURN(m->tokenizer_, tokenizer::Tokenizer::from_gguf(*m->gguf_));
    TK_RETURN_IF_ERROR(m->bind_weights());
    return m;
}

Status Model::bind_weights() {
    const formats::GgufFile& f = *gguf_;
    HParams& hp = hp_;
    const ArchTraits& arch = *hp.traits;
    Binder b(f);
    const formats::GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
    if (emb == nullptr) {
        return b.missing("token_embd.weight", "[n_vocab, " + std::to_string(hp.n_embd) + "]", "");
    }
    hp.n_vocab = emb->view.n_dims == 2 ? emb->view.shape[0] : 0;
    if (hp.n_vocab <= 0) return make_error(ErrorCode::kCorruptFile, f.path() + ": bad token_embd shape");
    if (hp.n_vocab != tokenizer_->n_vocab()) {
        return make_error(ErrorCode::kCorruptFile,
                          f.path() + ": token_embd has " + std::to_string(hp.n_vocab) +
                              " rows but the vocabulary has " + std::to_string(tokenizer_->n_vocab()) +
                              " tokens");
    }
    const int64_t E = hp.n_embd, V = hp.n_vocab, Q = hp.q_dim(), KV = hp.kv_dim(), F = hp.n_ff;
    // LayerNorm always has a bias; with RMSNorm a bias is never read (llama.cpp passes none).
    const bool norm_bias = hp.norm == NormKind::kLayer;
    const bool opt_bias = !arch.other_bias_required;
    TK_RETURN_IF_ERROR(b.matrix("token_embd.weight", {V, E}, token_embd_));
    TK_RETURN_IF_ERROR(b.vector("output_norm.weight", E, output_norm_));
    if (norm_bias) TK_RETURN_IF_ERROR(b.vector("output_norm.bias", E, output_norm_b_));
    TK_RETURN_IF_ERROR(b.matrix("output.weight", {V, E}, output_, /*optional=*/true));
    tied_output_ = output_.data == nullptr;
    if (tied_output_) output_ = token_embd_;
    const int64_t R = hp.n_rot / 2;
    TK_RETURN_IF_ERROR(b.vector("rope_freqs.weight", R, rope_freqs_, /*optional=*/true));
    if (arch.rope_factors) {
        TK_RETURN_IF_ERROR(b.vector("rope_factors_long.weight", R, rope_long_, true));
        TK_RETURN_IF_ERROR(b.vector("rope_factors_short.weight", R, rope_short_, true));
    }
    for (const auto* factors : {&rope_freqs_, &rope_long_, &rope_short_}) {
        for (float v : *factors) {
            if (!(v > 0.0f) || !std::isfinite(v)) {
                return make_error(ErrorCode::kCorruptFile,
                                  f.path() + ": rope frequency factors must be finite and > 0");
            }
        }
    }

    layers_.resize(static_cast<size_t>(hp.n_layer));
    for (int64_t i = 0; i < hp.n_layer; ++i) {
        LayerWeights& l = layers_[static_cast<size_t>(i)];
        const std::string p = "blk." + std::to_string(i) + ".";
        TK_RETURN_IF_ERROR(b.vector(p + "attn_norm.weight", E, l.attn_norm));
        if (norm_bias) TK_RETURN_IF_ERROR(b.vector(p + "attn_norm.bias", E, l.attn_norm_b));
        if (arch.fused_qkv && f.find_tensor(p + "attn_qkv.weight") != nullptr) {
            // Phi-3: one [q_dim + 2 kv_dim, n_embd] matrix, rows q then k then v.
            TensorView qkv;
            TK_RETURN_IF_ERROR(b.matrix(p + "attn_qkv.weight", {Q + 2 * KV, E}, qkv));
            l.wq = row_range(qkv, 0, Q);
            l.wk = row_range(qkv, Q, Q + KV);
            l.wv = row_range(qkv, Q + KV, Q + 2 * KV);
            l.fused_qkv = true;
        } else {
            const std::string alt = arch.fused_qkv ? "a fused '" + p + "attn_qkv.weight' " +
                                                         shape_str({Q + 2 * KV, E})
                                                   : "";
            TK_RETURN_IF_ERROR(b.matrix(p + "attn_q.weight", {Q, E}, l.wq, false, alt));
            TK_RETURN_IF_ERROR(b.matrix(p + "attn_k.weight", {KV, E}, l.wk, false, alt));
            TK_RETURN_IF_ERROR(b.matrix(p + "attn_v.weight", {KV, E}, l.wv, false, alt));
            const bool opt_qkv_bias = !arch.qkv_bias_required;
            TK_RETURN_IF_ERROR(b.vector(p + "attn_q.bias", Q, l.bq, opt_qkv_bias));
            TK_RETURN_IF_ERROR(b.vector(p + "attn_k.bias", KV, l.bk, opt_qkv_bias));
            TK_RETURN_IF_ERROR(b.vector(p + "attn_v.bias", KV, l.bv, opt_qkv_bias));
        }
        TK_RETURN_IF_ERROR(b.matrix(p + "attn_output.weight", {E, Q}, l.wo));
        TK_RETURN_IF_ERROR(b.vector(p + "attn_output.bias", E, l.bo, opt_bias));
        TK_RETURN_IF_ERROR(b.vector(p + "ffn_norm.weight", E, l.ffn_norm));
        if (norm_bias) TK_RETURN_IF_ERROR(b.vector(p + "ffn_norm.bias", E, l.ffn_norm_b));
        if (hp.n_expert > 0) {
            const int64_t X = hp.n_expert;
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_gate_inp.weight", {X, E}, l.ffn_gate_inp));
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_gate_exps.weight", {X, F, E}, l.ffn_gate_exps));
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_up_exps.weight", {X, F, E}, l.ffn_up_exps));
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_down_exps.weight", {X, E, F}, l.ffn_down_exps));
            continue;
        }
        if (hp.ffn == FfnKind::kGelu) {
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_up.weight", {F, E}, l.ffn_up));
        } else if (arch.fused_gate_up) {
            // Phi-3: ffn_up is [2 n_ff, n_embd], gate rows first (HF gate_up_proj.chunk(2)).
            TensorView gate_up;
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_up.weight", {2 * F, E}, gate_up));
            l.ffn_gate = row_range(gate_up, 0, F);
            l.ffn_up = row_range(gate_up, F, 2 * F);
            l.fused_gate_up = true;
        } else {
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_gate.weight", {F, E}, l.ffn_gate));
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_up.weight", {F, E}, l.ffn_up));
            TK_RETURN_IF_ERROR(b.vector(p + "ffn_gate.bias", F, l.ffn_gate_b, true));
        }
        TK_RETURN_IF_ERROR(b.matrix(p + "ffn_down.weight", {E, F}, l.ffn_down));
        if (!l.fused_gate_up) {
            TK_RETURN_IF_ERROR(b.vector(p + "ffn_up.bias", F, l.ffn_up_b, opt_bias));
        }
        TK_RETURN_IF_ERROR(b.vector(p + "ffn_down.bias", E, l.ffn_down_b, opt_bias));
    }
    return Status::ok();
}

const float* Model::rope_factors(int64_t n_ctx) const {
    if (!rope_freqs_.empty()) return rope_freqs_.data();
    if (n_ctx <= 0) n_ctx = hp_.n_ctx_train;
    const std::vector<float>& f = n_ctx > hp_.n_ctx_orig ? rope_long_ : rope_short_;
    return f.empty() ? nullptr : f.data();
}

int64_t Model::weight_bytes_per_token() const {
    int64_t total = output_.nbytes + token_embd_.row_bytes();
    for (const LayerWeights& l : layers_) {
        total += l.wq.nbytes + l.wk.nbytes + l.wv.nbytes + l.wo.nbytes;
        total += l.ffn_gate.nbytes + l.ffn_up.nbytes + l.ffn_down.nbytes + l.ffn_gate_inp.nbytes;
        if (hp_.n_expert > 0) {
            const int64_t used = hp_.n_expert_used, all = hp_.n_expert;
            total += (l.ffn_gate_exps.nbytes + l.ffn_up_exps.nbytes + l.ffn_down_exps.nbytes) / all * used;
        }
    }
    return total;
}

int64_t Model::file_bytes() const { return static_cast<int64_t>(gguf_->file_size()); }

}  // namespace tk::model
