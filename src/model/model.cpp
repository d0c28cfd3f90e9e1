#include "model/model.h"

#include <initializer_list>

#include "formats/gguf.h"
#include "kernels/kernel_table.h"
#include "tokenizer/tokenizer.h"

namespace tk::model {
namespace {

std::string shape_str(std::initializer_list<int64_t> s) {
    std::string r = "[";
    bool first = true;
    for (int64_t v : s) {
        r += (first ? "" : ", ") + std::to_string(v);
        first = false;
    }
    return r + "]";
}

// Looks up a tensor and checks its shape (outermost first) and that kernels exist for its type.
class Binder {
public:
    explicit Binder(const formats::GgufFile& f) : f_(f) {}

    Status matrix(const std::string& name, std::initializer_list<int64_t> shape, TensorView& out,
                  bool optional = false) {
        const formats::GgufTensorInfo* t = f_.find_tensor(name);
        if (t == nullptr) {
            if (optional) return Status::ok();
            return make_error(ErrorCode::kCorruptFile,
                              f_.path() + ": missing tensor '" + name + "' (expected shape " +
                                  shape_str(shape) + ")");
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
            return make_error(ErrorCode::kCorruptFile,
                              f_.path() + ": missing tensor '" + name + "' (expected shape [" +
                                  std::to_string(n) + "])");
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

private:
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
    TK_ASSIGN_OR_RETURN(m->gguf_, formats::GgufFile::open(path));
    TK_ASSIGN_OR_RETURN(m->hp_, hparams_from_gguf(*m->gguf_));
    TK_ASSIGN_OR_RETURN(m->tokenizer_, tokenizer::Tokenizer::from_gguf(*m->gguf_));
    TK_RETURN_IF_ERROR(m->bind_weights());
    m->pool_ = std::make_unique<ThreadPool>(opts.n_threads);
    return m;
}

Status Model::bind_weights() {
    const formats::GgufFile& f = *gguf_;
    HParams& hp = hp_;
    Binder b(f);
    const formats::GgufTensorInfo* emb = f.find_tensor("token_embd.weight");
    if (emb == nullptr) {
        return make_error(ErrorCode::kCorruptFile, f.path() + ": missing tensor 'token_embd.weight'");
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
    TK_RETURN_IF_ERROR(b.matrix("token_embd.weight", {V, E}, token_embd_));
    TK_RETURN_IF_ERROR(b.vector("output_norm.weight", E, output_norm_));
    TK_RETURN_IF_ERROR(b.matrix("output.weight", {V, E}, output_, /*optional=*/true));
    tied_output_ = output_.data == nullptr;
    if (tied_output_) output_ = token_embd_;

    layers_.resize(static_cast<size_t>(hp.n_layer));
    for (int64_t i = 0; i < hp.n_layer; ++i) {
        LayerWeights& l = layers_[static_cast<size_t>(i)];
        const std::string p = "blk." + std::to_string(i) + ".";
        TK_RETURN_IF_ERROR(b.vector(p + "attn_norm.weight", E, l.attn_norm));
        TK_RETURN_IF_ERROR(b.matrix(p + "attn_q.weight", {Q, E}, l.wq));
        TK_RETURN_IF_ERROR(b.matrix(p + "attn_k.weight", {KV, E}, l.wk));
        TK_RETURN_IF_ERROR(b.matrix(p + "attn_v.weight", {KV, E}, l.wv));
        TK_RETURN_IF_ERROR(b.matrix(p + "attn_output.weight", {E, Q}, l.wo));
        const bool need_bias = hp.arch == "qwen2";
        TK_RETURN_IF_ERROR(b.vector(p + "attn_q.bias", Q, l.bq, !need_bias));
        TK_RETURN_IF_ERROR(b.vector(p + "attn_k.bias", KV, l.bk, !need_bias));
        TK_RETURN_IF_ERROR(b.vector(p + "attn_v.bias", KV, l.bv, !need_bias));
        TK_RETURN_IF_ERROR(b.vector(p + "ffn_norm.weight", E, l.ffn_norm));
        if (hp.n_expert > 0) {
            const int64_t X = hp.n_expert;
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_gate_inp.weight", {X, E}, l.ffn_gate_inp));
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_gate_exps.weight", {X, F, E}, l.ffn_gate_exps));
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_up_exps.weight", {X, F, E}, l.ffn_up_exps));
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_down_exps.weight", {X, E, F}, l.ffn_down_exps));
        } else {
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_gate.weight", {F, E}, l.ffn_gate));
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_up.weight", {F, E}, l.ffn_up));
            TK_RETURN_IF_ERROR(b.matrix(p + "ffn_down.weight", {E, F}, l.ffn_down));
        }
    }
    return Status::ok();
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
